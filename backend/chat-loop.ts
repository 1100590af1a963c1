/**
 * One chat turn: model <-> tool rounds, as an async generator of the contract's SSE events
 * (CONTRACT section 2). Knows no HTTP. Guarantees by construction: every failure becomes an
 * `error` event, every `code` event gets its `code_result`, and exactly one `done` is the last
 * event. Bounds by construction too: the conversation re-sent to the model is trimmed to a
 * budget, every tool output the model sees is capped, the turn's total model input and its
 * number of executions are capped.
 */
import { abortableSleep } from "./abortable-sleep";
import type { Content, FunctionCall, GenerateContentResponse, Part } from "@google/genai" with {
  "resolution-mode": "import",
};
import {
  describeModelError,
  executePythonDeclaration,
  ModelHttpError,
  systemInstruction,
  TOOL_NAME,
  type ModelStream,
} from "./gemini";
import type { ChatEvent, ChatMessage, UserError } from "../contract/chat";
import { cutMiddle, trimHistory } from "./history";
import {
  abortReason,
  failedResult,
  type Execution,
  type SandboxClient,
  type SandboxResult,
} from "./sandbox-client";

/** Hooks for metrics and logs; the loop itself stays free of both. */
export interface ChatObserver {
  modelCall?(seconds: number, outcome: string): void;
  /** A failed model call, in the operator's words (the user got a generic message). */
  modelError?(detail: string): void;
  execution?(id: string, code: string, execution: Execution, seconds: number): void;
  /** Characters of model input this turn sent over all its model calls. */
  budget?(inputChars: number): void;
}

export interface ChatDeps {
  /** Undefined when GEMINI_API_KEY is missing: the turn answers an error saying how to set it. */
  model: ModelStream | undefined;
  sandbox: SandboxClient;
  codeExecutionEnabled: boolean;
  allowedModules: readonly string[];
  /** Model turns with function calls allowed before the turn is stopped. */
  maxToolRounds: number;
  /** Code executions one turn may cause; further calls are answered "not run" to the model. */
  maxExecutionsPerTurn: number;
  /** Characters of the conversation re-sent to the model, newest first. */
  historyChars: number;
  /** Characters of model input summed over the turn's model calls; past it the turn stops. */
  turnInputChars: number;
  /** 429 retries and the first backoff delay (doubled per retry). */
  modelMaxRetries: number;
  modelRetryBaseMs: number;
  /** Waits for one of the replica's execution slots; resolves with its release. */
  executionSlot?: (signal?: AbortSignal) => Promise<() => void>;
  /** Named in failure messages, so a user can quote it and an operator find the log line. */
  requestId?: string;
  /** Aborted when the client disconnects or the server stops: ends the model call and executions. */
  signal?: AbortSignal;
  observer?: ChatObserver;
}

/** Server-asked retry delays longer than this are not waited for inside a chat turn. */
const MAX_RETRY_WAIT_MS = 30000;
/** What the model sees of each of stdout, stderr and the result (the user sees it all). */
export const TOOL_OUTPUT_CHARS_FOR_MODEL = 16000;

export const MISSING_API_KEY: UserError = {
  type: "ConfigurationError",
  message:
    "The chat model is not configured: GEMINI_API_KEY is not set. Set it in the backend's environment " +
    "(e.g. `GEMINI_API_KEY=... npm start`, or the backend's Kubernetes secret) and restart the backend; " +
    "to try the stack locally without a key, run `npm start -- --fake-gemini`.",
};

class ChatStopped extends Error {
  constructor(readonly userError: UserError) {
    super(userError.message);
  }
}

/** The model input of one turn: the contents and their size, kept in step. */
interface Conversation {
  contents: Content[];
  chars: number;
  /** Summed over the model calls made so far. */
  sent: number;
}

export async function* chatTurn(messages: readonly ChatMessage[], deps: ChatDeps): AsyncGenerator<ChatEvent> {
  const conversation: Conversation = { contents: [], chars: 0, sent: 0 };
  try {
    if (!deps.model) {
      yield { event: "error", data: MISSING_API_KEY };
      return;
    }
    for (const m of trimHistory(messages, { budgetChars: deps.historyChars }).messages)
      append(conversation, { role: m.role === "assistant" ? "model" : "user", parts: [{ text: m.content }] });
    const executions = { count: 0 };
    let answered = false;
    for (let round = 0; ; round++) {
      const { calls, modelTurn, text } = yield* streamModel(deps.model, conversation, deps);
      answered ||= text;
      if (calls.length === 0) {
        if (!answered)
          yield {
            event: "error",
            data: { type: "EmptyAnswer", message: "The model returned an empty answer; ask again." },
          };
        return;
      }
      if (round >= deps.maxToolRounds) {
        yield {
          event: "error",
          data: {
            type: "ToolRounds",
            message: `The model asked to run code more than ${deps.maxToolRounds} times in one turn; stopped. Try a simpler question.`,
          },
        };
        return;
      }
      append(conversation, modelTurn); // as received: call ids and thought signatures are echoed back
      append(conversation, yield* runCalls(calls, executions, deps));
    }
  } catch (err) {
    yield { event: "error", data: toUserError(err, deps) };
  } finally {
    deps.observer?.budget?.(conversation.sent);
    yield { event: "done", data: {} };
  }
}

