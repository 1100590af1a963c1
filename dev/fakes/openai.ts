/**
 * A fake OpenAI-compatible Chat Completions API: a real HTTP server on a free loopback port
 * speaking the wire protocol, so the official `openai` SDK (and the backend's provider) is
 * exercised for real.
 *
 *   POST {base}/chat/completions, stream: true  ->  `data: {chat.completion.chunk}\n\n` ... `data: [DONE]\n\n`
 *   POST {base}/chat/completions, stream: false ->  one chat.completion
 *   GET  {base}/models                          ->  the model list
 *
 * Text streams as `delta.content` pieces; each tool call as fragments keyed by `index`: the
 * first with its id, type and name and empty arguments, the arguments then in several pieces;
 * the last chunk carries `finish_reason`. It checks what the real API checks: the Bearer key
 * when one is configured (401 `invalid_api_key`), a known model when a list is configured
 * (404 `model_not_found`), and that every assistant `tool_calls` message is followed by a
 * `role: "tool"` message for each `tool_call_id`, and no tool message answers nothing (400).
 * Errors have the API's shape (`{"error": {"message", "type", "param", "code"}}`) and rate
 * limits its hints (`retry-after`, `retry-after-ms`).
 *
 *   const openai = await startFakeOpenAI({ script: seedBrain(), apiKey: "sk-test" });
 *   env.OPENAI_BASE_URL = openai.url;   // http://127.0.0.1:PORT/v1
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  jsonObject,
  reply,
  replyOf,
  RequestLog,
  seedBrain,
  sleep,
  type FakeErrorKind,
  type FakeModelRequest,
  type FakeReply,
  type FakeScript,
  type FakeServer,
  type FakeTurn,
} from "./script";

export interface FakeOpenAIOptions {
  script?: FakeScript;
  /** When set, requests need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** When set, other models are answered 404 model_not_found. */
  models?: string[];
  /** The path prefix of the API (default `/v1`). */
  basePath?: string;
  /** Characters per piece of streamed tool-call arguments (default 12). */
  argumentsPieceChars?: number;
}

/** The fake OpenAI-compatible API; its `url` is for OPENAI_BASE_URL, up to and including the base path. */
export type FakeOpenAI = FakeServer<FakeModelRequest, FakeScript>;

/* ---------- wire types (the subset the fake reads) ---------- */

interface WireToolCall {
  id?: unknown;
  type?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}
interface WireMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: WireToolCall[];
  tool_call_id?: unknown;
}
interface WireBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown };
  tools?: { type?: unknown; function?: { name?: unknown } }[];
}

