/**
 * The local Lambda runtime: the real AWS Lambda Invoke HTTP API on loopback, backed by a small
 * pool of warm Python workers (worker-pool.ts). The backend and the scripts talk to it with the
 * real @aws-sdk/client-lambda through AWS_ENDPOINT_URL_LAMBDA.
 *
 * It runs code for whoever can send it a request, so it answers only what the AWS SDK sends:
 * a request signed with SigV4 (or carrying a JSON content type, which no web page can send
 * cross-origin without a preflight this server never grants), addressed to a loopback host
 * name (no DNS rebinding), without a browser's Origin header. The workers get an explicit
 * minimal environment: never the caller's keys.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import { DEFAULT_NAMES } from "../../contract/names";
import { SANDBOX_ENV, SANDBOX_LIMITS } from "../../contract/sandbox";
import { InvokeOutcome, Job, WorkerPool } from "./worker-pool";

export const DEFAULT_FUNCTION_NAME = DEFAULT_NAMES.functionName;
/** Lambda's synchronous invocation payload limit. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
/** What the workers inherit from this process: enough to run Python, nothing secret. */
const INHERITED_VARIABLES = ["PATH", "LANG", "LC_ALL", "TZ"];

export interface LocalSandboxOptions {
  /** TCP port; 0 picks a free one. Default: 0. */
  port?: number;
  /** Interface to bind. Default: 127.0.0.1. */
  host?: string;
  /** Warm workers (concurrent invocations). Default: 2. */
  workers?: number;
  /** Python interpreter. Default: python3. */
  python?: string;
  /** The function's environment: SANDBOX_* variables (the only variables the workers get besides PATH and the locale). */
  env?: Record<string, string>;
  /** Function name served (an ARN of it is accepted too). Default: co-intelligence-code-executor. */
  functionName?: string;
  /** Invocations waiting for a worker before new ones are throttled (429). Default: 16 per worker. */
  maxQueue?: number;
  /** Where the workers' log lines go. Default: this process's stderr. */
  log?: (line: string) => void;
}

export interface LocalSandbox {
  url: string;
  port: number;
  /** The warm workers' process ids (each leads its own process group). */
  workerPids(): number[];
  close(): Promise<void>;
}

/** The workers' environment: PATH and locale from here, the function's variables, nothing else. */
export function workerEnvironment(functionEnv: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    INHERITED_VARIABLES.filter((name) => process.env[name] !== undefined).map((name) => [
      name,
      process.env[name],
    ]),
  );
  return {
    ...inherited,
    ...functionEnv,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE:
      functionEnv.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? String(SANDBOX_LIMITS.functionMemoryMb.default),
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONUNBUFFERED: "1",
  };
}

function functionTimeoutMs(env: Record<string, string>): number {
  const sandbox = Number(env[SANDBOX_ENV.timeoutMs]);
  const base = Number.isInteger(sandbox) && sandbox > 0 ? sandbox : SANDBOX_LIMITS.timeoutMs.default;
  return base + 10000;
}

/** Accepts `name`, `name:$LATEST`, `account:function:name` and `arn:aws:lambda:region:account:function:name[:$LATEST]`. */
export function matchesFunction(requested: string, functionName: string): boolean {
  const parts = requested.split(":");
  if (parts.length === 1) return requested === functionName;
  if (parts.length === 2) return parts[0] === functionName && parts[1] === "$LATEST"; // name:qualifier
  const at = parts.indexOf("function");
  if (at < 0 || parts[at + 1] !== functionName) return false;
  const qualifier = parts.slice(at + 2);
  return qualifier.length === 0 || (qualifier.length === 1 && qualifier[0] === "$LATEST");
}

