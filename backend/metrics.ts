/**
 * Prometheus metrics, one registry per app (tests build many apps in one process).
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface BackendMetrics {
  registry: Registry;
  chatRequests: Counter<"outcome">;
  codeExecutions: Counter<"outcome" | "route">;
  executionSeconds: Histogram<"route">;
  modelSeconds: Histogram<"outcome">;
}

export function createMetrics(): BackendMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    chatRequests: new Counter({
      name: "chat_requests_total",
      help: "Chat turns by how they ended: ok (no error event), error, aborted (client left or shutdown)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    codeExecutions: new Counter({
      name: "code_executions_total",
      help: "Sandbox executions by outcome: ok, or the contract's error type (Timeout, ModuleNotAllowed, ...)",
      labelNames: ["outcome", "route"],
      registers: [registry],
    }),
    executionSeconds: new Histogram({
      name: "code_execution_duration_seconds",
      help: "Wall time of a sandbox execution as seen by the backend (Lambda invoke included)",
      labelNames: ["route"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    modelSeconds: new Histogram({
      name: "model_request_duration_seconds",
      help: "Wall time of one streamed model call (any provider), by outcome (ok, HTTP status, aborted, error)",
      labelNames: ["outcome"],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60],
      registers: [registry],
    }),
  };
}
