/**
 * POST /api/execute: runs code directly in the sandbox and answers its response as JSON
 * (smoke tests, on-call). Outcomes of the code are 200; a malformed request the sandbox
 * refused (InvalidRequest) is the client's error, 400; a sandbox that cannot be reached is 502,
 * a busy one or a server shutting down 503 with Retry-After, each with the same shape so
 * callers always get something to read. A client that disconnects aborts the invocation.
 */
import type { FastifyInstance } from "fastify";
import { requestCancellation } from "../cancellation";
import { holdSlot } from "../capacity";

/** The sandbox's own limit (CONTRACT section 1): 64 KiB of code. */
export const MAX_CODE_CHARS = 65536;

const executeBody = {
  type: "object",
  required: ["code"],
  properties: { code: { type: "string", minLength: 1, maxLength: MAX_CODE_CHARS } },
} as const;

const STATUS_BY_ERROR: Record<string, { status: number; retryAfter?: string }> = {
  InvalidRequest: { status: 400 },
  SandboxUnavailable: { status: 502 },
  SandboxError: { status: 502 },
  Throttled: { status: 503, retryAfter: "2" },
  ServerShuttingDown: { status: 503, retryAfter: "5" },
};

export async function executeRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { code: string } }>(
    "/api/execute",
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
      const mapped = STATUS_BY_ERROR[result.error?.type ?? ""];
      if (mapped?.retryAfter) reply.header("retry-after", mapped.retryAfter);
      return reply.code(mapped?.status ?? 200).send(result);
    },
  );
}
