/**
 * aws-identity, function-exists, function-state, function-config: who we are, and whether
 * the sandbox function exists, is ready, and is configured as the contract and the sandbox
 * (lambda/sandbox/config.py) expect.
 */
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { GetFunctionCommand } from "@aws-sdk/client-lambda";
import { awsErrorName, isAccessDenied, parseArn } from "../lib/aws";
import { errorLine } from "../lib/cli";
import { Check, fail, pass, skip } from "../lib/report";
import { DoctorContext } from "./context";
import { command } from "../lib/shell";
import { unvettedModules } from "../../contract/sandbox-modules";

/** The sandbox's defaults and limits (lambda/sandbox/config.py; CONTRACT.md section 1). */
export const SANDBOX = {
  minPythonMinor: 11,
  minMemoryMb: 512,
  defaultTimeoutMs: 30000,
  /** What each numeric variable accepts (lambda/sandbox/config.py); unset means the default. */
  ranges: {
    SANDBOX_TIMEOUT_MS: [1, 900_000],
    SANDBOX_MAX_OUTPUT_BYTES: [1, 6 * 1024 * 1024],
    SANDBOX_MEMORY_MB: [1, 10_240],
  },
} as const;

export const awsIdentity: Check<DoctorContext> = {
  id: "aws-identity",
  title: "AWS credentials work",
  async run(ctx) {
    try {
      const me = await ctx.aws.sts.send(new GetCallerIdentityCommand({}));
      ctx.found.account = me.Account;
      return pass(`${me.Arn} (account ${me.Account}, region ${ctx.targets.region})`);
    } catch (err) {
      return fail(
        `STS GetCallerIdentity failed: ${errorLine(err)}`,
        "give this shell AWS credentials: `aws configure`, or `export AWS_PROFILE=NAME` (`aws sso login --profile NAME` for SSO); check with `aws sts get-caller-identity`",
      );
    }
  },
};

export const functionExists: Check<DoctorContext> = {
  id: "function-exists",
  title: "Sandbox function exists",
  needs: ["aws-identity"],
  async run(ctx) {
    const { functionName, region } = ctx.targets;
    try {
      const out = await ctx.aws.lambda.send(new GetFunctionCommand({ FunctionName: functionName }));
      ctx.found.fn = out.Configuration;
      ctx.found.reservedConcurrency = out.Concurrency?.ReservedConcurrentExecutions;
      return pass(`${out.Configuration?.FunctionArn ?? functionName}`);
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") {
        return fail(
          `no function ${functionName} in ${region}: ${errorLine(err)}`,
          `${ctx.fix.pulumiUp}   (or, if it lives elsewhere, pass --function NAME --region R; see README: Adopting an existing deployment)`,
        );
      }
      if (isAccessDenied(err)) return skip(`no permission to read the function: ${errorLine(err)}`);
      throw err;
    }
  },
};

export const functionState: Check<DoctorContext> = {
  id: "function-state",
  title: "Function is Active and its last update succeeded",
  needs: ["function-exists"],
  async run(ctx) {
    const fn = ctx.found.fn!;
    const name = ctx.targets.functionName;
    const state = fn.State ?? "unknown";
    const update = fn.LastUpdateStatus ?? "unknown";
    if (state === "Active" && update === "Successful")
      return pass(`State ${state}, LastUpdateStatus ${update}`);
    const reasons = [fn.StateReason, fn.LastUpdateStatusReason].filter(Boolean).join("; ");
    const found = `State ${state}, LastUpdateStatus ${update}${reasons ? ` (${reasons})` : ""}`;
    if (state === "Pending" || update === "InProgress") {
      return fail(
        `${found}: an update is still running`,
        `wait for it: ${command("aws", "lambda", "wait", "function-updated-v2", "--function-name", name, "--region", ctx.targets.region)}, then run doctor again`,
      );
    }
    if (state === "Inactive") {
      return fail(
        `${found}: idle functions in a VPC go Inactive and the next invoke reactivates them`,
        `${command("aws", "lambda", "invoke", "--function-name", name, "--region", ctx.targets.region, "--cli-binary-format", "raw-in-base64-out", "--payload", '{"code":"print(1)"}', "/dev/stdout")}   (then run doctor again)`,
      );
    }
    return fail(found, `fix the cause named above, then: ${ctx.fix.pulumiUp}`);
  },
};

