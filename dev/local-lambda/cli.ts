/** `npm run sandbox`: the local Lambda runtime, standalone. */
import { DEFAULT_FUNCTION_NAME, startLocalSandbox } from "./server";

const HELP = `Usage: npm run sandbox -- [--port N] [--workers N] [--python PATH] [--host ADDR]

Serves the AWS Lambda Invoke API (POST /2015-03-31/functions/${DEFAULT_FUNCTION_NAME}/invocations)
on loopback, backed by warm Python workers running lambda/handler.py.

  --port N        TCP port (default 9001; 0 picks a free one)
  --workers N     warm workers, i.e. concurrent invocations (default 2)
  --python PATH   Python 3.11+ interpreter (default python3)
  --host ADDR     interface (default 127.0.0.1)
  --help          this text

SANDBOX_* variables in the environment configure the function (see README: Configuration).
Example:
  npm run sandbox -- --port 9001 &
  AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:9001 npm run backend`;

function parseArgs(argv: string[]): { port: number; workers: number; python: string; host: string } | "help" {
  const out = { port: 9001, workers: 2, python: "python3", host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--help" || flag === "-h") return "help";
    const [name, inline] = flag.split("=", 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value; see --help`);
    if (name === "--port" || name === "--workers") {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0 || (name === "--workers" && n < 1))
        throw new Error(`${name} must be a whole number, got ${value}`);
      out[name === "--port" ? "port" : "workers"] = n;
    } else if (name === "--python") out.python = value;
    else if (name === "--host") out.host = value;
    else throw new Error(`unknown flag ${name}; see --help`);
  }
  return out;
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
