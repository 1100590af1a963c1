/**
 * Failed model calls, the same for every provider: each provider maps its SDK's errors to a
 * ModelError of one kind, with a message for people that says what to change (which
 * variable, which model access to enable) and a detail for the operator's log. The chat loop
 * reads only the kind (to retry or not), the server's retry hint and the status (metrics).
 */
import { redactCredentials } from "../config";

export type ModelErrorKind =
  /** 429, ThrottlingException: retried with backoff, honouring the server's hint. */
  | "rate-limited"
  /** 5xx, overloaded, model not ready, timed out upstream: retried like a rate limit. */
  | "unavailable"
  /** No connection at all (refused, DNS, TLS): the endpoint setting is named, not retried. */
  | "unreachable"
  /** The key or the AWS credentials were refused, or the model may not be used by them. */
  | "auth"
  /** The configured model does not exist (or not at this endpoint or in this region). */
  | "model-not-found"
  /** The model does not offer what the backend needs (tool use, streaming). */
  | "model-unsupported"
  /** A content filter or guardrail refused the question or stopped the answer. */
  | "content-filter"
  /** The conversation is longer than the model accepts. */
  | "context-too-long"
  /** The model's answer broke the protocol (a malformed call, a cut-off stream). */
  | "bad-response"
  /** Any other refusal of the request. */
  | "rejected";

/** The `error` event's type for each kind. */
const USER_TYPES: Record<ModelErrorKind, string> = {
  "rate-limited": "RateLimited",
  unavailable: "ModelUnavailable",
  unreachable: "ModelUnavailable",
  auth: "ModelAuth",
  "model-not-found": "ModelNotFound",
  "model-unsupported": "ModelNotSupported",
  "content-filter": "SafetyBlocked",
  "context-too-long": "ContextTooLong",
  "bad-response": "ModelError",
  rejected: "ModelError",
};

export class ModelError extends Error {
  /** The `error` event's type. */
  readonly userType: string;
  /** The HTTP status of the failed call, when there was one (metrics). */
  readonly status: number | undefined;
  /** How long the server asked us to wait before trying again. */
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly kind: ModelErrorKind,
    /** For people: what happened and what to change; names no endpoint, key or upstream wording. */
    readonly userMessage: string,
    /** For the operator's log: the provider's own error, URL credentials redacted. */
    detail: string,
    options: { status?: number; retryAfterMs?: number } = {},
  ) {
    super(redactCredentials(detail).slice(0, 2000));
    this.name = "ModelError";
    this.userType = USER_TYPES[kind];
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  get detail(): string {
    return this.message;
  }

  /** Worth asking again after a backoff (if nothing of the answer was streamed yet). */
  get retryable(): boolean {
    return this.kind === "rate-limited" || this.kind === "unavailable";
  }
}

/** Retry hints: `retry-after-ms`, then `Retry-After` (delta-seconds or an HTTP date). */
export function retryAfterFrom(get: (name: string) => string | null | undefined): number | undefined {
  const ms = get("retry-after-ms")?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Number(ms);
  const header = get("retry-after")?.trim();
  if (!header) return undefined;
  if (/^\d+(\.\d+)?$/.test(header)) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The network error code (ECONNREFUSED, ENOTFOUND, ...) anywhere in an error's cause chain. */
export function networkErrorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 6; depth++) {
    if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** An error's own words, with its cause's, for the log. */
export function describeRaw(err: unknown): string {
  if (!(err instanceof Error)) return String(err ?? "unknown error");
  const cause = (err as { cause?: unknown }).cause;
  const causeText =
    cause instanceof Error
      ? ` (cause: ${(cause as { code?: string }).code ?? cause.name}: ${cause.message})`
      : "";
  return `${err.name}: ${err.message}${causeText}`;
}

/** Phrases with which Gemini, OpenAI-compatible servers and Bedrock say the input is too long. */
export const CONTEXT_TOO_LONG =
  /context[_ ]length|context window|maximum context|too many (input )?tokens|input is too long|prompt is too long|too long for (the )?(requested )?model|reduce the length|exceeds the maximum number of tokens|input token count/i;

/** The words every provider uses for the failures that need no provider-specific advice. */
export const MESSAGES = {
  rateLimited: "The model is rate-limited right now and retries did not help; wait a minute and ask again.",
  unavailable: "The model service failed; try again in a moment.",
  rejected: "The model service could not handle this request; rephrase the question or try again.",
  unknown: "Something went wrong while asking the model; try again.",
  cutOff: "The model's answer stopped before it was complete; ask again.",
  malformedCall: "The model produced a malformed code call; ask again.",
  contextTooLong:
    "The conversation is longer than the model accepts; start a new chat or ask a shorter question " +
    "(the operator can lower MODEL_HISTORY_CHARS or choose a model with a longer context).",
  unreachable:
    "The model service could not be reached; try again in a moment. If it persists, the operator should check ",
} as const;

/** A filter or guardrail stopped the answer: `why` is the API's own reason (`finish reason SAFETY`). */
export function stoppedByFilter(why: string): ModelError {
  return new ModelError(
    "content-filter",
    `The model stopped its answer (${why}). Rephrase the question and try again.`,
    why,
  );
}
