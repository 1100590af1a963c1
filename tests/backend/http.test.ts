/**
 * The HTTP surface: /api/execute against the real sandbox, request validation (every bad body
 * is a 4xx JSON error that says what to send), bearer auth on and off, health, readiness,
 * metrics, and graceful shutdown with a stream open.
 */
import type { LocalSandbox } from "../../lambda/local/server";
import { startBackend } from "../../backend/server";
import { reply, scripted, seedBrain } from "../helpers/fake-gemini";
import { backendEnv, chat, names, startSandbox, startStack, type Stack } from "./harness";

let sandbox: LocalSandbox;
let stack: Stack;

beforeAll(async () => {
  sandbox = await startSandbox({ SANDBOX_TIMEOUT_MS: "2000" });
  stack = await startStack(seedBrain(), sandbox);
});
afterAll(async () => {
  await stack?.close();
  await sandbox?.close();
});

function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  return fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
}

describe("POST /api/execute", () => {
  it("answers the sandbox response as JSON", async () => {
    const response = await post(
      `${stack.backend.url}/api/execute`,
      JSON.stringify({ code: "15 / 100 * 2847" }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      ok: true,
      stdout: "",
      stderr: "",
      result: "427.05",
      error: null,
      truncated: false,
      durationMs: expect.any(Number),
    });
  });

  it("passes sandbox refusals through with their contract error type and status 200", async () => {
    const response = await post(
      `${stack.backend.url}/api/execute`,
      JSON.stringify({ code: "import subprocess" }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: false, error: { type: "ModuleNotAllowed" } });
  });

  it("answers 502 with the same shape when the sandbox cannot be reached", async () => {
    const backend = await startBackend({ port: 0, env: backendEnv(undefined, undefined) });
    try {
      const response = await post(`${backend.url}/api/execute`, JSON.stringify({ code: "print(1)" }));
      expect(response.status).toBe(502);
      expect(await response.json()).toMatchObject({
        ok: false,
        error: { type: "SandboxUnavailable", message: expect.stringMatching(/could not be reached/) },
      });
    } finally {
      await backend.close();
    }
  });
});

