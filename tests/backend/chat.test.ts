/**
 * POST /api/chat end to end: the real backend on a loopback port, the real @google/genai SDK
 * talking to a fake Gemini that speaks the REST wire protocol, and the real Python sandbox
 * behind the local Lambda runtime.
 */
import { parseSse } from "../../contract/chat";
import type { LocalSandbox } from "../../dev/local-lambda/server";
import { reply, scripted, seedBrain, SEED_THOUGHT_SIGNATURE, type WirePart } from "../../dev/fakes/gemini";
import {
  answerText,
  chat,
  eventually,
  names,
  startSandbox,
  startStack,
  type ChatEventRecord,
  type Stack,
} from "./harness";

let sandbox: LocalSandbox;
const stacks: Stack[] = [];

beforeAll(async () => {
  // A short sandbox limit so the timeout case is quick; everything else finishes well inside it.
  sandbox = await startSandbox({ SANDBOX_TIMEOUT_MS: "2000" });
});
afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  await sandbox?.close();
});

async function stack(script: Parameters<typeof startStack>[0], env: Record<string, string> = {}) {
  const s = await startStack(script, sandbox, env);
  stacks.push(s);
  return s;
}

const eventsNamed = (events: ChatEventRecord[], name: string) => events.filter((e) => e.event === name);

describe("the seed questions, end to end", () => {
  const seed: [string, string, RegExp][] = [
    ["What's 25 times 47?", "1175", /1175/],
    ["Calculate 15% of 2847", "427.05", /427\.05/],
    ["Generate first 10 Fibonacci numbers", "0 1 1 2 3 5 8 13 21 34", /0 1 1 2 3 5 8 13 21 34/],
    ["What's the square root of 144?", "12", /\b12\b/],
  ];

  it.each(seed)("%s -> code, its output %s, then the answer", async (question, output, answer) => {
    const { backend, gemini } = await stack(seedBrain());
    const { status, contentType, events } = await chat(backend.url, question);

    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/event-stream/);
    expect(names(events)).toEqual(["code", "code_result", "text", "text", "done"]);
    const [code, result] = events;
    expect(code!.data).toEqual({ id: "seed-call-1", code: expect.any(String) });
    expect(result!.data).toMatchObject({ id: "seed-call-1", ok: true, error: null, stderr: "" });
    expect(String(result!.data["stdout"]).trim()).toBe(output);
    expect(result!.data["durationMs"]).toEqual(expect.any(Number));
    expect(answerText(events)).toMatch(answer);

    // The model got the tool, and its call (id and thought signature) was echoed back with the output.
    const [first, second] = gemini.requests;
    const declaration = first!.body.tools?.[0]?.functionDeclarations?.[0];
    expect(declaration?.name).toBe("execute_python");
    expect(declaration?.description).toMatch(/math, json, datetime/);
    expect(declaration?.description).toMatch(/print/i);
    const contents = second!.body.contents;
    const modelTurn = contents[contents.length - 2]!;
    expect(modelTurn.role).toBe("model");
    expect(modelTurn.parts[0]).toMatchObject({
      functionCall: { id: "seed-call-1", name: "execute_python" },
      thoughtSignature: SEED_THOUGHT_SIGNATURE,
    });
    const response = contents[contents.length - 1]!.parts[0]!.functionResponse!;
    expect(response).toMatchObject({ id: "seed-call-1", name: "execute_python" });
    expect(String((response.response as { stdout: string }).stdout).trim()).toBe(output);
  });

  it("sends the earlier conversation along, assistant turns as the model's", async () => {
    const { backend, gemini } = await stack(seedBrain());
    await chat(backend.url, "What's 25 times 47?", {
      history: [
        { role: "user", content: "Hello" },
        { role: "assistant", content: "Hi! What shall we compute?" },
      ],
    });
    const roles = gemini.requests[0]!.body.contents.map((c) => c.role);
    expect(roles).toEqual(["user", "model", "user"]);
  });
});

