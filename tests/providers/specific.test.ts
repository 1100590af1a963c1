/**
 * What only one provider has to get right, each against its own fake: OpenAI's optional key
 * and id-less calls; Bedrock's toolResult status, its role rules, its signing region and its
 * errors that name the model access or permission to fix; Gemini's id-less calls and its way
 * of refusing a key.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type {
  ConversationItem,
  ModelProvider,
  ModelRequest,
  ModelTurn,
} from "../../backend/providers/provider";
import { createOpenAIProvider } from "../../backend/providers/openai";
import { executePythonTool, systemInstruction } from "../../backend/providers/tool";
import { reply, scripted, type FakeScript } from "../../dev/fakes/script";
import { BEDROCK_KEY, MODELS, providerFor, startFake, withFake, type FakeOptions } from "./harness";
import { createBedrockProvider } from "../../backend/providers/bedrock";
import type { ModelError } from "../../backend/providers/errors";
import type { ProviderId } from "../../backend/providers/provider";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function setUp(id: ProviderId, script: FakeScript, options: FakeOptions = {}) {
  const p = await withFake(id, script, options);
  cleanups.push(() => p.close());
  return p;
}

const request = (conversation: ConversationItem[]): ModelRequest => ({
  system: systemInstruction(true),
  tool: executePythonTool(["math"]),
  conversation,
});

async function run(
  provider: ModelProvider,
  req: ModelRequest,
): Promise<{ turn?: ModelTurn; error?: ModelError }> {
  const stream = provider.stream(req);
  try {
    for (;;) {
      const next = await stream.next();
      if (next.done) return { turn: next.value };
    }
  } catch (error) {
    return { error: error as ModelError };
  }
}

/** A question, a model turn asking for two calls, and their results (the second failed). */
async function toolRound(provider: ModelProvider) {
  const { turn } = await run(provider, request([{ role: "user", text: "two" }]));
  const conversation: ConversationItem[] = [
    { role: "user", text: "two" },
    { role: "model", turn: turn! },
    {
      role: "tool",
      results: [
        { call: turn!.calls[0]!, output: { ok: true, stdout: "1\n" }, failed: false },
        { call: turn!.calls[1]!, output: { ok: false, error: { type: "ModuleNotAllowed" } }, failed: true },
      ],
    },
  ];
  return { conversation, turn: turn! };
}

describe("openai", () => {
  it("sends no Authorization header without OPENAI_API_KEY (local servers need none), a Bearer key with it", async () => {
    const fake = await startFake("openai", () => reply.text("ok"), { openai: { apiKey: undefined } });
    cleanups.push(() => fake.close());
    await run(
      createOpenAIProvider({ model: "llama3.2", baseUrl: fake.url, apiKey: undefined }),
      request([{ role: "user", text: "q" }]),
    );
    await run(
      createOpenAIProvider({ model: "llama3.2", baseUrl: fake.url, apiKey: "sk-abc" }),
      request([{ role: "user", text: "q" }]),
    );
    expect(fake.requests[0]!.headers.authorization).toBeUndefined();
    expect(fake.requests[1]!.headers.authorization).toBe("Bearer sk-abc");
  });

  it("a server that gives its calls no ids: made-up ids, the same in the echoed tool_calls and in each tool message", async () => {
    const { provider, fake } = await setUp(
      "openai",
      scripted(reply.calls({ id: "", code: "print(1)" }, { id: "", code: "import os" }), reply.text("done")),
    );
    const { conversation, turn } = await toolRound(provider);
    expect(turn.calls.map((c) => c.id)).toEqual(["call-1", "call-2"]);
    const { error } = await run(provider, request(conversation));
    expect(error).toBeUndefined(); // the fake refuses tool messages that answer no call
    expect(fake.requests[1]!.turns.at(-1)!.results.map((r) => r.id)).toEqual(["call-1", "call-2"]);
  });

  it("a refusal (its own delta field) reaches the user as the answer, not as an empty one", async () => {
    const chunks = [
      { delta: { role: "assistant", refusal: "" } },
      { delta: { refusal: "I can't help with that." } },
      { delta: {}, finish_reason: "stop" },
    ];
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const c of chunks)
        res.write(
          `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 0, model: "m", choices: [{ index: 0, finish_reason: null, ...c }] })}\n\n`,
        );
      res.end("data: [DONE]\n\n");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    cleanups.push(async () => void server.close());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const { turn } = await run(
      createOpenAIProvider({ model: "m", baseUrl: url, apiKey: undefined }),
      request([{ role: "user", text: "q" }]),
    );
    expect(turn!.text).toBe("I can't help with that.");
  });

  it("a model without tool support (Ollama's words) says to pick one that has it, naming MODEL_ID", async () => {
    const { provider } = await setUp(
      "openai",
      scripted(
        reply.error("bad-request", {
          message: "registry.ollama.ai/library/llama2:latest does not support tools",
        }),
      ),
    );
    const { error } = await run(provider, request([{ role: "user", text: "q" }]));
    expect(error).toMatchObject({ kind: "model-unsupported", userType: "ModelNotSupported" });
    expect(error!.userMessage).toMatch(/MODEL_ID=gpt-test/);
  });

  it("a key that may not use the model (403) names OPENAI_API_KEY and MODEL_ID", async () => {
    const { provider } = await setUp("openai", scripted(reply.error("forbidden")));
    const { error } = await run(provider, request([{ role: "user", text: "q" }]));
    expect(error).toMatchObject({ kind: "auth" });
    expect(error!.userMessage).toMatch(/OPENAI_API_KEY and MODEL_ID=gpt-test/);
  });

  it("an error inside the stream after some text is unavailable; a stream cut off before its end is bad-response", async () => {
    const { provider } = await setUp(
      "openai",
      scripted(reply.error("server", { after: ["Part"] }), reply.cutOff("Part")),
    );
    expect((await run(provider, request([{ role: "user", text: "q" }]))).error).toMatchObject({
      kind: "unavailable",
    });
    expect((await run(provider, request([{ role: "user", text: "q" }]))).error).toMatchObject({
      kind: "bad-response",
      userMessage: expect.stringMatching(/stopped before it was complete/),
    });
  });
});