describe("bad requests get a 4xx JSON error that says what to send", () => {
  const cases: [string, string, string | Buffer, Record<string, string>, number, RegExp][] = [
    ["chat: not JSON", "/api/chat", "{nope", {}, 400, /not valid JSON.*messages/],
    ["chat: no messages", "/api/chat", "{}", {}, 400, /messages/],
    ["chat: empty messages", "/api/chat", '{"messages":[]}', {}, 400, /fewer than 1/],
    [
      "chat: wrong role",
      "/api/chat",
      '{"messages":[{"role":"system","content":"x"}]}',
      {},
      400,
      /"user", "assistant"/,
    ],
    [
      "chat: content not a string",
      "/api/chat",
      '{"messages":[{"role":"user","content":123}]}',
      {},
      400,
      /string/,
    ],
    [
      "chat: last message not the user's",
      "/api/chat",
      '{"messages":[{"role":"assistant","content":"hi"}]}',
      {},
      400,
      /last message/,
    ],
    ["chat: an array body", "/api/chat", "[]", {}, 400, /object/],
    ["execute: no code", "/api/execute", "{}", {}, 400, /code/],
    ["execute: code not a string", "/api/execute", '{"code":["print(1)"]}', {}, 400, /string/],
    ["execute: empty code", "/api/execute", '{"code":""}', {}, 400, /fewer than 1/],
    [
      "execute: code over 64 KiB",
      "/api/execute",
      JSON.stringify({ code: "#".repeat(70000) }),
      {},
      400,
      /more than 65536/,
    ],
    [
      "execute: body over 1 MiB",
      "/api/execute",
      JSON.stringify({ code: "x".repeat(1_100_000) }),
      {},
      413,
      /too large/,
    ],
    [
      "execute: not JSON content type",
      "/api/execute",
      "print(1)",
      { "content-type": "text/plain" },
      415,
      /application\/json/,
    ],
  ];

  it.each(cases)("%s", async (_name, path, body, headers, status, message) => {
    const response = await post(`${stack.backend.url}${path}`, body, headers);
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    const json = (await response.json()) as { error: { type: string; message: string } };
    expect(json.error.type).toEqual(expect.any(String));
    expect(json.error.message).toMatch(message);
    expect(json.error.message).not.toMatch(/\n\s+at /); // never a stack trace
  });

  it("an unknown route is a 404 naming the API", async () => {
    const response = await fetch(`${stack.backend.url}/api/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      error: { type: "NotFound", message: expect.stringMatching(/api\/chat/) },
    });
  });

  it("no model call and no execution happened for any of them", () => {
    expect(stack.gemini.requests).toHaveLength(0);
  });
});

describe("bearer auth (API_TOKEN)", () => {
  let secured: Stack;
  beforeAll(async () => {
    secured = await startStack(seedBrain(), sandbox, { API_TOKEN: "s3cret-token" });
  });
  afterAll(() => secured?.close());

  it("refuses /api/* without a token or with a wrong one, before any work", async () => {
    const none = await post(`${secured.backend.url}/api/execute`, '{"code":"print(1)"}');
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await none.json()).toMatchObject({
      error: { type: "Unauthorized", message: expect.stringMatching(/API_TOKEN/) },
    });
    const wrong = await chat(secured.backend.url, "What's 25 times 47?", { token: "guess" });
    expect(wrong.status).toBe(401);
    expect(secured.gemini.requests).toHaveLength(0);
  });

  it("accepts the right token", async () => {
    const ok = await chat(secured.backend.url, "What's 25 times 47?", { token: "s3cret-token" });
    expect(ok.status).toBe(200);
    expect(names(ok.events)).toEqual(["code", "code_result", "text", "text", "done"]);
  });

  it("leaves the page and the probes open (kubelet and browsers carry no token)", async () => {
    for (const path of ["/", "/healthz", "/readyz", "/metrics"])
      expect((await fetch(`${secured.backend.url}${path}`)).status).toBe(200);
  });

  it("is off when API_TOKEN is unset", async () => {
    const response = await post(`${stack.backend.url}/api/execute`, '{"code":"print(1)"}');
    expect(response.status).toBe(200);
  });
});

describe("probes, page and metrics", () => {
  it("/healthz and /readyz answer 200 when configured", async () => {
    expect(await (await fetch(`${stack.backend.url}/healthz`)).json()).toEqual({ status: "ok" });
    expect(await (await fetch(`${stack.backend.url}/readyz`)).json()).toEqual({ status: "ready" });
  });

  it("/ serves the chat page with its script and a content security policy", async () => {
    const page = await fetch(`${stack.backend.url}/`);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    expect(await page.text()).toMatch(/<script src="\/app.js"/);
    expect((await fetch(`${stack.backend.url}/app.js`)).status).toBe(200);
  });

  it("/metrics counts chat requests and executions by outcome, with latency histograms", async () => {
    await chat(stack.backend.url, "What's 25 times 47?");
    await post(`${stack.backend.url}/api/execute`, '{"code":"import os"}');
    const text = await (await fetch(`${stack.backend.url}/metrics`)).text();
    expect(text).toMatch(/chat_requests_total\{outcome="ok"\} [1-9]/);
    expect(text).toMatch(/code_executions_total\{outcome="ok",route="chat"\} [1-9]/);
    expect(text).toMatch(/code_executions_total\{outcome="ModuleNotAllowed",route="execute"\} [1-9]/);
    expect(text).toMatch(/code_execution_duration_seconds_bucket/);
    expect(text).toMatch(/model_request_duration_seconds_bucket\{le="[^"]+",outcome="ok"\}/);
  });
});

describe("graceful shutdown", () => {
  it("turns /readyz to 503, refuses new connections and lets an open stream finish", async () => {
    // A stream whose model answers slowly (2 chunks, 750 ms apart) is open when shutdown starts.
    const s = await startStack(() => ({ ...reply.text("still ", "here"), delayMs: 750 }), sandbox, {
      SHUTDOWN_GRACE_MS: "5000",
    });
    const streaming = chat(s.backend.url, "slow answer");
    await s.gemini.waitForRequests(1);
    const closing = s.backend.close();
    const { events } = await streaming;
    expect(names(events)).toEqual(["text", "text", "done"]);
    await closing;
    await expect(fetch(`${s.backend.url}/healthz`)).rejects.toThrow();
    await s.gemini.close();
  });

  it("stops a stream that outlives the grace period with an error event, then done", async () => {
    const s = await startStack(scripted(reply.hang({ text: "Thinking" })), sandbox, {
      SHUTDOWN_GRACE_MS: "300",
    });
    const streaming = chat(s.backend.url, "hang");
    await s.gemini.waitForRequests(1);
    const started = Date.now();
    await s.backend.close();
    const { events } = await streaming;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(names(events)).toEqual(["text", "error", "done"]);
    expect(events[1]!.data).toMatchObject({ type: "ServerShuttingDown" });
    await s.gemini.close();
  });
});
