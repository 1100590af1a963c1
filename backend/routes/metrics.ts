/** GET /metrics: Prometheus text format. */
import type { FastifyInstance } from "fastify";
import { ROUTES } from "../../contract/http";

export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get(ROUTES.metrics, async (_request, reply) => {
    const { registry } = app.backend.metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