describe("bedrock", () => {
  it("answers each toolUseId with a toolResult, status error for the failed execution", async () => {
    const { provider, fake } = await setUp(
      "bedrock",
      scripted(reply.calls({ code: "print(1)" }, { code: "import os" }), reply.text("done")),
    );
    const { error } = await run(provider, request((await toolRound(provider)).conversation));
    expect(error).toBeUndefined();
    expect(fake.requests[1]!.turns.at(-1)!.results.map((r) => r.status)).toEqual(["success", "error"]);
  });

  it("reasoning blocks go back with their signatures, and never to the user as answer text", async () => {
    const { provider, fake } = await setUp(
      "bedrock",
      scripted(
        {
          kind: "answer",
          reasoning: "I should multiply.",
          text: ["Computing. "],
          calls: [{ code: "print(25 * 47)" }],
        },
        reply.text("1175."),
      ),
    );
    const stream = provider.stream(request([{ role: "user", text: "25 times 47" }]));
    const texts: string[] = [];
    let next = await stream.next();
    for (; !next.done; next = await stream.next())
      if (next.value.type === "text") texts.push(next.value.text);
    const turn = next.value;
    expect(texts).toEqual(["Computing. "]);
    expect(turn.text).toBe("Computing. ");
    const { error } = await run(
      provider,
      request([
        { role: "user", text: "25 times 47" },
        { role: "model", turn },
        {
          role: "tool",
          results: [{ call: turn.calls[0]!, output: { ok: true, stdout: "1175\n" }, failed: false }],
        },
      ]),
    );
    expect(error).toBeUndefined();
    expect(fake.requests[1]!.turns[1]).toMatchObject({
      role: "assistant",
      text: "Computing. ",
      reasoning: ["fake-signature-1"],
    });
  });

  it("a model that refuses toolResult.status gets the results again without it, and from then on", async () => {
    const { provider, fake } = await setUp(
      "bedrock",
      scripted(
        reply.calls({ code: "print(1)" }, { code: "import os" }),
        reply.text("done"),
        reply.text("again"),
      ),
      { bedrock: { refuseToolResultStatus: true } },
    );
    const { conversation } = await toolRound(provider);
    expect((await run(provider, request(conversation))).turn!.text).toBe("done");
    expect((await run(provider, request(conversation))).turn!.text).toBe("again");
    // The refused request never reached the script; both accepted ones carried no status.
    expect(fake.requests).toHaveLength(3);
    for (const r of fake.requests.slice(1))
      expect(r.turns.at(-1)!.results.every((x) => x.status === undefined)).toBe(true);
  });

  it("sends a history Bedrock would refuse as one it accepts: same roles merged, an answer first gets a user note", async () => {
    const { provider, fake } = await setUp("bedrock", () => reply.text("ok"));
    const { error } = await run(
      provider,
      request([
        { role: "assistant", text: "Hello! Ask me anything." },
        { role: "assistant", text: "Really." },
        { role: "user", text: "First," },
        { role: "user", text: "what's 2 + 2?" },
      ]),
    );
    expect(error).toBeUndefined();
    expect(fake.requests[0]!.turns.map((t) => [t.role, t.text])).toEqual([
      ["user", "[The conversation starts with the answer below.]"],
      ["assistant", "Hello! Ask me anything.Really."],
      ["user", "First,what's 2 + 2?"],
    ]);
  });

  it("credentials signed for another region than the endpoint's: an auth error naming AWS_REGION", async () => {
    const fake = await startFake("bedrock", () => reply.text("ok"), { bedrock: { region: "eu-central-1" } });
    cleanups.push(() => fake.close());
    const { error } = await run(
      providerFor("bedrock", fake.url, { region: "us-east-1" }),
      request([{ role: "user", text: "q" }]),
    );
    expect(error).toMatchObject({ kind: "auth", userType: "ModelAuth" });
    expect(error!.userMessage).toMatch(/AWS_REGION=us-east-1/);
    expect(error!.detail).toMatch(/InvalidSignatureException/);
  });

  it("a role without the permission: says to grant bedrock:InvokeModelWithResponseStream on the model", async () => {
    const { provider } = await setUp("bedrock", scripted(reply.error("forbidden")));
    const { error } = await run(provider, request([{ role: "user", text: "q" }]));
    expect(error).toMatchObject({ kind: "auth" });
    expect(error!.userMessage).toMatch(
      /bedrock:InvokeModelWithResponseStream on MODEL_ID=us\.amazon\.nova-2-lite-v1:0/,
    );
  });

  it("a model that needs an inference profile: says which MODEL_ID to set", async () => {
    const fake = await startFake(
      "bedrock",
      scripted(
        reply.error("bad-request", {
          message:
            "Invocation of model ID anthropic.claude-x with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
        }),
      ),
      { bedrock: { region: "eu-west-1" } },
    );
    cleanups.push(() => fake.close());
    const provider = createBedrockProvider({
      model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
      region: "eu-west-1",
      endpoint: fake.url,
      credentials: BEDROCK_KEY,
    });
    cleanups.push(async () => provider.close?.());
    const { error } = await run(provider, request([{ role: "user", text: "q" }]));
    expect(error).toMatchObject({ kind: "model-unsupported" });
    expect(error!.userMessage).toMatch(
      /set MODEL_ID to its inference profile ID \(e\.g\. MODEL_ID=eu\.anthropic\.claude-sonnet-4-5-20250929-v1:0\)/,
    );
  });

  it("a model without tool use in streaming: says to choose one that has it", async () => {
    const { provider } = await setUp(
      "bedrock",
      scripted(
        reply.error("bad-request", { message: "This model doesn't support tool use in streaming mode." }),
      ),
    );
    const { error } = await run(provider, request([{ role: "user", text: "q" }]));
    expect(error).toMatchObject({
      kind: "model-unsupported",
      userMessage: expect.stringMatching(/supports tool use/),
    });
  });

  it("throttling inside the stream is rate-limited; a stream without messageStop is bad-response", async () => {
    const { provider } = await setUp(
      "bedrock",
      scripted(reply.error("rate-limit", { after: ["Part"] }), reply.cutOff("Part")),
    );
    expect((await run(provider, request([{ role: "user", text: "q" }]))).error).toMatchObject({
      kind: "rate-limited",
    });
    expect((await run(provider, request([{ role: "user", text: "q" }]))).error).toMatchObject({
      kind: "bad-response",
    });
  });
});

