/**
 * What one chat turn may cost is bounded, whatever the client sends and whatever the model
 * asks for: the conversation re-sent to the model is trimmed to a budget (newest first, with
 * a note of what was left out), each tool output the model sees is capped (the user still
 * sees all of it, marked truncated when the sandbox cut it), the model input summed over a
 * turn's tool rounds is capped, and so is the number of code executions per turn. The real
 * backend, the real SDK against the fake Gemini, and the real sandbox.
 */
import type { LocalSandbox } from "../../dev/local-lambda/server";
import { reply, scripted, type FakeGeminiRequest, type WireContent } from "../../dev/fakes/gemini";
import { chat, names, startSandbox, startStack, type ChatEventRecord, type Stack } from "./harness";

let sandbox: LocalSandbox;
const stacks: Stack[] = [];

beforeAll(async () => {
  sandbox = await startSandbox();
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
const textOf = (contents: WireContent[]) =>
  contents.flatMap((c) => c.parts.map((p) => p.text ?? "")).reduce((n, t) => n + t.length, 0);
const functionResponses = (request: FakeGeminiRequest) =>
  request.body.contents.at(-1)!.parts.map((p) => p.functionResponse!.response as Record<string, unknown>);

describe("what the user sees of long output, and what the model sees", () => {
  it("code_result carries truncated: true when the sandbox cut the output, and the model is told too", async () => {
    const { backend, gemini } = await stack(
      scripted(reply.calls({ id: "big", code: "print('x' * 70000)" }), reply.text("Long.")),
    );
    const { events } = await chat(backend.url, "print a lot");
    const result = eventsNamed(events, "code_result")[0]!.data;
    expect(result).toMatchObject({ id: "big", ok: true, truncated: true });
    expect(String(result["stdout"]).length).toBe(65536);
    expect(functionResponses(gemini.requests[1]!)[0]).toMatchObject({ truncated: true });
  });

  it("an output the sandbox kept whole (60,000 characters) reaches the user whole, the model capped", async () => {
    const { backend, gemini } = await stack(
      scripted(reply.calls({ id: "wide", code: "print('y' * 60000)" }), reply.text("Wide.")),
    );
    const { events } = await chat(backend.url, "print a wide line");
    const result = eventsNamed(events, "code_result")[0]!.data;
    expect(result).toMatchObject({ ok: true, truncated: false });
    expect(String(result["stdout"])).toHaveLength(60001);
    const seen = functionResponses(gemini.requests[1]!)[0]!;
    expect(String(seen["stdout"]).length).toBeLessThanOrEqual(16000);
    expect(String(seen["stdout"])).toMatch(/characters left out/);
    expect(seen["truncated"]).toBe(true);
  });
});

describe("code executions per turn", () => {
  it("runs at most MAX_EXECUTIONS_PER_TURN; the model's further calls are answered 'not run'", async () => {
    const calls = Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, code: `print(${i})` }));
    const { backend, gemini, logs } = await stack(scripted(reply.calls(...calls), reply.text("Some ran.")), {
      MAX_EXECUTIONS_PER_TURN: "3",
    });
    const { events } = await chat(backend.url, "five things");
    expect(eventsNamed(events, "code").map((e) => e.data["id"])).toEqual(["c0", "c1", "c2"]);
    expect(eventsNamed(events, "code_result")).toHaveLength(3);
    const answered = functionResponses(gemini.requests[1]!);
    expect(answered).toHaveLength(5); // every call gets its response, as the model expects
    expect(answered.slice(3).map((r) => (r["error"] as { type: string }).type)).toEqual([
      "ExecutionLimit",
      "ExecutionLimit",
    ]);
    expect(logs.filter((l) => l.msg === "code execution")).toHaveLength(3);
  });

  it("one model turn asking for 1,000 executions runs 10 (the default)", async () => {
    const calls = Array.from({ length: 1000 }, (_, i) => ({ id: `k${i}`, code: "print(1)" }));
    const { backend, logs } = await stack(scripted(reply.calls(...calls), reply.text("Done.")));
    const { events } = await chat(backend.url, "a thousand");
    expect(eventsNamed(events, "code")).toHaveLength(10);
    expect(logs.filter((l) => l.msg === "code execution")).toHaveLength(10);
    expect(names(events).at(-1)).toBe("done");
  });
});

describe("the conversation re-sent to the model", () => {
  it("is trimmed to MODEL_HISTORY_CHARS, newest first, starting with a user note of what was left out", async () => {
    const { backend, gemini } = await stack(scripted(reply.text("Fine.")));
    const history = Array.from({ length: 29 }, (_, i) => ({
      role: i % 2 === 0 ? ("user" as const) : ("assistant" as const),
      content: `${i}:`.padEnd(30000, i % 2 === 0 ? "q" : "a"),
    }));
    const { status, events } = await chat(backend.url, "And now?", { history });
    expect(status).toBe(200);
    expect(names(events)).toEqual(["text", "done"]);
    const contents = gemini.requests[0]!.body.contents;
    expect(textOf(contents)).toBeLessThanOrEqual(100000 + 200);
    expect(contents[0]!.role).toBe("user");
    expect(contents[0]!.parts[0]!.text).toMatch(/^\[\d+ earlier messages were left out/);
    expect(contents.at(-1)!.parts[0]!.text).toBe("And now?");
    // The newest earlier answer is there whole.
    expect(contents.at(-2)!.parts[0]!.text).toBe(history.at(-1)!.content);
  });

  it("a turn whose tool rounds would send more than MODEL_TURN_INPUT_CHARS stops with TurnTooLarge", async () => {
    let n = 0;
    const { backend, gemini } = await stack(() => reply.calls({ id: `r${n++}`, code: "print('z' * 9000)" }), {
      MODEL_TURN_INPUT_CHARS: "30000",
      MAX_TOOL_ROUNDS: "20",
    });
    const { events } = await chat(backend.url, "loop with big output");
    const error = eventsNamed(events, "error")[0]!.data;
    expect(error).toMatchObject({ type: "TurnTooLarge", message: expect.stringMatching(/too large/) });
    expect(names(events).at(-1)).toBe("done");
    const sent = gemini.requests.reduce((total, r) => total + JSON.stringify(r.body.contents).length, 0);
    // What the fake received is the wire JSON (a little more than the backend counts).
    expect(sent).toBeLessThan(30000 * 1.2);
    expect(gemini.requests.length).toBeLessThan(6);
  });
});

/** Waits 0.2 s with the contract's own modules (datetime), then prints "slept". */
const BUSY_200_MS = [
  "import datetime",
  "end = datetime.datetime.now() + datetime.timedelta(seconds=0.2)",
  "while datetime.datetime.now() < end:",
  "    pass",
  "print('slept')",
].join("\n");

describe("the replica's execution slots", () => {
  it("with MAX_CONCURRENT_EXECUTIONS=1, concurrent chats wait their turn and all get their results", async () => {
    const { backend } = await stack(
      (request) =>
        request.body.contents.at(-1)!.parts.some((p) => p.functionResponse)
          ? reply.text("ok.")
          : reply.calls({ id: "s", code: BUSY_200_MS }),
      { MAX_CONCURRENT_EXECUTIONS: "1" },
    );
    const started = Date.now();
    const results = await Promise.all([1, 2, 3].map(() => chat(backend.url, "sleep")));
    for (const { events } of results)
      expect(eventsNamed(events, "code_result")[0]!.data).toMatchObject({ ok: true, stdout: "slept\n" });
    // One at a time: three 0.2 s executions cannot overlap.
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });
});
