/**
 * The JSON error shape of every non-2xx answer, the framework's own included:
 * `{"error": {"type", "message"}}`, with a message that says what to do instead. Never a
 * stack trace, never the framework's `{"error": "Not Found", "statusCode": 404}`.
 *
 * - `errorHandler`: everything a route, a hook or the body parser throws;
 * - `clientErrorHandler`: what Node refuses before fastify sees a request (408 timeouts,
 *   431 oversized headers, 400 malformed request lines), written straight to the socket;
 * - `notFoundHandler`: 404, or 405 with `Allow` when the path exists for other methods;
 * - `parseJsonBody`: the JSON parser, which tells prototype poisoning from bad JSON.
 */
import http from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import secureJson from "secure-json-parse";
import { HTTP_ERROR_STATUS, ROUTES, type ErrorBody, type HttpErrorType } from "../contract/http";

export type { ErrorBody };

export function errorBody(type: HttpErrorType, message: string): ErrorBody {
  return { error: { type, message } };
}

/** What a correct request to each endpoint looks like, appended to 4xx messages. */
const EXAMPLES: Record<string, string> = {
  [ROUTES.chat]: 'send JSON like {"messages":[{"role":"user","content":"What\'s 25 times 47?"}]}',
  [ROUTES.execute]: 'send JSON like {"code":"print(25 * 47)"}',
};

/**
 * Answers `{"error": {type, message}}` with the status contract/http.ts gives the type.
 * `status` overrides it only where the framework decided it (a 4xx of its own).
 */
export function sendError(
  reply: FastifyReply,
  type: HttpErrorType,
  message: string,
  headers: Record<string, string> = {},
  status: number = HTTP_ERROR_STATUS[type],
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type("application/json; charset=utf-8")
    .send(errorBody(type, message));
}

/** `1048576` -> `1 MiB (1048576 bytes)`. */
export function describeBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  const kib = bytes / 1024;
  const human = Number.isInteger(mib)
    ? `${mib} MiB`
    : Number.isInteger(kib)
      ? `${kib} KiB`
      : `${bytes} bytes`;
  return `${human} (${bytes} bytes)`;
}

function hintFor(request: FastifyRequest): string {
  const example = EXAMPLES[request.routeOptions.url ?? ""];
  return example ? `; ${example}` : "";
}

/**
 * The error handler. A request no route matched answers 404/405 even when its body was bad
 * too: the wrong path or method is the thing to fix first.
 */
export function errorHandler(routes: RouteTable, guardApi?: ApiGuard) {
  const notFound = notFoundHandler(routes, guardApi);
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply =>
    request.is404 ? notFound(request, reply) : handleError(err, request, reply);
}

function handleError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const hint = hintFor(request);
  if (err.validation) {
    const first = err.validation[0];
    const where = `${err.validationContext ?? "body"}${first?.instancePath ?? ""}`;
    const allowed = (first?.params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
    const detail = `${where} ${first?.message ?? "is invalid"}${allowed ? ` (${allowed.map((v) => JSON.stringify(v)).join(", ")})` : ""}`;
    return sendError(reply, "InvalidRequest", `Invalid request: ${detail}${hint}`);
  }
  const status = err.statusCode ?? 500;
  if (status === 413) {
    const limit = request.routeOptions.bodyLimit ?? request.server.initialConfig.bodyLimit ?? 0;
    return sendError(
      reply,
      "PayloadTooLarge",
      `The request body is larger than the limit of ${describeBytes(limit)}${hint}`,
    );
  }
  if (status === 415)
    return sendError(
      reply,
      "UnsupportedMediaType",
      `Send the body as JSON with Content-Type: application/json${hint}`,
    );
  if (err instanceof PrototypePoisoning) return sendError(reply, "InvalidRequest", `${err.message}${hint}`);
  if (status >= 400 && status < 500) {
    const message =
      err.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
        ? "The body is empty"
        : err.code?.startsWith("FST_ERR_CTP") || err instanceof SyntaxError
          ? `The body is not valid JSON (${err.message})`
          : err.message;
    return sendError(reply, "InvalidRequest", `${message}${hint}`, {}, status);
  }
  request.log.error({ err: { name: err.name, message: err.message, code: err.code } }, "unhandled error");
  return sendError(
    reply,
    "InternalError",
    `The server failed to handle this request; try again. (request id ${request.id})`,
  );
}

class PrototypePoisoning extends Error {
  readonly statusCode = 400;
}

/**
 * JSON bodies: `__proto__` keys and `constructor.prototype` are refused (they poison object
 * prototypes in careless code), and said so: such a body is valid JSON, refused on purpose.
 */
