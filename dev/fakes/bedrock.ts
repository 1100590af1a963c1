/**
 * A fake Amazon Bedrock runtime: a real server on a free loopback port speaking the Converse
 * wire protocol, so `@aws-sdk/client-bedrock-runtime` (and the backend's provider) is
 * exercised for real.
 *
 *   POST /model/{modelId}/converse-stream  ->  application/vnd.amazon.eventstream frames
 *   POST /model/{modelId}/converse         ->  one JSON ConverseResponse
 *
 * One port serves HTTP/1.1 and cleartext HTTP/2 (prior knowledge), told apart by the first
 * bytes: the current Bedrock client speaks HTTP/2 by default, also to an `http://` endpoint,
 * and other clients speak HTTP/1.1.
 *
 * The stream is what the service sends: `messageStart`, text as `contentBlockDelta` pieces,
 * each tool use as `contentBlockStart` (id and name) then `contentBlockDelta` input pieces,
 * `contentBlockStop`s, `messageStop` with its stopReason, `metadata`; every frame with its
 * prelude and message CRCs and the service's random padding field `p`. Failures before the
 * stream are HTTP errors with `x-amzn-ErrorType`; failures inside it are exception frames.
 *
 * It checks what the service checks: a SigV4 `Authorization` header scoped to the expected
 * region and service `bedrock` and, when credentials are configured, signed with them
 * (sigv4.ts); a known model when a list is configured; messages alternating from the user's;
 * no blank text; a `toolResult` for every `toolUseId` of the turn before and none for
 * another; `toolConfig` present whenever tool blocks are.
 *
 *   const bedrock = await startFakeBedrock({ script: seedBrain(), region: "us-east-1",
 *     credentials: [{ accessKeyId: "AKIDFAKE", secretAccessKey: "fake-secret" }] });
 *   env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = bedrock.url;
 */
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Duplex } from "node:stream";
import type { AddressInfo } from "node:net";
import { eventFrame, exceptionFrame } from "./eventstream";
import {
  jsonObject,
  reply,
  replyOf,
  RequestLog,
  seedBrain,
  sleep,
  type FakeErrorKind,
  type FakeModelRequest,
  type FakeScript,
  type FakeServer,
  type FakeTurn,
} from "./script";
import { verifySigV4, type SigV4Credentials } from "./sigv4";

export interface FakeBedrockOptions {
  script?: FakeScript;
  /** The region requests must be signed for. Default us-east-1. */
  region?: string;
  /** Keys whose signatures are checked; empty: any key, only the signature's scope and form are checked. */
  credentials?: SigV4Credentials[];
  /** When set, other model ids are answered "The provided model identifier is invalid". */
  models?: string[];
  /** Refuse toolResult.status, as models other than Claude and Nova do. */
  refuseToolResultStatus?: boolean;
  /** Which protocols to serve. Default both. */
  protocols?: ("http/1.1" | "h2c")[];
  /** Characters per piece of streamed tool input (default 10). */
  inputPieceChars?: number;
}

/** The fake Bedrock runtime; its `url` is for AWS_ENDPOINT_URL_BEDROCK_RUNTIME. */
export interface FakeBedrock extends FakeServer<FakeModelRequest, FakeScript> {
  /** Connections by protocol, for tests that check which one a client used. */
  connections: { "http/1.1": number; h2c: number };
}

/* ---------- errors, as the service sends them ---------- */

class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const validation = (message: string) => new ServiceError(400, "ValidationException", message);

/** The exception-frame name (a member of ConverseStreamOutput) for each HTTP error code. */
const STREAM_EXCEPTIONS: Record<string, string> = {
  ThrottlingException: "throttlingException",
  InternalServerException: "internalServerException",
  ServiceUnavailableException: "serviceUnavailableException",
  ValidationException: "validationException",
};

