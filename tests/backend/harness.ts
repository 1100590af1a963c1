/**
 * Small named helpers for the backend tests: the real local sandbox, the fake Gemini, a
 * backend wired to both on free loopback ports, and an SSE reader for /api/chat.
 */
import { startLocalSandbox, type LocalSandbox } from "../../lambda/local/server";
import { startBackend, type RunningBackend } from "../../backend/server";
import { startFakeGemini, type FakeGemini, type FakeScript } from "../helpers/fake-gemini";

export interface ChatEventRecord {
  event: string;
  data: Record<string, unknown>;
}

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
  close(): Promise<void>;
}

/** A backend on a free port, talking to a fresh fake Gemini (running `script`) and `sandbox`. */
export async function startStack(
  script: FakeScript | undefined,
  sandbox: LocalSandbox | undefined,
  extraEnv: Record<string, string> = {},
): Promise<Stack> {
  const gemini = await startFakeGemini(script);
  const backend = await startBackend({ port: 0, env: backendEnv(gemini, sandbox, extraEnv) });
  return {
    backend,
    gemini,
    async close() {
      await backend.close();
      await gemini.close();
    },
  };
}

/** Parses a text/event-stream body into events (comments such as heartbeats are skipped). */
export function parseSse(text: string): ChatEventRecord[] {
  const events: ChatEventRecord[] = [];
  for (const block of text.split("\n\n")) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ event, data: JSON.parse(data.join("\n")) as Record<string, unknown> });
  }
  return events;
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
