/**
 * Every request, from the first byte fastify sees to the closing of its response: it gets an
 * id (the `x-request-id` header, and the `requestId` of every log line about it), it counts as
 * in flight until its response finished or its client left, and it is logged exactly once
 * when that happens: method, path (never the query string), status, duration, client, the
 * route's own fields, and `aborted: true` when the client went away first.
 */
import type { FastifyInstance } from "fastify";
import type { BackendContext } from "./context";
import { CLIENT_ERROR_STATUS, sendError } from "./errors";

const MAX_LOGGED_PATH = 200;

export function trackRequests(app: FastifyInstance, ctx: BackendContext): void {
  const logging = ctx.config.logLevel !== "silent";
  app.decorateRequest("logFields", null as unknown as Record<string, unknown>);
  // Callback-style hooks, here and in the other guards: no promise per request and hook.
  app.addHook("onRequest", (request, reply, done) => {
    request.logFields = {};
    reply.header("x-request-id", request.id);
    if (ctx.closing) reply.header("connection", "close");
    ctx.inFlight.add(request);
    const res = reply.raw;
    res.once("close", () => {
      ctx.inFlight.delete(request);
      if (ctx.inFlight.size === 0) idleWaiters.splice(0).forEach((resolve) => resolve());
      if (!logging) return;
      const socket = request.raw.socket as
        (typeof request.raw.socket & { [CLIENT_ERROR_STATUS]?: number }) | null;
      const refused = socket?.[CLIENT_ERROR_STATUS];
      const aborted = !res.writableFinished && refused === undefined;
      const path = (request.url.split("?")[0] ?? "").replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
      request.log.info(
        {
          method: request.method,
          url: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}...` : path,
          statusCode: refused ?? (res.headersSent ? res.statusCode : null),
          durationMs: Math.round(reply.elapsedTime),
          client: request.ip,
          ...request.logFields,
          // The client left first: a route's own outcome (a chat turn's) was not reached yet
          // when this line is written, and says "aborted", as the route's metric will.
          ...(aborted
            ? { aborted: true, ...("outcome" in request.logFields ? { outcome: "aborted" } : {}) }
            : {}),
        },
        "request",
      );
    });
    done();
  });

  const idleWaiters: (() => void)[] = [];
  ctx.idle = () =>
    ctx.inFlight.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
}

/** Once the server stops taking work, requests that still arrive (kept-alive connections) get a 503. */
export function refuseWhileStopping(app: FastifyInstance, ctx: BackendContext): void {
  app.addHook("onRequest", (_request, reply, done) => {
    if (ctx.phase !== "stopping") return done();
    sendError(reply, "ServerShuttingDown", "The server is restarting; try again in a moment.", {
      "retry-after": "5",
      connection: "close",
    });
  });
}
