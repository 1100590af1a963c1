/**
 * The JSON error shape of every non-streaming failure: `{"error": {"type", "message"}}`,
 * with a message that says what to send instead. Never a stack trace.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";

export interface ErrorBody {
  error: { type: string; message: string };
}

export function errorBody(type: string, message: string): ErrorBody {
  return { error: { type, message } };
}

/** What a correct request to each endpoint looks like, appended to 4xx messages. */
const EXAMPLES: Record<string, string> = {
  "/api/chat": 'send JSON like {"messages":[{"role":"user","content":"What\'s 25 times 47?"}]}',
  "/api/execute": 'send JSON like {"code":"print(25 * 47)"}',
};

export function sendError(reply: FastifyReply, status: number, type: string, message: string): FastifyReply {
  return reply.code(status).type("application/json; charset=utf-8").send(errorBody(type, message));
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split("?")[0] ?? "";
  const example = EXAMPLES[path];
  const hint = example ? `; ${example}` : "";
  if (err.validation) {
    const first = err.validation[0];
    const where = `${err.validationContext ?? "body"}${first?.instancePath ?? ""}`;
    const allowed = (first?.params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
    const detail = `${where} ${first?.message ?? "is invalid"}${allowed ? ` (${allowed.map((v) => JSON.stringify(v)).join(", ")})` : ""}`;
    return sendError(reply, 400, "InvalidRequest", `Invalid request: ${detail}${hint}`);
  }
  const status = err.statusCode ?? 500;
  if (status === 413) return sendError(reply, 413, "PayloadTooLarge", `The request body is too large${hint}`);
  if (status === 415)
    return sendError(
      reply,
      415,
      "UnsupportedMediaType",
      `Send the body as JSON with Content-Type: application/json${hint}`,
    );
  if (status >= 400 && status < 500) {
    const message = err.code?.startsWith("FST_ERR_CTP")
      ? `The body is not valid JSON (${err.message})`
      : err.message;
    return sendError(reply, status, "InvalidRequest", `${message}${hint}`);
  }
  request.log.error({ err: { name: err.name, message: err.message, code: err.code } }, "unhandled error");
  return sendError(reply, 500, "InternalError", "The server failed to handle this request; try again.");
}
