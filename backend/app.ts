/**
 * buildApp(config): the fastify instance with every route, testable with `inject`. Routes
 * are plugins (one per concern). What guards them is decided by where a route is registered,
 * never by reading the URL: the /api routes live in one scope whose hooks (rate limit, bearer
 * auth) run for whatever request the router matched to them, however its path was spelled.
 * Cross-cutting pieces (request ids and the one log line per request, the loopback Host
 * check, errors in the contract's shape, shutdown) are root hooks and handlers.
 */
import { randomUUID } from "node:crypto";
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type HookHandlerDoneFunction,
} from "fastify";
import { DEFAULT_PORT } from "../contract/http";
import { bearerAuth, sendUnauthorized, tokenCheck } from "./auth";
import { WorkInFlight } from "./cancellation";
import { Capacity } from "./capacity";
import { isLoopbackHost, type BackendConfig } from "./config";
import type { BackendContext } from "./context";
import { cleanErrorType, executionOutcome } from "./error-types";
import {
  clientErrorHandler,
  errorBody,
  errorHandler,
  frameworkErrorHandler,
  notFoundHandler,
  parseJsonBody,
  recordRoutes,
  sendError,
} from "./errors";
import { loopbackHostGuard, requireHostHeader } from "./host-guard";
import { prettyDestination } from "./log-format";
import { createProvider } from "./providers";
import type { ModelProvider } from "./providers/provider";
import { BODY_LIMIT_BYTES } from "./history";
import { createMetrics } from "./metrics";
import { RateLimiter } from "./rate-limit";
import { refuseWhileStopping, trackRequests } from "./request-lifecycle";
import { chatRoutes } from "./routes/chat";
import { executeRoutes } from "./routes/execute";
import { healthRoutes } from "./routes/health";
import { metricsRoutes } from "./routes/metrics";
import { pageRoutes } from "./routes/page";
import { createSandboxClient, type SandboxClient } from "./sandbox-client";