describe("tool rounds", () => {
  it("runs every function call of one model turn, in order, and answers them all at once", async () => {
    const { backend, gemini } = await stack(
      scripted(
        reply.calls(
          { id: "a", code: "print(6 * 7)" },
          { id: "b", code: "import math\nprint(math.factorial(5))" },
        ),
        reply.text("42 and 120."),
      ),
    );
    const { events } = await chat(backend.url, "Two things please");
    expect(names(events)).toEqual(["code", "code_result", "code", "code_result", "text", "done"]);
    expect(eventsNamed(events, "code_result").map((e) => [e.data["id"], e.data["stdout"]])).toEqual([
      ["a", "42\n"],
      ["b", "120\n"],
    ]);
    const answered = gemini.requests[1]!.body.contents.at(-1)!.parts.map((p) => p.functionResponse);
    expect(answered.map((r) => [r?.id, (r?.response as { stdout: string }).stdout])).toEqual([
      ["a", "42\n"],
      ["b", "120\n"],
    ]);
  });

  it("lets the model correct itself after an error, over several rounds", async () => {
    const { backend, gemini } = await stack(
      scripted(
        reply.calls({ id: "1", code: "import numpy" }),
        reply.calls({ id: "2", code: "import statistics\nprint(statistics.mean([1, 2, 3, 4]))" }),
        reply.text("The mean is 2.5."),
      ),
    );
    const { events } = await chat(backend.url, "mean of 1..4");
    const results = eventsNamed(events, "code_result");
    expect(results[0]!.data).toMatchObject({ ok: false, error: { type: "ModuleNotAllowed" } });
    expect(String((results[0]!.data["error"] as { message: string }).message)).toMatch(/numpy.*math/s);
    expect(results[1]!.data).toMatchObject({ ok: true, stdout: "2.5\n" });
    expect(answerText(events)).toBe("The mean is 2.5.");
    // The model saw the ModuleNotAllowed error as the function response.
    const firstResponse = gemini.requests[1]!.body.contents.at(-1)!.parts[0]!.functionResponse!;
    expect(firstResponse.response).toMatchObject({ ok: false, error: { type: "ModuleNotAllowed" } });
  });

  it("stops a turn that keeps calling the tool past MAX_TOOL_ROUNDS with an error event", async () => {
    const { backend, gemini } = await stack(() => reply.calls({ code: "print(1)" }), {
      MAX_TOOL_ROUNDS: "2",
    });
    const { events } = await chat(backend.url, "loop forever");
    expect(eventsNamed(events, "code")).toHaveLength(2);
    expect(eventsNamed(events, "error")[0]!.data).toMatchObject({ type: "ToolRounds" });
    expect(names(events).at(-1)).toBe("done");
    expect(gemini.requests).toHaveLength(3);
  });

  it("answers an unknown tool or a call without code with an error function response, not an execution", async () => {
    const { backend, gemini } = await stack(
      scripted(
        reply.calls(
          { id: "x", name: "delete_everything", code: "" },
          { id: "y", code: "", args: { source: 1 } },
        ),
        reply.text("Sorry."),
      ),
    );
    const { events } = await chat(backend.url, "?");
    expect(names(events)).toEqual(["text", "done"]);
    const parts = gemini.requests[1]!.body.contents.at(-1)!.parts as WirePart[];
    expect(
      parts.map((p) => (p.functionResponse?.response as { error: { type: string } }).error.type),
    ).toEqual(["UnknownTool", "InvalidArguments"]);
  });
});

