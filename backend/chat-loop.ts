/**
 * One chat turn: model <-> tool rounds, as an async generator of the contract's SSE events
 * (CONTRACT section 2), over the provider interface (providers/provider.ts): it knows no HTTP
 * and no model API. Guarantees by construction: every failure becomes an `error` event, every
 * `code` event gets its `code_result`, and exactly one `done` is the last event. Bounds by
 * construction too: the conversation re-sent to the model is trimmed to a budget, every tool
 * output the model sees is capped, the turn's total model input and its number of executions
 * are capped. Rate limits and provider failures are retried with backoff (honouring the
 * server's hint) while nothing of the answer has been streamed yet.
 */
import { abortableSleep } from "./abortable-sleep";
import type { ChatEvent, ChatMessage, UserError } from "../contract/chat";
import { cutMiddle, trimHistory } from "./history";
import { describeRaw, ModelError } from "./providers/errors";
import type { ConversationItem, ModelProvider, ModelTurn, ToolCall, ToolResult } from "./providers/provider";
import { executePythonTool, systemInstruction, TOOL_NAME } from "./providers/tool";
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
  /** A failed model call that is tried again after `waitMs` (attempt 1 is the first retry). */
  modelRetry?(attempt: number, waitMs: number, detail: string): void;
  execution?(id: string, code: string, execution: Execution, seconds: number): void;
  /** Characters of model input this turn sent over all its model calls. */
  budget?(inputChars: number): void;
}

