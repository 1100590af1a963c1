/**
 * The backend's entry point (`npm run backend`, the container's `node dist/backend/server.js`):
 * config from the environment, listen on PORT, graceful shutdown on SIGTERM/SIGINT.
 * `startBackend()` is the same thing for tests and scripts.
 */
import type { FastifyInstance } from "fastify";
import { buildApp, closeGracefully, type AppOverrides } from "./app";
import { ConfigError, loadConfig } from "./config";

export interface StartBackendOptions {
  /** Port; 0 picks a free one. Default: PORT from env, else 8080. */
  port?: number;
  /** Interface. Default: 127.0.0.1 (the entry point itself uses HOST, default 0.0.0.0). */
  host?: string;
  /** The environment to configure from. Default: process.env. */
  env?: Record<string, string | undefined>;
  overrides?: AppOverrides;
}

export interface RunningBackend {
  url: string;
  port: number;
  app: FastifyInstance;
  /** Graceful: open streams get SHUTDOWN_GRACE_MS to finish. */
  close(): Promise<void>;
}

export async function startBackend(options: StartBackendOptions = {}): Promise<RunningBackend> {
  const config = loadConfig(options.env ?? process.env);
  const app = buildApp(config, options.overrides);
  const host = options.host ?? "127.0.0.1";
  await app.listen({ port: options.port ?? config.port, host });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? config.port);
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    app,
    close: () => closeGracefully(app, config.shutdownGraceMs),
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
  backend.app.log.info(
    { url: backend.url, model: config.geminiModel, codeExecution: config.codeExecutionEnabled },
    "backend listening",
  );
  if (!config.geminiApiKey)
    backend.app.log.warn("GEMINI_API_KEY is not set: chat answers an error until it is; /api/execute works");
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    backend.app.log.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down");
    backend.close().then(
      () => process.exit(0),
      (err: unknown) => {
        backend.app.log.error({ err: String(err) }, "shutdown failed");
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