export interface AppOverrides {
  /** Replace the Lambda-backed sandbox client (unit tests, benchmarks). */
  sandbox?: SandboxClient;
  /** Replace the model provider (unit tests, benchmarks); `null` means "not configured". */
  model?: ModelProvider | null;
  /** Where log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void };
}

export function buildApp(config: BackendConfig, overrides: AppOverrides = {}): FastifyInstance {
  const logFormatting = { level: (label: string) => ({ level: label }) };
  const app = Fastify({
    // JSON lines with the level as a word ("info"), which log queries read more easily than 30;
    // or, for a person at a terminal (npm start), one readable line per event.
    logger:
      config.logLevel === "silent"
        ? false
        : {
            level: config.logLevel,
            formatters: logFormatting,
            ...(overrides.logStream
              ? { stream: overrides.logStream }
              : config.logFormat === "pretty"
                ? { stream: prettyDestination("backend") }
                : {}),
          },
    // One line per request is written when its response closes (request-lifecycle.ts), not
    // fastify's two default lines.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "requestId" }),
    // Request ids are random (several replicas, restarts) and never taken from the client;
    // randomUUID draws from a cached pool (randomBytes per request cost 4 % of its CPU).
    genReqId: () => randomUUID().slice(-12),
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    // Slow clients: the headers within HEADERS_TIMEOUT_MS, the whole request within
    // REQUEST_TIMEOUT_MS (a 1 MiB body at 20 KB/s fits in the default), an idle kept-alive
    // connection closed after KEEP_ALIVE_TIMEOUT_MS (longer than a load balancer's usual 60 s
    // idle timeout, so the balancer closes first). Expired requests are found every second.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      connectionsCheckingInterval: 1000,
      // Checked in host-guard.ts instead, to answer in the contract's shape.
      requireHostHeader: false,
    },
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    // Shutdown answers in the contract's shape (request-lifecycle.ts), not fastify's own 503.
    return503OnClosing: false,
    // Types are checked, never coerced: {"content": 123} is a 400, not "123".
    ajv: { customOptions: { coerceTypes: false, allErrors: false } },
  });
  const metrics = createMetrics();
  const context: BackendContext = {
    config,
    metrics,
    sandbox: overrides.sandbox ?? createSandboxClient(config),
    model:
      overrides.model === null
        ? undefined
        : (overrides.model ?? createProvider(config.model, { awsCredentials: config.awsCredentials })),
    streams: new Capacity(config.maxOpenStreams),
    executions: new Capacity(config.maxConcurrentExecutions),
    work: new WorkInFlight(),
    phase: "serving",
    get closing() {
      return this.phase !== "serving";
    },
    inFlight: new Set(),
    idle: () => Promise.resolve(),
    recordExecution(route, requestId, id, code, execution, seconds) {
      const { result, detail } = execution;
      const errorType = result.error ? cleanErrorType(result.error.type) : undefined;
      const outcome = executionOutcome(result.ok, errorType);
      metrics.codeExecutions.inc({ outcome, route });
      metrics.executionSeconds.observe({ route }, seconds);
      app.log.info(
        {
          requestId,
          route,
          id: String(id).slice(0, 100),
          outcome,
          ...(errorType && errorType !== outcome ? { errorType } : {}),
          codeBytes: Buffer.byteLength(code),
          sandboxMs: result.durationMs,
          durationMs: Math.round(seconds * 10000) / 10,
          truncated: result.truncated,
          ...(detail ? { detail } : {}),
        },
        "code execution",
      );
    },
  };
  app.decorate("backend", context);
  // The provider's connections (Bedrock's HTTP/2 sessions, keep-alive sockets) go with the server.
  app.addHook("onClose", (_instance, done) => {
    context.model?.close?.();
    done();
  });

  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, parseJsonBody);
  // The API speaks JSON only: a text/plain body is a 415 that says so, not a confusing
  // "body must be object".
  app.removeContentTypeParser("text/plain");
  const routes = recordRoutes(app);
  const apiToken = config.apiToken ? tokenCheck(config.apiToken) : undefined;
  const guardApi = apiToken
    ? (request: FastifyRequest, reply: FastifyReply) => {
        const result = apiToken(request);
        return result === "ok" ? undefined : sendUnauthorized(reply, result);
      }
    : undefined;
  app.setErrorHandler(errorHandler(routes, guardApi));
  app.setNotFoundHandler(notFoundHandler(routes, guardApi));
  // CONNECT is not routed by fastify (Node hands the socket over): answer it like any other
  // method the server does not serve.
  app.server.on("connect", (_req, socket: import("node:net").Socket) => {
    const body = JSON.stringify(
      errorBody("MethodNotAllowed", "This server is not a proxy: CONNECT is not answered; use GET or POST"),
    );
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  // An Expect other than 100-continue: Node answers 417 with an empty body of its own unless
  // the server listens for it. Answered in the contract's shape instead, never routed.
  app.server.on(
    "checkExpectation",
    (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
      req.resume();
      const body = JSON.stringify(
        errorBody(
          "BadRequest",
          `This server does not support "Expect: ${String(req.headers.expect).slice(0, 100)}" (only 100-continue); send the request without it`,
        ),
      );
      res.writeHead(400, {
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(body),
        connection: "close",
      });
      res.end(body);
    },
  );
  trackRequests(app, context);
  app.addHook("onRequest", requireHostHeader);
  if (isLoopbackHost(config.host))
    app.addHook(
      "onRequest",
      loopbackHostGuard(() => listeningPort(app)),
    );
  refuseWhileStopping(app, context);

  app.register(healthRoutes);
  app.register(metricsRoutes);
  app.register(pageRoutes);
  app.register(async (api) => {
    // Everything registered in here is the protected API. These hooks run for every request
    // the router sends to these routes, whatever the spelling of its path (encoded, absolute form).
    if (config.rateLimitPerMinute > 0) api.addHook("onRequest", rateLimit(config));
    if (apiToken) api.addHook("onRequest", bearerAuth(apiToken));
    api.register(executeRoutes);
    api.register(chatRoutes);
  });
  return app;
}

function listeningPort(app: FastifyInstance): number {
  const address = app.server.address();
  return typeof address === "object" && address ? address.port : DEFAULT_PORT;
}

function rateLimit(config: BackendConfig) {
  const limiter = new RateLimiter(config.rateLimitPerMinute, config.rateLimitBurst);
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const decision = limiter.take(request.ip);
    if (decision.ok) return done();
    request.logFields["rateLimited"] = true;
    sendError(
      reply,
      "TooManyRequests",
      `Too many requests from this client (at most ${config.rateLimitPerMinute} a minute); wait ${decision.retryAfterSeconds} s and try again`,
      { "retry-after": String(decision.retryAfterSeconds) },
    );
  };
}
