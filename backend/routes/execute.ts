/**
 * POST /api/execute: runs code directly in the sandbox and answers its response as JSON
 * (smoke tests, on-call), with the status contract/http.ts gives its error type (outcomes of
 * the code 200, a request the sandbox calls malformed 400, an unreachable or broken sandbox
 * 502, a busy one or a server shutting down 503 with Retry-After), each in the same shape so
 * callers always get something to read. A client that disconnects aborts the invocation.
 */
import type { FastifyInstance } from "fastify";
import { executeStatus, ROUTES } from "../../contract/http";
import { SANDBOX_LIMITS } from "../../contract/sandbox";
import { requestCancellation } from "../cancellation";
import { holdSlot } from "../capacity";

/** The sandbox's own limit (CONTRACT section 1): 64 KiB of code. */
export const MAX_CODE_CHARS = SANDBOX_LIMITS.maxCodeBytes;

const executeBody = {
  type: "object",
  required: ["code"],
  properties: { code: { type: "string", minLength: 1, maxLength: MAX_CODE_CHARS } },
} as const;

export async function executeRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { code: string } }>(
    ROUTES.execute,
    {
      schema: { body: executeBody },
      onRequest: holdSlot(
        () => app.backend.executions,
        () =>
          `This server is running as much code as it may at once (${app.backend.config.maxConcurrentExecutions}); try again in a few seconds`,
        2,
      ),
    },
    async (request, reply) => {
      const ctx = app.backend;
      const cancel = requestCancellation(reply.raw, ctx.work);
      const started = performance.now();
      let execution;
      try {
        execution = await ctx.sandbox.execute(request.body.code, {
          signal: cancel.signal,
          requestId: request.id,
        });
      } finally {
        cancel.done();
      }
      ctx.recordExecution(
        "execute",
        request.id,
        "execute",
        request.body.code,
        execution,
        (performance.now() - started) / 1000,
      );
      const { result } = execution;
      request.logFields["outcome"] = cancel.clientLeft ? "aborted" : result.ok ? "ok" : "error";
      if (cancel.clientLeft) {
        // Nobody is left to answer; the request is logged as aborted when its socket closes.
        reply.hijack();
        return;
      }
      const { status, retryAfterSeconds } = executeStatus(result.error?.type);
      if (retryAfterSeconds !== undefined) reply.header("retry-after", String(retryAfterSeconds));
      return reply.code(status).send(result);
    },
  );
}