describe("gemini", () => {
  it("a call the model gave no id: a made-up id for the events, and no id sent back", async () => {
    const { provider, fake } = await setUp(
      "gemini",
      scripted(reply.calls({ id: "", code: "print(1)" }, { id: "", code: "import os" }), reply.text("ok")),
    );
    const { conversation, turn } = await toolRound(provider);
    expect(turn.calls.map((c) => [c.id, c.generatedId])).toEqual([
      ["call-1", true],
      ["call-2", true],
    ]);
    await run(provider, request(conversation));
    expect(fake.requests[1]!.turns.at(-1)!.results.map((r) => r.id)).toEqual(["", ""]);
  });

  it("a key Google does not know (400 API_KEY_INVALID) says to check GEMINI_API_KEY", async () => {
    const { provider } = await setUp("gemini", scripted(reply.error("auth")));
    const { error } = await run(provider, request([{ role: "user", text: "q" }]));
    expect(error).toMatchObject({ kind: "auth", userMessage: expect.stringMatching(/GEMINI_API_KEY/) });
  });

  it("an unknown model names MODEL_ID and the model asked for", async () => {
    const { provider } = await setUp("gemini", scripted(reply.error("unknown-model")));
    const { error } = await run(provider, request([{ role: "user", text: "q" }]));
    expect(error!.userMessage).toMatch(new RegExp(`MODEL_ID \\(or GEMINI_MODEL\\), now ${MODELS.gemini}`));
  });
});