export function parseJsonBody(
  _request: FastifyRequest,
  body: string,
  done: (err: Error | null, value?: unknown) => void,
): void {
  if (body.length === 0) {
    const err = Object.assign(new Error("The body is empty"), {
      statusCode: 400,
      code: "FST_ERR_CTP_EMPTY_JSON_BODY",
    });
    return done(err);
  }
  try {
    done(null, secureJson.parse(body, { protoAction: "error", constructorAction: "error" }));
  } catch (err) {
    try {
      JSON.parse(body);
    } catch (syntax) {
      return done(Object.assign(syntax as Error, { statusCode: 400 }));
    }
    void err;
    done(
      new PrototypePoisoning(
        'The body contains a "__proto__" key or a "constructor" with a "prototype", which is refused to ' +
          "prevent prototype poisoning (the JSON itself is valid); remove those keys",
      ),
    );
  }
}

/** Paths that exist, and the methods each answers (filled by an onRoute hook). */
export type RouteTable = Map<string, Set<string>>;

export function recordRoutes(app: FastifyInstance): RouteTable {
  const table: RouteTable = new Map();
  app.addHook("onRoute", (route) => {
    if (route.url === "*" || route.url.includes(":")) return;
    const methods = table.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) methods.add(m);
    table.set(route.url, methods);
  });
  return table;
}

/** The path a router sees: no scheme/authority (absolute form), no query; %XX decoded except / ? # %. */
function routedPath(url: string): string {
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "").split(/[?#]/)[0] ?? "";
  return path.replace(/%([0-9a-f]{2})/gi, (whole, hex: string) => {
    const code = parseInt(hex, 16);
    return [0x2f, 0x3f, 0x23, 0x25].includes(code) || code >= 0x80 ? whole : String.fromCharCode(code);
  });
}

/** Answers a request under /api that its guard refuses (API_TOKEN), else undefined. */
export type ApiGuard = (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined;

/**
 * 404, or 405 with Allow when the path exists for other methods. A path under /api passes
 * `guardApi` first (with API_TOKEN set: 401 unless the token is right, so nothing about the
 * API is told without it).
 */
export function notFoundHandler(routes: RouteTable, guardApi?: ApiGuard) {
  return (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = routedPath(request.url);
    if (guardApi && path.toLowerCase().startsWith("/api")) {
      const refused = guardApi(request, reply);
      if (refused) return refused;
    }
    const allowed = routes.get(path);
    if (allowed && !allowed.has(request.method)) {
      const allow = [...allowed].sort().join(", ");
      return sendError(
        reply,
        "MethodNotAllowed",
        `${path} does not answer ${request.method}; use ${allow}${EXAMPLES[path] ? ` (${EXAMPLES[path]})` : ""}`,
        { allow },
      );
    }
    const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
    return sendError(
      reply,
      "NotFound",
      `No route ${request.method} ${shown}; the API is POST /api/chat and POST /api/execute, the chat page is GET /`,
    );
  };
}

/**
 * What fastify's router refuses before any hook runs (a malformed percent-encoding in the
 * path, an over-long parameter): answered in the contract's shape and logged here, since
 * the request-lifecycle hooks never see these requests.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message =
    err.code === "FST_ERR_BAD_URL"
      ? "The URL is not valid (a malformed %-encoding); check the path and try again"
      : "The request could not be routed; check the URL and try again";
  request.log.info({ method: request.method, statusCode: 400, frameworkError: err.code }, "request");
  void sendError(reply, "BadRequest", message);
}

const CLIENT_ERRORS: Record<string, [HttpErrorType, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [
    "RequestTimeout",
    "The request was not received in time; send the headers and the whole body promptly, then try again",
  ],
  HPE_HEADER_OVERFLOW: [
    "HeadersTooLarge",
    "The request line and headers are too large; send shorter headers (cookies, URL) and try again",
  ],
};

/** Set on a socket whose request Node refused: the status it was answered with (for the request's log line). */
export const CLIENT_ERROR_STATUS = Symbol("clientErrorStatus");

/**
 * Requests Node refuses itself: a request line or headers that are not HTTP, headers too
 * large, a request not received in time (also one whose headers arrived but whose body
 * stalled). Answered in the contract's shape on the raw socket (then closed, as Node does)
 * and logged: by the request's own log line when fastify already had the request, else here.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [type, message] = CLIENT_ERRORS[err.code ?? ""] ?? [
    "BadRequest",
    "The request is not valid HTTP/1.1 (request line, headers or framing); check the client",
  ];
  const status = HTTP_ERROR_STATUS[type];
  const tagged = socket as Socket & { [CLIENT_ERROR_STATUS]?: number; _httpMessage?: unknown };
  tagged[CLIENT_ERROR_STATUS] = status;
  if (!tagged._httpMessage)
    this.log.info(
      { statusCode: status, clientError: err.code ?? err.message, client: socket.remoteAddress },
      "request",
    );
  if (socket.writable) {
    const body = JSON.stringify(errorBody(type, message));
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
        "Content-Type: application/json; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        "Connection: close\r\n\r\n" +
        body,
    );
  }
  socket.destroy();
}
