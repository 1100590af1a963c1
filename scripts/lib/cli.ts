/**
 * Flags, targets and the error wrapper shared by every ops command (doctor, logs, smoke,
 * rollout, ...). CONTRACT.md section 3: a value comes from its flag, then the environment,
 * then the Pulumi stack's outputs (`--stack NAME`), then the contract's defaults.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import { CliError, UsageError } from "./cli-error";
import { nameProblem, type NameKind } from "./names";
import { terminalSafe } from "./terminal-safe";

export { CliError, UsageError };

export interface FlagSpec {
  /** Takes a value (`--flag value` / `--flag=value`) or is a switch. */
  kind: "value" | "switch";
  /** Placeholder in --help, e.g. NAME. */
  arg?: string;
  /** One line for --help; say the default. */
  help: string;
}

/** The contract's shared flags. A command picks the ones it uses and adds its own. */
export const SHARED_FLAGS = {
  stack: {
    kind: "value",
    arg: "NAME",
    help: "read names from this Pulumi stack's outputs (needs the pulumi CLI)",
  },
  region: { kind: "value", arg: "R", help: "AWS region (env AWS_REGION, else us-east-1)" },
  function: {
    kind: "value",
    arg: "NAME",
    help: "sandbox function name or ARN (env CODE_EXECUTOR_FUNCTION, else co-intelligence-code-executor)",
  },
  repository: {
    kind: "value",
    arg: "NAME",
    help: "ECR repository (env BACKEND_REPOSITORY, else co-intelligence-backend)",
  },
  "invoke-role": {
    kind: "value",
    arg: "NAME",
    help: "IAM role the backend invokes with (env BACKEND_INVOKE_ROLE, else co-intelligence-eks-node-role)",
  },
  namespace: {
    kind: "value",
    arg: "NS",
    help: "backend's Kubernetes namespace (env BACKEND_NAMESPACE, else co-intelligence)",
  },
  deployment: {
    kind: "value",
    arg: "NAME",
    help: "backend's Kubernetes deployment (env BACKEND_DEPLOYMENT, else backend)",
  },
  url: {
    kind: "value",
    arg: "URL",
    help: "backend base URL (env BACKEND_URL; checks that need it skip without)",
  },
  since: { kind: "value", arg: "MINUTES", help: "how far back log checks look (default 15)" },
  json: { kind: "switch", help: "machine-readable output on stdout" },
  help: { kind: "switch", help: "this text" },
} as const satisfies Record<string, FlagSpec>;

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedFlags {
  /** Values of value flags that were given, by flag name without dashes. */
  values: Record<string, string>;
  /** Switches that were given. */
  switches: Set<string>;
}

/**
 * Parses `--flag value`, `--flag=value` and `--switch`. Anything else (unknown flag,
 * positional, missing value, value on a switch) is a UsageError naming the argument.
 */
