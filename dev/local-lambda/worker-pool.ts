/**
 * The local runtime's warm Python workers (dev/local-lambda/worker.py): each imports the handler
 * once and serves one invocation at a time, as Lambda execution environments do. A worker
 * that dies is replaced; a job it never acknowledged goes back to the queue, so no invocation
 * is lost to a worker that died before it read it.
 */
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { Readable, Writable } from "node:stream";

const WORKER_SCRIPT = path.join(__dirname, "worker.py");

export interface FunctionError {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}
export type InvokeOutcome = { ok: true; payload: string } | ({ ok: false } & FunctionError);

export interface Job {
  requestId: string;
  /** The invocation event, as JSON (serialised once, where the request was read). */
  eventJson: string;
  resolve(outcome: InvokeOutcome): void;
  /** Set once the worker has read the request: from then on a crash is the invocation's. */
  acknowledged?: boolean;
  /** Set when the client went away: the job is dropped or its worker stopped. */
  cancelled?: boolean;
}

/** One warm Python process in its own process group; replaced when it crashes or is killed. */
export class Worker {
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
    // detached: its own process group, so a terminal's Ctrl-C reaches only this process (which
    // stops the workers itself) and stopping a worker can kill its whole group.
    this.process = spawn(python, [WORKER_SCRIPT], {
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
    });
    forwardLines(this.process.stdout!, pool.log);
    forwardLines(this.process.stderr!, pool.log);
    (this.process.stdio[3] as Writable).on("error", () => undefined); // a dead worker: its exit answers
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
          let message: { ready?: boolean; started?: number } & InvokeOutcome;
          try {
            message = JSON.parse(line) as { ready?: boolean; started?: number } & InvokeOutcome;
          } catch {
            // A broken protocol line means a broken worker: replace it (its exit answers the job).
            pool.log(`sandbox worker ${this.process.pid} wrote an unreadable protocol line; restarting it`);
            this.stop();
            return;
          }
          if (message.ready) {
            started = true;
            this.isReady = true;
            resolve();
          } else if (message.started !== undefined) {
            if (this.busy) this.busy.acknowledged = true;
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
        clearTimeout(this.timer);
        if (!started)
          reject(
            new Error(
              `the sandbox worker (${python}) exited before it was ready (${signal ? `signal ${signal}` : `exit status ${code}`}); check that ${python} is CPython 3.11 or later`,
            ),
          );
        const job = this.busy;
        if (job && !job.acknowledged && !job.cancelled) {
          this.busy = undefined;
          pool.requeue(job); // it never ran: give it to another worker
        } else {
          this.finish({
            ok: false,
            errorType: "Runtime.ExitError",
            errorMessage: `RequestId: ${job?.requestId ?? "-"} Error: Runtime exited with error: ${signal ? `signal: ${signal}` : `exit status ${code}`}`,
          });
        }
        pool.replace(this);
      });
    });
  }

  run(job: Job, timeoutMs: number): void {
    this.busy = job;
    const request = JSON.stringify({
      id: ++this.nextId,
      requestId: job.requestId,
      deadlineMs: Date.now() + timeoutMs,
      functionName: this.pool.functionName,
    });
    // The event goes in as the JSON it already is: `{...rest, "event": <event>}`.
    (this.process.stdio[3] as Writable).write(`${request.slice(0, -1)},"event":${job.eventJson}}\n`);
    // Lambda's own function timeout: the environment is killed and replaced.
    this.timer = setTimeout(() => {
      this.finish({
        ok: false,
        errorType: "Sandbox.Timedout",
        errorMessage: `${new Date().toISOString()} ${job.requestId} Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
      });
      this.stop();
    }, timeoutMs);
  }

  /** SIGKILL the worker's process group: the worker, its zygote (whose children follow it). */
  stop(): void {
    const pid = this.process.pid;
    if (pid === undefined || this.process.exitCode !== null || this.process.signalCode !== null) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      this.process.kill("SIGKILL");
    }
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
export class WorkerPool {
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
    // Only a worker that said it is ready and whose exit has not been seen may get a job; one
    // that died unseen gives it back (requeue) because it never acknowledged it.
    const idle = this.workers.find((w) => w.isReady && !w.busy && !w.dead);
    if (idle) {
      idle.run(job, this.functionTimeoutMs);
      return true;
    }
    if (this.queue.length >= this.maxQueue) return false;
    this.queue.push(job);
    return true;
  }

  /** A job whose worker died before reading it goes first in line. */
  requeue(job: Job): void {
    if (this.closed) return job.resolve(shutdownOutcome());
    const idle = this.workers.find((w) => w.isReady && !w.busy && !w.dead);
    if (idle) idle.run(job, this.functionTimeoutMs);
    else this.queue.unshift(job);
  }

  next(worker: Worker): void {
    if (worker.busy || worker.dead || !worker.isReady) return;
    let job = this.queue.shift();
    while (job?.cancelled) job = this.queue.shift();
    if (job) worker.run(job, this.functionTimeoutMs);
  }

  /** The client that sent `job` went away: drop it if queued, stop its worker if running. */
  cancel(job: Job): void {
    job.cancelled = true;
    const index = this.queue.indexOf(job);
    if (index >= 0) return void this.queue.splice(index, 1);
    this.workers.find((w) => w.busy === job)?.stop();
  }

  replace(dead: Worker): void {
    const index = this.workers.indexOf(dead);
    if (index < 0 || this.closed) return;
    const fresh = new Worker(this, this.python, this.env);
    this.workers[index] = fresh;
    fresh.ready.then(
      () => this.next(fresh),
      (err: Error) => {
        if (!this.closed) this.log(String(err.message));
      },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve(shutdownOutcome());
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.dead || w.process.exitCode !== null || w.process.signalCode !== null) return resolve();
            w.process.once("exit", () => resolve());
            w.stop();
          }),
      ),
    );
  }
}

function shutdownOutcome(): InvokeOutcome {
  return { ok: false, errorType: "Runtime.Shutdown", errorMessage: "the local sandbox is shutting down" };
}
