/**
 * What one client, or all of them, can make one replica hold: open chat streams and sandbox
 * invocations in flight are capped (refused with 503 and Retry-After, in the contract's
 * shape), each client has a request rate, and nothing user code chooses becomes a metric
 * label or an unbounded log field.
 */
import net from "node:net";
import { EXECUTION_OUTCOMES } from "../../backend/error-types";
import type { LocalSandbox } from "../../dev/local-lambda/server";
import { reply } from "../../dev/fakes/gemini";
import {
  eventually,
  parseRawResponse,
  rawRequest,
  startHangingLambda,
  startSandbox,
  startScriptedLambda,
  startStack,
  type HangingLambda,
  type RawResponse,
  type Stack,
} from "./harness";

let sandbox: LocalSandbox;
let lambda: HangingLambda;
const stacks: Stack[] = [];

beforeAll(async () => {
  sandbox = await startSandbox();
  lambda = await startHangingLambda();
});
afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  await lambda?.close();
  await sandbox?.close();
});

async function stack(script: Parameters<typeof startStack>[0], env: Record<string, string>, target?: string) {
  const s = await startStack(script, sandbox, {
    ...env,
    ...(target ? { AWS_ENDPOINT_URL_LAMBDA: target } : {}),
  });
  stacks.push(s);
  return s;
}

function startChat(url: string, signal: AbortSignal) {
  return fetch(`${url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hold on" }] }),
    signal,
  });
}

function startExecute(url: string, signal?: AbortSignal) {
  return fetch(`${url}/api/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code: "print(1)" }),
    signal,
  });
}

describe("per-replica caps answer 503 with Retry-After", () => {
  it("open chat streams: MAX_OPEN_STREAMS, then ServerBusy; a freed slot is usable again", async () => {
    const s = await stack(() => reply.hang({ text: "Thinking" }), { MAX_OPEN_STREAMS: "2" });
    const first = new AbortController();
    const second = new AbortController();
    const open = [
      await startChat(s.backend.url, first.signal),
      await startChat(s.backend.url, second.signal),
    ];
    expect(open.map((r) => r.status)).toEqual([200, 200]);
    await s.gemini.waitForRequests(2);

    const refused = await startChat(s.backend.url, new AbortController().signal);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(await refused.json()).toEqual({
      error: { type: "ServerBusy", message: expect.stringMatching(/as many chats as it may at once \(2\)/) },
    });
    expect(s.gemini.requests).toHaveLength(2); // the refused one cost no model call

    // Refused before its body is read: a flood of uploads cannot get past the cap either.
    const early = await rawRequest(
      s.backend.port,
      `POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"mess`,
      2000,
    );
    expect(early.status).toBe(503);

    first.abort();
    await s.gemini.waitForAbort(0);
    await eventually(() => s.backend.app.backend.streams.inUse === 1, 5000, "the stream slot to be freed");
    const third = new AbortController();
    expect((await startChat(s.backend.url, third.signal)).status).toBe(200);
    second.abort();
    third.abort();
  });

  it("sandbox invocations in flight: MAX_CONCURRENT_EXECUTIONS, then ServerBusy on /api/execute", async () => {
    const s = await stack(() => reply.text("x"), { MAX_CONCURRENT_EXECUTIONS: "2" }, lambda.url);
    const before = lambda.invocations.length;
    const controller = new AbortController();
    const running = [
      startExecute(s.backend.url, controller.signal),
      startExecute(s.backend.url, controller.signal),
    ];
    await eventually(() => lambda.invocations.length === before + 2, 5000, "two invocations");
    const refused = await startExecute(s.backend.url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("2");
    expect(await refused.json()).toEqual({
      error: {
        type: "ServerBusy",
        message: expect.stringMatching(/running as much code as it may at once \(2\)/),
      },
    });
    expect(lambda.invocations.length).toBe(before + 2);
    controller.abort();
    await Promise.allSettled(running);
  });
});

/** A POST from a chosen loopback source address (all of 127/8 is this machine). */
function postFrom(
  port: number,
  source: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = "{}";
    const head = {
      Host: `127.0.0.1:${port}`,
      "Content-Type": "application/json",
      "Content-Length": "2",
      Connection: "close",
      ...headers,
    };
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: source }, () =>
      socket.write(
        `POST ${path} HTTP/1.1\r\n${Object.entries(head)
          .map(([k, v]) => `${k}: ${v}`)
          .join("\r\n")}\r\n\r\n${body}`,
      ),
    );
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(parseRawResponse(Buffer.concat(chunks).toString())));
  });
}