describe("sandbox outcomes surface as code_result with the contract's error type", () => {
  it("a timeout", async () => {
    const { backend } = await stack(
      scripted(
        reply.calls({ id: "t", code: "print('start', flush=True)\nwhile True: pass" }),
        reply.text("Too slow."),
      ),
      { SANDBOX_TIMEOUT_MS: "1000" },
    );
    const started = Date.now();
    const { events } = await chat(backend.url, "spin");
    expect(Date.now() - started).toBeLessThan(10000);
    const result = eventsNamed(events, "code_result")[0]!.data;
    expect(result).toMatchObject({ id: "t", ok: false, error: { type: "Timeout" } });
    expect(result["stdout"]).toBe("start\n");
    expect(names(events)).toEqual(["code", "code_result", "text", "done"]);
  });

  it("a blocked import, a blocked file read and an ordinary exception", async () => {
    const { backend } = await stack(
      scripted(
        reply.calls(
          { id: "os", code: "import os\nprint(os.environ)" },
          { id: "file", code: "print(open('/etc/passwd').read())" },
          { id: "zero", code: "1 / 0" },
        ),
        reply.text("Those are not allowed."),
      ),
    );
    const { events } = await chat(backend.url, "try things");
    const errors = eventsNamed(events, "code_result").map((e) => (e.data["error"] as { type: string }).type);
    expect(errors).toEqual(["ModuleNotAllowed", "OperationNotAllowed", "ZeroDivisionError"]);
    expect(JSON.stringify(events)).not.toMatch(/root:x:0:0/);
  });

  it("a sandbox that cannot be reached is a code_result error the model is told about", async () => {
    const s = await startStack(
      scripted(reply.calls({ id: "u", code: "print(1)" }), reply.text("The sandbox is down.")),
      undefined,
    );
    stacks.push(s);
    const { events } = await chat(s.backend.url, "anything");
    expect(eventsNamed(events, "code_result")[0]!.data).toMatchObject({
      ok: false,
      error: { type: "SandboxUnavailable" },
    });
    expect(names(events)).toEqual(["code", "code_result", "text", "done"]);
  });
});

describe("code execution switched off", () => {
  it("offers no tool to the model (CODE_EXECUTION_ENABLED=false)", async () => {
    const { backend, gemini } = await stack(seedBrain(), { CODE_EXECUTION_ENABLED: "false" });
    const { events } = await chat(backend.url, "What's 25 times 47?");
    expect(gemini.requests[0]!.body.tools ?? []).toEqual([]);
    expect(names(events)).toEqual(["text", "done"]);
    expect(answerText(events)).toMatch(/cannot run code/);
  });
});

