/**
 * Every provider against its local fake, which speaks that API's real wire format and checks
 * what the real service checks: the same conversation, tool and results become each API's
 * own messages and come back as the same text deltas and tool calls; each API's failures
 * become the same kinds of ModelError, whose messages name what to change for that provider.
 */
import { ModelError } from "../../backend/providers/errors";
import type {
  ConversationItem,
  ModelOutput,
  ModelProvider,
  ModelRequest,
  ModelTurn,
  ProviderId,
} from "../../backend/providers/provider";
import { executePythonTool, systemInstruction } from "../../backend/providers/tool";
import { reply, scripted, type FakeErrorKind, type FakeScript } from "../../dev/fakes/script";
import { PROVIDERS, withFake, type FakeOptions, type ProviderWithFake } from "./harness";

const open: ProviderWithFake[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

async function setUp(id: ProviderId, script: FakeScript, options: FakeOptions = {}) {
  const p = await withFake(id, script, options);
  open.push(p);
  return p;
}

const TOOL = executePythonTool(["math", "json"]);

function request(conversation: ConversationItem[], extra: Partial<ModelRequest> = {}): ModelRequest {
  return { system: systemInstruction(true), tool: TOOL, conversation, ...extra };
}

/** Runs one model call to its end: what it yielded, and its turn or its error. */
async function run(provider: ModelProvider, req: ModelRequest) {
  const outputs: ModelOutput[] = [];
  const stream = provider.stream(req);
  try {
    for (;;) {
      const next = await stream.next();
      if (next.done) return { outputs, turn: next.value as ModelTurn, error: undefined };
      outputs.push(next.value);
    }
  } catch (error) {
    return { outputs, turn: undefined, error: error as ModelError };
  }
}

const texts = (outputs: ModelOutput[]) => outputs.flatMap((o) => (o.type === "text" ? [o.text] : []));
const question = (text: string): ConversationItem[] => [{ role: "user", text }];

describe.each(PROVIDERS)("%s", (id) => {
  it("streams the answer's text deltas in order and returns the whole turn", async () => {
    const { provider, fake } = await setUp(id, scripted(reply.text("The answer ", "is ", "1175.")));
    const { outputs, turn, error } = await run(provider, request(question("What's 25 times 47?")));
    expect(error).toBeUndefined();
    expect(texts(outputs)).toEqual(["The answer ", "is ", "1175."]);
    expect(turn).toMatchObject({ text: "The answer is 1175.", calls: [] });
    expect(fake.requests[0]!.turns).toEqual([
      { role: "user", text: "What's 25 times 47?", calls: [], results: [] },
    ]);
    expect(fake.requests[0]!.tools).toEqual(["execute_python"]);
    expect(fake.requests[0]!.system).toMatch(/execute_python/);
  });

  it("offers no tool when code execution is off", async () => {
    const { provider, fake } = await setUp(id, scripted(reply.text("Direct.")));
    await run(provider, request(question("hi"), { tool: undefined, system: systemInstruction(false) }));
    expect(fake.requests[0]!.tools).toEqual([]);
  });

  it("assembles parallel calls, then sends the turn back with one result per call, which the API accepts", async () => {
    const { provider, fake } = await setUp(
      id,
      scripted(
        reply.textAndCalls(
          "Computing. ",
          { code: "print(25 * 47)" },
          { code: "import math\nprint(math.sqrt(144))" },
        ),
        reply.text("1175 and 12."),
      ),
    );
    const first = await run(provider, request(question("25 times 47 and the square root of 144")));
    expect(first.error).toBeUndefined();
    const calls = first.outputs.flatMap((o) => (o.type === "call" ? [o.call] : []));
    expect(calls.map((c) => c.args)).toEqual([
      { code: "print(25 * 47)" },
      { code: "import math\nprint(math.sqrt(144))" },
    ]);
    expect(calls.map((c) => c.name)).toEqual(["execute_python", "execute_python"]);
    expect(first.turn!.calls).toEqual(calls);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);

    const conversation: ConversationItem[] = [
      ...question("25 times 47 and the square root of 144"),
      { role: "model", turn: first.turn! },
      {
        role: "tool",
        results: [
          { call: calls[0]!, output: { ok: true, stdout: "1175\n" }, failed: false },
          { call: calls[1]!, output: { ok: false, error: { type: "ModuleNotAllowed" } }, failed: true },
        ],
      },
    ];
    const second = await run(provider, request(conversation));
    expect(second.error).toBeUndefined();
    expect(second.turn!.text).toBe("1175 and 12.");
    const [, echoed, answered] = fake.requests[1]!.turns;
    expect(echoed).toMatchObject({ role: "assistant", text: "Computing. " });
    expect(echoed!.calls.map((c) => [c.id, c.args])).toEqual(calls.map((c) => [c.id, c.args]));
    expect(answered!.results.map((r) => [r.id, r.output])).toEqual([
      [calls[0]!.id, { ok: true, stdout: "1175\n" }],
      [calls[1]!.id, { ok: false, error: { type: "ModuleNotAllowed" } }],
    ]);
  });

  it("a call whose arguments are not a JSON object comes with no args (the loop answers it)", async () => {
    const { provider } = await setUp(id, scripted(reply.calls({ argumentsText: '"just a string"' })));
    const { turn } = await run(provider, request(question("q")));
    expect(turn!.calls).toHaveLength(1);
    expect(turn!.calls[0]!.args === undefined || Object.keys(turn!.calls[0]!.args).length === 0).toBe(true);
  });

  it("a rate limit is a retryable rate-limited error with the server's retry hint", async () => {
    const { provider } = await setUp(id, scripted(reply.error("rate-limit", { retryAfterSeconds: 2 })));
    const { error } = await run(provider, request(question("q")));
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({
      kind: "rate-limited",
      userType: "RateLimited",
      retryable: true,
      retryAfterMs: 2000,
    });
    expect(error!.userMessage).toMatch(/wait a minute/);
  });

  it.each([
    ["server", "unavailable", "ModelUnavailable", true],
    ["unavailable", "unavailable", "ModelUnavailable", true],
    ["unknown-model", "model-not-found", "ModelNotFound", false],
    ["context-too-long", "context-too-long", "ContextTooLong", false],
    ["bad-request", "rejected", "ModelError", false],
  ] as [FakeErrorKind, string, string, boolean][])(
    "a %s failure is a %s error (%s), retryable: %s",
    async (fault, kind, userType, retryable) => {
      const { provider } = await setUp(id, scripted(reply.error(fault)));
      const { error } = await run(provider, request(question("q")));
      expect(error).toMatchObject({ kind, userType, retryable });
      if (kind === "model-not-found") expect(error!.userMessage).toMatch(/MODEL_ID/);
      if (kind === "context-too-long") expect(error!.userMessage).toMatch(/MODEL_HISTORY_CHARS/);
      // The provider's own words go to the log, not to people.
      expect(error!.detail.length).toBeGreaterThan(0);
    },
  );

  it("a refused key or model access is an auth error that names what the operator must change", async () => {
    const { provider } = await setUp(id, scripted(reply.error("auth")));
    const { error } = await run(provider, request(question("q")));
    expect(error).toMatchObject({ kind: "auth", userType: "ModelAuth", retryable: false });
    const fix = {
      gemini: /GEMINI_API_KEY/,
      openai: /OPENAI_API_KEY/,
      bedrock: /Bedrock console \(Model access\)/,
    }[id];
    expect(error!.userMessage).toMatch(fix);
  });

  it("a content filter stopping the answer is a SafetyBlocked error after the text so far", async () => {
    const { provider } = await setUp(id, scripted(reply.filtered("I will not ")));
    const { outputs, error } = await run(provider, request(question("q")));
    expect(texts(outputs)).toEqual(["I will not "]);
    expect(error).toMatchObject({ kind: "content-filter", userType: "SafetyBlocked" });
  });

  it("an endpoint that is gone is unreachable, and the message names the endpoint's variable", async () => {
    const { provider, fake } = await setUp(id, scripted(reply.text("never")));
    await fake.close();
    const { error } = await run(provider, request(question("q")));
    expect(error).toMatchObject({ kind: "unreachable", userType: "ModelUnavailable", retryable: false });
    const variable = {
      gemini: /GEMINI_BASE_URL/,
      openai: /OPENAI_BASE_URL/,
      bedrock: /AWS_ENDPOINT_URL_BEDROCK_RUNTIME/,
    }[id];
    expect(error!.userMessage).toMatch(variable);
    expect(error!.detail).toMatch(/ECONNREFUSED/);
  });

  it("aborting the call ends the request at the server", async () => {
    const { provider, fake } = await setUp(id, scripted(reply.hang("Thinking")));
    const controller = new AbortController();
    const stream = provider.stream(request(question("q"), { signal: controller.signal }));
    const first = await stream.next();
    expect(first.value).toEqual({ type: "text", text: "Thinking" });
    controller.abort();
    await stream.next().catch(() => undefined);
    await fake.waitForAbort(0);
    expect(fake.requests[0]!.aborted).toBe(true);
  });
});