function append(conversation: Conversation, content: Content): void {
  conversation.contents.push(content);
  conversation.chars += charsOf(content);
}

/** Characters a content adds to the model input: its texts and its calls/responses as JSON. */
function charsOf(content: Content): number {
  let chars = 0;
  for (const part of content.parts ?? []) {
    if (typeof part.text === "string") chars += part.text.length;
    if (part.functionCall) chars += JSON.stringify(part.functionCall).length;
    if (part.functionResponse) chars += JSON.stringify(part.functionResponse).length;
    if (typeof part.thoughtSignature === "string") chars += part.thoughtSignature.length;
  }
  return chars;
}

interface ModelTurn {
  calls: FunctionCall[];
  modelTurn: Content;
  /** Whether any answer text was streamed. */
  text: boolean;
}

/** One model call, streamed: yields text events; retries a 429 that came before any output. */
async function* streamModel(
  model: ModelStream,
  conversation: Conversation,
  deps: ChatDeps,
): AsyncGenerator<ChatEvent, ModelTurn> {
  if (conversation.sent + conversation.chars > deps.turnInputChars)
    throw new ChatStopped({
      type: "TurnTooLarge",
      message:
        "This question and the output of its code grew too large to send to the model again; " +
        "ask for a smaller result (or a summary of it) instead.",
    });
  conversation.sent += conversation.chars;
  const contents = conversation.contents;
  const config = {
    systemInstruction: systemInstruction(deps.codeExecutionEnabled),
    ...(deps.codeExecutionEnabled
      ? { tools: [{ functionDeclarations: [executePythonDeclaration(deps.allowedModules)] }] }
      : {}),
    ...(deps.signal ? { abortSignal: deps.signal } : {}),
  };
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    const parts: Part[] = [];
    const calls: FunctionCall[] = [];
    let text = false;
    try {
      throwIfAborted(deps.signal);
      const stream = await model({ contents: [...contents], config });
      for await (const chunk of stream) {
        throwIfAborted(deps.signal);
        throwIfBlocked(chunk);
        for (const part of chunk.candidates?.[0]?.content?.parts ?? []) {
          parts.push(part);
          if (part.functionCall) calls.push(part.functionCall);
          else if (typeof part.text === "string" && part.text !== "" && !part.thought) {
            text = true;
            yield { event: "text", data: { delta: part.text } };
          }
        }
        throwIfUnfinished(chunk);
      }
      throwIfAborted(deps.signal);
      deps.observer?.modelCall?.((performance.now() - started) / 1000, "ok");
      return { calls, modelTurn: { role: "model", parts }, text };
    } catch (err) {
      deps.observer?.modelCall?.((performance.now() - started) / 1000, outcomeOf(err, deps.signal));
      const retryable = statusOf(err) === 429 && !text && parts.length === 0 && !deps.signal?.aborted;
      if (!retryable || attempt >= deps.modelMaxRetries) throw err;
      const asked = err instanceof ModelHttpError ? err.retryAfterMs : undefined;
      if (asked !== undefined && asked > MAX_RETRY_WAIT_MS) throw err;
      const backoff = deps.modelRetryBaseMs * 2 ** attempt * (0.75 + Math.random() / 2);
      await abortableSleep(Math.max(asked ?? 0, backoff), deps.signal);
    }
  }
}

/**
 * Runs the function calls of one model turn, in order, up to the turn's execution budget;
 * returns the function responses (one per call, as the model expects).
 */
