/**
 * Google Gemini through `@google/genai` (streamGenerateContent over SSE). Function calls come
 * as parts; the model turn is echoed back as received, so call ids and thought signatures go
 * back to the API; each call is answered by a `functionResponse` part with its id (when the
 * model gave one) and name. HTTP failures surface as ModelHttpError, which keeps the status,
 * Google's error status and message and how long to wait before a retry (the Retry-After
 * header, else the RetryInfo detail Google puts in a 429's body), and are mapped to ModelError.
 */
import type * as GenAI from "@google/genai" with { "resolution-mode": "import" };
import {
  CONTEXT_TOO_LONG,
  describeRaw,
  MESSAGES,
  ModelError,
  networkErrorCode,
  retryAfterFrom,
  stoppedByFilter,
} from "./errors";
import type {
  ConversationItem,
  ModelOutput,
  ModelProvider,
  ModelRequest,
  ModelTurn,
  ToolCall,
  ToolSpec,
} from "./provider";

// @google/genai is an ES module package that also ships CommonJS (its "require" export);
// TypeScript's node16 resolution only sees the ESM types, so types come from an import type
// with resolution-mode and values from require().
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { GoogleGenAI, Type } = require("@google/genai") as typeof GenAI;
type Content = GenAI.Content;
type GenerateContentResponse = GenAI.GenerateContentResponse;
type Part = GenAI.Part;

