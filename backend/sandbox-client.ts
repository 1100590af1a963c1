/**
 * Runs code in the sandbox Lambda (CONTRACT section 1) and returns its response. Knows no
 * model and no HTTP. Every failure, the sandbox's or the way to it, comes back as a
 * contract-shaped result (`ok: false`, `error: {type, message}`), never as an exception:
 * throttling is retried with backoff first; a function error becomes a message a person can
 * act on (`Runtime.ExitError` -> "the sandbox's process stopped..."); a sandbox that cannot be
 * reached becomes `SandboxUnavailable`. What only an operator should read (endpoints, AWS
 * account and role names, the runtime's own words) is returned beside the result as `detail`,
 * for the log, never inside it: the result goes to clients and to the model.
 */
import { abortableSleep } from "./abortable-sleep";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { KnownErrorType, SandboxRequest, SandboxResponse } from "../contract/sandbox";
import { redactCredentials, type BackendConfig } from "./config";
import { cleanErrorType } from "./error-types";

/** The sandbox response (CONTRACT section 1), as every execution ends: the sandbox's, or the backend's own. */
export type SandboxResult = SandboxResponse;

/** One execution: the contract's response, and what went wrong for the operator's log. */
export interface Execution {
  result: SandboxResult;
  /** The raw reason of a failure (redacted of URL credentials): logs only. */
  detail?: string;
}

export interface ExecuteOptions {
  /** Aborts the invocation (its HTTP request to Lambda) and further retries. */
  signal?: AbortSignal;
  /** Named in failure messages so a user can quote it and an operator find the log line. */
  requestId?: string;
}

export interface SandboxClient {
  execute(code: string, options?: ExecuteOptions): Promise<Execution>;
}

/** Longest error message and traceback passed on (user code chooses them). */
const MAX_ERROR_MESSAGE_CHARS = 8192;
const MAX_TRACEBACK_CHARS = 16384;

/** Error names the Lambda API uses for "slow down". */
const THROTTLING = new Set([
  "TooManyRequestsException",
  "ThrottlingException",
  "Throttling",
  "EC2ThrottledException",
  "ProvisionedThroughputExceededException",
]);

/**
 * A kept-alive connection the server closed just as a request went out: the request never
 * reached the function, so sending it again is safe (and the SDK's own retries, which would
 * do the same, are off).
 */
function isConnectionReset(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  return (
    ["ECONNRESET", "EPIPE"].includes(e.code ?? "") ||
    /\b(ECONNRESET|EPIPE|socket hang up)\b/.test(e.message ?? "")
  );
}

export interface SandboxClientOptions {
  /** Invoke attempts when throttled, the first included. Default 4. */
  maxAttempts?: number;
  /** First backoff delay in ms, doubled per attempt (with jitter). Default 200. */
  retryBaseMs?: number;
  /** Injected for tests; defaults to a LambdaClient built from the config. */
  lambda?: Pick<LambdaClient, "send">;
}

export function createLambdaClient(config: BackendConfig): LambdaClient {
  // An explicit endpoint (AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL from *our* parsed env,
  // which may not be process.env when started by tests) and, for local sandboxes and
  // emulators that ignore signatures, placeholder credentials when none are configured.
  const credentials =
    config.awsCredentials ??
    (config.lambdaEndpoint ? { accessKeyId: "local", secretAccessKey: "local" } : undefined);
  return new LambdaClient({
    region: config.awsRegion,
    ...(config.lambdaEndpoint ? { endpoint: config.lambdaEndpoint } : {}),
    ...(credentials ? { credentials } : {}),
    // Throttling is retried below, where it is visible and bounded; the SDK's own retries
    // would hide it and multiply the wait.
    maxAttempts: 1,
    // The function may run up to its timeout; do not give up on the socket before it.
    requestHandler: { requestTimeout: config.sandboxTimeoutMs + 15000, connectionTimeout: 5000 },
  });
}