describe("model failures are events, and the stream always ends with done", () => {
  it("retries a 429 and then answers", async () => {
    const { backend, gemini } = await stack(
      scripted(reply.error(429), reply.error(429, { retryDelaySeconds: 0 }), reply.text("Fine now.")),
    );
    const { events } = await chat(backend.url, "hello");
    expect(names(events)).toEqual(["text", "done"]);
    expect(answerText(events)).toBe("Fine now.");
    expect(gemini.requests).toHaveLength(3);
  });

  it("gives up on a 429 after MODEL_MAX_RETRIES with a RateLimited error", async () => {
    const { backend, gemini } = await stack(() => reply.error(429), { MODEL_MAX_RETRIES: "2" });
    const { events } = await chat(backend.url, "hello");
    expect(names(events)).toEqual(["error", "done"]);
    expect(events[0]!.data).toMatchObject({ type: "RateLimited", message: expect.stringMatching(/wait/) });
    expect(gemini.requests).toHaveLength(3);
  });

  it("a 500 every time is retried, then is a ModelUnavailable error for people with a request id; Google's words go to the log", async () => {
    const { backend, logs, gemini } = await stack(() =>
      reply.error(500, { message: "backend exploded at shard 7 of project 555" }),
    );
    const response = await fetch(`${backend.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] }),
    });
    const requestId = response.headers.get("x-request-id");
    const events = parseSse(await response.text());
    expect(names(events)).toEqual(["error", "done"]);
    expect(events[0]!.data).toEqual({
      type: "ModelUnavailable",
      message: `The model service failed; try again in a moment. (request id ${requestId})`,
    });
    // The first call and MODEL_MAX_RETRIES (3) more, then one log line for the failure.
    expect(gemini.requests).toHaveLength(4);
    await eventually(() => logs.some((l) => l.msg === "model call failed"));
    expect(logs.filter((l) => l.msg === "model call failed")).toEqual([
      expect.objectContaining({
        requestId,
        detail: expect.stringMatching(/500 INTERNAL: backend exploded at shard 7/),
      }),
    ]);
  });

  it("a bad API key (403) says to check GEMINI_API_KEY", async () => {
    const { backend } = await stack(scripted(reply.error(403, { message: "API key not valid" })));
    const { events } = await chat(backend.url, "hello");
    expect(events[0]!.data).toMatchObject({
      type: "ModelAuth",
      message: expect.stringMatching(/GEMINI_API_KEY/),
    });
  });

  it("a safety block after some text", async () => {
    const { backend } = await stack(scripted(reply.safetyBlocked()));
    const { events } = await chat(backend.url, "something bad");
    expect(names(events)).toEqual(["text", "error", "done"]);
    expect(events[1]!.data).toMatchObject({ type: "SafetyBlocked" });
  });

  it("a blocked prompt", async () => {
    const { backend } = await stack(scripted(reply.promptBlocked("PROHIBITED_CONTENT")));
    const { events } = await chat(backend.url, "something worse");
    expect(names(events)).toEqual(["error", "done"]);
    expect(String(events[0]!.data["message"])).toMatch(/PROHIBITED_CONTENT/);
  });

  it("an unreachable model: a message for people, the network error in the log", async () => {
    const s = await startStack(seedBrain(), sandbox);
    stacks.push(s);
    await s.gemini.close();
    const { events } = await chat(s.backend.url, "hello");
    expect(names(events)).toEqual(["error", "done"]);
    expect(events[0]!.data).toMatchObject({
      type: "ModelUnavailable",
      message: expect.stringMatching(
        /^The model service could not be reached; try again in a moment\. If it persists, the operator should check GEMINI_BASE_URL \(and that the endpoint there is running\)\. \(request id \w+\)$/,
      ),
    });
    expect(s.logs.find((l) => l.msg === "model call failed")?.["detail"]).toMatch(/ECONNREFUSED/);
  });

  it("without GEMINI_API_KEY chat says how to set it, while /api/execute still works", async () => {
    const s = await startStack(seedBrain(), sandbox, { GEMINI_API_KEY: "" });
    stacks.push(s);
    const { events } = await chat(s.backend.url, "What's 25 times 47?");
    expect(names(events)).toEqual(["error", "done"]);
    expect(events[0]!.data).toMatchObject({
      type: "ConfigurationError",
      message: expect.stringMatching(/GEMINI_API_KEY/),
    });
    expect(s.gemini.requests).toHaveLength(0);
    const execute = await fetch(`${s.backend.url}/api/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "print(25 * 47)" }),
    });
    expect(await execute.json()).toMatchObject({ ok: true, stdout: "1175\n" });
    const ready = await fetch(`${s.backend.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toMatch(/GEMINI_API_KEY/);
  });
});

describe("the client going away", () => {
  it("aborts the model call when the client disconnects mid-stream", async () => {
    const { backend, gemini } = await stack(scripted(reply.hang({ text: "Thinking" })));
    const controller = new AbortController();
    const response = await fetch(`${backend.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hang" }] }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toMatch(/event: text/);
    controller.abort();
    await gemini.waitForAbort(0);
    expect(gemini.requests[0]!.aborted).toBe(true);
    // The server is fine afterwards.
    expect((await fetch(`${backend.url}/healthz`)).status).toBe(200);
  });

  it("stops executing: a disconnect during a slow execution runs no further calls", async () => {
    const { backend, gemini } = await stack(
      scripted(
        reply.calls({ id: "slow", code: "print(sum(range(10**8)))" }, { id: "next", code: "print(2)" }),
        reply.text("done"),
      ),
    );
    const controller = new AbortController();
    const response = await fetch(`${backend.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "slow" }] }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toMatch(/event: code/);
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // Only the first model call happened: the turn ended instead of asking the model again.
    expect(gemini.requests).toHaveLength(1);
    const metrics = await (await fetch(`${backend.url}/metrics`)).text();
    expect(metrics).toMatch(/chat_requests_total\{outcome="aborted"\} 1/);
    expect(metrics).not.toMatch(/code_executions_total\{[^}]*\} 2/);
  });
});