function serviceError(
  kind: FakeErrorKind,
  model: string,
  region: string,
  message?: string,
  retryAfterSeconds?: number,
) {
  const m = (fallback: string) => message ?? fallback;
  switch (kind) {
    case "rate-limit":
      return new ServiceError(
        429,
        "ThrottlingException",
        m("Too many requests, please wait before trying again."),
        retryAfterSeconds !== undefined ? { "retry-after": String(retryAfterSeconds) } : {},
      );
    case "server":
      return new ServiceError(500, "InternalServerException", m("The server encountered an internal error."));
    case "unavailable":
      return new ServiceError(
        503,
        "ServiceUnavailableException",
        m("Bedrock is unable to process your request."),
      );
    case "auth":
      return new ServiceError(
        403,
        "AccessDeniedException",
        m("You don't have access to the model with the specified model ID."),
      );
    case "forbidden":
      return new ServiceError(
        403,
        "AccessDeniedException",
        m(
          `User: arn:aws:sts::123456789012:assumed-role/backend/session is not authorized to perform: ` +
            `bedrock:InvokeModelWithResponseStream on resource: arn:aws:bedrock:${region}::foundation-model/${model} ` +
            "because no identity-based policy allows the bedrock:InvokeModelWithResponseStream action",
        ),
      );
    case "unknown-model":
      return validation(m("The provided model identifier is invalid."));
    case "context-too-long":
      return validation(m("Input is too long for requested model."));
    case "content-filter":
    case "bad-request":
      return validation(m("Malformed input request, please reformat your input and try again."));
  }
}

/* ---------- reading a Converse request as the service does ---------- */

interface WireBlock {
  text?: unknown;
  toolUse?: { toolUseId?: unknown; name?: unknown; input?: unknown };
  toolResult?: { toolUseId?: unknown; content?: unknown; status?: unknown };
  reasoningContent?: unknown;
}
interface WireMessage {
  role?: unknown;
  content?: unknown;
}
interface WireBody {
  messages?: unknown;
  system?: { text?: unknown }[];
  toolConfig?: { tools?: { toolSpec?: { name?: unknown } }[] };
}

const TOOL_USE_ID = /^[a-zA-Z0-9_-]{1,64}$/;

