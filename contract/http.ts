/**
 * The backend's HTTP surface (CONTRACT section 2) as the backend serves it, the Kubernetes
 * objects probe it and the scripts call it: its routes, its default port, the JSON error shape
 * of every non-2xx answer, and which HTTP status each error type is answered with. The status
 * maps are total over their types, so a new type without a status does not compile.
 */
import type { KnownErrorType } from "./sandbox";

export const ROUTES = {
  chat: "/api/chat",
  execute: "/api/execute",
  /** Liveness: 200 while the process runs. */
  health: "/healthz",
  /** Readiness: 200 when configured, 503 with what is missing or while shutting down. */
  ready: "/readyz",
  metrics: "/metrics",
  page: "/",
} as const;

/** `PORT`'s default. */
export const DEFAULT_PORT = 8080;

/**
 * `POST /api/execute` answers a sandbox response; its status says who should act. An outcome
 * of the code (a Python exception, a refusal, a timeout) is 200: the request was served. A
 * request the sandbox calls malformed is the client's 400; a sandbox that cannot be reached or
 * broke is 502; a busy one or a server shutting down is 503 with Retry-After. Any type not
 * named here is a Python exception class of the user's code: 200.
 */
export const EXECUTE_STATUS: {
  readonly [T in KnownErrorType]: { readonly status: number; readonly retryAfterSeconds?: number };
} = {
  InvalidRequest: { status: 400 },
  SyntaxError: { status: 200 },
  ModuleNotAllowed: { status: 200 },
  OperationNotAllowed: { status: 200 },
  Timeout: { status: 200 },
  MemoryLimit: { status: 200 },
  ProcessCrashed: { status: 200 },
  SandboxUnavailable: { status: 502 },
  SandboxError: { status: 502 },
  Throttled: { status: 503, retryAfterSeconds: 2 },
  ServerShuttingDown: { status: 503, retryAfterSeconds: 5 },
  // The client left: nobody is answered. Were it answered, the code's outcome would be 200.
  Aborted: { status: 200 },
};

/** The status (and Retry-After) `/api/execute` answers a response carrying `errorType` with. */
export function executeStatus(errorType: string | undefined): {
  status: number;
  retryAfterSeconds?: number;
} {
  return errorType !== undefined && Object.hasOwn(EXECUTE_STATUS, errorType)
    ? EXECUTE_STATUS[errorType as KnownErrorType]
    : { status: 200 };
}

/** Every error type the HTTP edge answers with (`{"error": {"type", "message"}}`), and its status. */
export const HTTP_ERROR_STATUS = {
  InvalidRequest: 400,
  BadRequest: 400,
  Unauthorized: 401,
  HostNotAllowed: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  TooManyRequests: 429,
  HeadersTooLarge: 431,
  InternalError: 500,
  NotReady: 503,
  ServerBusy: 503,
  ServerShuttingDown: 503,
} as const satisfies Record<string, number>;

export type HttpErrorType = keyof typeof HTTP_ERROR_STATUS;

/** The body of every non-2xx answer. */
export interface ErrorBody {
  error: { type: HttpErrorType; message: string };
}
