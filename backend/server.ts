/**
 * The backend's entry point (`npm run backend`, the container's `node dist/backend/server.js`):
 * config from the environment, listen on HOST:PORT, graceful shutdown on SIGTERM/SIGINT.
 * `startBackend()` is the same thing for tests and scripts.
 */
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { buildApp, type AppOverrides } from "./app";
import { ConfigError, isLoopbackHost, loadConfig, missingConfiguration } from "./config";
import { describeModel } from "./providers/settings";
import { closeGracefully, type ShutdownOptions } from "./shutdown";

export interface StartBackendOptions {
  /** Port; 0 picks a free one. Default: PORT from env, else 8080. */
  port?: number;
  /** Interface. Default: 127.0.0.1 (the entry point itself uses HOST, default localhost). */
  host?: string;
  /** The environment to configure from. Default: process.env. */
  env?: Record<string, string | undefined>;
  overrides?: AppOverrides;
}

export interface RunningBackend {
  /** A URL that reaches it (`http://localhost:PORT` when bound to loopback or all interfaces). */
  url: string;
  port: number;
  /** What it is bound to, as `address:port` (`0.0.0.0:8080` means every interface). */
  addresses: string[];
  app: FastifyInstance;
  /**
   * Graceful stop (see shutdown.ts). Default: no drain (nothing routes traffic by readiness
   * here); the entry point drains on SIGTERM.
   */
  close(options?: Partial<ShutdownOptions>): Promise<void>;
}

export async function startBackend(options: StartBackendOptions = {}): Promise<RunningBackend> {
  const host = options.host ?? "127.0.0.1";
  const config = { ...loadConfig(options.env ?? process.env), host };
  const app = buildApp(config, options.overrides);
  await app.listen({ port: options.port ?? config.port, host });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? config.port);
  const bound = app.addresses().filter((a): a is AddressInfo => typeof a === "object");
  const addresses = bound.map((a) => `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`);
  // A URL that reaches it from this machine: its first address (a wildcard's loopback twin),
  // IPv4 first when bound to both families.
  const first = bound.find((a) => a.family === "IPv4") ?? bound[0];
  const reach =
    first?.address === "0.0.0.0" ? "127.0.0.1" : first?.address === "::" ? "::1" : (first?.address ?? host);
  return {
    url: `http://${reach.includes(":") ? `[${reach}]` : reach}:${port}`,
    port,
    addresses,
    app,
    close: (shutdown = {}) =>
      closeGracefully(app, { drainMs: 0, graceMs: config.shutdownGraceMs, ...shutdown }),
  };
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const backend = await startBackend({ host: config.host, port: config.port });
  const log = backend.app.log;
  const loopback = isLoopbackHost(config.host);
  const model = describeModel(config.model);
  log.info(
    {
      url: backend.url,
      listening: backend.addresses,
      interfaces: loopback ? "loopback only" : "all given by HOST",
      provider: model.provider,
      model: model.model,
      codeExecution: config.codeExecutionEnabled,
    },
    `${
      loopback
        ? `backend listening on loopback only (${backend.addresses.join(", ")}): ${backend.url}`
        : `backend listening on ${backend.addresses.join(", ")}`
    }; model ${model.label}`,
  );
  for (const missing of missingConfiguration(config))
    log.warn(`${missing}; chat answers an error until then (/api/execute works)`);
  if (!loopback && !config.apiToken)
    log.warn(
      `listening on ${config.host} without API_TOKEN: anyone who can reach this port can use the model and the sandbox; set API_TOKEN or keep the port private`,
    );

  // SIGTERM (Kubernetes, docker stop): drain, then finish in-flight work within the grace
  // period. SIGINT (Ctrl-C at a terminal): no load balancer to drain, so no drain. A second
  // signal ends the waiting: in-flight work is answered and the process exits.
  const now = new AbortController();
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: stopping now");
      now.abort();
      return;
    }
    stopping = true;
    const drainMs = signal === "SIGTERM" ? config.shutdownDrainMs : 0;
    log.info({ signal, drainMs, graceMs: config.shutdownGraceMs }, "shutting down");
    backend.close({ drainMs, now: now.signal }).then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: String(err) }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`backend failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
