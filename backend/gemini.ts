/**
 * The model side: the `execute_python` tool declaration, the system instruction, and a
 * streaming call to Gemini through @google/genai. HTTP failures surface as ModelHttpError,
 * which keeps the status, Google's error status/message and how long to wait before a retry
 * (the Retry-After header, else the RetryInfo detail Google puts in a 429's body).
 */
import type * as GenAI from "@google/genai" with { "resolution-mode": "import" };
import { redactCredentials, type BackendConfig } from "./config";

// @google/genai is an ES module package that also ships CommonJS (its "require" export);
// TypeScript's node16 resolution only sees the ESM types, so types come from an import type
// with resolution-mode and values from require().
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { GoogleGenAI, Type } = require("@google/genai") as typeof GenAI;
type Content = GenAI.Content;
type FunctionDeclaration = GenAI.FunctionDeclaration;
type GenerateContentConfig = GenAI.GenerateContentConfig;
type GenerateContentResponse = GenAI.GenerateContentResponse;

export const TOOL_NAME = "execute_python";

export interface ModelRequest {
  contents: Content[];
  config: GenerateContentConfig;
}

/** Starts one streaming model call. */
export type ModelStream = (request: ModelRequest) => Promise<AsyncIterable<GenerateContentResponse>>;

export function executePythonDeclaration(allowedModules: readonly string[]): FunctionDeclaration {
  return {
    name: TOOL_NAME,
    description:
      "Run Python 3 code in an isolated sandbox and get back its stdout, stderr, the repr of a trailing " +
      "expression, and any error. Use it for any arithmetic, statistics, dates or other computation " +
      "instead of computing in your head. The code MUST print() the values you need: only printed " +
      "output (and a trailing bare expression) is returned. Only these modules can be imported: " +
      `${allowedModules.join(", ")}. No files, network, subprocesses or environment variables. ` +
      "Each call starts fresh: nothing persists between calls.",
    parameters: {
      type: Type.OBJECT,
      properties: {
        code: {
          type: Type.STRING,
          description: "Complete Python 3 source to run; print the results.",
        },
      },
      required: ["code"],
    },
  };
}

export function systemInstruction(codeExecution: boolean): string {
  return codeExecution
    ? "You are a helpful assistant. When a question needs calculation or data processing, call " +
        `${TOOL_NAME} with Python code that prints the result, then answer from its output. ` +
        "If the code fails, read the error, fix the code and try again."
    : "You are a helpful assistant. Code execution is not available; answer directly.";
}

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
  let retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
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

/** Retry-After: delta-seconds or an HTTP date. */
function parseRetryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+(\.\d+)?$/.test(header.trim())) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A protobuf Duration in JSON: "30s", "1.5s". */
function parseDuration(value: string | undefined): number | undefined {
  const match = value ? /^(\d+(?:\.\d+)?)s$/.exec(value) : null;
  return match ? Number(match[1]) * 1000 : undefined;
}

/** A model failure as the user and the model see it, and as the operator's log sees it. */
export interface DescribedModelError {
  type: string;
  /** For people; names no endpoint, key or upstream wording. */
  message: string;
  /** For the log: status, Google's status and message, the network error (URL credentials redacted). */
  detail: string;
}

/**
 * Maps a failed Gemini call to words a user can act on. Upstream wording (which can quote
 * endpoints, proxies or account details) goes to `detail`, for the log only.
 */
export function describeModelError(err: unknown, requestId?: string): DescribedModelError {
  const withId = (message: string) => (requestId ? `${message} (request id ${requestId})` : message);
  const status =
    typeof (err as { status?: unknown })?.status === "number"
      ? (err as { status: number }).status
      : undefined;
  const raw =
    err instanceof ModelHttpError
      ? `HTTP ${err.status}${err.googleStatus ? ` ${err.googleStatus}` : ""}: ${err.detail}`
      : err instanceof ModelUnreachableError
        ? `unreachable: ${err.detail}`
        : err instanceof Error
          ? `${err.name}: ${err.message}`
          : String(err ?? "unknown error");
  const detail = redactCredentials(raw).slice(0, 2000);
  if (status === 429)
    return {
      type: "RateLimited",
      message: withId(
        "The model is rate-limited right now and retries did not help; wait a minute and ask again.",
      ),
      detail,
    };
  if (status === 401 || status === 403)
    return {
      type: "ModelAuth",
      message: withId(
        "The model service refused this server's API key; the operator should check GEMINI_API_KEY.",
      ),
      detail,
    };
  if (status === 404)
    return {
      type: "ModelError",
      message: withId("The configured model is not available; the operator should check GEMINI_MODEL."),
      detail,
    };
  if (status !== undefined && status >= 500)
    return {
      type: "ModelUnavailable",
      message: withId("The model service failed; try again in a moment."),
      detail,
    };
  if (status !== undefined)
    return {
      type: "ModelError",
      message: withId("The model service could not handle this request; rephrase the question or try again."),
      detail,
    };
  if (err instanceof ModelUnreachableError)
    return {
      type: "ModelUnavailable",
      message: withId("The model service could not be reached; try again in a moment."),
      detail,
    };
  return {
    type: "InternalError",
    message: withId("Something went wrong while answering; try again."),
    detail,
  };
}

export function createGeminiModel(config: BackendConfig): ModelStream | undefined {
  if (!config.geminiApiKey) return undefined;
  const ai = new GoogleGenAI({
    apiKey: config.geminiApiKey,
    httpOptions: {
      ...(config.geminiBaseUrl ? { baseUrl: config.geminiBaseUrl } : {}),
      fetch: errorAwareFetch,
    },
  });
  return ({ contents, config: generation }) =>
    ai.models.generateContentStream({ model: config.geminiModel, contents, config: generation });
}
