import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import { sendError } from "./errors";

/**
 * A per-replica limit on concurrent work (open chat streams, sandbox invocations in flight):
 * `tryAcquire` refuses when full (the route answers 503 with Retry-After), `acquire` waits in
 * line (first come, first served) until a slot frees or its signal aborts. A slot is given
 * back by calling the release function it came with, once; further calls do nothing.
 */
export class Capacity {
  private used = 0;
  private readonly waiting: { grant: (release: () => void) => void }[] = [];

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  get queued(): number {
    return this.waiting.length;
  }

  tryAcquire(): (() => void) | undefined {
    if (this.used >= this.limit) return undefined;
    this.used++;
    return this.releaser();
  }

  /** Resolves with a release function; rejects with the signal's reason when it aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const entry = {
        grant: (release: () => void) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next in line: `used` stays the same.
      if (next) next.grant(this.releaser());
      else this.used--;
    };
  }
}

/**
 * A route's onRequest hook that holds one slot of `capacity` for the whole life of the
 * request, taken before its body is read (so a flood of uploads is bounded too) and given
 * back when its response ends or its client leaves; when none is free, 503 ServerBusy with
 * Retry-After.
 */
export function holdSlot(capacity: () => Capacity, busyMessage: () => string, retryAfterSeconds: number) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const release = capacity().tryAcquire();
    if (release) {
      reply.raw.once("close", release);
      return done();
    }
    request.logFields["outcome"] = "busy";
    sendError(reply, "ServerBusy", busyMessage(), { "retry-after": String(retryAfterSeconds) });
  };
}