function readConverse(body: WireBody, options: FakeBedrockOptions): { system: string; turns: FakeTurn[] } {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0)
    throw validation(
      "1 validation error detected: Value at 'messages' failed to satisfy constraint: Member must not be null",
    );
  const turns: FakeTurn[] = [];
  let previousUses: string[] = [];
  let usesTools = false;
  (messages as WireMessage[]).forEach((message, i) => {
    const role = message?.role;
    if (role !== "user" && role !== "assistant")
      throw validation(
        `Value at 'messages.${i + 1}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]`,
      );
    if (i === 0 && role !== "user")
      throw validation(
        "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
      );
    if (i > 0 && (messages[i - 1] as WireMessage).role === role)
      throw validation(
        "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
      );
    if (!Array.isArray(message.content) || message.content.length === 0)
      throw validation(
        `The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`,
      );
    const turn: FakeTurn = { role, text: "", calls: [], results: [] };
    (message.content as WireBlock[]).forEach((block, j) => {
      const where = `messages.${i}.content.${j}`;
      if (typeof block?.text === "string") {
        if (block.text.trim() === "")
          throw validation(
            `The text field in the ContentBlock object at ${where} is blank. Add text to the text field, and try again.`,
          );
        turn.text += block.text;
      } else if (block?.toolUse) {
        if (role !== "assistant")
          throw validation(`toolUse blocks are only allowed in assistant messages (${where}).`);
        const { toolUseId, name, input } = block.toolUse;
        if (typeof toolUseId !== "string" || !TOOL_USE_ID.test(toolUseId) || typeof name !== "string")
          throw validation(
            `The toolUse block at ${where} needs a toolUseId matching [a-zA-Z0-9_-]+ and a name.`,
          );
        if (input === null || typeof input !== "object" || Array.isArray(input))
          throw validation(`The toolUse input at ${where} must be a JSON object.`);
        turn.calls.push({ id: toolUseId, name, args: input });
        usesTools = true;
      } else if (block?.toolResult) {
        if (role !== "user")
          throw validation(`toolResult blocks are only allowed in user messages (${where}).`);
        const { toolUseId, content, status } = block.toolResult;
        if (typeof toolUseId !== "string" || !previousUses.includes(toolUseId))
          throw validation(
            `The toolResult block at ${where} has toolUseId ${JSON.stringify(toolUseId)}, which is not a toolUse of the previous assistant turn.`,
          );
        if (status !== undefined && options.refuseToolResultStatus)
          throw validation(
            "This model doesn't support the toolResult.status field. Remove toolResult.status and try again.",
          );
        if (status !== undefined && status !== "success" && status !== "error")
          throw validation(
            `Value at '${where}.toolResult.status' failed to satisfy constraint: Member must satisfy enum value set: [success, error]`,
          );
        if (!Array.isArray(content) || content.length === 0)
          throw validation(`The toolResult content at ${where} is empty.`);
        const text = (content as { text?: unknown; json?: unknown }[])
          .map((c) =>
            typeof c.text === "string" ? c.text : c.json !== undefined ? JSON.stringify(c.json) : "",
          )
          .join("");
        turn.results.push({
          id: toolUseId,
          content: text,
          output: jsonObject(text),
          ...(typeof status === "string" ? { status } : {}),
        });
        usesTools = true;
      } else if (block?.reasoningContent) {
        const signature = (block.reasoningContent as { reasoningText?: { signature?: unknown } })
          .reasoningText?.signature;
        (turn.reasoning ??= []).push(typeof signature === "string" ? signature : "");
      } else throw validation(`The ContentBlock object at ${where} is not supported here.`);
    });
    if (role === "user") {
      const answered = turn.results.map((r) => r.id);
      const missing = previousUses.filter((id) => !answered.includes(id));
      if (missing.length > 0)
        throw validation(
          `Expected toolResult blocks at messages.${i}.content for the following Ids: ${missing.join(", ")}`,
        );
      previousUses = [];
    } else previousUses = turn.calls.map((c) => c.id);
    turns.push(turn);
  });
  if (usesTools && !body.toolConfig)
    throw validation(
      "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
    );
  const system = (body.system ?? []).map((s) => (typeof s?.text === "string" ? s.text : "")).join("");
  return { system, turns };
}

/* ---------- the server ---------- */

/**
 * The socket as a stream that first gives back the bytes already read from it. The HTTP/2
 * server reads a net.Socket's handle directly (bytes read before it started would be lost);
 * given a plain Duplex it reads through it.
 */
function replaying(socket: net.Socket, first: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  stream.push(first);
  socket.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("error", (error) => stream.destroy(error));
  socket.on("close", () => stream.destroy());
  return stream;
}

/** What each part of the request handling needs, whichever HTTP version carried it. */
type Request = http.IncomingMessage | http2.Http2ServerRequest;
/** The part of a response both versions' compatibility APIs offer alike. */
interface Response {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: Buffer): unknown;
  end(chunk?: string): unknown;
  on(event: "close", listener: () => void): unknown;
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  readonly writable: boolean;
  readonly destroyed: boolean;
}

const ROUTE = /^\/model\/([^/]+)\/(converse-stream|converse)$/;
const toolUseId = () =>
  `tooluse_${randomBytes(11)
    .toString("base64url")
    .replace(/[^a-zA-Z0-9]/g, "x")}`;
/** The service pads each event with a random-length field `p` (so sizes do not leak content). */
const padding = () =>
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".slice(
    0,
    1 + Math.floor(Math.random() * 40),
  );

