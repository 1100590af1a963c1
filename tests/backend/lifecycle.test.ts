/**
 * The life of a request when things end early. A client that goes away aborts the sandbox
 * invocation it caused (the Invoke request to Lambda is abandoned: the local runtime and
 * Lambda stop the execution then) and its request is still logged, marked aborted. Shutdown
 * is as documented: while draining /readyz answers 503 and requests are still served; then
 * the listener closes and what is in flight may finish within the grace period; whatever is
 * still running then is answered (an error event for a chat, a 503 for /api/execute), never
 * cut off without a word.
 */
import { reply, scripted } from "../../dev/fakes/gemini";
import {
  chat,
  eventually,
  names,
  rawRequest,
  startHangingLambda,
  startStack,
  type HangingLambda,
  type Stack,
} from "./harness";

let lambda: HangingLambda;
const stacks: Stack[] = [];

beforeAll(async () => {
  lambda = await startHangingLambda();
});
afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  await lambda?.close();
});

async function stack(script: Parameters<typeof startStack>[0], env: Record<string, string> = {}) {
  const s = await startStack(script, undefined, { AWS_ENDPOINT_URL_LAMBDA: lambda.url, ...env });
  stacks.push(s);
  return s;
}

function execute(url: string, signal?: AbortSignal) {
  return fetch(`${url}/api/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code: "while True: pass" }),
    signal,
  });
}

describe("a client that goes away", () => {
  it("from /api/execute: the sandbox invocation is aborted at once, and the request is logged as aborted", async () => {
    const s = await stack(scripted());
    const before = lambda.invocations.length;
    const controller = new AbortController();
    const pending = execute(s.backend.url, controller.signal).catch(() => undefined);
    await eventually(() => lambda.invocations.length === before + 1, 5000, "the invocation");
    const left = Date.now();
    controller.abort();
    await pending;
    await eventually(() => lambda.invocations[before]!.aborted, 3000, "the invocation to be aborted");
    expect(lambda.invocations[before]!.abortedAt! - left).toBeLessThan(1000);
    await eventually(() => s.logs.some((l) => l.msg === "code execution"), 3000, "the execution's log line");
    expect(s.logs.filter((l) => l.msg === "request")).toEqual([
      expect.objectContaining({ method: "POST", url: "/api/execute", aborted: true }),
    ]);
    expect(s.logs.find((l) => l.msg === "code execution")).toMatchObject({
      route: "execute",
      errorType: "ClientDisconnected",
    });
    expect(s.backend.app.backend.executions.inUse).toBe(0);
  });

  it("from a chat while its code runs: the invocation is aborted and no further model call is made", async () => {
    const s = await stack(
      scripted(reply.calls({ id: "spin", code: "while True: pass" }), reply.text("never")),
    );
    const before = lambda.invocations.length;
    const controller = new AbortController();
    const response = await fetch(`${s.backend.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "spin" }] }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toMatch(/event: code/);
    await eventually(() => lambda.invocations.length === before + 1, 5000, "the invocation");
    controller.abort();
    await eventually(() => lambda.invocations[before]!.aborted, 3000, "the invocation to be aborted");
    await eventually(() => s.logs.some((l) => l.msg === "request"), 3000, "the request's log line");
    expect(s.logs.find((l) => l.msg === "request")).toMatchObject({
      url: "/api/chat",
      aborted: true,
      outcome: "aborted",
      statusCode: 200,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(s.gemini.requests).toHaveLength(1);
  });

  it("the chat route's log line has no query string (nor has any other)", async () => {
    const s = await stack(() => reply.text("hi"));
    await fetch(`${s.backend.url}/api/chat?api_key=leaked&user=bob`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] }),
    }).then((r) => r.text());
    await fetch(`${s.backend.url}/healthz?token=leaked`);
    await eventually(() => s.logs.filter((l) => l.msg === "request").length === 2, 3000, "two request lines");
    expect(JSON.stringify(s.logs)).not.toMatch(/leaked|api_key/);
    expect(s.logs.filter((l) => l.msg === "request").map((l) => l["url"])).toEqual(["/api/chat", "/healthz"]);
  });
});