/** Every problem of the function's configuration, each saying what was expected and what was found. */
export function configProblems(fn: {
  Runtime?: string;
  Timeout?: number;
  MemorySize?: number;
  Environment?: { Variables?: Record<string, string> };
  reservedConcurrency?: number;
}): string[] {
  const problems: string[] = [];
  const env = fn.Environment?.Variables ?? {};
  const minor = /^python3\.(\d+)$/.exec(fn.Runtime ?? "")?.[1];
  if (minor === undefined || Number(minor) < SANDBOX.minPythonMinor) {
    problems.push(
      `runtime must be python3.${SANDBOX.minPythonMinor} or later, found ${fn.Runtime ?? "none (image?)"}`,
    );
  }
  // CONTRACT section 1: every SANDBOX_* variable is optional; an unset one means its default,
  // which is healthy. A set one must hold a value the sandbox accepts.
  const wholeNumber = (name: keyof typeof SANDBOX.ranges): number | undefined => {
    const raw = env[name];
    if (raw === undefined) return undefined;
    const [min, max] = SANDBOX.ranges[name];
    if (!/^[0-9]+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, found ${JSON.stringify(raw)}`);
      return undefined;
    }
    return Number(raw);
  };
  const limitMs = wholeNumber("SANDBOX_TIMEOUT_MS") ?? SANDBOX.defaultTimeoutMs;
  wholeNumber("SANDBOX_MAX_OUTPUT_BYTES");
  const sandboxMemory = wholeNumber("SANDBOX_MEMORY_MB");
  const timeout = fn.Timeout ?? 3;
  if (timeout * 1000 < limitMs) {
    problems.push(
      `timeout must be at least the sandbox limit ${limitMs / 1000} s (SANDBOX_TIMEOUT_MS=${limitMs}) so a Timeout is answered, found ${timeout} s`,
    );
  }
  const memory = fn.MemorySize ?? 128;
  if (memory < SANDBOX.minMemoryMb)
    problems.push(`memory must be at least ${SANDBOX.minMemoryMb} MB, found ${memory} MB`);
  if (sandboxMemory !== undefined && sandboxMemory >= memory) {
    problems.push(
      `SANDBOX_MEMORY_MB must be below the function's memory (${memory} MB), found ${sandboxMemory}`,
    );
  }
  const modules = (env.SANDBOX_ALLOWED_MODULES ?? "")
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
  if (env.SANDBOX_ALLOWED_MODULES !== undefined) {
    const bad = modules.filter((m) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(m));
    if (modules.length === 0 || bad.length > 0)
      problems.push(
        `SANDBOX_ALLOWED_MODULES must be comma-separated module names, found ${JSON.stringify(env.SANDBOX_ALLOWED_MODULES)}`,
      );
  }
  const refused = unvettedModules(modules);
  if (refused.length > 0) {
    problems.push(
      `SANDBOX_ALLOWED_MODULES may only list vetted modules, found ${refused.join(", ")} (the sandbox refuses to start)`,
    );
  }
  if (fn.reservedConcurrency === 0) {
    problems.push("reserved concurrency must not be 0, found 0 (every invoke is throttled)");
  }
  return problems;
}

export const functionConfig: Check<DoctorContext> = {
  id: "function-config",
  title: "Runtime, timeout, memory and sandbox environment",
  needs: ["function-exists"],
  async run(ctx) {
    const fn = ctx.found.fn!;
    const problems = configProblems({ ...fn, reservedConcurrency: ctx.found.reservedConcurrency });
    const summary = `${fn.Runtime}, ${fn.Timeout} s, ${fn.MemorySize} MB`;
    const unset = [
      "SANDBOX_ALLOWED_MODULES",
      "SANDBOX_TIMEOUT_MS",
      "SANDBOX_MAX_OUTPUT_BYTES",
      "SANDBOX_MEMORY_MB",
    ].filter((name) => fn.Environment?.Variables?.[name] === undefined);
    if (problems.length === 0)
      return pass(
        `${summary}, SANDBOX_* valid${unset.length > 0 ? ` (defaults for ${unset.join(", ")})` : ""}`,
      );
    const timeoutFix = problems.some((p) => p.startsWith("timeout"))
      ? `   (or now: ${command("aws", "lambda", "update-function-configuration", "--function-name", ctx.targets.functionName, "--region", ctx.targets.region, "--timeout", Math.ceil(sandboxLimitMs(fn) / 1000) + 5)})`
      : "";
    return fail(`${summary}: ${problems.join("; ")}`, `${ctx.fix.pulumiUp}${timeoutFix}`);
  },
};

function sandboxLimitMs(fn: { Environment?: { Variables?: Record<string, string> } }): number {
  const raw = Number(fn.Environment?.Variables?.SANDBOX_TIMEOUT_MS);
  return Number.isInteger(raw) && raw > 0 ? raw : SANDBOX.defaultTimeoutMs;
}

/** The function's unqualified ARN, built from the account when only a name is known. */
export function functionArn(ctx: DoctorContext): string {
  const arn = ctx.found.fn?.FunctionArn;
  if (arn) return arn.split(":").slice(0, 7).join(":");
  const name = ctx.targets.functionName;
  if (parseArn(name)) return name;
  return `arn:aws:lambda:${ctx.targets.region}:${ctx.found.account ?? "*"}:function:${name}`;
}