/** A non-2xx answer from the Gemini API. */
export class ModelHttpError extends Error {
  constructor(
    readonly status: number,
    /** Google's `error.status`, e.g. RESOURCE_EXHAUSTED. */
    readonly googleStatus: string | undefined,
    readonly detail: string,
    /** How long the server asked us to wait, if it said. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(`Gemini API ${status}${googleStatus ? ` ${googleStatus}` : ""}: ${detail}`);
    this.name = "ModelHttpError";
  }
}

/** The Gemini API could not be reached at all (DNS, refused connection, TLS). */
export class ModelUnreachableError extends Error {
  constructor(readonly detail: string) {
    super(`Gemini API unreachable: ${detail}`);
    this.name = "ModelUnreachableError";
  }
}

/** `fetch` that turns error responses into ModelHttpError before the SDK flattens them. */
export const errorAwareFetch: typeof fetch = async (input, init) => {
  let response: Response;
  try {
    response = await fetch(input, init);
  } catch (err) {
    // An abort stays an abort; anything else is the network, said in our own error type
    // (undici's TypeError "fetch failed" hides the reason in `cause`).
    if (init?.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ModelUnreachableError(cause?.code ?? cause?.message ?? String((err as Error).message ?? err));
  }
  if (response.ok) return response;
  const body = await response.text().catch(() => "");
  let googleStatus: string | undefined;
  let detail = body.slice(0, 500) || response.statusText;
  let retryAfterMs = retryAfterFrom((name) => response.headers.get(name));
  try {
    const parsed = JSON.parse(body) as {
      error?: { message?: string; status?: string; details?: { "@type"?: string; retryDelay?: string }[] };
    };
    if (parsed.error) {
      googleStatus = parsed.error.status;
      detail = parsed.error.message ?? detail;
      const retryInfo = parsed.error.details?.find((d) => d["@type"]?.endsWith("google.rpc.RetryInfo"));
      retryAfterMs ??= parseDuration(retryInfo?.retryDelay);
    }
  } catch {
    /* not JSON: keep the text */
  }
  throw new ModelHttpError(response.status, googleStatus, detail, retryAfterMs);
};

/** A protobuf Duration in JSON: "30s", "1.5s". */
function parseDuration(value: string | undefined): number | undefined {
  const match = value ? /^(\d+(?:\.\d+)?)s$/.exec(value) : null;
  return match ? Number(match[1]) * 1000 : undefined;
}

export interface GeminiSettings {
  /** `MODEL_ID`, else `GEMINI_MODEL`. */
  model: string;
  /** `GEMINI_API_KEY`. */
  apiKey: string;
  /** `GEMINI_BASE_URL`: proxies, tests. */
  baseUrl: string | undefined;
}

/** Starts one streaming call (the SDK's generateContentStream), replaceable in tests and benchmarks. */
export type GeminiCall = (request: {
  contents: Content[];
  config: GenAI.GenerateContentConfig;
}) => Promise<AsyncIterable<GenerateContentResponse>>;

export function createGeminiProvider(settings: GeminiSettings, call?: GeminiCall): ModelProvider {
  let generate = call;
  if (!generate) {
    const ai = new GoogleGenAI({
      apiKey: settings.apiKey,
      httpOptions: {
        ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
        fetch: errorAwareFetch,
      },
    });
    generate = ({ contents, config }) =>
      ai.models.generateContentStream({ model: settings.model, contents, config });
  }
  const start = generate;
  return {
    id: "gemini",
    model: settings.model,
    async *stream(request: ModelRequest): AsyncGenerator<ModelOutput, ModelTurn> {
      const config: GenAI.GenerateContentConfig = {
        systemInstruction: request.system,
        ...(request.tool ? { tools: [{ functionDeclarations: [declaration(request.tool)] }] } : {}),
        ...(request.signal ? { abortSignal: request.signal } : {}),
      };
      try {
        const stream = await start({ contents: toContents(request.conversation), config });
        return yield* readStream(stream);
      } catch (err) {
        throw describeGeminiError(err, settings);
      }
    },
  };
}

/** The tool as a Gemini function declaration (its Schema spells types in capitals). */
export function declaration(tool: ToolSpec): GenAI.FunctionDeclaration {
  return {
    name: tool.name,
    description: tool.description,
    parameters: {
      type: Type.OBJECT,
      properties: Object.fromEntries(
        Object.entries(tool.parameters.properties).map(([name, p]) => [
          name,
          { type: Type.STRING, description: p.description },
        ]),
      ),
      required: tool.parameters.required,
    },
  };
}

async function* readStream(
  stream: AsyncIterable<GenerateContentResponse>,
): AsyncGenerator<ModelOutput, ModelTurn> {
  const parts: Part[] = [];
  const calls: ToolCall[] = [];
  let text = "";
  for await (const chunk of stream) {
    throwIfBlocked(chunk);
    for (const part of chunk.candidates?.[0]?.content?.parts ?? []) {
      parts.push(part);
      if (part.functionCall) {
        const id = part.functionCall.id;
        const call: ToolCall = {
          id: id || `call-${calls.length + 1}`,
          ...(id ? {} : { generatedId: true }),
          name: part.functionCall.name ?? "",
          args: isObject(part.functionCall.args) ? part.functionCall.args : undefined,
        };
        calls.push(call);
        yield { type: "call", call };
      } else if (typeof part.text === "string" && part.text !== "" && !part.thought) {
        text += part.text;
        yield { type: "text", text: part.text };
      }
    }
    throwIfUnfinished(chunk);
  }
  const native: Content = { role: "model", parts };
  return { text, calls, native, chars: charsOf(native) };
}

function toContents(conversation: readonly ConversationItem[]): Content[] {
  return conversation.map((item): Content => {
    if (item.role === "user") return { role: "user", parts: [{ text: item.text }] };
    if (item.role === "assistant") return { role: "model", parts: [{ text: item.text }] };
    // As received: call ids and thought signatures are echoed back.
    if (item.role === "model") return item.turn.native as Content;
    return {
      role: "user",
      parts: item.results.map(({ call, output }) => ({
        functionResponse: { ...(call.generatedId ? {} : { id: call.id }), name: call.name, response: output },
      })),
    };
  });
}

/** Characters a content adds to the model input: its texts, calls and thought signatures. */
function charsOf(content: Content): number {
  let chars = 0;
  for (const part of content.parts ?? []) {
    if (typeof part.text === "string") chars += part.text.length;
    if (part.functionCall) chars += JSON.stringify(part.functionCall).length;
    if (typeof part.thoughtSignature === "string") chars += part.thoughtSignature.length;
  }
  return chars;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

const BLOCKING_FINISH = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
]);

function throwIfBlocked(chunk: GenerateContentResponse): void {
  const reason = chunk.promptFeedback?.blockReason;
  if (reason)
    throw new ModelError(
      "content-filter",
      `The model refused the question (blocked: ${reason}). Rephrase it and try again.`,
      `promptFeedback.blockReason ${reason}`,
    );
}

function throwIfUnfinished(chunk: GenerateContentResponse): void {
  const reason = chunk.candidates?.[0]?.finishReason;
  if (reason && BLOCKING_FINISH.has(reason)) throw stoppedByFilter(`finish reason ${reason}`);
  if (reason === "MALFORMED_FUNCTION_CALL")
    throw new ModelError("bad-response", MESSAGES.malformedCall, `finishReason ${reason}`);
}

/**
 * Maps a failed Gemini call to words a user can act on, naming GEMINI_API_KEY, the model
 * variable or GEMINI_BASE_URL; Google's own wording goes to the log only.
 */
export function describeGeminiError(err: unknown, settings: GeminiSettings): ModelError {
  if (err instanceof ModelError) return err;
  if (err instanceof ModelUnreachableError || networkErrorCode(err))
    return new ModelError(
      "unreachable",
      MESSAGES.unreachable +
        (settings.baseUrl
          ? "GEMINI_BASE_URL (and that the endpoint there is running)."
          : "that the backend can reach generativelanguage.googleapis.com (the network policy's egress)."),
      err instanceof ModelUnreachableError ? `unreachable: ${err.detail}` : describeRaw(err),
    );
  if (!(err instanceof ModelHttpError)) return new ModelError("rejected", MESSAGES.unknown, describeRaw(err));
  const detail = `HTTP ${err.status}${err.googleStatus ? ` ${err.googleStatus}` : ""}: ${err.detail}`;
  const options = {
    status: err.status,
    ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
  };
  const fail = (kind: ConstructorParameters<typeof ModelError>[0], message: string) =>
    new ModelError(kind, message, detail, options);
  if (err.status === 429) return fail("rate-limited", MESSAGES.rateLimited);
  // Google answers a key it does not know with 400 API_KEY_INVALID, one without access with 403.
  if (err.status === 401 || err.status === 403 || /API key not valid|API_KEY_INVALID/i.test(err.detail))
    return fail(
      "auth",
      "The model service refused this server's API key; the operator should check GEMINI_API_KEY.",
    );
  if (err.status === 404)
    return fail(
      "model-not-found",
      `The configured model is not available; the operator should check MODEL_ID (or GEMINI_MODEL), now ${settings.model}.`,
    );
  if (err.status >= 500) return fail("unavailable", MESSAGES.unavailable);
  if (CONTEXT_TOO_LONG.test(err.detail)) return fail("context-too-long", MESSAGES.contextTooLong);
  return fail("rejected", MESSAGES.rejected);
}
