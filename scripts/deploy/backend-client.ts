/**
 * How smoke talks to a deployment: the backend's HTTP API (POST /api/chat as server-sent
 * events, POST /api/execute) and, for sandbox-only checks, the function itself (Lambda Invoke).
 * Every failure is an Error whose message says what was expected and what came back.
 */
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";

export interface ChatEvent {
  event: string;
  data: Record<string, unknown>;
}

/** The sandbox's response (CONTRACT section 1). */
export interface SandboxResponse {
  ok: boolean;
  stdout: string;
  stderr: string;
  result: string | null;
  error: { type: string; message: string } | null;
}

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

/** Parses a text/event-stream body into events (comment lines such as heartbeats are skipped). */
export function parseSse(text: string): ChatEvent[] {
  const events: ChatEvent[] = [];
  for (const block of text.replace(/\r\n/g, "\n").split("\n\n")) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) continue;
    try {
      events.push({ event, data: JSON.parse(data.join("\n")) as Record<string, unknown> });
    } catch {
      events.push({ event, data: { unparsed: data.join("\n") } });
    }
  }
  return events;
}

/** One question through POST /api/chat; the whole stream. */
export async function chat(opts: BackendOptions, question: string): Promise<ChatEvent[]> {
  const response = await post(opts, "/api/chat", { messages: [{ role: "user", content: question }] });
  const text = await readBody(response, opts, "POST /api/chat");
  if (!response.ok)
    throw new HttpError(response.status, `POST /api/chat answered ${response.status}: ${text.slice(0, 200)}`);
  if (!response.headers.get("content-type")?.startsWith("text/event-stream"))
    throw new Error(
      `POST /api/chat answered ${response.headers.get("content-type") ?? "no content type"}, not text/event-stream`,
    );
  return parseSse(text);
}

function asSandboxResponse(value: unknown, from: string): SandboxResponse {
  const v = value as Partial<SandboxResponse> | null;
  if (!v || typeof v !== "object" || typeof v.ok !== "boolean")
    throw new Error(`${from} did not answer a sandbox response: ${JSON.stringify(value).slice(0, 200)}`);
  return {
    ok: v.ok,
    stdout: typeof v.stdout === "string" ? v.stdout : "",
    stderr: typeof v.stderr === "string" ? v.stderr : "",
    result: typeof v.result === "string" ? v.result : null,
    error: v.error && typeof v.error === "object" ? v.error : null,
  };
}

/** Runs code through POST /api/execute. */
export async function executeViaBackend(opts: BackendOptions, code: string): Promise<SandboxResponse> {
  const response = await post(opts, "/api/execute", { code });
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
  // 502/503 still carry the sandbox shape (SandboxUnavailable, Throttled): report that.
  if (!response.ok && (body as { error?: unknown }).error === undefined)
    throw new HttpError(
      response.status,
      `POST /api/execute answered ${response.status}: ${text.slice(0, 200)}`,
    );
  return asSandboxResponse(body, "POST /api/execute");
}

/** Runs code by invoking the function directly (no backend involved). */
export async function executeViaLambda(
  client: LambdaClient,
  functionName: string,
  code: string,
): Promise<SandboxResponse> {
  const out = await client.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify({ code })) }),
  );
  const payload = out.Payload ? Buffer.from(out.Payload).toString("utf8") : "";
  if (out.FunctionError) {
    throw new Error(`the function failed (${out.FunctionError}): ${payload.slice(0, 300)}`);
  }
  return asSandboxResponse(JSON.parse(payload || "null"), `Lambda ${functionName}`);
}
