/**
 * Runs code in the sandbox Lambda (CONTRACT section 1) and returns its response. Knows no
 * model and no HTTP. Every failure, the sandbox's or the way to it, comes back as a
 * contract-shaped result (`ok: false`, `error: {type, message}`), never as an exception:
 * throttling is retried with backoff first; a function error becomes `SandboxError`; a
 * sandbox that cannot be reached becomes `SandboxUnavailable`.
 */
import { abortableSleep } from "./abortable-sleep";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { BackendConfig } from "./config";

export interface SandboxError {
  type: string;
  message: string;
  traceback?: string | null;
}

/** The sandbox response (CONTRACT section 1). */
export interface SandboxResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  result: string | null;
  error: SandboxError | null;
  truncated: boolean;
  durationMs: number;
}

export interface ExecuteOptions {
  /** Stops waiting (and further retries) when aborted. */
  signal?: AbortSignal;
}

export interface SandboxClient {
  execute(code: string, options?: ExecuteOptions): Promise<SandboxResult>;
}

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

  async function invokeOnce(code: string, signal?: AbortSignal): Promise<SandboxResult> {
    const started = performance.now();
    const response = await lambda.send(
      new InvokeCommand({
        FunctionName: config.codeExecutorFunction,
        InvocationType: "RequestResponse",
        Payload: Buffer.from(JSON.stringify({ code, timeoutMs: config.sandboxTimeoutMs })),
      }),
      { abortSignal: signal },
    );
    const elapsed = performance.now() - started;
    const text = response.Payload ? Buffer.from(response.Payload).toString("utf8") : "";
    if (response.FunctionError) {
      // A broken sandbox (CONTRACT: never bad user code): say what the function said.
      let detail = text;
      try {
        const parsed = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        detail = [parsed.errorType, parsed.errorMessage].filter(Boolean).join(": ") || text;
      } catch {
        /* not JSON: keep the raw text */
      }
      return failure(
        "SandboxError",
        `The sandbox function failed (${response.FunctionError}): ${detail}`,
        elapsed,
      );
    }
    return parseSandboxResponse(text, elapsed);
  }

  return {
    async execute(code, { signal } = {}) {
      for (let attempt = 1; ; attempt++) {
        const started = performance.now();
        try {
          return await invokeOnce(code, signal);
        } catch (err) {
          const elapsed = performance.now() - started;
          const name = (err as { name?: string }).name ?? "";
          if (signal?.aborted) return failure("Aborted", "The execution was cancelled.", elapsed);
          if (isConnectionReset(err) && attempt < maxAttempts) continue;
          if (THROTTLING.has(name)) {
            if (attempt < maxAttempts) {
              await abortableSleep(retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random()), signal);
              continue;
            }
            return failure(
              "Throttled",
              `The sandbox is busy (${name} after ${attempt} attempts); try again shortly.`,
              elapsed,
            );
          }
          return failure("SandboxUnavailable", describeInvokeError(err, config), elapsed);
        }
      }
    },
  };
}

/** Validates a sandbox payload; anything not shaped like the contract is a SandboxError. */
export function parseSandboxResponse(text: string, elapsedMs: number): SandboxResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return failure("SandboxError", "The sandbox answered something that is not JSON.", elapsedMs);
  }
  const r = parsed as Partial<SandboxResult> | null;
  if (
    r === null ||
    typeof r !== "object" ||
    typeof r.ok !== "boolean" ||
    typeof r.stdout !== "string" ||
    typeof r.stderr !== "string"
  )
    return failure("SandboxError", "The sandbox answered JSON that is not a sandbox response.", elapsedMs);
  const error =
    r.error && typeof r.error === "object" && typeof r.error.type === "string"
      ? {
          type: r.error.type,
          message: String(r.error.message ?? ""),
          ...(r.error.traceback !== undefined ? { traceback: r.error.traceback } : {}),
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

function describeInvokeError(err: unknown, config: BackendConfig): string {
  const e = err as { name?: string; message?: string; code?: string };
  const where = config.lambdaEndpoint
    ? `at ${config.lambdaEndpoint}`
    : `${config.codeExecutorFunction} in ${config.awsRegion}`;
  const what = [e.name, e.code, e.message].filter(Boolean).join(": ");
  return `The sandbox ${where} could not be reached (${what || "unknown error"}).`;
}

function failure(type: string, message: string, elapsedMs: number): SandboxResult {
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