export function parseFlags(argv: readonly string[], specs: FlagSpecs, command: string): ParsedFlags {
  const values: Record<string, string> = {};
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      switches.add("help");
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") {
      throw new UsageError(
        `unexpected argument ${JSON.stringify(arg)}: flags look like --name value`,
        command,
      );
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) throw new UsageError(`unknown flag --${name}`, command);
    if (spec.kind === "switch") {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`, command);
      switches.add(name);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith("--")) {
        value = next;
        i++;
      }
    }
    if (value === undefined || value === "") {
      throw new UsageError(`--${name} needs a value: --${name} ${spec.arg ?? "VALUE"}`, command);
    }
    values[name] = value;
  }
  return { values, switches };
}

/** `--help` text: usage line, one line per flag, env notes, examples. */
export function helpText(opts: {
  command: string;
  summary: string;
  specs: FlagSpecs;
  examples: string[];
  notes?: string[];
}): string {
  const rows = Object.entries(opts.specs).map(([name, spec]) => [
    `--${name}${spec.kind === "value" ? ` ${spec.arg ?? "VALUE"}` : ""}`,
    spec.help,
  ]);
  const width = Math.max(...rows.map(([left]) => left!.length));
  return [
    `usage: npm run ${opts.command} -- [flags]`,
    "",
    opts.summary,
    "",
    ...rows.map(([left, right]) => `  ${left!.padEnd(width)}  ${right}`),
    ...(opts.notes && opts.notes.length > 0 ? ["", ...opts.notes] : []),
    "",
    ...opts.examples.map((example, i) => `${i === 0 ? "example: " : "         "}${example}`),
  ].join("\n");
}

/** The names and places every command acts on, after resolution. */
export interface Targets {
  stack?: string;
  region: string;
  functionName: string;
  repositoryName: string;
  invokeRoleName: string;
  namespace: string;
  deploymentName: string;
  url?: string;
  sinceMinutes: number;
}

export const DEFAULTS = {
  region: "us-east-1",
  functionName: "co-intelligence-code-executor",
  repositoryName: "co-intelligence-backend",
  invokeRoleName: "co-intelligence-eks-node-role",
  // The namespace the Pulumi program creates (CONTRACT section 3).
  namespace: "co-intelligence",
  deploymentName: "backend",
  sinceMinutes: 15,
} as const;

/** Environment variables read for each target (first set one wins), documented in --help. */
export const ENV_VARS = {
  region: ["AWS_REGION", "AWS_DEFAULT_REGION"],
  functionName: ["CODE_EXECUTOR_FUNCTION"],
  repositoryName: ["BACKEND_REPOSITORY"],
  invokeRoleName: ["BACKEND_INVOKE_ROLE"],
  namespace: ["BACKEND_NAMESPACE"],
  deploymentName: ["BACKEND_DEPLOYMENT"],
  url: ["BACKEND_URL"],
} as const;

/** Which Pulumi stack output (index.ts) feeds each target. */
const STACK_OUTPUTS = {
  region: "region",
  functionName: "functionName",
  repositoryName: "repositoryName",
  invokeRoleName: "invokeRoleName",
  namespace: "namespace",
  deploymentName: "deploymentName",
  // `https://<ingressHost>` when the stack has an Ingress.
  url: "url",
} as const;

const FLAG_OF = {
  region: "region",
  functionName: "function",
  repositoryName: "repository",
  invokeRoleName: "invoke-role",
  namespace: "namespace",
  deploymentName: "deployment",
  url: "url",
} as const;

/** The grammar each target must fit (scripts/lib/names.ts). */
const NAME_KIND: Partial<Record<keyof typeof FLAG_OF, NameKind>> = {
  region: "region",
  functionName: "functionName",
  repositoryName: "repositoryName",
  invokeRoleName: "invokeRoleName",
  namespace: "namespace",
  deploymentName: "deployment",
};

export type StackOutputs = Record<string, unknown>;

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Reads a stack's outputs; default: `pulumi stack output --json --stack NAME`. */
  readStack?: (stack: string) => StackOutputs;
  command: string;
}