export interface ChatDeps {
  /** Undefined while the chosen provider lacks configuration: the turn answers `missingModel`. */
  model: ModelProvider | undefined;
  /** What the user is told when `model` is undefined (names the missing variables). */
  missingModel?: UserError;
  sandbox: SandboxClient;
  codeExecutionEnabled: boolean;
  allowedModules: readonly string[];
  /** Model turns with tool calls allowed before the turn is stopped. */
  maxToolRounds: number;
  /** Code executions one turn may cause; further calls are answered "not run" to the model. */
  maxExecutionsPerTurn: number;
  /** Characters of the conversation re-sent to the model, newest first. */
  historyChars: number;
  /** Characters of model input summed over the turn's model calls; past it the turn stops. */
  turnInputChars: number;
  /** Retries of a rate-limited or failing model call, and the first backoff delay (doubled per retry). */
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

/** When no better words were given: the model is not configured. */
export const MISSING_MODEL: UserError = {
  type: "ConfigurationError",
  message:
    "The chat model is not configured; the operator should set what GET /readyz lists and restart the backend " +
    "(docs/choosing-a-model.md). To try the stack locally without a key, run `npm start -- --provider gemini`.",
};

class ChatStopped extends Error {
  constructor(readonly userError: UserError) {
    super(userError.message);
  }
}

/** The model input of one turn: the conversation and its size, kept in step. */
interface Conversation {
  items: ConversationItem[];
  chars: number;
  /** Summed over the model calls made so far. */
  sent: number;
}

export async function* chatTurn(messages: readonly ChatMessage[], deps: ChatDeps): AsyncGenerator<ChatEvent> {
  const conversation: Conversation = { items: [], chars: 0, sent: 0 };
  try {
    if (!deps.model) {
      yield { event: "error", data: deps.missingModel ?? MISSING_MODEL };
      return;
    }
    for (const m of trimHistory(messages, { budgetChars: deps.historyChars }).messages)
      append(conversation, { role: m.role, text: m.content }, m.content.length);
    const executions = { count: 0 };
    let answered = false;
    for (let round = 0; ; round++) {
      const turn = yield* streamModel(deps.model, conversation, deps);
      answered ||= turn.text !== "";
      if (turn.calls.length === 0) {
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
      // As received: whatever the API needs echoed (call ids, signatures) goes back with it.
      append(conversation, { role: "model", turn }, turn.chars);
      const results = yield* runCalls(turn.calls, executions, deps);
      append(conversation, { role: "tool", results }, charsOfResults(results));
    }
  } catch (err) {
    yield { event: "error", data: toUserError(err, deps) };
  } finally {
    deps.observer?.budget?.(conversation.sent);
    yield { event: "done", data: {} };
  }
}

function append(conversation: Conversation, item: ConversationItem, chars: number): void {
  conversation.items.push(item);
  conversation.chars += chars;
}

function charsOfResults(results: readonly ToolResult[]): number {
  let chars = 0;
  for (const r of results) chars += JSON.stringify(r.output).length + r.call.id.length + r.call.name.length;
  return chars;
}

/** One model call, streamed: yields text events; retries what is retryable before any output. */
async function* streamModel(
  model: ModelProvider,
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
  const request = {
    system: systemInstruction(deps.codeExecutionEnabled),
    tool: deps.codeExecutionEnabled ? executePythonTool(deps.allowedModules) : undefined,
    conversation: [...conversation.items],
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    /** Something of the answer (text or a call) reached the user or the loop: no retry then. */
    let streamed = false;
    throwIfAborted(deps.signal);
    const stream = model.stream(request);
    try {
      for (;;) {
        const next = await stream.next();
        throwIfAborted(deps.signal);
        if (next.done) {
          deps.observer?.modelCall?.((performance.now() - started) / 1000, "ok");
          return next.value;
        }
        streamed = true;
        if (next.value.type === "text") yield { event: "text", data: { delta: next.value.text } };
      }
    } catch (err) {
      deps.observer?.modelCall?.((performance.now() - started) / 1000, outcomeOf(err, deps.signal));
      await stream.return(undefined as never).catch(() => undefined);
      const retryable = err instanceof ModelError && err.retryable && !streamed && !deps.signal?.aborted;
      if (!retryable || attempt >= deps.modelMaxRetries) throw err;
      const asked = err.retryAfterMs;
      if (asked !== undefined && asked > MAX_RETRY_WAIT_MS) throw err;
      const backoff = deps.modelRetryBaseMs * 2 ** attempt * (0.75 + Math.random() / 2);
      const waitMs = Math.round(Math.max(asked ?? 0, backoff));
      deps.observer?.modelRetry?.(attempt + 1, waitMs, err.detail);
      await abortableSleep(waitMs, deps.signal);
    }
  }
}

/**
 * Runs the tool calls of one model turn, in order, up to the turn's execution budget; returns
 * one result per call, in the calls' order (as every API expects).
 */
async function* runCalls(
  calls: readonly ToolCall[],
  executions: { count: number },
  deps: ChatDeps,
): AsyncGenerator<ChatEvent, ToolResult[]> {
  const results: ToolResult[] = [];
  for (const call of calls) {
    throwIfAborted(deps.signal);
    const refuse = (type: string, message: string) =>
      results.push({ call, output: { error: { type, message } }, failed: true });
    if (call.name !== TOOL_NAME || !deps.codeExecutionEnabled) {
      refuse("UnknownTool", `There is no tool named ${JSON.stringify(call.name.slice(0, 100))}.`);
      continue;
    }
    const code = call.args?.["code"];
    if (typeof code !== "string" || code.trim() === "") {
      refuse("InvalidArguments", `${TOOL_NAME} needs one non-empty string argument "code".`);
      continue;
    }
    if (executions.count >= deps.maxExecutionsPerTurn) {
      refuse(
        "ExecutionLimit",
        `Not run: this question already ran code ${deps.maxExecutionsPerTurn} times, the most one question may. ` +
          "Answer from the results you have, or do the remaining work in fewer, larger calls in a later question.",
      );
      continue;
    }
    executions.count++;
    const id = call.id;
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
    results.push({ call, output: forModel(execution.result), failed: !ok });
  }
  return results;
}

/** The tool's answer for the model: the sandbox response with each text capped. */
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

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ChatStopped(abortReason(signal));
}

function outcomeOf(err: unknown, signal: AbortSignal | undefined): string {
  if (signal?.aborted) return "aborted";
  const status = err instanceof ModelError ? err.status : undefined;
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
  const withId = (message: string) =>
    deps.requestId ? `${message} (request id ${deps.requestId})` : message;
  if (err instanceof ModelError) {
    deps.observer?.modelError?.(err.detail);
    return { type: err.userType, message: withId(err.userMessage) };
  }
  deps.observer?.modelError?.(describeRaw(err).slice(0, 2000));
  return { type: "InternalError", message: withId("Something went wrong while answering; try again.") };
}
