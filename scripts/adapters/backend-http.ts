/**
 * The backend's HTTP API, as smoke calls a deployment: POST /api/chat (its server-sent events
 * read with contract/chat.ts's parser) and POST /api/execute. Every failure is an Error whose
 * message says what was expected and what came back; answers are read to a bound.
 */
import { parseSse, type ChatRequest, type SseEvent } from "../../contract/chat";
import { ROUTES } from "../../contract/http";
import { MODEL_HEADERS } from "../../contract/models";
import { readSandboxAnswer, type SandboxAnswer } from "./sandbox-answer";

export type { SandboxAnswer, SseEvent };

/** An HTTP answer the backend gave instead of the expected one. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface BackendOptions {
  url: string;
  /** API_TOKEN: sent as `Authorization: Bearer`. */
  token?: string;
  timeoutMs: number;
  /** Read at most this much of an answer; more is a failure, not a memory problem. Default: 8 MiB. */
  maxBytes?: number;
}

/** A chat turn of the seed questions or a sandbox answer is a few KiB; a runaway is not read. */
export const DEFAULT_MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * The body as text, reading no more than `maxBytes` (a hostile or broken backend can send
 * gigabytes), within the request's own deadline (the fetch's signal covers the body too).
 */
export async function boundedText(response: Response, maxBytes: number, what: string): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`${what} answered more than ${maxBytes} bytes; stopped reading`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function headers(opts: BackendOptions): Record<string, string> {
  return {
    "content-type": "application/json",
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
  };
}

async function post(opts: BackendOptions, route: string, body: unknown): Promise<Response> {
  try {
    return await fetch(`${opts.url}${route}`, {
      method: "POST",
      headers: headers(opts),
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      err instanceof Error && err.name === "TimeoutError"
        ? `no answer within ${opts.timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err)));
    throw new Error(`POST ${opts.url}${route} failed: ${why}`, { cause: err });
  }
}

async function readBody(response: Response, opts: BackendOptions, what: string): Promise<string> {
  try {
    return await boundedText(response, opts.maxBytes ?? DEFAULT_MAX_ANSWER_BYTES, what);
  } catch (err) {
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"))
      throw new Error(`${what} failed: no complete answer within ${opts.timeoutMs / 1000} s`, { cause: err });
    throw err;
  }
}

/** A chat turn as a client sees it: the events, and the model the response's headers named. */
export interface ChatTurn {
  events: SseEvent[];
  /** `<x-model> (<x-model-provider>)`, when the backend named them. */
  model?: string;
}

/** One question through POST /api/chat; the whole stream. */
export async function chat(opts: BackendOptions, question: string): Promise<ChatTurn> {
  const request: ChatRequest = { messages: [{ role: "user", content: question }] };
  const response = await post(opts, ROUTES.chat, request);
  const text = await readBody(response, opts, "POST /api/chat");
  if (!response.ok)
    throw new HttpError(response.status, `POST /api/chat answered ${response.status}: ${text.slice(0, 200)}`);
  if (!response.headers.get("content-type")?.startsWith("text/event-stream"))
    throw new Error(
      `POST /api/chat answered ${response.headers.get("content-type") ?? "no content type"}, not text/event-stream`,
    );
  const model = response.headers.get(MODEL_HEADERS.model);
  const provider = response.headers.get(MODEL_HEADERS.provider);
  return { events: parseSse(text), ...(model ? { model: provider ? `${model} (${provider})` : model } : {}) };
}

/** Runs code through POST /api/execute. */
export async function executeViaBackend(opts: BackendOptions, code: string): Promise<SandboxAnswer> {
  const response = await post(opts, ROUTES.execute, { code });
  const text = await readBody(response, opts, "POST /api/execute");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(
      response.status,
      `POST /api/execute answered ${response.status}: ${text.slice(0, 200)}`,
    );
  }
  // 502/503 still carry the sandbox shape (SandboxUnavailable, Throttled): report that; any
  // other refusal (401, 429, ...) is the HTTP answer it is.
  if (!response.ok && typeof (body as { ok?: unknown } | null)?.ok !== "boolean")
    throw new HttpError(
      response.status,
      `POST /api/execute answered ${response.status}: ${text.slice(0, 200)}`,
    );
  return readSandboxAnswer(body, "POST /api/execute");
}
