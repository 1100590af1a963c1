/**
 * Flags, targets and the error wrapper shared by every ops command (doctor, logs, smoke,
 * rollout, ...). CONTRACT.md section 3: a value comes from its flag, then the environment,
 * then the Pulumi stack's outputs (`--stack NAME`), then the contract's defaults.
 */
import { DEFAULT_PROVIDER, PROVIDER_IDS, type ProviderId } from "../../contract/models";
import { DEFAULT_NAMES } from "../../contract/names";
import type { StackOutputName } from "../../contract/stack";
import { readStackOutputs, type StackOutputs } from "../adapters/pulumi";
import { CliError, UsageError } from "./cli-error";
import { helpText, npmCommand, parseFlags, type FlagSpec, type FlagSpecs, type ParsedFlags } from "./flags";
import { nameProblem, type NameKind } from "./names";
import { terminalSafe } from "./terminal-safe";

export { CliError, UsageError };
export { readStackOutputs, type StackOutputs };
export { helpText, npmCommand, parseFlags, type FlagSpec, type FlagSpecs, type ParsedFlags };

/** The contract's shared flags. A command picks the ones it uses and adds its own. */
export const SHARED_FLAGS = {
  stack: {
    kind: "value",
    arg: "NAME",
    help: "read names from this Pulumi stack's outputs (needs the pulumi CLI)",
  },
  region: { kind: "value", arg: "R", help: `AWS region (env AWS_REGION, else ${DEFAULT_NAMES.region})` },
  function: {
    kind: "value",
    arg: "NAME",
    help: `sandbox function name or ARN (env CODE_EXECUTOR_FUNCTION, else ${DEFAULT_NAMES.functionName})`,
  },
  repository: {
    kind: "value",
    arg: "NAME",
    help: `ECR repository (env BACKEND_REPOSITORY, else ${DEFAULT_NAMES.repositoryName})`,
  },
  "invoke-role": {
    kind: "value",
    arg: "NAME",
    help: `IAM role the backend invokes with (env BACKEND_INVOKE_ROLE, else ${DEFAULT_NAMES.nodeRoleName})`,
  },
  namespace: {
    kind: "value",
    arg: "NS",
    help: `backend's Kubernetes namespace (env BACKEND_NAMESPACE, else ${DEFAULT_NAMES.namespace})`,
  },
  deployment: {
    kind: "value",
    arg: "NAME",
    help: `backend's Kubernetes deployment (env BACKEND_DEPLOYMENT, else ${DEFAULT_NAMES.deploymentName})`,
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
  /**
   * The model the backend talks to: `MODEL_PROVIDER` and `MODEL_ID` from the environment, else
   * the stack outputs `modelProvider` and `modelId`, else Gemini with its default model.
   */
  model: { provider: ProviderId; id?: string };
}

/** The contract's defaults (contract/names.ts), and how far back log checks look. */
export const DEFAULTS = {
  region: DEFAULT_NAMES.region,
  functionName: DEFAULT_NAMES.functionName,
  repositoryName: DEFAULT_NAMES.repositoryName,
  invokeRoleName: DEFAULT_NAMES.nodeRoleName,
  namespace: DEFAULT_NAMES.namespace,
  deploymentName: DEFAULT_NAMES.deploymentName,
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

/** Which Pulumi stack output (contract/stack.ts, exported by index.ts) feeds each target. */
const STACK_OUTPUTS: Partial<Record<keyof typeof FLAG_OF, StackOutputName>> = {
  region: "region",
  functionName: "functionName",
  repositoryName: "repositoryName",
  invokeRoleName: "invokeRoleName",
  namespace: "namespace",
  deploymentName: "deploymentName",
  // `https://<ingressHost>` when the stack has an Ingress.
  url: "url",
};

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

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Reads a stack's outputs; default: `pulumi stack output --json --stack NAME`. */
  readStack?: (stack: string) => StackOutputs | Promise<StackOutputs>;
  command: string;
}

/** Resolves every target: flag, then environment, then stack outputs, then default. */
export async function resolveTargets(flags: ParsedFlags, opts: ResolveOptions): Promise<Targets> {
  const env = opts.env ?? process.env;
  const stack = flags.values.stack;
  if (stack !== undefined) {
    const problem = nameProblem("stack", stack);
    if (problem) throw new UsageError(`--stack ${problem}`, opts.command);
  }
  const outputs =
    stack === undefined ? {} : await (opts.readStack ?? ((name) => readStackOutputs(name, env)))(stack);
  /** The value and where it came from (named in an error about it). */
  const source = (key: keyof typeof FLAG_OF): [string, string] | undefined => {
    const flag = flags.values[FLAG_OF[key]];
    if (flag !== undefined) return [flag, `--${FLAG_OF[key]}`];
    for (const name of ENV_VARS[key]) {
      const value = env[name];
      if (value !== undefined && value !== "") return [value, name];
    }
    const output = STACK_OUTPUTS[key];
    if (output !== undefined) {
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
    model: resolveModel(env, outputs, opts.command),
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

/** The model: MODEL_PROVIDER / MODEL_ID, else the stack's outputs, else the contract's default provider. */
function resolveModel(env: NodeJS.ProcessEnv, outputs: StackOutputs, command: string): Targets["model"] {
  const fromEnv = env.MODEL_PROVIDER?.trim();
  const fromStack = typeof outputs.modelProvider === "string" ? outputs.modelProvider : undefined;
  const raw = fromEnv || fromStack || DEFAULT_PROVIDER;
  const provider = raw.toLowerCase();
  if (!(PROVIDER_IDS as readonly string[]).includes(provider))
    throw new UsageError(
      `${fromEnv ? "MODEL_PROVIDER" : "stack output modelProvider"} ${JSON.stringify(raw)} is not a provider; use one of ${PROVIDER_IDS.join(", ")}`,
      command,
    );
  // The model comes from where the provider came from: never the stack's model for the environment's provider.
  const id = fromEnv
    ? env.MODEL_ID?.trim()
    : typeof outputs.modelId === "string"
      ? outputs.modelId
      : undefined;
  return { provider: provider as ProviderId, ...(id ? { id } : {}) };
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