describe("per-client rate limit", () => {
  it("after RATE_LIMIT_BURST requests a client gets 429 with Retry-After; other clients and the probes do not", async () => {
    const s = await stack(() => reply.text("x"), { RATE_LIMIT_PER_MINUTE: "6", RATE_LIMIT_BURST: "3" });
    const port = s.backend.port;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await postFrom(port, "127.0.0.2", "/api/execute")).status);
    expect(statuses).toEqual([400, 400, 400, 429]); // {} is an invalid body: each got that far
    const limited = await postFrom(port, "127.0.0.2", "/%61pi/chat");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited.body)).toEqual({
      error: { type: "TooManyRequests", message: expect.stringMatching(/at most 6 a minute.*wait \d+ s/) },
    });
    // Another client has its own budget; the page and the probes are not API calls.
    expect((await postFrom(port, "127.0.0.3", "/api/execute")).status).toBe(400);
    expect((await fetch(`${s.backend.url}/healthz`)).status).toBe(200);
  });

  it("X-Forwarded-For is ignored unless TRUST_PROXY names the proxy: a client cannot rotate it to escape", async () => {
    const s = await stack(() => reply.text("x"), { RATE_LIMIT_PER_MINUTE: "6", RATE_LIMIT_BURST: "2" });
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        (await postFrom(s.backend.port, "127.0.0.4", "/api/execute", { "X-Forwarded-For": `203.0.113.${i}` }))
          .status,
      );
    expect(statuses).toEqual([400, 400, 429]);
  });

  it("behind a trusted proxy (TRUST_PROXY=loopback) each forwarded client has its own budget", async () => {
    const s = await stack(() => reply.text("x"), {
      RATE_LIMIT_PER_MINUTE: "6",
      RATE_LIMIT_BURST: "1",
      TRUST_PROXY: "loopback",
    });
    const as = (client: string) =>
      postFrom(s.backend.port, "127.0.0.5", "/api/execute", { "X-Forwarded-For": client });
    expect((await as("198.51.100.1")).status).toBe(400);
    expect((await as("198.51.100.1")).status).toBe(429);
    expect((await as("198.51.100.2")).status).toBe(400);
  });
});

describe("user-chosen strings never become metric labels or unbounded log fields", () => {
  it("300 fresh exception class names of 1 kB each: the outcome label stays in its closed set", async () => {
    // A sandbox that reports user code's own exception class names, however long (the
    // contract allows any class name): the backend must bound them itself.
    let n = 0;
    const fresh = await startScriptedLambda(() => ({
      ok: false,
      stdout: "",
      stderr: "",
      result: null,
      error: { type: `E${n++}_${"x".repeat(1000)}<b>\n`, message: "boom", traceback: null },
      truncated: false,
      durationMs: 1,
    }));
    const s = await stack(() => reply.text("x"), {}, fresh.url);
    try {
      for (let i = 0; i < 300; i += 20)
        await Promise.all(
          Array.from({ length: 20 }, () =>
            fetch(`${s.backend.url}/api/execute`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ code: "raise Anything()" }),
            }).then(async (r) => {
              const body = (await r.json()) as { error: { type: string } };
              expect(body.error.type).toMatch(/^E\d+_x+$/);
              expect(body.error.type.length).toBeLessThanOrEqual(100);
            }),
          ),
        );
    } finally {
      await fresh.close();
    }
    const metrics = await (await fetch(`${s.backend.url}/metrics`)).text();
    const outcomes = new Set(
      [...metrics.matchAll(/code_executions_total\{outcome="([^"]*)"/g)].map((m) => m[1]!),
    );
    expect([...outcomes]).toEqual(["other"]);
    expect(metrics).toMatch(/code_executions_total\{outcome="other",route="execute"\} 300/);
    expect(metrics).not.toMatch(/xxxxxxxx/);
    const executions = s.logs.filter((l) => l.msg === "code execution");
    expect(executions).toHaveLength(300);
    for (const line of executions) {
      expect(line["outcome"]).toBe("other");
      expect(String(line["errorType"]).length).toBeLessThanOrEqual(100);
      expect(JSON.stringify(line).length).toBeLessThan(1000);
    }
  });

  it("known types keep their own label (ModuleNotAllowed, ZeroDivisionError)", async () => {
    const s = await stack(() => reply.text("x"), {});
    for (const code of ["import os", "1/0"])
      await fetch(`${s.backend.url}/api/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
    const metrics = await (await fetch(`${s.backend.url}/metrics`)).text();
    expect(metrics).toMatch(/code_executions_total\{outcome="ModuleNotAllowed",route="execute"\} 1/);
    expect(metrics).toMatch(/code_executions_total\{outcome="ZeroDivisionError",route="execute"\} 1/);
    expect(EXECUTION_OUTCOMES.has("ModuleNotAllowed")).toBe(true);
  });
});
