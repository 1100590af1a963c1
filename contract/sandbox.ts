/**
 * The sandbox function's interface (CONTRACT section 1): what an invocation sends and gets back,
 * the error types a response can carry, the limits, and the environment variables that
 * configure the function. The backend, the components, the stack config, the scripts and the
 * tests import it; the Python sandbox keeps its own copy of what it needs (lambda/handler.py,
 * lambda/sandbox/config.py), which tests/infra/sandbox-env-contract.test.ts runs against these
 * values.
 */

/** The invocation event. */
export interface SandboxRequest {
  /** The Python source, at most `SANDBOX_LIMITS.maxCodeBytes` of UTF-8. */
  code: string;
  /** Wall-clock limit of this run; clamped to the function's `SANDBOX_TIMEOUT_MS`. */
  timeoutMs?: number;
}

/** `error` of a response: what stopped the code. */
export interface SandboxError {
  /** One of `SANDBOX_ERROR_TYPES`, or the Python exception class name. */
  type: string;
  message: string;
  traceback?: string | null;
}

/** What the function returns for every outcome of user code. */
export interface SandboxResponse {
  /** True iff the code ran to completion without an exception. */
  ok: boolean;
  stdout: string;
  stderr: string;
  /** `repr()` of a trailing bare expression, else null. */
  result: string | null;
  error: SandboxError | null;
  /** A cap of stdout or stderr was hit. */
  truncated: boolean;
  durationMs: number;
}

/**
 * The error types the sandbox itself names (every other type is a Python exception class of
 * the user's code): the contract's six, and ProcessCrashed for a child that died without a
 * result.
 */
export const SANDBOX_ERROR_TYPES = [
  "InvalidRequest",
  "SyntaxError",
  "ModuleNotAllowed",
  "OperationNotAllowed",
  "Timeout",
  "MemoryLimit",
  "ProcessCrashed",
] as const;
export type SandboxErrorType = (typeof SANDBOX_ERROR_TYPES)[number];

/**
 * The error types the backend answers in the sandbox's shape when the sandbox could not be
 * used (never an outcome of user code): not reachable, broken, busy, the call cancelled, the
 * server stopping.
 */
export const BACKEND_ERROR_TYPES = [
  "SandboxUnavailable",
  "SandboxError",
  "Throttled",
  "Aborted",
  "ServerShuttingDown",
] as const;
export type BackendErrorType = (typeof BACKEND_ERROR_TYPES)[number];

/** Every error type this project names; user code adds its own exception class names. */
export type KnownErrorType = SandboxErrorType | BackendErrorType;

/** The function's environment variables (all optional; each default is in SANDBOX_LIMITS). */
export const SANDBOX_ENV = {
  allowedModules: "SANDBOX_ALLOWED_MODULES",
  timeoutMs: "SANDBOX_TIMEOUT_MS",
  maxOutputBytes: "SANDBOX_MAX_OUTPUT_BYTES",
  memoryMb: "SANDBOX_MEMORY_MB",
} as const;

/** The limits of one invocation: defaults and what the function accepts. */
export const SANDBOX_LIMITS = {
  /** `code` is at most 64 KiB of UTF-8. */
  maxCodeBytes: 64 * 1024,
  /** `SANDBOX_TIMEOUT_MS`: user code's wall-clock limit, and the clamp of `timeoutMs`. */
  timeoutMs: { default: 30_000, min: 1, max: 900_000 },
  /** `SANDBOX_MAX_OUTPUT_BYTES`: cap of stdout and of stderr, each. */
  maxOutputBytes: { default: 65_536, min: 1, max: 6 * 1024 * 1024 },
  /** `SANDBOX_MEMORY_MB`: user code's memory; its default is `defaultSandboxMemoryMb()`. */
  memoryMb: { min: 1, max: 10_240 },
  /** The function's memory when the runtime does not say (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`). */
  functionMemoryMb: { default: 512, min: 512 },
  /**
   * What user code does not get of the function's memory: the Lambda runtime (the handler's
   * process) and the zygote live next to the child in the same budget.
   */
  parentReserveMb: 96,
  /** The least user code is given, however small the function. */
  minSandboxMemoryMb: 64,
} as const;

/**
 * The function's reserved concurrency unless a stack says otherwise: its share of the
 * account's concurrency and its ceiling (the stack deploys it; doctor's throttling fix names it).
 */
export const DEFAULT_RESERVED_CONCURRENCY = 20;

/** `SANDBOX_MEMORY_MB`'s default: "a little under the function's memory". */
export function defaultSandboxMemoryMb(functionMemoryMb: number): number {
  return Math.max(SANDBOX_LIMITS.minSandboxMemoryMb, functionMemoryMb - SANDBOX_LIMITS.parentReserveMb);
}
