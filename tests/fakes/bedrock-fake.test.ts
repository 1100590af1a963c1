/**
 * The fake Bedrock runtime, proven against the official @aws-sdk/client-bedrock-runtime that
 * the backend uses: the client reads its ConverseStream frames over HTTP/2 (its default, also
 * to http://) and over HTTP/1.1, its errors arrive as the SDK's named exceptions, and it
 * refuses what the service refuses (a signature for another region or with another secret, a
 * toolUse left without its toolResult, roles that do not alternate).
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  type ConverseStreamOutput,
  type Message,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttp2Handler, NodeHttpHandler } from "@smithy/node-http-handler";
import { startFakeBedrock, type FakeBedrock, type FakeBedrockOptions } from "../../dev/fakes/bedrock";
import { decodeMessages, eventFrame } from "../../dev/fakes/eventstream";
import { reply, scripted } from "../../dev/fakes/script";

const KEY = { accessKeyId: "AKIDFAKEBEDROCK", secretAccessKey: "fake-secret-for-tests" };
const fakes: FakeBedrock[] = [];
const clients: BedrockRuntimeClient[] = [];

afterAll(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(fakes.map((f) => f.close()));
});

async function fake(options: FakeBedrockOptions = {}): Promise<FakeBedrock> {
  const f = await startFakeBedrock({ credentials: [KEY], ...options });
  fakes.push(f);
  return f;
}

function client(
  f: { url: string },
  options: { http?: "1.1" | "2"; region?: string; secret?: string; accessKeyId?: string } = {},
): BedrockRuntimeClient {
  const c = new BedrockRuntimeClient({
    region: options.region ?? "us-east-1",
    endpoint: f.url,
    credentials: {
      accessKeyId: options.accessKeyId ?? KEY.accessKeyId,
      secretAccessKey: options.secret ?? KEY.secretAccessKey,
    },
    maxAttempts: 1,
    // Without a handler the client uses its default, HTTP/2.
    ...(options.http === "1.1" ? { requestHandler: new NodeHttpHandler() } : {}),
    ...(options.http === "2" ? { requestHandler: new NodeHttp2Handler() } : {}),
  });
  clients.push(c);
  return c;
}

const userSays = (text: string): Message => ({ role: "user", content: [{ text }] });

async function converse(c: BedrockRuntimeClient, messages: Message[], modelId = "amazon.nova-lite-v1:0") {
  const response = await c.send(
    new ConverseStreamCommand({
      modelId,
      messages,
      toolConfig: {
        tools: [{ toolSpec: { name: "execute_python", inputSchema: { json: { type: "object" } } } }],
      },
    }),
  );
  const events: ConverseStreamOutput[] = [];
  for await (const event of response.stream!) events.push(event);
  return events;
}

const kinds = (events: ConverseStreamOutput[]) =>
  events.map((e) => Object.keys(e).find((k) => k !== "$unknown"));

describe("the stream, as the official client reads it", () => {
  it.each([
    ["HTTP/2, the client's default", undefined, "h2c", "2.0"],
    ["HTTP/2 with an explicit NodeHttp2Handler", "2", "h2c", "2.0"],
    ["HTTP/1.1", "1.1", "http/1.1", "1.1"],
  ] as const)("text and a tool use, over %s", async (_name, version, protocol, httpVersion) => {
    const f = await fake({
      script: scripted(reply.textAndCalls("Let me compute. ", { id: "tooluse_a1", code: "print(25 * 47)" })),
    });
    const events = await converse(client(f, { http: version }), [userSays("What's 25 times 47?")]);

    expect(kinds(events)).toEqual([
      "messageStart",
      "contentBlockDelta",
      "contentBlockStop",
      "contentBlockStart",
      ...Array(3).fill("contentBlockDelta"), // {"code":"print(25 * 47)"} in pieces of 10
      "contentBlockStop",
      "messageStop",
      "metadata",
    ]);
    expect(events[0]!.messageStart).toEqual({ role: "assistant" });
    expect(events[1]!.contentBlockDelta).toEqual({
      contentBlockIndex: 0,
      delta: { text: "Let me compute. " },
    });
    expect(events[3]!.contentBlockStart).toEqual({
      contentBlockIndex: 1,
      start: { toolUse: { toolUseId: "tooluse_a1", name: "execute_python" } },
    });
    const input = events
      .filter((e) => e.contentBlockDelta?.delta?.toolUse)
      .map((e) => e.contentBlockDelta!.delta!.toolUse!.input)
      .join("");
    expect(JSON.parse(input)).toEqual({ code: "print(25 * 47)" });
    expect(events.at(-2)!.messageStop).toEqual({ stopReason: "tool_use" });
    expect(f.connections[protocol]).toBeGreaterThanOrEqual(1);
    expect(f.requests[0]!.httpVersion).toBe(httpVersion);
    expect(f.requests[0]!.model).toBe("amazon.nova-lite-v1:0");
  });

  it("sends each event in a frame whose prelude and message CRCs hold (checked byte by byte)", async () => {
    const f = await fake({ credentials: [], script: scripted(reply.text("one ", "two")) });
    // With no credentials configured the fake checks only the signature's scope and form.
    const date = new Date().toISOString().replace(/[-:]|\.\d+/g, "");
    const response = await fetch(`${f.url}/model/m/converse-stream`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-amz-date": date,
        authorization: `AWS4-HMAC-SHA256 Credential=AKID/${date.slice(0, 8)}/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}`,
      },
      body: JSON.stringify({ messages: [userSays("hi")] }),
    });
    expect(response.headers.get("content-type")).toBe("application/vnd.amazon.eventstream");
    const messages = decodeMessages(Buffer.from(await response.arrayBuffer()));
    expect(messages.map((m) => m.headers[":event-type"])).toEqual([
      "messageStart",
      "contentBlockDelta",
      "contentBlockDelta",
      "contentBlockStop",
      "messageStop",
      "metadata",
    ]);
    for (const m of messages) {
      expect(m.headers).toMatchObject({ ":message-type": "event", ":content-type": "application/json" });
      // The service's padding field is there, and the client ignores it.
      expect(JSON.parse(m.payload.toString("utf8"))).toHaveProperty("p");
    }
  });

  it("the client refuses a frame whose CRC is wrong, so the fake's CRCs are what it checks", async () => {
    const frame = eventFrame("messageStart", { role: "assistant" });
    frame.writeUInt8(frame.readUInt8(frame.length - 1) ^ 0xff, frame.length - 1);
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream" }).end(frame);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await expect(converse(client({ url }, { http: "1.1" }), [userSays("hi")])).rejects.toThrow(/checksum/i);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("answers the non-streaming Converse too", async () => {
    const f = await fake({ script: scripted(reply.text("Hello", " there")) });
    const response = await client(f).send(new ConverseCommand({ modelId: "m", messages: [userSays("hi")] }));
    expect(response.output?.message).toEqual({ role: "assistant", content: [{ text: "Hello there" }] });
    expect(response.stopReason).toBe("end_turn");
  });
});

describe("failures, as the client sees them", () => {
  it.each([
    ["rate-limit", "ThrottlingException", 429],
    ["server", "InternalServerException", 500],
    ["unavailable", "ServiceUnavailableException", 503],
    ["auth", "AccessDeniedException", 403],
    ["unknown-model", "ValidationException", 400],
    ["context-too-long", "ValidationException", 400],
  ] as const)("a %s before the stream is the SDK's %s (HTTP %d)", async (kind, name, status) => {
    const f = await fake({ script: scripted(reply.error(kind, { retryAfterSeconds: 3 })) });
    const error = await converse(client(f), [userSays("hi")]).catch((e: unknown) => e);
    expect(error).toMatchObject({ name, $metadata: { httpStatusCode: status } });
    if (kind === "rate-limit")
      expect(
        (error as { $response?: { headers: Record<string, string> } }).$response?.headers["retry-after"],
      ).toBe("3");
  });

  it.each([
    ["rate-limit", "ThrottlingException"],
    ["server", "InternalServerException"],
    ["unavailable", "ServiceUnavailableException"],
    ["forbidden", "ModelStreamErrorException"],
  ] as const)("a %s inside the stream arrives after the text as %s", async (kind, name) => {
    const f = await fake({ script: scripted(reply.error(kind, { after: ["partial "] })) });
    const response = await client(f).send(
      new ConverseStreamCommand({ modelId: "m", messages: [userSays("hi")] }),
    );
    const seen: string[] = [];
    const error = await (async () => {
      for await (const event of response.stream!)
        if (event.contentBlockDelta) seen.push(event.contentBlockDelta.delta!.text!);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["partial "]);
    expect(error).toMatchObject({ name });
  });

  it("a content filter stops the answer with stopReason content_filtered", async () => {
    const f = await fake({ script: scripted(reply.filtered("I will not")) });
    const events = await converse(client(f), [userSays("hi")]);
    expect(events.find((e) => e.messageStop)!.messageStop).toEqual({ stopReason: "content_filtered" });
  });

  it("an unknown model is refused when the fake knows its models", async () => {
    const f = await fake({ models: ["amazon.nova-lite-v1:0"] });
    await expect(converse(client(f), [userSays("hi")], "no.such-model-v1:0")).rejects.toMatchObject({
      name: "ValidationException",
      message: "The provided model identifier is invalid.",
    });
  });
});

describe("what it checks, as the service does", () => {
  it("a signature scoped to another region than AWS_REGION is refused", async () => {
    const f = await fake({ region: "eu-west-1" });
    await expect(converse(client(f, { region: "us-east-1" }), [userSays("hi")])).rejects.toMatchObject({
      name: "InvalidSignatureException",
      message: expect.stringMatching(/scoped to a valid region/),
    });
    expect(f.requests).toHaveLength(0);
  });

  it("a signature made with another secret is refused, over HTTP/2 and HTTP/1.1", async () => {
    const f = await fake();
    for (const version of ["2", "1.1"] as const)
      await expect(
        converse(client(f, { http: version, secret: "not-the-secret" }), [userSays("hi")]),
      ).rejects.toMatchObject({ name: "InvalidSignatureException" });
    expect(f.requests).toHaveLength(0);
  });

  it("an unknown access key is refused", async () => {
    const f = await fake();
    await expect(converse(client(f, { accessKeyId: "AKIDUNKNOWN" }), [userSays("hi")])).rejects.toMatchObject(
      {
        name: "UnrecognizedClientException",
      },
    );
  });

  it("a request with no signature at all is refused", async () => {
    const f = await fake();
    const response = await fetch(`${f.url}/model/m/converse-stream`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [userSays("hi")] }),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("x-amzn-errortype")).toMatch(/^MissingAuthenticationTokenException/);
  });

  const toolTurn: Message[] = [
    userSays("two things"),
    {
      role: "assistant",
      content: [
        { toolUse: { toolUseId: "tu_1", name: "execute_python", input: { code: "print(1)" } } },
        { toolUse: { toolUseId: "tu_2", name: "execute_python", input: { code: "print(2)" } } },
      ],
    },
  ];

  it("every toolUseId needs a toolResult in the next user message", async () => {
    const f = await fake({ script: scripted(reply.text("ok")) });
    const c = client(f);
    await expect(
      converse(c, [
        ...toolTurn,
        { role: "user", content: [{ toolResult: { toolUseId: "tu_1", content: [{ text: "1" }] } }] },
      ]),
    ).rejects.toMatchObject({
      name: "ValidationException",
      message: expect.stringMatching(
        /Expected toolResult blocks at messages\.2\.content for the following Ids: tu_2/,
      ),
    });
    await expect(
      converse(c, [
        ...toolTurn,
        {
          role: "user",
          content: [
            { toolResult: { toolUseId: "tu_1", content: [{ text: "1" }] } },
            { toolResult: { toolUseId: "tu_9", content: [{ text: "9" }] } },
          ],
        },
      ]),
    ).rejects.toMatchObject({ name: "ValidationException", message: expect.stringMatching(/tu_9/) });
    const events = await converse(c, [
      ...toolTurn,
      {
        role: "user",
        content: [
          { toolResult: { toolUseId: "tu_1", content: [{ text: '{"ok":true}' }], status: "success" } },
          { toolResult: { toolUseId: "tu_2", content: [{ text: '{"ok":false}' }], status: "error" } },
        ],
      },
    ]);
    expect(kinds(events)).toContain("messageStop");
    expect(f.requests[0]!.turns[2]!.results).toEqual([
      { id: "tu_1", content: '{"ok":true}', output: { ok: true }, status: "success" },
      { id: "tu_2", content: '{"ok":false}', output: { ok: false }, status: "error" },
    ]);
  });

  it("roles must alternate, starting with the user's; text may not be blank", async () => {
    const f = await fake();
    const c = client(f);
    await expect(converse(c, [userSays("a"), userSays("b")])).rejects.toMatchObject({
      name: "ValidationException",
      message: expect.stringMatching(/alternate/),
    });
    await expect(converse(c, [{ role: "assistant", content: [{ text: "hi" }] }])).rejects.toMatchObject({
      message: expect.stringMatching(/start with a user message/),
    });
    await expect(converse(c, [userSays("  ")])).rejects.toMatchObject({
      message: expect.stringMatching(/blank/),
    });
  });

  it("refuses toolResult.status when told to behave like a model without it", async () => {
    const f = await fake({ refuseToolResultStatus: true });
    await expect(
      converse(client(f), [
        toolTurn[0]!,
        { role: "assistant", content: [toolTurn[1]!.content![0]!] },
        {
          role: "user",
          content: [{ toolResult: { toolUseId: "tu_1", content: [{ text: "1" }], status: "error" } }],
        },
      ]),
    ).rejects.toMatchObject({ name: "ValidationException", message: expect.stringMatching(/status/) });
  });
});
