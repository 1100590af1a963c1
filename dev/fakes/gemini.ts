/**
 * A fake Gemini API: a real HTTP server on a free loopback port speaking the Gemini REST wire
 * protocol, so the real @google/genai SDK (and the backend's error handling) is exercised.
 *
 *   POST /v1beta/models/{model}:streamGenerateContent?alt=sse  ->  `data: {GenerateContentResponse}\r\n\r\n`...
 *   POST /v1beta/models/{model}:generateContent                ->  one GenerateContentResponse
 *
 * Each request is recorded (`requests`) and answered by a script: a function from the request
 * to a reply built with `reply.*`, a list of replies used in order (`scripted(...)`), or the
 * `seedBrain()` that answers the five seed questions by itself through `execute_python`
 * (and can be told to answer wrongly, for smoke tests that must fail).
 *
 *   const gemini = await startFakeGemini(scripted(reply.calls({ code: "print(1)" }), reply.text("1")));
 *   env.GEMINI_BASE_URL = gemini.url;
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { replyOf, RequestLog, type FakeServer } from "./script";
import { NO_TOOL, seedCodeFor, UNKNOWN_QUESTION, wrongly } from "./seed-questions";

/* ---------- wire types (the subset of the REST API the fake reads and writes) ---------- */

export interface WirePart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: { id?: string; name: string; response?: Record<string, unknown> };
}
export interface WireContent {
  role?: string;
  parts: WirePart[];
}
export interface WireRequestBody {
  contents: WireContent[];
  systemInstruction?: WireContent;
  tools?: { functionDeclarations?: { name: string; description?: string; parameters?: unknown }[] }[];
  generationConfig?: unknown;
}

export interface FakeGeminiRequest {
  /** e.g. "gemini-3.8-flash" */
  model: string;
  /** "streamGenerateContent" or "generateContent" */
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: WireRequestBody;
  /** The client closed the connection before the reply was complete. */
  aborted: boolean;
  /** The reply was written completely. */
  finished: boolean;
}

export type FakeReply =
  | {
      kind: "stream";
      /** Each is one GenerateContentResponse JSON, sent as one SSE event. */
      chunks: object[];
      /** Pause before each chunk. */
      delayMs?: number;
      /** Never end the response (a model that hangs; for disconnect and shutdown tests). */
      hang?: boolean;
    }
  | { kind: "error"; status: number; body: object; headers?: Record<string, string> };

export type FakeScript = (request: FakeGeminiRequest, index: number) => FakeReply | Promise<FakeReply>;

/* ---------- reply builders ---------- */

export interface FakeCall {
  code: string;
  id?: string;
  /** Default execute_python. */
  name?: string;
  thoughtSignature?: string;
  /** Raw args instead of {code} (malformed-call tests). */
  args?: Record<string, unknown>;
}

const GOOGLE_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

function candidateChunk(parts: WirePart[], finishReason?: string): object {
  return {
    candidates: [{ content: { role: "model", parts }, index: 0, ...(finishReason ? { finishReason } : {}) }],
    modelVersion: "fake-gemini",
  };
}

export const reply = {
  /** An answer streamed as one chunk per delta; the last one carries finishReason STOP. */
  text(...deltas: string[]): FakeReply {
    return {
      kind: "stream",
      chunks: deltas.map((delta, i) =>
        candidateChunk([{ text: delta }], i === deltas.length - 1 ? "STOP" : undefined),
      ),
    };
  },
  /** One model turn with function-call parts (several calls = several parts), in one chunk. */
  calls(...calls: FakeCall[]): FakeReply {
    const parts = calls.map((c) => ({
      functionCall: {
        ...(c.id ? { id: c.id } : {}),
        name: c.name ?? "execute_python",
        args: c.args ?? { code: c.code },
      },
      ...(c.thoughtSignature ? { thoughtSignature: c.thoughtSignature } : {}),
    }));
    return { kind: "stream", chunks: [candidateChunk(parts, "STOP")] };
  },
  /** Arbitrary chunks, each a list of parts. */
  chunks(...chunks: WirePart[][]): FakeReply {
    return {
      kind: "stream",
      chunks: chunks.map((parts, i) => candidateChunk(parts, i === chunks.length - 1 ? "STOP" : undefined)),
    };
  },
  /** Google's error JSON; `retryDelay` (seconds) adds a RetryInfo detail, `retryAfter` the header. */
  error(
    status: number,
    options: { message?: string; retryDelaySeconds?: number; retryAfter?: string } = {},
  ): FakeReply {
    const details =
      options.retryDelaySeconds !== undefined
        ? [
            {
              "@type": "type.googleapis.com/google.rpc.RetryInfo",
              retryDelay: `${options.retryDelaySeconds}s`,
            },
          ]
        : undefined;
    return {
      kind: "error",
      status,
      body: {
        error: {
          code: status,
          message: options.message ?? `fake ${GOOGLE_STATUS[status] ?? "error"}`,
          status: GOOGLE_STATUS[status] ?? "UNKNOWN",
          ...(details ? { details } : {}),
        },
      },
      headers: options.retryAfter ? { "retry-after": options.retryAfter } : undefined,
    };
  },
  /** Some answer text, then the candidate stopped by a safety filter. */
  safetyBlocked(finishReason = "SAFETY"): FakeReply {
    return {
      kind: "stream",
      chunks: [candidateChunk([{ text: "Let me" }]), candidateChunk([], finishReason)],
    };
  },
  /** The prompt itself blocked: no candidates, promptFeedback.blockReason. */
  promptBlocked(blockReason = "SAFETY"): FakeReply {
    return { kind: "stream", chunks: [{ promptFeedback: { blockReason } }] };
  },
  /** Sends `parts` (optional) and then never ends. */
  hang(...parts: WirePart[]): FakeReply {
    return { kind: "stream", chunks: parts.length ? [candidateChunk(parts)] : [], hang: true };
  },
};

