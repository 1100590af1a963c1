/**
 * The local Lambda runtime: the real AWS Lambda Invoke HTTP API on loopback, backed by a
 * small pool of warm Python workers (lambda/local/worker.py), each of which imports the
 * handler once and serves one invocation at a time, as Lambda execution environments do.
 * The backend and the scripts talk to it with the real @aws-sdk/client-lambda through
 * AWS_ENDPOINT_URL_LAMBDA.
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { Readable, Writable } from "node:stream";

export const DEFAULT_FUNCTION_NAME = "co-intelligence-code-executor";
/** Lambda's synchronous invocation payload limit. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const WORKER_SCRIPT = path.join(__dirname, "worker.py");
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export interface LocalSandboxOptions {
  /** TCP port; 0 picks a free one. Default: 0. */
  port?: number;
  /** Interface to bind. Default: 127.0.0.1. */
  host?: string;
  /** Warm workers (concurrent invocations). Default: 2. */
  workers?: number;
  /** Python interpreter. Default: python3. */
  python?: string;
  /** SANDBOX_* (or any) variables for the function's environment. */
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
  close(): Promise<void>;
}

interface FunctionError {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}
type InvokeOutcome = { ok: true; payload: string } | ({ ok: false } & FunctionError);

interface Job {
  requestId: string;
  event: unknown;
  resolve(outcome: InvokeOutcome): void;
}