export function createSandboxClient(
  config: BackendConfig,
  options: SandboxClientOptions = {},
): SandboxClient {
  const lambda = options.lambda ?? createLambdaClient(config);
  const maxAttempts = options.maxAttempts ?? 4;
  const retryBaseMs = options.retryBaseMs ?? 200;

  async function invokeOnce(code: string, options: ExecuteOptions): Promise<Execution> {
    const { signal, requestId } = options;
    const started = performance.now();
    const response = await lambda.send(
      new InvokeCommand({
        FunctionName: config.codeExecutorFunction,
        InvocationType: "RequestResponse",
        Payload: Buffer.from(
          JSON.stringify({ code, timeoutMs: config.sandboxTimeoutMs } satisfies SandboxRequest),
        ),
      }),
      { abortSignal: signal },
    );
    const elapsed = performance.now() - started;
    const text = response.Payload ? Buffer.from(response.Payload).toString("utf8") : "";
    const invocation = response.$metadata?.requestId;
    if (response.FunctionError) {
      // A broken sandbox (CONTRACT: never bad user code). The user gets words for people, the
      // log gets what the function said.
      let errorType: string | undefined;
      let errorMessage = text;
      try {
        const parsed = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        errorType = parsed.errorType;
        errorMessage = parsed.errorMessage ?? text;
      } catch {
        /* not JSON: keep the raw text */
      }
      const { type, message } = describeFunctionError(errorType, errorMessage, requestId);
      return {
        result: failedResult(type, message, elapsed),
        detail: capDetail(
          `function error (${response.FunctionError}) in invocation ${invocation ?? "?"}: ${[errorType, errorMessage].filter(Boolean).join(": ")}`,
        ),
      };
    }
    return { result: parseSandboxResponse(text, elapsed, requestId) };
  }

  return {
    async execute(code, options = {}) {
      const { signal, requestId } = options;
      const started = performance.now();
      const aborted = (s: AbortSignal): Execution => {
        const reason = abortReason(s);
        return {
          result: failedResult(reason.type, reason.message, performance.now() - started),
          detail: `aborted: ${reason.type}`,
        };
      };
      for (let attempt = 1; ; attempt++) {
        if (signal?.aborted) return aborted(signal);
        try {
          return await invokeOnce(code, options);
        } catch (err) {
          const elapsed = performance.now() - started;
          const name = (err as { name?: string }).name ?? "";
          if (signal?.aborted) return aborted(signal);
          if (isConnectionReset(err) && attempt < maxAttempts) continue;
          if (THROTTLING.has(name)) {
            if (attempt < maxAttempts) {
              await abortableSleep(retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random()), signal);
              continue;
            }
            return {
              result: failedResult(
                "Throttled",
                "The code sandbox is busy right now; try again in a few seconds.",
                elapsed,
              ),
              detail: `${name} after ${attempt} attempts`,
            };
          }
          return {
            result: failedResult(
              "SandboxUnavailable",
              withRequestId("The code sandbox could not be reached; try again in a moment.", requestId),
              elapsed,
            ),
            detail: describeInvokeError(err, config),
          };
        }
      }
    },
  };
}

/** A reason an AbortSignal carries in this backend: `{type, message}`, else a plain cancel. */
export function abortReason(signal: AbortSignal): { type: string; message: string } {
  const reason = signal.reason as { type?: unknown; message?: unknown } | undefined;
  return typeof reason?.type === "string" && typeof reason.message === "string"
    ? { type: reason.type, message: reason.message }
    : { type: "Aborted", message: "The execution was cancelled." };
}

/** "... (request id X)" so that a user can quote it and an operator find the log line. */
export function withRequestId(message: string, requestId: string | undefined): string {
  return requestId ? `${message} (request id ${requestId})` : message;
}

/**
 * A function error (the Lambda runtime's or the handler's own failure, never user code) in
 * words a user can act on. The runtime's wording ("RequestId: ... Runtime exited with error:
 * signal: SIGKILL") goes to the log instead.
 */