class WireError extends Error {
  constructor(
    readonly status: number,
    readonly body: { message: string; type: string; param: string | null; code: string | null },
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

const invalid = (message: string, param: string | null = null, code: string | null = null) =>
  new WireError(400, { message, type: "invalid_request_error", param, code });

/** The content of a message: a string, or text parts. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((p: { type?: unknown; text?: unknown }) =>
        p?.type === "text" && typeof p.text === "string" ? p.text : "",
      )
      .join("");
  return "";
}

/** Reads the messages as the real API does, refusing what it refuses; returns the neutral turns. */
function readMessages(messages: unknown): { system: string; turns: FakeTurn[] } {
  if (!Array.isArray(messages) || messages.length === 0)
    throw invalid("'messages' must be a non-empty array", "messages");
  let system = "";
  const turns: FakeTurn[] = [];
  /** tool_call_ids of the last assistant message still waiting for their tool messages. */
  let pending: string[] = [];
  let pendingAt = -1;
  const unanswered = () =>
    invalid(
      "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
        `The following tool_call_ids did not have response messages: ${pending.join(", ")}`,
      `messages.[${pendingAt}].role`,
    );
  (messages as WireMessage[]).forEach((message, i) => {
    const role = message?.role;
    if (role !== "tool" && pending.length > 0) throw unanswered();
    if (role === "system" || role === "developer") {
      system += textOf(message.content);
      return;
    }
    if (role === "user") {
      turns.push({ role: "user", text: textOf(message.content), calls: [], results: [] });
      return;
    }
    if (role === "assistant") {
      const calls = (message.tool_calls ?? []).map((call, j) => {
        if (typeof call?.id !== "string" || call.id === "")
          throw invalid(
            `Missing required parameter: 'messages[${i}].tool_calls[${j}].id'.`,
            `messages.[${i}].tool_calls`,
          );
        if (call.type !== "function" || typeof call.function?.name !== "string")
          throw invalid(
            `Invalid tool call at 'messages[${i}].tool_calls[${j}]'.`,
            `messages.[${i}].tool_calls`,
          );
        if (typeof call.function.arguments !== "string")
          throw invalid(
            `Invalid type for 'messages[${i}].tool_calls[${j}].function.arguments': expected a string.`,
            `messages.[${i}].tool_calls.[${j}].function.arguments`,
          );
        const text = call.function.arguments;
        return { id: call.id, name: call.function.name, args: jsonObject(text) ?? text };
      });
      const text = textOf(message.content);
      if (calls.length === 0 && text === "")
        throw invalid(
          `Invalid value for 'messages[${i}].content': an assistant message needs content or tool_calls.`,
        );
      turns.push({ role: "assistant", text, calls, results: [] });
      pending = calls.map((c) => c.id);
      pendingAt = i;
      return;
    }
    if (role === "tool") {
      const id = message.tool_call_id;
      if (typeof id !== "string" || !pending.includes(id))
        throw invalid(
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
        );
      pending = pending.filter((p) => p !== id);
      let turn = turns[turns.length - 1];
      if (!turn || turn.role !== "user" || turn.results.length === 0) {
        turn = { role: "user", text: "", calls: [], results: [] };
        turns.push(turn);
      }
      const content = textOf(message.content);
      turn.results.push({ id, content, output: jsonObject(content) });
      return;
    }
    throw invalid(
      `Invalid value: '${String(role)}'. Supported values are: 'system', 'user', 'assistant' and 'tool'.`,
      `messages[${i}].role`,
    );
  });
  if (pending.length > 0) throw unanswered();
  return { system, turns };
}

/** The error each neutral kind becomes on this wire. */
function wireError(
  kind: FakeErrorKind,
  model: string,
  message?: string,
  retryAfterSeconds?: number,
): WireError {
  const m = (fallback: string) => message ?? fallback;
  switch (kind) {
    case "rate-limit": {
      const seconds = retryAfterSeconds ?? 1;
      return new WireError(
        429,
        {
          message: m(`Rate limit reached for ${model}. Please try again in ${seconds}s.`),
          type: "requests",
          param: null,
          code: "rate_limit_exceeded",
        },
        { "retry-after": String(seconds), "retry-after-ms": String(seconds * 1000) },
      );
    }
    case "server":
      return new WireError(500, {
        message: m("The server had an error while processing your request. Sorry about that!"),
        type: "server_error",
        param: null,
        code: null,
      });
    case "unavailable":
      return new WireError(503, {
        message: m("The engine is currently overloaded, please try again later."),
        type: "server_error",
        param: null,
        code: null,
      });
    case "auth":
      return new WireError(401, {
        message: m("Incorrect API key provided. You can find your API key in your account settings."),
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      });
    case "forbidden":
      return new WireError(403, {
        message: m(`You are not allowed to sample from ${model}.`),
        type: "invalid_request_error",
        param: null,
        code: "model_not_permitted",
      });
    case "unknown-model":
      return new WireError(404, {
        message: m(`The model \`${model}\` does not exist or you do not have access to it.`),
        type: "invalid_request_error",
        param: null,
        code: "model_not_found",
      });
    case "context-too-long":
      return invalid(
        m(
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens. " +
            "Please reduce the length of the messages.",
        ),
        "messages",
        "context_length_exceeded",
      );
    case "content-filter":
      return invalid(
        m("The response was filtered due to the prompt triggering the content management policy."),
        "prompt",
        "content_filter",
      );
    case "bad-request":
      return invalid(m("Invalid request."));
  }
}

const callId = () => `call_${randomBytes(12).toString("hex")}`;

/** The calls of a reply with their ids and argument texts settled. */
function settleCalls(answer: Extract<FakeReply, { kind: "answer" }>) {
  // An empty id stands for a server that sends none (some compatible servers do not).
  return answer.calls.map((c) => ({
    id: c.id ?? callId(),
    name: c.name ?? "execute_python",
    arguments: c.argumentsText ?? JSON.stringify({ code: c.code ?? "" }),
  }));
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const log = new RequestLog();
  let script = options.script ?? seedBrain();
  const basePath = (options.basePath ?? "/v1").replace(/\/+$/, "");
  const pieceChars = options.argumentsPieceChars ?? 12;
  let completions = 0;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const sendError = (error: WireError) =>
      res
        .writeHead(error.status, { "content-type": "application/json", ...error.headers })
        .end(JSON.stringify({ error: error.body }));

    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`)
      return sendError(wireError("auth", ""));
    if (req.method === "GET" && url.pathname === `${basePath}/models`) {
      const models = options.models ?? ["fake-model"];
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          object: "list",
          data: models.map((id) => ({ id, object: "model", created: 0, owned_by: "fake" })),
        }),
      );
      return;
    }
    if (req.method !== "POST" || url.pathname !== `${basePath}/chat/completions`)
      return sendError(
        new WireError(404, {
          message: `Invalid URL (${req.method} ${url.pathname})`,
          type: "invalid_request_error",
          param: null,
          code: null,
        }),
      );

    let body: WireBody;
    let seen: { system: string; turns: FakeTurn[] };
    try {
      const parsed = jsonObject(Buffer.concat(chunks).toString("utf8"));
      if (!parsed) throw invalid("We could not parse the JSON body of your request.");
      body = parsed as WireBody;
      if (typeof body.model !== "string" || body.model === "")
        throw invalid("you must provide a model parameter", "model");
      if (options.models && !options.models.includes(body.model))
        throw wireError("unknown-model", body.model);
      seen = readMessages(body.messages);
    } catch (err) {
      if (err instanceof WireError) return sendError(err);
      throw err;
    }
    const model = body.model as string;
    const record: FakeModelRequest = {
      model,
      system: seen.system,
      tools: (body.tools ?? []).map((t) => String(t?.function?.name ?? "")),
      turns: seen.turns,
      headers: req.headers,
      httpVersion: req.httpVersion,
      body,
      aborted: false,
      finished: false,
    };
    const index = log.track(record, res);
    const answer = await replyOf(script, record, index, (message) => reply.error("server", { message }));
    if (answer.kind === "error" && !answer.after) {
      record.finished = true;
      sendError(wireError(answer.error, model, answer.message, answer.retryAfterSeconds));
      return;
    }
    const id = `chatcmpl-fake${++completions}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream !== true) {
      record.finished = true;
      if (answer.kind === "error") return sendError(wireError(answer.error, model, answer.message));
      const calls = settleCalls(answer);
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id,
          object: "chat.completion",
          created,
          model,
          choices: [
            {
              index: 0,
              message: {
                role: "assistant",
                content: answer.text.join("") || null,
                refusal: null,
                ...(calls.length
                  ? {
                      tool_calls: calls.map((c) => ({
                        id: c.id,
                        type: "function",
                        function: { name: c.name, arguments: c.arguments },
                      })),
                    }
                  : {}),
              },
              logprobs: null,
              finish_reason:
                answer.end === "content-filter" ? "content_filter" : calls.length ? "tool_calls" : "stop",
            },
          ],
          usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
        }),
      );
      return;
    }

    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    res.flushHeaders();
    const delayMs = answer.kind === "answer" ? (answer.delayMs ?? 0) : 0;
    const send = async (data: object | string) => {
      if (delayMs) await sleep(delayMs);
      if (res.destroyed) return false;
      res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
      return true;
    };
    const chunk = (delta: object, finish: string | null = null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: "fp_fake",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });

    if (!(await send(chunk({ role: "assistant", content: "", refusal: null })))) return;
    const texts = answer.kind === "answer" ? answer.text : (answer.after ?? []);
    for (const text of texts) if (!(await send(chunk({ content: text })))) return;
    if (answer.kind === "error") {
      // A failure inside the stream: the API sends an error object as an event and stops.
      await send({ error: wireError(answer.error, model, answer.message).body });
      record.finished = true;
      res.end();
      return;
    }
    if (answer.hang) return; // left open until the client goes away or the server closes
    if (answer.end === "cut-off") {
      record.finished = true;
      res.end();
      return;
    }
    const calls = settleCalls(answer);
    for (const [i, call] of calls.entries()) {
      const first = {
        index: i,
        ...(call.id ? { id: call.id } : {}),
        type: "function",
        function: { name: call.name, arguments: "" },
      };
      if (!(await send(chunk({ tool_calls: [first] })))) return;
      for (let at = 0; at < call.arguments.length; at += pieceChars)
        if (
          !(await send(
            chunk({
              tool_calls: [{ index: i, function: { arguments: call.arguments.slice(at, at + pieceChars) } }],
            }),
          ))
        )
          return;
    }
    const finish = answer.end === "content-filter" ? "content_filter" : calls.length ? "tool_calls" : "stop";
    if (!(await send(chunk({}, finish)))) return;
    if (body.stream_options?.include_usage === true)
      await send({
        id,
        object: "chat.completion.chunk",
        created,
        model,
        choices: [],
        usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
      });
    await send("[DONE]");
    record.finished = true;
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${basePath}`,
    ...log.controls(),
    setScript(next) {
      script = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