/** One warm Python process; replaced when it crashes or is killed. */
class Worker {
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  busy: Job | undefined;
  dead = false;
  /** Has imported the handler and said so; only then may it be given work. */
  isReady = false;
  private buffer = "";
  private nextId = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: WorkerPool,
    python: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.process = spawn(python, [WORKER_SCRIPT], { env, stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    forwardLines(this.process.stdout!, pool.log);
    forwardLines(this.process.stderr!, pool.log);
    const responses = this.process.stdio[4] as Readable;
    this.ready = new Promise((resolve, reject) => {
      let started = false;
      responses.setEncoding("utf8");
      responses.on("data", (chunk: string) => {
        this.buffer += chunk;
        let newline;
        while ((newline = this.buffer.indexOf("\n")) >= 0) {
          const line = this.buffer.slice(0, newline);
          this.buffer = this.buffer.slice(newline + 1);
          let message: { ready?: boolean } & InvokeOutcome;
          try {
            message = JSON.parse(line) as { ready?: boolean } & InvokeOutcome;
          } catch {
            // A broken protocol line means a broken worker: replace it (its exit answers the job).
            pool.log(`sandbox worker ${this.process.pid} wrote an unreadable protocol line; restarting it`);
            this.process.kill("SIGKILL");
            return;
          }
          if (message.ready) {
            started = true;
            this.isReady = true;
            resolve();
          } else this.finish(message);
        }
      });
      this.process.on("error", (err) =>
        reject(
          new Error(
            `cannot start the sandbox worker with ${python}: ${err.message}; pass --python /path/to/python3.11+`,
          ),
        ),
      );
      this.process.on("exit", (code, signal) => {
        this.dead = true;
        if (!started)
          reject(
            new Error(
              `the sandbox worker (${python}) exited before it was ready (code ${code}, signal ${signal}); run: ${python} ${WORKER_SCRIPT}`,
            ),
          );
        this.finish({
          ok: false,
          errorType: "Runtime.ExitError",
          errorMessage: `RequestId: ${this.busy?.requestId ?? "-"} Error: Runtime exited with error: ${signal ? `signal: ${signal}` : `exit status ${code}`}`,
        });
        pool.replace(this);
      });
    });
  }

  run(job: Job, timeoutMs: number): void {
    this.busy = job;
    const request = {
      id: ++this.nextId,
      requestId: job.requestId,
      event: job.event,
      deadlineMs: Date.now() + timeoutMs,
      functionName: this.pool.functionName,
    };
    (this.process.stdio[3] as Writable).write(JSON.stringify(request) + "\n");
    // Lambda's own function timeout: the environment is killed and replaced.
    this.timer = setTimeout(() => {
      this.finish({
        ok: false,
        errorType: "Sandbox.Timedout",
        errorMessage: `${new Date().toISOString()} ${job.requestId} Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
      });
      this.process.kill("SIGKILL");
    }, timeoutMs);
  }

  private finish(outcome: InvokeOutcome): void {
    const job = this.busy;
    if (!job) return;
    clearTimeout(this.timer);
    this.busy = undefined;
    const { ok } = outcome;
    job.resolve(
      ok
        ? { ok, payload: outcome.payload }
        : {
            ok,
            errorType: outcome.errorType,
            errorMessage: outcome.errorMessage,
            stackTrace: outcome.stackTrace,
          },
    );
    if (!this.dead) this.pool.next(this);
  }
}

function forwardLines(stream: Readable, log: (line: string) => void): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) log(line);
  });
  stream.on("end", () => pending && log(pending));
}

/** The warm workers and the bounded queue in front of them. */
class WorkerPool {
  readonly workers: Worker[] = [];
  private readonly queue: Job[] = [];
  closed = false;

  constructor(
    readonly size: number,
    private readonly python: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly functionName: string,
    readonly maxQueue: number,
    readonly functionTimeoutMs: number,
    readonly log: (line: string) => void,
  ) {}

  start(): Promise<void> {
    for (let i = 0; i < this.size; i++) this.workers.push(new Worker(this, this.python, this.env));
    return Promise.all(this.workers.map((w) => w.ready)).then(() => undefined);
  }

  /** Queue an invocation; false when the queue is full (throttled). */
  submit(job: Job): boolean {
    // A replacement still starting is not idle: giving it a job now and another from the
    // queue once it is ready would lose the first one.
    const idle = this.workers.find((w) => w.isReady && !w.busy && !w.dead);
    if (idle) {
      idle.run(job, this.functionTimeoutMs);
      return true;
    }
    if (this.queue.length >= this.maxQueue) return false;
    this.queue.push(job);
    return true;
  }

  next(worker: Worker): void {
    if (worker.busy || worker.dead || !worker.isReady) return;
    const job = this.queue.shift();
    if (job) worker.run(job, this.functionTimeoutMs);
  }

  replace(dead: Worker): void {
    const index = this.workers.indexOf(dead);
    if (index < 0 || this.closed) return;
    const fresh = new Worker(this, this.python, this.env);
    this.workers[index] = fresh;
    fresh.ready.then(
      () => this.next(fresh),
      (err: Error) => this.log(String(err.message)),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0))
      job.resolve({
        ok: false,
        errorType: "Runtime.Shutdown",
        errorMessage: "the local sandbox is shutting down",
      });
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.dead || w.process.exitCode !== null) return resolve();
            w.process.once("exit", () => resolve());
            w.process.kill("SIGKILL");
          }),
      ),
    );
  }
}

function functionTimeoutMs(env: Record<string, string>): number {
  const sandbox = Number(env.SANDBOX_TIMEOUT_MS);
  const base = Number.isInteger(sandbox) && sandbox > 0 ? sandbox : 30000;
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
  const body = JSON.stringify({ Type: "User", Message: message, message });
  res.writeHead(status, {
    "Content-Type": "application/json",
    "x-amzn-ErrorType": type,
    "x-amzn-RequestId": randomUUID(),
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
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
  requested: string,
  qualifier: string | null,
): Promise<void> {
  const body = await readBody(req);
  if (!matchesFunction(requested, pool.functionName) || (qualifier !== null && qualifier !== "$LATEST")) {
    return sendError(
      res,
      404,
      "ResourceNotFoundException",
      `Function not found: arn:aws:lambda:us-east-1:000000000000:function:${requested}${qualifier ? `:${qualifier}` : ""}`,
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
  let event: unknown = {};
  const text = body.toString("utf8");
  if (text.trim() !== "") {
    try {
      event = JSON.parse(text);
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
      `Invalid invocation type ${invocationType}: use RequestResponse, Event or DryRun`,
    );
  }
  const requestId = randomUUID();
  const common = { "x-amzn-RequestId": requestId, "X-Amz-Executed-Version": "$LATEST" };
  if (invocationType === "DryRun") {
    res.writeHead(204, common);
    return void res.end();
  }
  let accepted = true;
  const outcome = new Promise<InvokeOutcome>((resolve) => {
    accepted = pool.submit({ requestId, event, resolve });
  });
  if (!accepted) return sendError(res, 429, "TooManyRequestsException", "Rate Exceeded.");
  if (invocationType === "Event") {
    res.writeHead(202, common);
    return void res.end();
  }
  const result = await outcome;
  if (!result.ok && result.errorType === "__throttled__")
    return sendError(res, 429, "TooManyRequestsException", "Rate Exceeded.");
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
  const env = { ...process.env, ...(opts.env ?? {}), PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" };
  const log = opts.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const pool = new WorkerPool(
    workers,
    opts.python ?? "python3",
    env,
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
    const url = new URL(req.url ?? "/", "http://localhost");
    const match = INVOKE_PATH.exec(url.pathname);
    if (req.method !== "POST" || !match) {
      req.resume();
      return sendError(
        res,
        404,
        "UnknownOperationException",
        `Unknown operation ${req.method} ${url.pathname}; this local runtime serves POST /2015-03-31/functions/{name}/invocations`,
      );
    }
    handleInvoke(pool, req, res, decodeURIComponent(match[1]!), url.searchParams.get("Qualifier")).catch(
      (err: Error) => {
        if (!res.headersSent) sendError(res, 500, "ServiceException", err.message);
        else res.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}
