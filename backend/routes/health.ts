/**
 * GET /healthz (the process answers) and GET /readyz (configuration complete and not
 * shutting down; 503 with what is missing otherwise, in the contract's error shape too).
 */
import type { FastifyInstance } from "fastify";
import { HTTP_ERROR_STATUS, ROUTES } from "../../contract/http";
import { missingConfiguration } from "../config";

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(ROUTES.health, async () => ({ status: "ok" }));
  app.get(ROUTES.ready, async (_request, reply) => {
    const missing = [
      ...missingConfiguration(app.backend.config),
      ...(app.backend.model?.readiness?.() ?? []),
    ];
    if (app.backend.closing) missing.push("the server is shutting down");
    if (missing.length > 0)
      return reply.code(HTTP_ERROR_STATUS.NotReady).send({
        status: "not ready",
        missing,
        error: { type: "NotReady", message: `Not ready: ${missing.join("; ")}` },
      });
    return { status: "ready" };
  });
}
