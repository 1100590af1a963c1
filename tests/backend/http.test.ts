/**
 * The HTTP surface: /api/execute against the real sandbox, request validation (every bad body
 * is a 4xx JSON error that says what to send), every non-2xx the server or its framework can
 * produce in the contract's error shape, 405 with Allow, bearer auth on and off, health,
 * readiness, metrics.
 */
import type { LocalSandbox } from "../../dev/local-lambda/server";
import { startBackend } from "../../backend/server";
import { seedBrain } from "../../dev/fakes/gemini";
import {
  backendEnv,
  chat,
  names,
  rawRequest,
  startSandbox,
  startStack,
  type RawResponse,
  type Stack,
} from "./harness";

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

  it("answers a request the sandbox calls InvalidRequest with 400: it is the client's error", async () => {
    // 40,000 characters pass the API's character limit, but are 80,000 bytes of UTF-8: over the
    // sandbox's 64 KiB.
    const response = await post(
      `${stack.backend.url}/api/execute`,
      JSON.stringify({ code: `# ${"é".repeat(40000)}` }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ ok: false, error: { type: "InvalidRequest" } });
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
      const body = (await response.json()) as { error: { message: string } };
      expect(body).toMatchObject({
        ok: false,
        error: { type: "SandboxUnavailable", message: expect.stringMatching(/could not be reached/) },
      });
      // Where the sandbox is (an operator's business) is not told to the client.
      expect(body.error.message).not.toMatch(/127\.0\.0\.1|:9\b/);
      expect(body.error.message).toContain(`request id ${response.headers.get("x-request-id")}`);
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
      "execute: body over 1 MiB, saying the limit",
      "/api/execute",
      JSON.stringify({ code: "x".repeat(1_100_000) }),
      {},
      413,
      /larger than the limit of 1 MiB \(1048576 bytes\)/,
    ],
    [
      "chat: whitespace-only question",
      "/api/chat",
      '{"messages":[{"role":"user","content":" \\n\\t "}]}',
      {},
      400,
      /messages\/0\/content is only whitespace/,
    ],
    [
      "chat: a whitespace-only earlier message",
      "/api/chat",
      '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"\\u00a0"},{"role":"user","content":"2+2?"}]}',
      {},
      400,
      /messages\/1\/content is only whitespace/,
    ],
    [
      "execute: a __proto__ key (valid JSON, refused on purpose)",
      "/api/execute",
      '{"code":"print(1)","__proto__":{"isAdmin":true}}',
      {},
      400,
      /"__proto__" key.*prototype poisoning \(the JSON itself is valid\)/,
    ],
    [
      "chat: constructor.prototype deep inside",
      "/api/chat",
      '{"messages":[{"role":"user","content":"x","constructor":{"prototype":{"polluted":1}}}]}',
      {},
      400,
      /prototype poisoning/,
    ],
    ["execute: an empty body", "/api/execute", "", {}, 400, /body is empty/],
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

  it("a wrong method is a 405 naming the allowed ones in Allow", async () => {
    const cases: [string, string, string][] = [
      ["GET", "/api/chat", "POST"],
      ["GET", "/api/execute", "POST"],
      ["PUT", "/api/chat", "POST"],
      ["POST", "/healthz", "GET, HEAD"],
      ["DELETE", "/", "GET, HEAD"],
      ["POST", "/metrics", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const response = await fetch(`${stack.backend.url}${path}`, { method });
      expect([method, path, response.status, response.headers.get("allow")]).toEqual([
        method,
        path,
        405,
        allow,
      ]);
      expect(await response.json()).toMatchObject({
        error: { type: "MethodNotAllowed", message: expect.stringContaining(allow) },
      });
    }
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

describe("every non-2xx is in the contract's error shape, the framework's own included", () => {
  const ask = (raw: string) => rawRequest(stack.backend.port, raw);
  const H = () => `Host: 127.0.0.1:${stack.backend.port}\r\n`;
  const cases: [string, () => Promise<RawResponse>, number][] = [
    [
      "a malformed %-encoding in the path",
      () => ask(`GET /api/%zz HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`),
      400,
    ],
    ["a request line that is not HTTP", () => ask("HELLO\r\n\r\n"), 400],
    ["an unknown method", () => ask(`BREW /api/chat HTTP/1.1\r\n${H()}\r\n`), 400],
    ["HTTP/1.1 without Host", () => ask("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"), 400],
    ["a bad Content-Length", () => ask(`POST /api/execute HTTP/1.1\r\n${H()}Content-Length: x\r\n\r\n`), 400],
    [
      "headers over the size limit",
      () => ask(`GET / HTTP/1.1\r\n${H()}X-Big: ${"a".repeat(20000)}\r\n\r\n`),
      431,
    ],
    [
      "a declared body over the limit",
      () =>
        ask(
          `POST /api/execute HTTP/1.1\r\n${H()}Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{`,
        ),
      413,
    ],
    ["CONNECT", () => ask(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`), 405],
    [
      "an Expect other than 100-continue",
      () =>
        ask(
          `POST /api/execute HTTP/1.1\r\n${H()}Expect: x-unknown\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
        ),
      400,
    ],
    ["a wrong method", () => ask(`GET /api/chat HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`), 405],
    ["a route that does not exist", () => ask(`GET /nope HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`), 404],
  ];
  it.each(cases)("%s", async (_name, send, status) => {
    const response = await send();
    expect(response.status).toBe(status);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const body = JSON.parse(response.body) as Record<string, unknown>;
    expect(body).toEqual({ error: { type: expect.any(String), message: expect.any(String) } });
    expect(JSON.stringify(body)).not.toMatch(/statusCode|\n\s+at /);
  });

  it("every response carries a fresh x-request-id", async () => {
    const ids = await Promise.all(
      [1, 2, 3].map(async () => (await fetch(`${stack.backend.url}/nope`)).headers.get("x-request-id")),
    );
    expect(ids.every((id) => /^[0-9a-f]{12}$/.test(id ?? ""))).toBe(true);
    expect(new Set(ids).size).toBe(3);
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
  it("/readyz answers 503 in the error shape too, saying what is missing", async () => {
    const unconfigured = await startBackend({ port: 0, env: backendEnv(undefined, sandbox) });
    try {
      const response = await fetch(`${unconfigured.url}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        status: "not ready",
        missing: [expect.stringMatching(/GEMINI_API_KEY/)],
        error: { type: "NotReady", message: expect.stringMatching(/GEMINI_API_KEY/) },
      });
    } finally {
      await unconfigured.close();
    }
  });

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
