/**
 * POST /api/execute: runs code directly in the sandbox and answers its response as JSON
 * (smoke tests, on-call). A sandbox that cannot be reached answers the same shape with 502
 * (503 when throttled), so callers always get something to read.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";

/** The sandbox's own limit (CONTRACT section 1): 64 KiB of code. */
export const MAX_CODE_CHARS = 65536;

const executeBody = {
  type: "object",
  required: ["code"],
  properties: { code: { type: "string", minLength: 1, maxLength: MAX_CODE_CHARS } },
} as const;

const BACKEND_FAILURES: Record<string, number> = {
  SandboxUnavailable: 502,
  SandboxError: 502,
  Throttled: 503,
};

export async function executeRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { code: string } }>(
    "/api/execute",
    { schema: { body: executeBody } },
    async (request, reply) => {
      const ctx = app.backend;
      const started = performance.now();
      const result = await ctx.sandbox.execute(request.body.code);
      ctx.recordExecution(
        "execute",
        randomUUID(),
        request.body.code,
        result,
        (performance.now() - started) / 1000,
      );
      return reply.code(BACKEND_FAILURES[result.error?.type ?? ""] ?? 200).send(result);
    },
  );
}
