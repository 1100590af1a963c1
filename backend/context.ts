/**
 * What the routes share: the parsed config, the metrics, the sandbox and model clients and
 * the server's shutdown state. Decorated onto the fastify instance as `app.backend`.
 */
import type { BackendConfig } from "./config";
import type { ModelStream } from "./gemini";
import type { BackendMetrics } from "./metrics";
import type { SandboxClient, SandboxResult } from "./sandbox-client";

export interface BackendContext {
  config: BackendConfig;
  metrics: BackendMetrics;
  sandbox: SandboxClient;
  model: ModelStream | undefined;
  /** Aborted when the shutdown grace period ends: open chat streams stop with an error event. */
  streamsAbort: AbortController;
  /** Requests whose route wrote its own, richer request log line (the chat stream). */
  selfLogged: WeakSet<object>;
  /** True from SIGTERM on: /readyz answers 503 so the load balancer stops sending traffic. */
  closing: boolean;
  /** Records one sandbox execution in the metrics and as one log line (never code or output). */
  recordExecution(
    route: "chat" | "execute",
    id: string,
    code: string,
    result: SandboxResult,
    seconds: number,
  ): void;
}

declare module "fastify" {
  interface FastifyInstance {
    backend: BackendContext;
  }
}