export async function startFakeBedrock(options: FakeBedrockOptions = {}): Promise<FakeBedrock> {
  const log = new RequestLog();
  let script = options.script ?? seedBrain();
  const region = options.region ?? "us-east-1";
  const protocols = options.protocols ?? ["http/1.1", "h2c"];
  const pieceChars = options.inputPieceChars ?? 10;
  const connections = { "http/1.1": 0, h2c: 0 };

  async function handle(req: Request, res: Response): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const requestId = randomUUID();
    const sendError = (error: ServiceError) => {
      const payload = JSON.stringify({ message: error.message });
      res.writeHead(error.status, {
        "content-type": "application/json",
        "x-amzn-requestid": requestId,
        "x-amzn-errortype": `${error.code}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
        ...error.headers,
      });
      res.end(payload);
    };

    const target = req.url ?? "/";
    const denied = verifySigV4(
      { method: req.method ?? "GET", target, headers: req.headers, body },
      { region, service: "bedrock", credentials: options.credentials ?? [] },
    );
    if (denied) return sendError(new ServiceError(denied.status, denied.code, denied.message));
    const path = target.split("?")[0]!;
    const route = ROUTE.exec(path);
    if (req.method !== "POST" || !route)
      return sendError(
        new ServiceError(404, "UnknownOperationException", `No operation at ${req.method} ${path}`),
      );
    const model = decodeURIComponent(route[1]!);
    const streaming = route[2] === "converse-stream";

    let parsed: WireBody;
    let seen: { system: string; turns: FakeTurn[] };
    try {
      const json = jsonObject(body.toString("utf8"));
      if (!json)
        throw new ServiceError(400, "SerializationException", "The request body is not a JSON object.");
      parsed = json as WireBody;
      if (options.models && !options.models.includes(model))
        throw serviceError("unknown-model", model, region);
      seen = readConverse(parsed, options);
    } catch (err) {
      if (err instanceof ServiceError) return sendError(err);
      throw err;
    }
    const record: FakeModelRequest = {
      model,
      system: seen.system,
      tools: (parsed.toolConfig?.tools ?? []).map((t) => String(t?.toolSpec?.name ?? "")),
      turns: seen.turns,
      headers: req.headers,
      httpVersion: req.httpVersion,
      body: parsed,
      aborted: false,
      finished: false,
    };
    const index = log.track(record, res);
    let answer = await replyOf(script, record, index, (message) => reply.error("server", { message }));
    if (answer.kind === "error" && answer.error === "content-filter" && !answer.after)
      answer = { kind: "answer", text: [], calls: [], end: "content-filter" };
    if (answer.kind === "error" && !answer.after) {
      record.finished = true;
      sendError(serviceError(answer.error, model, region, answer.message, answer.retryAfterSeconds));
      return;
    }
    const calls =
      answer.kind === "answer"
        ? answer.calls.map((c) => ({
            id: c.id ?? toolUseId(),
            name: c.name ?? "execute_python",
            input: c.argumentsText ?? JSON.stringify({ code: c.code ?? "" }),
          }))
        : [];
    const texts = answer.kind === "answer" ? answer.text : (answer.after ?? []);
    const stopReason =
      answer.kind === "answer" && answer.end === "content-filter"
        ? "content_filtered"
        : calls.length > 0
          ? "tool_use"
          : "end_turn";

    if (!streaming) {
      if (answer.kind === "error")
        return sendError(serviceError(answer.error, model, region, answer.message));
      const content = [
        ...(texts.join("") ? [{ text: texts.join("") }] : []),
        ...calls.map((c) => ({
          toolUse: { toolUseId: c.id, name: c.name, input: jsonObject(c.input) ?? {} },
        })),
      ];
      res.writeHead(200, { "content-type": "application/json", "x-amzn-requestid": requestId });
      res.end(
        JSON.stringify({
          output: { message: { role: "assistant", content } },
          stopReason,
          usage: { inputTokens: 10, outputTokens: 10, totalTokens: 20 },
          metrics: { latencyMs: 1 },
        }),
      );
      return;
    }

    res.writeHead(200, {
      "content-type": "application/vnd.amazon.eventstream",
      "x-amzn-requestid": requestId,
    });
    const delayMs = answer.kind === "answer" ? (answer.delayMs ?? 0) : 0;
    const send = async (frame: Buffer) => {
      if (delayMs) await sleep(delayMs);
      if (res.destroyed || !res.writable) return false;
      res.write(frame);
      return true;
    };
    const event = (type: string, payload: object) => eventFrame(type, { ...payload, p: padding() });

    if (!(await send(event("messageStart", { role: "assistant" })))) return;
    let blockIndex = 0;
    if (answer.kind === "answer" && answer.reasoning !== undefined) {
      const reasoning = (delta: object) =>
        event("contentBlockDelta", { contentBlockIndex: 0, delta: { reasoningContent: delta } });
      if (!(await send(reasoning({ text: answer.reasoning })))) return;
      if (!(await send(reasoning({ signature: `fake-signature-${index + 1}` })))) return;
      if (!(await send(event("contentBlockStop", { contentBlockIndex: 0 })))) return;
      blockIndex = 1;
    }
    if (texts.length > 0) {
      const textIndex = blockIndex;
      for (const text of texts)
        if (!(await send(event("contentBlockDelta", { contentBlockIndex: textIndex, delta: { text } }))))
          return;
      if (answer.kind === "answer" && answer.hang) return;
      if (answer.kind === "error") {
        const error = serviceError(answer.error, model, region, answer.message);
        const name = STREAM_EXCEPTIONS[error.code] ?? "modelStreamErrorException";
        await send(
          exceptionFrame(name, {
            message: error.message,
            ...(name === "modelStreamErrorException"
              ? { originalStatusCode: error.status, originalMessage: error.message }
              : {}),
          }),
        );
        record.finished = true;
        res.end();
        return;
      }
      if (!(await send(event("contentBlockStop", { contentBlockIndex: textIndex })))) return;
      blockIndex++;
    } else if (answer.kind === "answer" && answer.hang) return;
    for (const call of calls) {
      const at = blockIndex++;
      const start = { contentBlockIndex: at, start: { toolUse: { toolUseId: call.id, name: call.name } } };
      if (!(await send(event("contentBlockStart", start)))) return;
      for (let from = 0; from < call.input.length; from += pieceChars)
        if (
          !(await send(
            event("contentBlockDelta", {
              contentBlockIndex: at,
              delta: { toolUse: { input: call.input.slice(from, from + pieceChars) } },
            }),
          ))
        )
          return;
      if (!(await send(event("contentBlockStop", { contentBlockIndex: at })))) return;
    }
    if (answer.kind === "answer" && answer.end === "cut-off") {
      record.finished = true;
      res.end();
      return;
    }
    if (!(await send(event("messageStop", { stopReason })))) return;
    await send(
      event("metadata", {
        usage: { inputTokens: 10, outputTokens: 10, totalTokens: 20 },
        metrics: { latencyMs: 1 },
      }),
    );
    record.finished = true;
    res.end();
  }

  const onRequest = (req: Request, raw: http.ServerResponse | http2.Http2ServerResponse) => {
    const res = raw as unknown as Response;
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `fake-bedrock failed: ${String(err)}` }));
    });
  };
  const h1 = http.createServer(onRequest);
  const h2 = http2.createServer({}, onRequest);
  // One port, two protocols: a client speaking HTTP/2 with prior knowledge opens with the
  // connection preface "PRI * HTTP/2.0"; anything else is HTTP/1.1.
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("data", (first: Buffer) => {
      socket.pause();
      const isH2 = first.subarray(0, 3).toString("latin1") === "PRI";
      const protocol = isH2 ? "h2c" : "http/1.1";
      if (!protocols.includes(protocol)) {
        // Not served: answer as a server that speaks only the other protocol would.
        if (isH2) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        else socket.destroy();
        return;
      }
      connections[protocol]++;
      if (isH2) h2.emit("connection", replaying(socket, first));
      else {
        socket.unshift(first);
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  tcp.listen(0, "127.0.0.1");
  await once(tcp, "listening");
  const { port } = tcp.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...log.controls(),
    connections,
    setScript(next) {
      script = next;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      h1.closeAllConnections();
      h2.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