/** Resolves every target: flag, then environment, then stack outputs, then default. */
export function resolveTargets(flags: ParsedFlags, opts: ResolveOptions): Targets {
  const env = opts.env ?? process.env;
  const stack = flags.values.stack;
  if (stack !== undefined) {
    const problem = nameProblem("stack", stack);
    if (problem) throw new UsageError(`--stack ${problem}`, opts.command);
  }
  const outputs = stack === undefined ? {} : (opts.readStack ?? readStackOutputs)(stack);
  /** The value and where it came from (named in an error about it). */
  const source = (key: keyof typeof FLAG_OF): [string, string] | undefined => {
    const flag = flags.values[FLAG_OF[key]];
    if (flag !== undefined) return [flag, `--${FLAG_OF[key]}`];
    for (const name of ENV_VARS[key]) {
      const value = env[name];
      if (value !== undefined && value !== "") return [value, name];
    }
    if (key in STACK_OUTPUTS) {
      const output = STACK_OUTPUTS[key as keyof typeof STACK_OUTPUTS];
      const value = outputs[output];
      if (typeof value === "string" && value !== "") return [value, `stack output ${output}`];
    }
    return key in DEFAULTS ? [DEFAULTS[key as keyof typeof DEFAULTS].toString(), "default"] : undefined;
  };
  const pick = (key: keyof typeof FLAG_OF): string | undefined => {
    const found = source(key);
    if (found === undefined) return undefined;
    const [value, from] = found;
    const kind = NAME_KIND[key];
    const problem = kind === undefined ? undefined : nameProblem(kind, value);
    if (problem) throw new UsageError(`${FLAG_OF[key]} (from ${from}) ${problem}`, opts.command);
    return value;
  };
  const urlSource = source("url");
  const url = urlSource?.[0];
  if (url !== undefined && !/^https?:\/\/[^/\s]+(\/\S*)?$/.test(url)) {
    throw new UsageError(
      `--url must be an http(s) URL like http://localhost:8080, got ${JSON.stringify(url)}` +
        (urlSource![1] === "--url" ? "" : ` from ${urlSource![1]}`),
      opts.command,
    );
  }
  const sinceRaw = flags.values.since;
  let sinceMinutes: number = DEFAULTS.sinceMinutes;
  if (sinceRaw !== undefined) {
    sinceMinutes = Number(sinceRaw);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(sinceRaw) || sinceMinutes <= 0) {
      throw new UsageError(
        `--since must be a positive number of minutes, got ${JSON.stringify(sinceRaw)}`,
        opts.command,
      );
    }
  }
  return {
    ...(stack === undefined ? {} : { stack }),
    region: pick("region")!,
    functionName: pick("functionName")!,
    repositoryName: pick("repositoryName")!,
    invokeRoleName: pick("invokeRoleName")!,
    namespace: pick("namespace")!,
    deploymentName: pick("deploymentName")!,
    ...(url === undefined ? {} : { url: url.replace(/\/+$/, "") }),
    sinceMinutes,
  };
}

export const PULUMI_INSTALL_HINT =
  "install it with `curl -fsSL https://get.pulumi.com | sh`, or pass the names as flags instead " +
  "(--function NAME --repository NAME --invoke-role NAME ...)";

/** `pulumi stack output --json --stack NAME`, parsed; a clear CliError when it cannot run. */
export function readStackOutputs(stack: string, env: NodeJS.ProcessEnv = process.env): StackOutputs {
  const pulumi = findOnPath("pulumi", env);
  if (pulumi === undefined) {
    throw new CliError(`--stack ${stack} needs the Pulumi CLI, which is not on PATH: ${PULUMI_INSTALL_HINT}`);
  }
  const result = spawnSync(pulumi, ["stack", "output", "--json", "--stack", stack], {
    encoding: "utf8",
    env,
    // A hung backend login (or a network stall) must not hang the command.
    timeout: 120_000,
    killSignal: "SIGKILL",
  });
  if (result.error) throw new CliError(`could not run ${pulumi}: ${result.error.message}`);
  if (result.status !== 0) {
    const reason = firstLine(result.stderr) || `exit code ${result.status}`;
    throw new CliError(
      `pulumi stack output --stack ${stack} failed: ${reason} (check the stack name with: pulumi stack ls)`,
    );
  }
  try {
    const parsed: unknown = JSON.parse(result.stdout);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      throw new Error("not an object");
    return parsed as StackOutputs;
  } catch {
    throw new CliError(
      `pulumi stack output --stack ${stack} did not print a JSON object; run it yourself to see why`,
    );
  }
}

/** The executable's path when `command` is on PATH. */
export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function firstLine(text: string | undefined | null): string {
  return (text ?? "").trim().split("\n")[0]?.trim() ?? "";
}

/** A thrown value as one readable line: `Name: message` for AWS/SDK errors, the message otherwise. */
export function errorLine(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof Error) {
    const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return `${name}${firstLine(err.message) || "(no message)"}`;
  }
  return firstLine(String(err));
}

/**
 * Runs a command's main and sets the exit code: the number main returns (default 0), or
 * for a thrown error one line on stderr and its exit code (CliError) or 1. DEBUG=1 adds the stack.
 */
export async function runCommand(
  main: (argv: string[]) => Promise<number | void>,
  argv = process.argv.slice(2),
): Promise<void> {
  try {
    const code = await main(argv);
    process.exitCode = code ?? 0;
  } catch (err) {
    process.stderr.write(`error: ${terminalSafe(errorLine(err))}\n`);
    if (process.env.DEBUG === "1" && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  }
}
