/** `npm run sandbox`: the local Lambda runtime, standalone. */
import { UsageError } from "../../scripts/lib/cli-error";
import { helpText, parseFlags, type FlagSpecs } from "../../scripts/lib/flags";
import { DEFAULT_FUNCTION_NAME, startLocalSandbox } from "./server";

const COMMAND = "sandbox";

const FLAGS = {
  port: { kind: "value", arg: "N", help: "TCP port (default 9001; 0 picks a free one)" },
  workers: { kind: "value", arg: "N", help: "warm workers, i.e. concurrent invocations (default 2)" },
  python: { kind: "value", arg: "PATH", help: "Python 3.11+ interpreter (default python3)" },
  host: { kind: "value", arg: "ADDR", help: "interface (default 127.0.0.1)" },
  help: { kind: "switch", help: "this text" },
} as const satisfies FlagSpecs;

const HELP = helpText({
  command: COMMAND,
  summary:
    `Serves the AWS Lambda Invoke API (POST /2015-03-31/functions/${DEFAULT_FUNCTION_NAME}/invocations)\n` +
    "on loopback, backed by warm Python workers running lambda/handler.py.",
  specs: FLAGS,
  notes: ["SANDBOX_* variables in the environment configure the function (see docs/configuration.md)."],
  examples: [
    "npm run sandbox -- --port 9001 &",
    "AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:9001 npm run backend",
  ],
});

function parseArgs(argv: string[]): { port: number; workers: number; python: string; host: string } | "help" {
  const flags = parseFlags(argv, FLAGS, COMMAND);
  if (flags.switches.has("help")) return "help";
  const whole = (name: "port" | "workers", fallback: number, min: number, max: number): number => {
    const text = flags.values[name];
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${text}`, COMMAND);
    return Number(text);
  };
  return {
    port: whole("port", 9001, 0, 65535),
    workers: whole("workers", 2, 1, 64),
    python: flags.values.python ?? "python3",
    host: flags.values.host ?? "127.0.0.1",
  };
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(2);
  }
  if (args === "help") return void console.log(HELP);
  const sandboxEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k.startsWith("SANDBOX_")),
  ) as Record<string, string>;
  const sandbox = await startLocalSandbox({ ...args, env: sandboxEnv });
  console.log(
    `local sandbox: ${sandbox.url} (function ${DEFAULT_FUNCTION_NAME}, ${args.workers} workers, ${args.python})`,
  );
  console.log(`use it with: AWS_ENDPOINT_URL_LAMBDA=${sandbox.url}`);
  const stop = () => void sandbox.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((err: Error) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