describe("shutdown, as documented", () => {
  it("while draining: /readyz is 503 in the error shape, requests are still served (with Connection: close)", async () => {
    const s = await stack(() => reply.text("still ", "here"));
    const closing = s.backend.close({ drainMs: 1500, graceMs: 5000 });
    await eventually(() => s.backend.app.backend.phase === "draining", 1000, "draining");
    const ready = await fetch(`${s.backend.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      missing: ["the server is shutting down"],
      error: { type: "NotReady" },
    });
    expect((await fetch(`${s.backend.url}/healthz`)).status).toBe(200);
    const { status, events } = await chat(s.backend.url, "one more");
    expect(status).toBe(200);
    expect(names(events)).toEqual(["text", "text", "done"]);
    const served = await rawRequest(s.backend.port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(served.headers["connection"]).toBe("close");
    await closing;
    await expect(fetch(`${s.backend.url}/healthz`)).rejects.toThrow();
  });

  it("a stream that finishes within the grace period ends normally", async () => {
    const s = await stack(() => ({ ...reply.text("still ", "here"), delayMs: 750 }));
    const streaming = chat(s.backend.url, "slow answer");
    await s.gemini.waitForRequests(1);
    const closing = s.backend.close({ graceMs: 5000 });
    const { events } = await streaming;
    expect(names(events)).toEqual(["text", "text", "done"]);
    await closing;
    await expect(fetch(`${s.backend.url}/healthz`)).rejects.toThrow();
  });

  it("a stream that outlives the grace period gets an error event, then done", async () => {
    const s = await stack(scripted(reply.hang({ text: "Thinking" })));
    const streaming = chat(s.backend.url, "hang");
    await s.gemini.waitForRequests(1);
    const started = Date.now();
    await s.backend.close({ graceMs: 300 });
    const { events } = await streaming;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(names(events)).toEqual(["text", "error", "done"]);
    expect(events[1]!.data).toMatchObject({ type: "ServerShuttingDown" });
  });

  it("code running in a chat past the grace period: its code_result says so, then error and done", async () => {
    const s = await stack(scripted(reply.calls({ id: "spin", code: "while True: pass" })));
    const before = lambda.invocations.length;
    const streaming = chat(s.backend.url, "spin");
    await eventually(() => lambda.invocations.length === before + 1, 5000, "the invocation");
    await s.backend.close({ graceMs: 300 });
    const { events } = await streaming;
    expect(names(events)).toEqual(["code", "code_result", "error", "done"]);
    expect(events[1]!.data).toMatchObject({ id: "spin", ok: false, error: { type: "ServerShuttingDown" } });
    await eventually(() => lambda.invocations[before]!.aborted, 2000, "the invocation to be aborted");
  });

  it("/api/execute longer than the grace period is answered 503 ServerShuttingDown with Retry-After, and logged so", async () => {
    const s = await stack(scripted());
    const before = lambda.invocations.length;
    const pending = execute(s.backend.url);
    await eventually(() => lambda.invocations.length === before + 1, 5000, "the invocation");
    const started = Date.now();
    const closing = s.backend.close({ graceMs: 400 });
    const response = await pending;
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await response.json()).toMatchObject({
      ok: false,
      error: { type: "ServerShuttingDown", message: expect.stringMatching(/restarting/) },
    });
    await closing;
    expect(Date.now() - started).toBeLessThan(4000);
    await eventually(() => lambda.invocations[before]!.aborted, 2000, "the invocation to be aborted");
    expect(s.logs.find((l) => l.msg === "code execution")).toMatchObject({ outcome: "ServerShuttingDown" });
    expect(s.logs.find((l) => l.msg === "request")).toMatchObject({ url: "/api/execute", statusCode: 503 });
  });
});
