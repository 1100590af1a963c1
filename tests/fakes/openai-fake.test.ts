/**
 * The fake OpenAI-compatible API, proven against the official `openai` SDK that the backend
 * uses: the SDK's own stream accumulator rebuilds the tool calls from the fake's fragments,
 * the raw stream ends with `data: [DONE]`, its errors arrive as the SDK's error classes with
 * the API's codes and retry hints, and it refuses what the API refuses (a wrong Bearer key,
 * an assistant `tool_calls` message without a tool message for each id).
 */
import OpenAI from "openai";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIOptions } from "../../dev/fakes/openai";
import { reply, scripted } from "../../dev/fakes/script";

const fakes: FakeOpenAI[] = [];
afterAll(async () => {
  await Promise.all(fakes.map((f) => f.close()));
});

async function fake(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const f = await startFakeOpenAI(options);
  fakes.push(f);
  return f;
}

const sdk = (f: FakeOpenAI, apiKey = "sk-test") => new OpenAI({ apiKey, baseURL: f.url, maxRetries: 0 });
const ask = (content: string): ChatCompletionMessageParam[] => [{ role: "user", content }];

describe("the stream, as the official SDK reads it", () => {
  it("text pieces, then two tool calls in fragments that the SDK's own accumulator rebuilds", async () => {
    const f = await fake({
      apiKey: "sk-test",
      script: scripted(
        reply.textAndCalls(
          "Let me compute. ",
          { code: "print(25 * 47)" },
          { code: "import math\nprint(math.sqrt(144))" },
        ),
      ),
    });
    const stream = sdk(f).chat.completions.stream({ model: "gpt-test", messages: ask("two things") });
    const completion = await stream.finalChatCompletion();
    const message = completion.choices[0]!.message;
    expect(message.content).toBe("Let me compute. ");
    expect(completion.choices[0]!.finish_reason).toBe("tool_calls");
    const calls = message.tool_calls!.map((c) => (c.type === "function" ? c : undefined)!);
    expect(calls.map((c) => JSON.parse(c.function.arguments))).toEqual([
      { code: "print(25 * 47)" },
      { code: "import math\nprint(math.sqrt(144))" },
    ]);
    expect(calls.map((c) => c.function.name)).toEqual(["execute_python", "execute_python"]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    expect(calls[0]!.id).toMatch(/^call_/);
  });

  it("sends each call's arguments in several fragments keyed by index, the id and name first", async () => {
    const f = await fake({ script: scripted(reply.calls({ id: "call_x", code: "print(25 * 47)" })) });
    const fragments: unknown[] = [];
    const stream = await sdk(f).chat.completions.create({ model: "m", messages: ask("q"), stream: true });
    for await (const chunk of stream) fragments.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
    expect(fragments[0]).toEqual({
      index: 0,
      id: "call_x",
      type: "function",
      function: { name: "execute_python", arguments: "" },
    });
    expect(fragments.length).toBeGreaterThan(2);
    expect(fragments.slice(1).every((fr) => (fr as { id?: string }).id === undefined)).toBe(true);
  });

  it("ends the raw stream with data: [DONE] (after a usage chunk when asked for one)", async () => {
    const f = await fake({ script: scripted(reply.text("Hi")) });
    const response = await fetch(`${f.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "m",
        messages: ask("hi"),
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = (await response.text()).split("\n\n").filter(Boolean);
    expect(events.at(-1)).toBe("data: [DONE]");
    expect(JSON.parse(events.at(-2)!.slice(6))).toMatchObject({ choices: [], usage: { total_tokens: 20 } });
    expect(JSON.parse(events.at(-3)!.slice(6)).choices[0]).toMatchObject({ finish_reason: "stop" });
  });

  it("answers without streaming too", async () => {
    const f = await fake({ script: scripted(reply.text("Hello", " there")) });
    const completion = await sdk(f).chat.completions.create({ model: "m", messages: ask("hi") });
    expect(completion.choices[0]!.message.content).toBe("Hello there");
  });

  it("a content filter ends the answer with finish_reason content_filter", async () => {
    const f = await fake({ script: scripted(reply.filtered("I will")) });
    const stream = await sdk(f).chat.completions.create({ model: "m", messages: ask("q"), stream: true });
    const finishes: (string | null)[] = [];
    for await (const chunk of stream) finishes.push(chunk.choices[0]?.finish_reason ?? null);
    expect(finishes.at(-1)).toBe("content_filter");
  });
});

describe("failures, as the SDK sees them", () => {
  it.each([
    ["rate-limit", OpenAI.RateLimitError, 429, "rate_limit_exceeded"],
    ["server", OpenAI.InternalServerError, 500, null],
    ["unavailable", OpenAI.InternalServerError, 503, null],
    ["auth", OpenAI.AuthenticationError, 401, "invalid_api_key"],
    ["forbidden", OpenAI.PermissionDeniedError, 403, "model_not_permitted"],
    ["unknown-model", OpenAI.NotFoundError, 404, "model_not_found"],
    ["context-too-long", OpenAI.BadRequestError, 400, "context_length_exceeded"],
    ["content-filter", OpenAI.BadRequestError, 400, "content_filter"],
  ] as const)("%s is the SDK's %p, HTTP %d, code %s", async (kind, errorClass, status, code) => {
    const f = await fake({ script: scripted(reply.error(kind, { retryAfterSeconds: 2 })) });
    const error = await sdk(f)
      .chat.completions.create({ model: "m", messages: ask("q"), stream: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toMatchObject({ status, code });
    if (kind === "rate-limit") {
      expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after")).toBe("2");
      expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after-ms")).toBe("2000");
    }
  });

  it("an error inside the stream, after some text, is an APIError without a status", async () => {
    const f = await fake({ script: scripted(reply.error("server", { after: ["partial "] })) });
    const stream = await sdk(f).chat.completions.create({ model: "m", messages: ask("q"), stream: true });
    const texts: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream) texts.push(chunk.choices[0]?.delta.content ?? "");
    })().catch((e: unknown) => e);
    expect(texts.join("")).toBe("partial ");
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ status: undefined, type: "server_error" });
  });
});

describe("what it checks, as the API does", () => {
  it("with a key configured, a wrong or missing Bearer key is a 401 invalid_api_key", async () => {
    const f = await fake({ apiKey: "sk-right" });
    await expect(
      sdk(f, "sk-wrong").chat.completions.create({ model: "m", messages: ask("q") }),
    ).rejects.toMatchObject({ status: 401, code: "invalid_api_key" });
    const bare = await fetch(`${f.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: ask("q") }),
    });
    expect(bare.status).toBe(401);
    expect(f.requests).toHaveLength(0);
  });

  it("an unknown model is a 404 model_not_found when the fake knows its models", async () => {
    const f = await fake({ models: ["llama3.2"] });
    await expect(
      sdk(f).chat.completions.create({ model: "gpt-9", messages: ask("q") }),
    ).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
    });
    expect((await sdk(f).models.list()).data.map((m) => m.id)).toEqual(["llama3.2"]);
  });

  const assistantCalls: ChatCompletionMessageParam = {
    role: "assistant",
    content: null,
    tool_calls: [
      {
        id: "call_1",
        type: "function",
        function: { name: "execute_python", arguments: '{"code":"print(1)"}' },
      },
      {
        id: "call_2",
        type: "function",
        function: { name: "execute_python", arguments: '{"code":"print(2)"}' },
      },
    ],
  };

  it("every tool_call_id needs its role tool message, and a tool message must answer a call", async () => {
    const f = await fake({ script: () => reply.text("ok") });
    const client = sdk(f);
    await expect(
      client.chat.completions.create({
        model: "m",
        messages: [...ask("q"), assistantCalls, { role: "tool", tool_call_id: "call_1", content: "1" }],
      }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/did not have response messages: call_2/),
    });
    await expect(
      client.chat.completions.create({
        model: "m",
        messages: [...ask("q"), { role: "tool", tool_call_id: "call_1", content: "1" }],
      }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/must be a response to a preceeding message/),
    });
    await client.chat.completions.create({
      model: "m",
      messages: [
        ...ask("q"),
        assistantCalls,
        { role: "tool", tool_call_id: "call_1", content: '{"stdout":"1\\n"}' },
        { role: "tool", tool_call_id: "call_2", content: '{"stdout":"2\\n"}' },
      ],
    });
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]!.turns.at(-1)).toEqual({
      role: "user",
      text: "",
      calls: [],
      results: [
        { id: "call_1", content: '{"stdout":"1\\n"}', output: { stdout: "1\n" } },
        { id: "call_2", content: '{"stdout":"2\\n"}', output: { stdout: "2\n" } },
      ],
    });
  });
});