/** Replies used in order; requests beyond the list get a 500 that says so. */
export function scripted(...replies: FakeReply[]): FakeScript {
  return (_request, index) =>
    replies[index] ??
    reply.error(500, { message: `fake-gemini: no scripted reply for request #${index + 1}` });
}

/* ---------- the seed brain ---------- */

export const SEED_THOUGHT_SIGNATURE = "c2VlZC1icmFpbi1zaWduYXR1cmU=";

export interface SeedBrainOptions {
  /** Answer with wrong numbers (the code still runs). */
  wrong?: boolean;
}

/**
 * Answers the seed questions like a well-behaved Gemini 3: an `execute_python` call (with an id
 * and a thought signature) with code for the question, then, once the function response
 * comes back, an answer built from its output. Like the real API it answers 400 when the
 * thought signature of its call is not echoed back.
 */
export function seedBrain(options: SeedBrainOptions = {}): FakeScript {
  let calls = 0;
  return (request) => {
    const contents = request.body.contents ?? [];
    const last = contents[contents.length - 1];
    const responses = (last?.parts ?? []).filter((p) => p.functionResponse);
    if (responses.length > 0) {
      const previous = contents[contents.length - 2];
      if (!previous?.parts?.some((p) => p.functionCall && p.thoughtSignature === SEED_THOUGHT_SIGNATURE))
        return reply.error(400, {
          message: "Function call is missing a thought_signature in functionCall parts.",
        });
      const outputs = responses.map((p) => {
        const r = (p.functionResponse?.response ?? {}) as {
          stdout?: string;
          result?: string | null;
          error?: { type?: string; message?: string } | null;
        };
        if (r.error) return `the code failed with ${r.error.type}: ${r.error.message}`;
        return (r.stdout ?? "").trim() || (r.result ?? "");
      });
      const answer = outputs.join("; ");
      return reply.text("The answer is ", `${options.wrong ? wrongly(answer) : answer}.`);
    }
    const question = (last?.parts ?? []).map((p) => p.text ?? "").join(" ");
    const code = seedCodeFor(question);
    const toolOffered = request.body.tools?.some((t) =>
      t.functionDeclarations?.some((d) => d.name === "execute_python"),
    );
    if (!code) return reply.text(UNKNOWN_QUESTION);
    if (!toolOffered) return reply.text(NO_TOOL);
    calls++;
    return reply.calls({ id: `seed-call-${calls}`, code, thoughtSignature: SEED_THOUGHT_SIGNATURE });
  };
}

/* ---------- the server ---------- */

/** The fake Gemini; its `url` is for GEMINI_BASE_URL. */
export type FakeGemini = FakeServer<FakeGeminiRequest, FakeScript>;

const ROUTE = /^\/(v1[a-z0-9]*)\/models\/([^/:]+):(streamGenerateContent|generateContent)$/;

export async function startFakeGemini(script: FakeScript = seedBrain()): Promise<FakeGemini> {
  const log = new RequestLog<FakeGeminiRequest>();
  let current = script;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const match = ROUTE.exec(url.pathname);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || !match) {
      res.writeHead(404, { "content-type": "application/json" }).end(
        JSON.stringify({
          error: {
            code: 404,
            message: `fake-gemini: no route ${req.method} ${url.pathname}`,
            status: "NOT_FOUND",
          },
        }),
      );
      return;
    }
    let body: WireRequestBody;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as WireRequestBody;
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end(
        JSON.stringify({
          error: { code: 400, message: "Invalid JSON payload", status: "INVALID_ARGUMENT" },
        }),
      );
      return;
    }
    const record: FakeGeminiRequest = {
      model: decodeURIComponent(match[2]!),
      method: match[3]!,
      url: req.url ?? "",
      headers: req.headers,
      body,
      aborted: false,
      finished: false,
    };
    const index = log.track(record, res);
    const answer = await replyOf(current, record, index, (message) => reply.error(500, { message }));
    if (answer.kind === "error") {
      record.finished = true;
      res.writeHead(answer.status, { "content-type": "application/json; charset=UTF-8", ...answer.headers });
      res.end(JSON.stringify(answer.body));
      return;
    }
    if (record.method === "generateContent") {
      record.finished = true;
      res.writeHead(200, { "content-type": "application/json; charset=UTF-8" });
      res.end(JSON.stringify(mergeChunks(answer.chunks)));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.flushHeaders();
    for (const chunk of answer.chunks) {
      if (answer.delayMs) await sleep(answer.delayMs);
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
    }
    if (answer.hang) return; // left open until the client goes away or the server closes
    record.finished = true;
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    ...log.controls(),
    setScript(next) {
      current = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The non-streaming answer: all chunks' parts in one candidate. */
function mergeChunks(chunks: object[]): object {
  const parts: WirePart[] = [];
  let finishReason: string | undefined;
  for (const chunk of chunks as { candidates?: { content?: WireContent; finishReason?: string }[] }[]) {
    const candidate = chunk.candidates?.[0];
    parts.push(...(candidate?.content?.parts ?? []));
    finishReason = candidate?.finishReason ?? finishReason;
  }
  return candidateChunk(parts, finishReason ?? "STOP");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