export function describeFunctionError(
  errorType: string | undefined,
  errorMessage: string,
  requestId?: string,
): { type: KnownErrorType; message: string } {
  const kind = errorType ?? "";
  if (kind === "Runtime.OutOfMemory" || /Runtime exited.*(out of memory|OutOfMemory)/i.test(errorMessage))
    return {
      type: "MemoryLimit",
      message:
        "The code used more memory than the sandbox allows and was stopped. Use less memory and try again.",
    };
  if (kind === "Sandbox.Timedout" || /Task timed out/i.test(errorMessage))
    return {
      type: "Timeout",
      message: "The code ran longer than the sandbox allows and was stopped. Make it faster and try again.",
    };
  if (kind === "Runtime.ExitError")
    return {
      type: "SandboxError",
      message: withRequestId(
        "The sandbox's process stopped while running this code (it crashed or was killed). Run it again; if it happens again, simplify the code.",
        requestId,
      ),
    };
  if (kind === "Runtime.Shutdown")
    return {
      type: "SandboxUnavailable",
      message: "The code sandbox was restarting; run the code again in a moment.",
    };
  return {
    type: "SandboxError",
    message: withRequestId(
      "The code sandbox failed to run this code; try again. If it keeps failing, the operator can look up the request id in the backend's log.",
      requestId,
    ),
  };
}

/**
 * Validates a sandbox payload; anything not shaped like the contract is a SandboxError. The
 * error's type, message and traceback come from user code: the type is cleaned and capped
 * (it becomes a log field), the texts capped.
 */
export function parseSandboxResponse(text: string, elapsedMs: number, requestId?: string): SandboxResult {
  const broken = (what: string) =>
    failedResult(
      "SandboxError",
      withRequestId(`The code sandbox answered ${what}; try again.`, requestId),
      elapsedMs,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return broken("something that is not JSON");
  }
  const r = parsed as Partial<SandboxResult> | null;
  if (
    r === null ||
    typeof r !== "object" ||
    typeof r.ok !== "boolean" ||
    typeof r.stdout !== "string" ||
    typeof r.stderr !== "string"
  )
    return broken("JSON that is not a sandbox response");
  const error =
    r.error && typeof r.error === "object" && typeof r.error.type === "string"
      ? {
          type: cleanErrorType(r.error.type),
          message: cap(String(r.error.message ?? ""), MAX_ERROR_MESSAGE_CHARS),
          ...(r.error.traceback !== undefined
            ? {
                traceback:
                  typeof r.error.traceback === "string" ? cap(r.error.traceback, MAX_TRACEBACK_CHARS) : null,
              }
            : {}),
        }
      : null;
  return {
    ok: r.ok,
    stdout: r.stdout,
    stderr: r.stderr,
    result: typeof r.result === "string" ? r.result : null,
    error,
    truncated: r.truncated === true,
    durationMs: typeof r.durationMs === "number" ? r.durationMs : round(elapsedMs),
  };
}

/** For the operator's log: which function, where, and what the SDK said. */
function describeInvokeError(err: unknown, config: BackendConfig): string {
  const e = err as { name?: string; message?: string; code?: string };
  const where = config.lambdaEndpoint
    ? `at ${config.lambdaEndpoint}`
    : `${config.codeExecutorFunction} in ${config.awsRegion}`;
  const what = [e.name, e.code, e.message].filter(Boolean).join(": ");
  return capDetail(`invoke of ${where} failed: ${what || "unknown error"}`);
}

function cap(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... [${text.length - max} more characters]`;
}

/** Log details: redacted of URL credentials and capped. */
function capDetail(text: string): string {
  return cap(redactCredentials(text), 2000);
}

/** A contract-shaped failure result (`ok: false`, nothing printed). */
export function failedResult(type: string, message: string, elapsedMs: number): SandboxResult {
  return {
    ok: false,
    stdout: "",
    stderr: "",
    result: null,
    error: { type, message },
    truncated: false,
    durationMs: round(elapsedMs),
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
