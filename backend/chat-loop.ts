/**
 * One chat turn: model <-> tool rounds, as an async generator of the contract's SSE events
 * (CONTRACT section 2). Knows no HTTP. Guarantees by construction: every failure becomes an
 * `error` event, and exactly one `done` is the last event.
 */
import { abortableSleep } from "./abortable-sleep";
import type { Content, FunctionCall, GenerateContentResponse, Part } from "@google/genai" with {
  "resolution-mode": "import",
};
import {
  executePythonDeclaration,
  ModelHttpError,
  ModelUnreachableError,
  systemInstruction,
  TOOL_NAME,
  type ModelStream,
} from "./gemini";
import type { SandboxClient, SandboxResult } from "./sandbox-client";

export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

export interface UserError {
  type: string;
  message: string;
}

export type ChatEvent =
  | { event: "code"; data: { id: string; code: string } }
  | {
      event: "code_result";
      data: { id: string } & Pick<
        SandboxResult,
        "ok" | "stdout" | "stderr" | "result" | "error" | "durationMs"
      >;
    }
  | { event: "text"; data: { delta: string } }
  | { event: "error"; data: UserError }
  | { event: "done"; data: Record<string, never> };

/** Hooks for metrics and logs; the loop itself stays free of both. */
export interface ChatObserver {
  modelCall?(seconds: number, outcome: string): void;
  execution?(id: string, code: string, result: SandboxResult, seconds: number): void;
}

export interface ChatDeps {
  /** Undefined when GEMINI_API_KEY is missing: the turn answers an error saying how to set it. */
  model: ModelStream | undefined;
  sandbox: SandboxClient;
  codeExecutionEnabled: boolean;
  allowedModules: readonly string[];
  /** Model turns with function calls allowed before the turn is stopped. */
  maxToolRounds: number;
  /** 429 retries and the first backoff delay (doubled per retry). */
  modelMaxRetries: number;
  modelRetryBaseMs: number;
  /** Aborted when the client disconnects or the server stops: ends the model call and executions. */
  signal?: AbortSignal;
  observer?: ChatObserver;
}

/** Server-asked retry delays longer than this are not waited for inside a chat turn. */
const MAX_RETRY_WAIT_MS = 30000;

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

export async function* chatTurn(messages: readonly ChatMessage[], deps: ChatDeps): AsyncGenerator<ChatEvent> {
  try {
    if (!deps.model) {
      yield { event: "error", data: MISSING_API_KEY };
      return;
    }
    const contents: Content[] = messages.map((m) => ({
      role: m.role === "assistant" ? "model" : "user",
      parts: [{ text: m.content }],
    }));
    let answered = false;
    for (let round = 0; ; round++) {
      const { calls, modelTurn, text } = yield* streamModel(deps.model, contents, deps);
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
      contents.push(modelTurn); // as received: call ids and thought signatures are echoed back
      contents.push(yield* runCalls(calls, deps));
    }
  } catch (err) {
    yield { event: "error", data: toUserError(err, deps.signal) };
  } finally {
    yield { event: "done", data: {} };
  }
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
  contents: Content[],
  deps: ChatDeps,
): AsyncGenerator<ChatEvent, ModelTurn> {
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

/** Runs every function call of one model turn, in order; returns the function responses. */
async function* runCalls(calls: FunctionCall[], deps: ChatDeps): AsyncGenerator<ChatEvent, Content> {
  const parts: Part[] = [];
  for (const [index, call] of calls.entries()) {
    throwIfAborted(deps.signal);
    const id = call.id ?? `call-${index + 1}`;
    const name = call.name ?? "";
    const respond = (response: Record<string, unknown>) =>
      parts.push({ functionResponse: { ...(call.id ? { id: call.id } : {}), name, response } });
    if (name !== TOOL_NAME || !deps.codeExecutionEnabled) {
      respond({ error: { type: "UnknownTool", message: `There is no tool named ${JSON.stringify(name)}.` } });
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
    yield { event: "code", data: { id, code } };
    const started = performance.now();
    const result = await deps.sandbox.execute(code, { signal: deps.signal });
    deps.observer?.execution?.(id, code, result, (performance.now() - started) / 1000);
    throwIfAborted(deps.signal);
    const { ok, stdout, stderr, error, durationMs } = result;
    yield {
      event: "code_result",
      data: { id, ok, stdout, stderr, result: result.result, error, durationMs },
    };
    respond({ ok, stdout, stderr, result: result.result, error, truncated: result.truncated });
  }
  return { role: "user", parts };
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

function abortReason(signal: AbortSignal): UserError {
  const reason = signal.reason as Partial<UserError> | undefined;
  return typeof reason?.type === "string" && typeof reason.message === "string"
    ? { type: reason.type, message: reason.message }
    : { type: "Aborted", message: "The request was cancelled." };
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown })?.status;
  return typeof status === "number" ? status : undefined;
}

function outcomeOf(err: unknown, signal: AbortSignal | undefined): string {
  if (signal?.aborted) return "aborted";
  const status = statusOf(err);
  return status ? String(status) : "error";
}

/** Maps anything thrown inside a turn to a message the user can act on. */
export function toUserError(err: unknown, signal?: AbortSignal): UserError {
  if (err instanceof ChatStopped) return err.userError;
  if (signal?.aborted) return abortReason(signal);
  const status = statusOf(err);
  const detail =
    err instanceof ModelHttpError
      ? err.detail
      : err instanceof Error
        ? err.message
        : String(err ?? "unknown error");
  const google = err instanceof ModelHttpError && err.googleStatus ? ` ${err.googleStatus}` : "";
  if (status === 429)
    return {
      type: "RateLimited",
      message: `The model is rate-limited (429${google}) and retries did not help; wait a minute and try again. (${detail})`,
    };
  if (status === 401 || status === 403)
    return {
      type: "ModelAuth",
      message: `Gemini refused the API key (${status}${google}): ${detail}. Check GEMINI_API_KEY.`,
    };
  if (status === 404)
    return {
      type: "ModelError",
      message: `Gemini does not know this model (404${google}): ${detail}. Set GEMINI_MODEL to an available model.`,
    };
  if (status !== undefined && status >= 500)
    return {
      type: "ModelUnavailable",
      message: `The model service failed (${status}${google}): ${detail}. Try again in a moment.`,
    };
  if (status !== undefined)
    return { type: "ModelError", message: `Gemini rejected the request (${status}${google}): ${detail}` };
  if (err instanceof ModelUnreachableError)
    return {
      type: "ModelUnavailable",
      message: `The model service could not be reached (${err.detail}). Try again in a moment; if it persists, check GEMINI_BASE_URL and the network.`,
    };
  return { type: "InternalError", message: `Something went wrong while answering: ${detail}` };
}
