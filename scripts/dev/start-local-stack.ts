/**
 * `npm start`: the whole stack on this machine in one command: the local Lambda sandbox
 * runtime (real Python workers on a free loopback port) and the chat backend wired to it
 * through AWS_ENDPOINT_URL_LAMBDA, on http://localhost:8080.
 *
 * The model is the real Gemini when GEMINI_API_KEY is set; `--fake-gemini` runs the tests'
 * fake Gemini instead (it answers the four seed questions through execute_python), so the
 * stack can be tried and smoke-tested with no key and no internet.
 */
import { DEFAULT_FUNCTION_NAME, startLocalSandbox, type LocalSandbox } from "../../lambda/local/server";
import { startBackend, type RunningBackend } from "../../backend/server";
import { ConfigError } from "../../backend/config";
import { seedBrain, startFakeGemini } from "../../tests/helpers/fake-gemini";

const HELP = `Usage: npm start [-- --port N] [--host ADDR] [--workers N] [--python PATH] [--fake-gemini]

Runs the local sandbox runtime and the chat backend wired to it.

  --port N        backend port (default: PORT, else 8080)
  --host ADDR     backend interface (default: HOST, else localhost — IPv4 and IPv6 loopback only)
  --workers N     warm sandbox workers, i.e. concurrent executions (default 4)
  --python PATH   Python 3.11+ for the sandbox (default python3)
  --fake-gemini   answer with a local fake Gemini (the four seed questions) instead of the real API
  --help          this text

The backend reads the rest of its environment as in production (README: Configuration):
GEMINI_API_KEY, GEMINI_MODEL, API_TOKEN, CODE_EXECUTION_ENABLED, SANDBOX_* ...

Examples:
  GEMINI_API_KEY=... npm start
  npm start -- --fake-gemini --port 8081
  curl -s localhost:8080/api/execute -H 'content-type: application/json' -d '{"code":"print(25*47)"}'`;

interface Options {
  port: number;
  host: string;
  workers: number;
  python: string;
  fakeGemini: boolean;
}

class UsageError extends Error {}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Options | "help" {
  const options: Options = {
    port: env.PORT ? Number(env.PORT) : 8080,
    host: env.HOST || "localhost",
    workers: 4,
    python: "python3",
    fakeGemini: false,
  };
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)
    throw new UsageError(`PORT=${env.PORT} is not a port number; e.g. PORT=8080 npm start`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--fake-gemini") {
      options.fakeGemini = true;
      continue;
    }
    const [name, inline] = arg.split("=", 2) as [string, string | undefined];
    if (!["--port", "--host", "--workers", "--python"].includes(name))
      throw new UsageError(`unknown option ${name}; see npm start -- --help`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === "")
      throw new UsageError(`${name} needs a value; see npm start -- --help`);
    if (name === "--port" || name === "--workers") {
      const n = Number(value);
      const ok = Number.isInteger(n) && (name === "--port" ? n >= 0 && n <= 65535 : n >= 1 && n <= 64);
      if (!ok)
        throw new UsageError(
          `${name} ${value} is not valid; use ${name === "--port" ? "a port from 0 to 65535" : "1 to 64 workers"}`,
        );
      if (name === "--port") options.port = n;
      else options.workers = n;
    } else if (name === "--host") options.host = value;
    else options.python = value;
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options === "help") return void console.log(HELP);

  const closers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
  };
  const env: Record<string, string | undefined> = { ...process.env };
  try {
    const sandboxEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k.startsWith("SANDBOX_")),
    ) as Record<string, string>;
    const sandbox: LocalSandbox = await startLocalSandbox({
      port: 0,
      workers: options.workers,
      python: options.python,
      env: sandboxEnv,
    });
    closers.push(() => sandbox.close());
    env.AWS_ENDPOINT_URL_LAMBDA = sandbox.url;
    env.CODE_EXECUTOR_FUNCTION ??= DEFAULT_FUNCTION_NAME;

    if (options.fakeGemini) {
      // The tests' fake: a real HTTP server speaking Gemini's REST protocol.
      const gemini = await startFakeGemini(seedBrain());
      closers.push(() => gemini.close());
      env.GEMINI_BASE_URL = gemini.url;
      env.GEMINI_API_KEY = "fake-gemini";
    }

    const backend: RunningBackend = await startBackend({ port: options.port, host: options.host, env });
    closers.push(() => backend.close());
    const shown = backend.url.replace("127.0.0.1", "localhost");
    process.stderr.write(
      [
        `local stack ready: ${shown}  (chat page ${shown}/, API ${shown}/api/chat and /api/execute)`,
        `  sandbox: ${sandbox.url} (${options.workers} warm workers, ${options.python})`,
        `  model:   ${options.fakeGemini ? `fake Gemini at ${env.GEMINI_BASE_URL} (seed questions only)` : env.GEMINI_API_KEY ? "Gemini API" : "none: set GEMINI_API_KEY, or run npm start -- --fake-gemini"}`,
        "  stop with Ctrl-C",
        "",
      ].join("\n"),
    );
  } catch (err) {
    await stopAll();
    throw err;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping the local stack...\n`);
    void stopAll().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/** One readable line for the failures a developer can fix, with the fix. */
function describe(err: unknown): string {
  if (err instanceof UsageError) return err.message;
  if (err instanceof ConfigError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "EADDRINUSE")
    return `the port is already in use (${e.message}); stop the other server or pick another: npm start -- --port 8081`;
  if (e?.code === "EACCES")
    return `not allowed to listen there (${e.message}); use a port above 1023: npm start -- --port 8080`;
  return e instanceof Error ? e.message : String(err);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`npm start: ${describe(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