async function* runCalls(
  calls: FunctionCall[],
  executions: { count: number },
  deps: ChatDeps,
): AsyncGenerator<ChatEvent, Content> {
  const parts: Part[] = [];
  for (const [index, call] of calls.entries()) {
    throwIfAborted(deps.signal);
    const id = call.id ?? `call-${index + 1}`;
    const name = call.name ?? "";
    const respond = (response: Record<string, unknown>) =>
      parts.push({ functionResponse: { ...(call.id ? { id: call.id } : {}), name, response } });
    if (name !== TOOL_NAME || !deps.codeExecutionEnabled) {
      respond({
        error: {
          type: "UnknownTool",
          message: `There is no tool named ${JSON.stringify(name.slice(0, 100))}.`,
        },
      });
      continue;
    }
    const code = call.args?.["code"];
    if (typeof code !== "string" || code.trim() === "") {
      respond({
        error: {
          type: "InvalidArguments",
          message: `${TOOL_NAME} needs one non-empty string argument "code".`,
        },
      });
      continue;
    }
    if (executions.count >= deps.maxExecutionsPerTurn) {
      respond({
        error: {
          type: "ExecutionLimit",
          message:
            `Not run: this question already ran code ${deps.maxExecutionsPerTurn} times, the most one question may. ` +
            "Answer from the results you have, or do the remaining work in fewer, larger calls in a later question.",
        },
      });
      continue;
    }
    executions.count++;
    yield { event: "code", data: { id, code } };
    let started = performance.now();
    let execution: Execution;
    let release: (() => void) | undefined;
    try {
      release = await deps.executionSlot?.(deps.signal);
      started = performance.now();
      execution = await deps.sandbox.execute(code, { signal: deps.signal, requestId: deps.requestId });
    } catch (err) {
      if (!deps.signal?.aborted) throw err;
      const reason = abortReason(deps.signal);
      execution = { result: failedResult(reason.type, reason.message, 0) };
    } finally {
      release?.();
    }
    deps.observer?.execution?.(id, code, execution, (performance.now() - started) / 1000);
    const { ok, stdout, stderr, error, truncated, durationMs } = execution.result;
    // Every code event gets its result, also when the turn is being stopped (shutdown).
    yield {
      event: "code_result",
      data: { id, ok, stdout, stderr, result: execution.result.result, error, truncated, durationMs },
    };
    throwIfAborted(deps.signal);
    respond(forModel(execution.result));
  }
  return { role: "user", parts };
}

/** The function response: the sandbox response with each text capped for the model. */
function forModel(result: SandboxResult): Record<string, unknown> {
  const max = TOOL_OUTPUT_CHARS_FOR_MODEL;
  const cut = (text: string) => cutMiddle(text, max);
  const long = [result.stdout, result.stderr, result.result ?? ""].some((t) => t.length > max);
  return {
    ok: result.ok,
    stdout: cut(result.stdout),
    stderr: cut(result.stderr),
    result: result.result === null ? null : cut(result.result),
    error: result.error
      ? {
          type: result.error.type,
          message: cutMiddle(result.error.message, 4000),
          ...(typeof result.error.traceback === "string"
            ? { traceback: cutMiddle(result.error.traceback, 4000) }
            : {}),
        }
      : null,
    truncated: result.truncated || long,
  };
}

const BLOCKING_FINISH = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
]);

function throwIfBlocked(chunk: GenerateContentResponse): void {
  const reason = chunk.promptFeedback?.blockReason;
  if (reason)
    throw new ChatStopped({
      type: "SafetyBlocked",
      message: `The model refused the question (blocked: ${reason}). Rephrase it and try again.`,
    });
}

function throwIfUnfinished(chunk: GenerateContentResponse): void {
  const reason = chunk.candidates?.[0]?.finishReason;
  if (reason && BLOCKING_FINISH.has(reason))
    throw new ChatStopped({
      type: "SafetyBlocked",
      message: `The model stopped its answer (finish reason ${reason}). Rephrase the question and try again.`,
    });
  if (reason === "MALFORMED_FUNCTION_CALL")
    throw new ChatStopped({
      type: "ModelError",
      message: "The model produced a malformed code call; ask again.",
    });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ChatStopped(abortReason(signal));
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown })?.status;
  return typeof status === "number" ? status : undefined;
}

function outcomeOf(err: unknown, signal: AbortSignal | undefined): string {
  if (signal?.aborted) return "aborted";
  const status = statusOf(err);
  return status && status >= 100 && status <= 599 ? String(status) : "error";
}

/**
 * Maps anything thrown inside a turn to a message the user can act on; what only an operator
 * should read goes to the observer's log.
 */
export function toUserError(
  err: unknown,
  deps: Pick<ChatDeps, "signal" | "requestId" | "observer">,
): UserError {
  if (err instanceof ChatStopped) return err.userError;
  if (deps.signal?.aborted) return abortReason(deps.signal);
  const described = describeModelError(err, deps.requestId);
  deps.observer?.modelError?.(described.detail);
  return { type: described.type, message: described.message };
}
