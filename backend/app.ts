/**
 * buildApp(config): the fastify instance with every route, testable with `inject`. Routes
 * are plugins (one per concern); cross-cutting pieces (auth, errors, the one log line per
 * request) are root hooks.
 */
import Fastify, { LogController, type FastifyInstance } from "fastify";
import { bearerAuth } from "./auth";
import type { BackendConfig } from "./config";
import type { BackendContext } from "./context";
import { errorHandler, sendError } from "./errors";
import { createGeminiModel, type ModelStream } from "./gemini";
import { createMetrics } from "./metrics";
import { chatRoutes } from "./routes/chat";
import { executeRoutes } from "./routes/execute";
import { healthRoutes } from "./routes/health";
import { metricsRoutes } from "./routes/metrics";
import { pageRoutes } from "./routes/page";
import { createSandboxClient, type SandboxClient } from "./sandbox-client";

/** Request bodies larger than this are refused with 413 (a conversation of 200 long messages fits). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface AppOverrides {
  /** Replace the Lambda-backed sandbox client (unit tests). */
  sandbox?: SandboxClient;
  /** Replace the Gemini client (unit tests); `null` means "no API key". */
  model?: ModelStream | null;
}

export function buildApp(config: BackendConfig, overrides: AppOverrides = {}): FastifyInstance {
  const app = Fastify({
    // JSON lines with the level as a word ("info"), which log queries read more easily than 30.
    logger:
      config.logLevel === "silent"
        ? false
        : { level: config.logLevel, formatters: { level: (label: string) => ({ level: label }) } },
    // One line per request is written by the onResponse hook below (the chat route writes its
    // own, richer one), not fastify's two default lines.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Types are checked, never coerced: {"content": 123} is a 400, not "123".
    ajv: { customOptions: { coerceTypes: false, allErrors: false } },
  });
  const metrics = createMetrics();
  const context: BackendContext = {
    config,
    metrics,
    sandbox: overrides.sandbox ?? createSandboxClient(config),
    model: overrides.model === null ? undefined : (overrides.model ?? createGeminiModel(config)),
    streamsAbort: new AbortController(),
    selfLogged: new WeakSet(),
    closing: false,
    recordExecution(route, id, code, result, seconds) {
      const outcome = result.ok ? "ok" : (result.error?.type ?? "error");
      metrics.codeExecutions.inc({ outcome, route });
      metrics.executionSeconds.observe({ route }, seconds);
      app.log.info(
        {
          route,
          id,
          outcome,
          codeBytes: Buffer.byteLength(code),
          sandboxMs: result.durationMs,
          durationMs: Math.round(seconds * 10000) / 10,
          truncated: result.truncated,
        },
        "code execution",
      );
    },
  };
  app.decorate("backend", context);
  const ctx = context;

  // The API speaks JSON only: a text/plain body is a 415 that says so, not a confusing
  // "body must be object".
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      404,
      "NotFound",
      `No route ${request.method} ${request.url.split("?")[0]}; the API is POST /api/chat and POST /api/execute`,
    ),
  );
  if (config.apiToken) app.addHook("onRequest", bearerAuth(config.apiToken));
  app.addHook("onResponse", async (request, reply) => {
    if (ctx.selfLogged.has(request)) return;
    request.log.info(
      {
        method: request.method,
        url: request.url.split("?")[0],
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime),
      },
      "request",
    );
  });

  app.register(healthRoutes);
  app.register(metricsRoutes);
  app.register(pageRoutes);
  app.register(executeRoutes);
  app.register(chatRoutes);
  return app;
}

/**
 * Graceful stop: /readyz turns 503, the listener stops accepting, open chat streams may finish
 * for `graceMs`, then they are stopped with an error event (and `done`); stragglers are cut.
 */
export async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<void> {
  const ctx = app.backend;
  if (ctx.closing) return;
  ctx.closing = true;
  const stopStreams = setTimeout(() => {
    ctx.streamsAbort.abort({
      type: "ServerShuttingDown",
      message: "The server is restarting; ask again in a moment.",
    });
  }, graceMs);
  const cutConnections = setTimeout(() => app.server.closeAllConnections(), graceMs + 5000);
  try {
    await app.close();
  } finally {
    clearTimeout(stopStreams);
    clearTimeout(cutConnections);
  }
}
