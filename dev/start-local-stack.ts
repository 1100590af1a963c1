/**
 * `npm start`: the whole stack on this machine in one command: the local Lambda sandbox
 * runtime (real Python workers on a free loopback port) and the chat backend wired to it
 * through AWS_ENDPOINT_URL_LAMBDA, on http://localhost:8080.
 *
 * The model is whatever the environment configures (MODEL_PROVIDER and that provider's
 * variables, docs/choosing-a-model.md). `--provider gemini|bedrock|openai` runs a local fake of
 * that provider's API instead, speaking its real wire protocol (the seed questions, through
 * execute_python), so each provider can be tried and smoke-tested with no key and no internet;
 * `--fake-gemini` is `--provider gemini`. `--provider X --real` uses the real API of X as the
 * environment configures it.
 *
 * Logs are for a person at a terminal: the backend's and the sandbox's lines in one readable
 * format (LOG_FORMAT=pretty unless LOG_FORMAT is set). Ctrl-C stops the stack quietly: the
 * sandbox workers' own reaction to it (a KeyboardInterrupt traceback each, and advice about
 * replacements that never started) is not shown; anything else the sandbox prints is.
 */
import { DEFAULT_FUNCTION_NAME, startLocalSandbox, type LocalSandbox } from "./local-lambda/server";
import { startBackend, type RunningBackend } from "../backend/server";
import { DEFAULT_PORT } from "../contract/http";
import { UsageError } from "../scripts/lib/cli-error";
import { helpText, parseFlags, type FlagSpecs } from "../scripts/lib/flags";
import { ConfigError, missingConfiguration } from "../backend/config";
import { formatLogLine } from "../backend/log-format";
import { describeModel } from "../backend/providers/settings";
import { PROVIDER_IDS, type ProviderId } from "../contract/models";
import { startLocalFakeModel } from "./fakes/local";

const COMMAND = "start";

const FLAGS = {
  port: { kind: "value", arg: "N", help: "backend port (default: PORT, else 8080)" },
  host: {
    kind: "value",
    arg: "ADDR",
    help: "backend interface (default: HOST, else localhost — IPv4 and IPv6 loopback only)",
  },
  workers: { kind: "value", arg: "N", help: "warm sandbox workers, i.e. concurrent executions (default 4)" },
  python: { kind: "value", arg: "PATH", help: "Python 3.11+ for the sandbox (default python3)" },
  provider: {
    kind: "value",
    arg: "NAME",
    help: `run a local fake of this provider's API (${PROVIDER_IDS.join(", ")}; no key needed; the seed questions)`,
  },
  model: { kind: "value", arg: "ID", help: "the model (MODEL_ID), in the provider's own naming" },
  real: {
    kind: "switch",
    help: "with --provider: the real API, configured by the environment (docs/choosing-a-model.md)",
  },
  "fake-gemini": { kind: "switch", help: "the same as --provider gemini" },
  help: { kind: "switch", help: "this text" },
} as const satisfies FlagSpecs;

const HELP = helpText({
  command: COMMAND,
  summary: "Runs the local sandbox runtime and the chat backend wired to it.",
  specs: FLAGS,
  notes: [
    "The backend reads the rest of its environment as in production (docs/configuration.md):",
    "MODEL_PROVIDER, MODEL_ID, GEMINI_API_KEY, OPENAI_BASE_URL, OPENAI_API_KEY, API_TOKEN, SANDBOX_* ...",
    "The fakes answer the seed questions; [fake:429], [fake:500], [fake:filter] or [fake:loop] in a",
    "question make them fail that way (docs/choosing-a-model.md).",
  ],
  examples: [
    "npm start -- --provider bedrock",
    "npm start -- --provider openai --model my-model --port 8081",
    "GEMINI_API_KEY=... npm start",
    "OPENAI_API_KEY=... npm start -- --provider openai --real --model gpt-4.1-mini",
    "curl -s localhost:8080/api/execute -H 'content-type: application/json' -d '{\"code\":\"print(25*47)\"}'",
  ],
});

/** After Ctrl-C, how long requests in flight may finish before they are answered with ServerShuttingDown. */
const LOCAL_GRACE_MS = 3000;

interface Options {
  port: number;
  host: string;
  workers: number;
  python: string;
  /** The provider whose local fake answers, unless `real`. */
  provider: ProviderId | undefined;
  /** Use the real API of `provider`. */
  real: boolean;
  /** MODEL_ID for the backend. */
  model: string | undefined;
}

/** How long a Python traceback is held back to see whether it is a Ctrl-C's KeyboardInterrupt. */
const TRACEBACK_HOLD_MS = 500;

/**
 * The sandbox's output for a terminal: JSON log lines formatted like the backend's, other
 * lines as they are. A traceback is held until its last line shows what it was: a
 * KeyboardInterrupt (the worker's share of Ctrl-C) is dropped, and so is everything after it;
 * any other traceback is shown whole.
 */