function sendError(res: http.ServerResponse, status: number, type: string, message: string): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const body = JSON.stringify({ Type: "User", Message: message, message });
  res.writeHead(status, {
    "Content-Type": "application/json",
    "x-amzn-ErrorType": type,
    "x-amzn-RequestId": randomUUID(),
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/** Why a request is not one the AWS SDK would send here, or undefined when it is. */
export function refusal(req: http.IncomingMessage, boundHost: string): [number, string, string] | undefined {
  const host = req.headers.host ?? "";
  const boundHostHeader = boundHost.includes(":") ? `[${boundHost}]` : boundHost;
  if (!LOOPBACK_HOST.test(host) && host.replace(/:\d+$/, "") !== boundHostHeader)
    return [
      403,
      "AccessDeniedException",
      `Host ${JSON.stringify(host.slice(0, 100))} is not this local runtime's; address it as 127.0.0.1 or localhost`,
    ];
  if (req.headers.origin !== undefined)
    return [
      403,
      "AccessDeniedException",
      "requests from web pages are refused; use the AWS SDK (AWS_ENDPOINT_URL_LAMBDA)",
    ];
  const signed = /^AWS4-HMAC-SHA256 /.test(String(req.headers.authorization ?? ""));
  const json = /^application\/(x-amz-)?json\b/i.test(String(req.headers["content-type"] ?? ""));
  if (!signed && !json)
    return [
      403,
      "MissingAuthenticationTokenException",
      "send a SigV4-signed request (the AWS SDK does) or a JSON content type",
    ];
  return undefined;
}

/** The function name and qualifier of an Invoke request, or why the target is not one. */
function invokeTarget(req: http.IncomingMessage): { name: string; qualifier: string | null } | string {
  let url: URL;
  try {
    url = new URL(req.url ?? "/", "http://localhost");
  } catch {
    return "the request target is not a valid path";
  }
  const match = INVOKE_PATH.exec(url.pathname);
  if (req.method !== "POST" || !match)
    return `Unknown operation ${req.method} ${url.pathname.slice(0, 200)}; this local runtime serves POST /2015-03-31/functions/{name}/invocations`;
  try {
    return { name: decodeURIComponent(match[1]!), qualifier: url.searchParams.get("Qualifier") };
  } catch {
    return "the function name in the path is not valid percent-encoding";
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PAYLOAD_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function handleInvoke(
  pool: WorkerPool,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: { name: string; qualifier: string | null },
): Promise<void> {
  const body = await readBody(req);
  const { name, qualifier } = target;
  if (!matchesFunction(name, pool.functionName) || (qualifier !== null && qualifier !== "$LATEST")) {
    return sendError(
      res,
      404,
      "ResourceNotFoundException",
      `Function not found: arn:aws:lambda:us-east-1:000000000000:function:${name.slice(0, 200)}${qualifier ? `:${qualifier.slice(0, 100)}` : ""}`,
    );
  }
  if (body === undefined) {
    return sendError(
      res,
      413,
      "RequestTooLargeException",
      `Request must be smaller than ${MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
    );
  }
  let eventJson = "{}";
  const text = body.toString("utf8");
  if (text.trim() !== "") {
    try {
      // Parsed, then serialised once for the worker, here: JSON.parse takes any depth but
      // JSON.stringify overflows the stack on ~10^5 nested brackets, so such a payload is
      // refused before a worker is taken (thrown while handing the job over, it left that
      // worker busy with a job nobody answers).
      eventJson = JSON.stringify(JSON.parse(text));
    } catch (err) {
      return sendError(
        res,
        400,
        "InvalidRequestContentException",
        `Could not parse request body into json: ${(err as Error).message}`,
      );
    }
  }
  const invocationType = String(req.headers["x-amz-invocation-type"] ?? "RequestResponse");
  if (!["RequestResponse", "Event", "DryRun"].includes(invocationType)) {
    return sendError(
      res,
      400,
      "InvalidParameterValueException",
      `Invalid invocation type ${invocationType.slice(0, 50)}: use RequestResponse, Event or DryRun`,
    );
  }
  const requestId = randomUUID();
  const common = { "x-amzn-RequestId": requestId, "X-Amz-Executed-Version": "$LATEST" };
  if (invocationType === "DryRun") {
    res.writeHead(204, common);
    return void res.end();
  }
  let job: Job | undefined;
  const outcome = new Promise<InvokeOutcome>((resolve) => {
    job = { requestId, eventJson, resolve };
  });
  if (!pool.submit(job!)) return sendError(res, 429, "TooManyRequestsException", "Rate Exceeded.");
  if (invocationType === "Event") {
    res.writeHead(202, common);
    return void res.end();
  }
  // A client that goes away (an aborted SDK call) takes its execution with it.
  res.on("close", () => {
    if (!res.writableFinished) pool.cancel(job!);
  });
  const result = await outcome;
  if (res.destroyed) return;
  if (result.ok) {
    res.writeHead(200, {
      ...common,
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(result.payload),
    });
    return void res.end(result.payload);
  }
  const payload = JSON.stringify({
    errorMessage: result.errorMessage,
    errorType: result.errorType,
    requestId,
    stackTrace: result.stackTrace ?? [],
  });
  res.writeHead(200, {
    ...common,
    "Content-Type": "application/json",
    "X-Amz-Function-Error": "Unhandled",
    "Content-Length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

/** Start the local Lambda runtime; resolves once every worker has imported the handler. */
export async function startLocalSandbox(opts: LocalSandboxOptions = {}): Promise<LocalSandbox> {
  const host = opts.host ?? "127.0.0.1";
  const workers = opts.workers ?? 2;
  if (!Number.isInteger(workers) || workers < 1 || workers > 64)
    throw new Error(`workers must be an integer from 1 to 64, got ${workers}`);
  const log = opts.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const pool = new WorkerPool(
    workers,
    opts.python ?? "python3",
    workerEnvironment(opts.env),
    opts.functionName ?? DEFAULT_FUNCTION_NAME,
    opts.maxQueue ?? 16 * workers,
    functionTimeoutMs(opts.env ?? {}),
    log,
  );
  try {
    await pool.start();
  } catch (err) {
    await pool.close();
    throw err;
  }
  const server = http.createServer((req, res) => {
    const refused = refusal(req, host);
    const target = refused ? undefined : invokeTarget(req);
    if (refused || typeof target === "string") {
      req.resume();
      const [status, type, message] = refused ?? [404, "UnknownOperationException", target as string];
      return sendError(res, status, type, message);
    }
    handleInvoke(pool, req, res, target!).catch((err: Error) =>
      sendError(res, 500, "ServiceException", `the local runtime failed: ${err.message}`),
    );
  });
  // A malformed request line or header is answered 400 by Node; a broken socket just closes.
  server.on("clientError", (_err, socket) => {
    if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    workerPids: () =>
      pool.workers.map((w) => w.process.pid).filter((pid): pid is number => pid !== undefined),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}
