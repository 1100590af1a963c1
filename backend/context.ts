/**
 * What the routes share: the parsed config, the metrics, the sandbox and model clients, the
 * replica's capacity limits and the server's shutdown state. Decorated onto the fastify
 * instance as `app.backend`.
 */
import type { WorkInFlight } from "./cancellation";
import type { Capacity } from "./capacity";
import type { BackendConfig } from "./config";
import type { BackendMetrics } from "./metrics";
import type { ModelProvider } from "./providers/provider";
import type { Execution, SandboxClient } from "./sandbox-client";

/** serving -> draining (SIGTERM: /readyz 503, requests still served) -> stopping (new requests 503). */
export type ServerPhase = "serving" | "draining" | "stopping";

export interface BackendContext {
  config: BackendConfig;
  metrics: BackendMetrics;
  sandbox: SandboxClient;
  /** The model provider; undefined while its configuration is incomplete (/readyz says what is missing). */
  model: ModelProvider | undefined;
  /** Open chat streams of this replica. */
  streams: Capacity;
  /** Sandbox invocations in flight on this replica (both routes). */
  executions: Capacity;
  /** Stopped when the shutdown grace period ends: in-flight work stops and is answered. */
  work: WorkInFlight;
  phase: ServerPhase;
  /** True from SIGTERM on: /readyz answers 503 so the load balancer stops sending traffic. */
  readonly closing: boolean;
  /** Requests whose response has not finished (or been abandoned) yet. */
  inFlight: Set<object>;
  /** Resolves when no request is in flight. */
  idle(): Promise<void>;
  /** Records one sandbox execution in the metrics and as one log line (never code or output). */
  recordExecution(
    route: "chat" | "execute",
    requestId: string,
    id: string,
    code: string,
    execution: Execution,
    seconds: number,
  ): void;
}

declare module "fastify" {
  interface FastifyInstance {
    backend: BackendContext;
  }
  interface FastifyRequest {
    /** Fields a route adds to the request's one log line (the chat's outcome, executions...). */
    logFields: Record<string, unknown>;
  }
}