export class SandboxLog {
  private held: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Set on Ctrl-C (or a KeyboardInterrupt seen first): the workers are going away. */
  quiet = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly color = false,
  ) {}

  line = (line: string): void => {
    if (this.quiet) return;
    if (this.held.length > 0 || line.startsWith("Traceback (most recent call last):")) {
      this.held.push(line);
      if (line.trim() === "KeyboardInterrupt") return this.silence();
      this.timer ??= setTimeout(() => this.flush(), TRACEBACK_HOLD_MS);
      // An unindented line after the first ends a traceback: the exception itself.
      if (this.held.length > 1 && !/^\s/.test(line) && !line.startsWith("Traceback")) this.flush();
      return;
    }
    this.show(line);
  };

  silence(): void {
    this.quiet = true;
    this.held = [];
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.held;
    this.held = [];
    for (const line of lines) this.show(line);
  }

  private show(line: string): void {
    this.write(`${formatLogLine(line, { source: "sandbox", color: this.color })}\n`);
  }
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Options | "help" {
  const flags = parseFlags(argv, FLAGS, COMMAND);
  if (flags.switches.has("help")) return "help";
  const port = flags.values.port ?? env.PORT ?? String(DEFAULT_PORT);
  const from = flags.values.port !== undefined ? "--port" : env.PORT !== undefined ? "PORT" : "the default";
  const workers = flags.values.workers ?? "4";
  const whole = (text: string, min: number, max: number) =>
    /^\d+$/.test(text) && Number(text) >= min && Number(text) <= max ? Number(text) : undefined;
  const options: Options = {
    port: whole(port, 0, 65535) ?? NaN,
    host: flags.values.host ?? (env.HOST || "localhost"),
    workers: whole(workers, 1, 64) ?? NaN,
    python: flags.values.python ?? "python3",
    provider: undefined,
    real: flags.switches.has("real"),
    model: flags.values.model,
  };
  const provider = flags.values.provider?.toLowerCase();
  if (provider !== undefined && !(PROVIDER_IDS as readonly string[]).includes(provider))
    throw new UsageError(
      `--provider ${flags.values.provider} is not a provider; use one of ${PROVIDER_IDS.join(", ")}`,
      COMMAND,
    );
  if (flags.switches.has("fake-gemini")) {
    if ((provider !== undefined && provider !== "gemini") || options.real)
      throw new UsageError("--fake-gemini is --provider gemini; leave out the other provider flags", COMMAND);
    options.provider = "gemini";
  } else options.provider = provider as ProviderId | undefined;
  if (options.real && options.provider === undefined)
    throw new UsageError("--real needs --provider NAME (the real API of which provider?)", COMMAND);
  if (Number.isNaN(options.port))
    throw new UsageError(
      `${from} ${port} is not a port number; use a port from 0 to 65535, e.g. 8080`,
      COMMAND,
    );
  if (Number.isNaN(options.workers))
    throw new UsageError(`--workers ${workers} is not valid; use 1 to 64 workers`, COMMAND);
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options === "help") return void console.log(HELP);

  const closers: (() => Promise<void>)[] = [];
  const now = new AbortController();
  const stopAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
  };
  const env: Record<string, string | undefined> = { ...process.env };
  // A person reads these logs: one readable format (set LOG_FORMAT=json for the JSON lines).
  if (!env.LOG_FORMAT?.trim()) env.LOG_FORMAT = "pretty";
  const sandboxLog = new SandboxLog(
    (text) => void process.stderr.write(text),
    process.stderr.isTTY === true && !process.env.NO_COLOR,
  );
  try {
    const sandboxEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k.startsWith("SANDBOX_")),
    ) as Record<string, string>;
    const sandbox: LocalSandbox = await startLocalSandbox({
      port: 0,
      workers: options.workers,
      python: options.python,
      env: sandboxEnv,
      log: sandboxLog.line,
    });
    closers.push(() => sandbox.close());
    env.AWS_ENDPOINT_URL_LAMBDA = sandbox.url;
    env.CODE_EXECUTOR_FUNCTION ??= DEFAULT_FUNCTION_NAME;

    let fakeModel: string | undefined;
    if (options.provider && !options.real) {
      // A real HTTP server speaking the provider's wire protocol; the backend's provider code,
      // SDK included, is what production runs.
      const fake = await startLocalFakeModel(options.provider, {
        ...(options.model ? { model: options.model } : {}),
        ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
      });
      closers.push(() => fake.close());
      // The fake's settings replace any of the environment's that would contradict them.
      delete env.GEMINI_MODEL;
      Object.assign(env, fake.env);
      fakeModel = fake.description;
    } else {
      if (options.provider) env.MODEL_PROVIDER = options.provider;
      if (options.model) env.MODEL_ID = options.model;
    }

    const backend: RunningBackend = await startBackend({ port: options.port, host: options.host, env });
    // Ctrl-C: nothing routes traffic here by readiness, so no drain; what is in flight gets a
    // moment to finish (a second Ctrl-C cuts it short) and is answered either way.
    closers.push(() => backend.close({ drainMs: 0, graceMs: LOCAL_GRACE_MS, now: now.signal }));
    const shown = backend.url.replace("127.0.0.1", "localhost");
    const config = backend.app.backend.config;
    const missing = missingConfiguration(config);
    const modelLine =
      fakeModel ??
      `${describeModel(config.model).label}${
        missing.length > 0
          ? ` NOT READY: ${missing.join("; ")}; or try it with no key: npm start -- --provider ${config.model.provider}`
          : ""
      }`;
    process.stderr.write(
      [
        `local stack ready: ${shown}  (chat page ${shown}/, API ${shown}/api/chat and /api/execute)`,
        `  sandbox: ${sandbox.url} (${options.workers} warm workers, ${options.python})`,
        `  model:   ${modelLine}`,
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
    sandboxLog.silence();
    if (stopping) {
      now.abort();
      return;
    }
    stopping = true;
    process.stderr.write(`${signal}: stopping the local stack...\n`);
    void stopAll().then(() => {
      process.stderr.write("local stack stopped\n");
      process.exit(0);
    });
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
