/**
 * Small named helpers for the backend tests: the real local sandbox, the fake Gemini, a
 * backend wired to both on free loopback ports, its log lines, an SSE reader for /api/chat,
 * raw HTTP over a socket, and a Lambda endpoint that never answers (abort tests).
 */
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { AppOverrides } from "../../backend/app";
import { parseSse, type SseEvent } from "../../contract/chat";
import { startLocalSandbox, type LocalSandbox } from "../../dev/local-lambda/server";
import { startBackend, type RunningBackend } from "../../backend/server";
import { startFakeGemini, type FakeGemini, type FakeScript } from "../../dev/fakes/gemini";

/** One event of a chat stream as read off the wire (contract/chat.ts parses it). */
export type ChatEventRecord = SseEvent;

/** The real sandbox runtime (python3 workers) on a free port. */
export function startSandbox(env: Record<string, string> = {}): Promise<LocalSandbox> {
  return startLocalSandbox({ port: 0, workers: 2, env, log: () => {} });
}

/** The backend's environment for a test: fake Gemini, local sandbox, quiet logs, fast retries. */
export function backendEnv(
  gemini: FakeGemini | undefined,
  sandbox: LocalSandbox | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    LOG_LEVEL: "silent",
    MODEL_RETRY_BASE_MS: "20",
    // Tests send many requests from one address; the rate limit has tests of its own.
    RATE_LIMIT_PER_MINUTE: "0",
    ...(gemini ? { GEMINI_API_KEY: "test-key", GEMINI_BASE_URL: gemini.url } : {}),
    ...(sandbox
      ? { AWS_ENDPOINT_URL_LAMBDA: sandbox.url }
      : { AWS_ENDPOINT_URL_LAMBDA: "http://127.0.0.1:9" }),
    ...extra,
  };
}

export interface Stack {
  backend: RunningBackend;
  gemini: FakeGemini;
  /** The backend's log lines (JSON objects), in order. */
  logs: LogRecord[];
  close(): Promise<void>;
}

export type LogRecord = Record<string, unknown> & { msg?: string };

/** A pino destination that keeps every line, parsed. */
export function logCollector(): { stream: { write(line: string): void }; lines: LogRecord[] } {
  const lines: LogRecord[] = [];
  return {
    lines,
    stream: {
      write(chunk: string) {
        for (const line of chunk.split("\n")) if (line.trim()) lines.push(JSON.parse(line) as LogRecord);
      },
    },
  };
}

/** Resolves once `predicate` holds (polled), or rejects after `ms`. */
export async function eventually(predicate: () => boolean, ms = 5000, what = "the condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A backend on a free port, talking to a fresh fake Gemini (running `script`) and `sandbox`;
 * its log lines are collected (at info level) unless LOG_LEVEL is given.
 */
export async function startStack(
  script: FakeScript | undefined,
  sandbox: LocalSandbox | undefined,
  extraEnv: Record<string, string> = {},
  overrides: AppOverrides = {},
): Promise<Stack> {
  const gemini = await startFakeGemini(script);
  const logs = logCollector();
  const backend = await startBackend({
    port: 0,
    env: { ...backendEnv(gemini, sandbox, { LOG_LEVEL: "info", ...extraEnv }) },
    overrides: { logStream: logs.stream, ...overrides },
  });
  return {
    backend,
    gemini,
    logs: logs.lines,
    async close() {
      await backend.close();
      await gemini.close();
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent, as text. */
  raw: string;
}

/**
 * Sends `request` as written (no client normalising the path, the Host or the framing) over
 * a new socket and reads what comes back until the server closes or `ms` passes.
 */
export function rawRequest(port: number, request: string | Buffer, ms = 3000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseRawResponse(Buffer.concat(chunks).toString("utf8")));
    });
  });
}

export function parseRawResponse(raw: string): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end >= 0 ? raw.slice(end + 4) : "";
  if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
  return { status: Number(statusLine.split(" ")[1] ?? 0), headers, body, raw };
}

function unchunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const line = rest.indexOf("\r\n");
    if (line < 0) return out;
    const size = parseInt(rest.slice(0, line), 16);
    if (!size) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

/**
 * A Lambda Invoke endpoint that answers each invocation with `answer(event)` as the function's
 * payload: a sandbox that says whatever a test needs (what the real one may refuse to say).
 */
export async function startScriptedLambda(
  answer: (event: { code: string }) => object,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.stringify(
      answer(JSON.parse(Buffer.concat(chunks).toString("utf8")) as { code: string }),
    );
    res
      .writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      .end(body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A Lambda Invoke endpoint that never answers and records whether each invocation's request was abandoned. */
export interface HangingLambda {
  url: string;
  invocations: { aborted: boolean; abortedAt?: number }[];
  close(): Promise<void>;
}

export async function startHangingLambda(): Promise<HangingLambda> {
  const invocations: HangingLambda["invocations"] = [];
  const server = http.createServer((req, res) => {
    const record: HangingLambda["invocations"][number] = { aborted: false };
    invocations.push(record);
    req.resume();
    res.on("close", () => {
      if (!res.writableFinished) {
        record.aborted = true;
        record.abortedAt = Date.now();
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    invocations,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ChatOptions {
  token?: string;
  history?: { role: "user" | "assistant"; content: string }[];
}

/** POSTs one question (after optional history) to /api/chat and reads the whole stream. */
export async function chat(
  baseUrl: string,
  question: string,
  options: ChatOptions = {},
): Promise<{ status: number; contentType: string | null; events: ChatEventRecord[] }> {
  const response = await fetch(`${baseUrl}/api/chat`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: JSON.stringify({ messages: [...(options.history ?? []), { role: "user", content: question }] }),
  });
  const text = await response.text();
  const isStream = response.headers.get("content-type")?.startsWith("text/event-stream");
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    events: isStream ? parseSse(text) : [],
  };
}

export const names = (events: ChatEventRecord[]) => events.map((e) => e.event);
export const answerText = (events: ChatEventRecord[]) =>
  events
    .filter((e) => e.event === "text")
    .map((e) => e.data["delta"])
    .join("");
