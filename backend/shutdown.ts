/**
 * Graceful stop, as docs/operate.md documents it:
 *
 *  1. draining (`drainMs`): /readyz answers 503 so load balancers stop routing here, while
 *     everything that still arrives is served (routing updates take a few seconds);
 *  2. stopping: the listener closes (new connections are refused), idle kept-alive
 *     connections are closed, requests on busy ones get 503 ServerShuttingDown, and the work
 *     in flight may finish until `graceMs` after the start;
 *  3. then what is still running is stopped and answered: chat streams with an `error` event
 *     (ServerShuttingDown) and `done`, /api/execute with 503 ServerShuttingDown (the sandbox
 *     invocation is aborted); connections are closed once those answers are written.
 *
 * `now` (a second Ctrl-C) skips the waiting: everything is answered and closed at once.
 */
import type { FastifyInstance } from "fastify";
import { abortableSleep } from "./abortable-sleep";

export interface ShutdownOptions {
  drainMs: number;
  graceMs: number;
  /** Aborting it ends the waiting at once. */
  now?: AbortSignal;
}

export const SHUTTING_DOWN = {
  type: "ServerShuttingDown",
  message: "The server is restarting; ask again in a moment.",
};

/** How long the answers to stopped work get to be written before connections are cut. */
const FLUSH_MS = 2000;

export async function closeGracefully(app: FastifyInstance, options: ShutdownOptions): Promise<void> {
  const ctx = app.backend;
  if (ctx.phase !== "serving") return;
  const started = Date.now();
  const graceMs = Math.max(0, options.graceMs);
  ctx.phase = "draining";
  await abortableSleep(Math.min(options.drainMs, graceMs), options.now);
  // Waits below end early when their condition is met; their timers must not outlive them.
  const settled = new AbortController();
  const until = (ms: number, also?: AbortSignal) =>
    abortableSleep(ms, also ? AbortSignal.any([settled.signal, also]) : settled.signal);

  ctx.phase = "stopping";
  const closed = new Promise<void>((resolve) => app.server.close(() => resolve()));
  app.server.closeIdleConnections();
  const left = graceMs - (Date.now() - started);
  if (ctx.inFlight.size > 0 && left > 0 && !options.now?.aborted)
    await Promise.race([ctx.idle(), until(left, options.now)]);
  if (ctx.inFlight.size > 0) {
    ctx.work.stop(SHUTTING_DOWN);
    await Promise.race([ctx.idle(), until(FLUSH_MS)]);
  }
  settled.abort();
  app.server.closeAllConnections();
  await closed;
  await app.close();
}
