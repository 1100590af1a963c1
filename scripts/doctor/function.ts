/**
 * aws-identity, function-exists, function-state, function-config: who we are, and whether
 * the sandbox function exists, is ready, and is configured as the contract and the sandbox
 * (lambda/sandbox/config.py) expect.
 */
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { GetFunctionCommand } from "@aws-sdk/client-lambda";
import { awsErrorName, isAccessDenied, parseArn } from "../adapters/aws";
import { errorLine } from "../lib/cli";
import { Check, fail, pass, skip } from "../lib/report";
import { DoctorContext } from "./context";
import { command } from "../lib/shell";
import { allowListIssues, splitModuleList } from "../../contract/sandbox-modules";
import { SANDBOX_ENV, SANDBOX_LIMITS } from "../../contract/sandbox";

/** The oldest CPython the sandbox runs on (CONTRACT.md section 1: 3.11 and 3.12 locally, 3.13 in Lambda). */
const MIN_PYTHON_MINOR = 11;

/** What each numeric SANDBOX_* variable accepts (contract/sandbox.ts); unset means its default. */
const RANGES = {
  [SANDBOX_ENV.timeoutMs]: SANDBOX_LIMITS.timeoutMs,
  [SANDBOX_ENV.maxOutputBytes]: SANDBOX_LIMITS.maxOutputBytes,
  [SANDBOX_ENV.memoryMb]: SANDBOX_LIMITS.memoryMb,
} as const;

/** Network errors: the request never got an answer. */
const UNREACHABLE =
  /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|TimeoutError)$/;

export const awsIdentity: Check<DoctorContext> = {
  id: "aws-identity",
  title: "AWS credentials work",
  async run(ctx) {
    try {
      const me = await ctx.aws.sts.send(new GetCallerIdentityCommand({}));
      ctx.found.account = me.Account;
      return pass(`${me.Arn} (account ${me.Account}, region ${ctx.targets.region})`);
    } catch (err) {
      // No answer at all is not a credentials problem: new credentials would not help.
      if (UNREACHABLE.test(awsErrorName(err))) {
        const endpoint = ctx.env.AWS_ENDPOINT_URL_STS || ctx.env.AWS_ENDPOINT_URL;
        return fail(
          `STS GetCallerIdentity failed: ${errorLine(err)}`,
          `AWS does not answer from this shell${endpoint ? ` at ${endpoint} (AWS_ENDPOINT_URL${ctx.env.AWS_ENDPOINT_URL_STS ? "_STS" : ""})` : ""}: ` +
            "check the network and the endpoint settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS), then: aws sts get-caller-identity",
        );
      }
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
          `${ctx.fix.pulumiUp}   (or, if it lives elsewhere, pass --function NAME --region R; see docs/deploy.md: Adopting an existing deployment)`,
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
  if (minor === undefined || Number(minor) < MIN_PYTHON_MINOR) {
    problems.push(
      `runtime must be python3.${MIN_PYTHON_MINOR} or later, found ${fn.Runtime ?? "none (image?)"}`,
    );
  }
  // CONTRACT section 1: every SANDBOX_* variable is optional; an unset one means its default,
  // which is healthy. A set one must hold a value the sandbox accepts.
  const wholeNumber = (name: keyof typeof RANGES): number | undefined => {
    const raw = env[name];
    if (raw === undefined) return undefined;
    const { min, max } = RANGES[name];
    if (!/^[0-9]+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, found ${JSON.stringify(raw)}`);
      return undefined;
    }
    return Number(raw);
  };
  const limitMs = wholeNumber(SANDBOX_ENV.timeoutMs) ?? SANDBOX_LIMITS.timeoutMs.default;
  wholeNumber(SANDBOX_ENV.maxOutputBytes);
  const sandboxMemory = wholeNumber(SANDBOX_ENV.memoryMb);
  const timeout = fn.Timeout ?? 3;
  if (timeout * 1000 < limitMs) {
    problems.push(
      `timeout must be at least the sandbox limit ${limitMs / 1000} s (${SANDBOX_ENV.timeoutMs}=${limitMs}) so a Timeout is answered, found ${timeout} s`,
    );
  }
  const memory = fn.MemorySize ?? 128;
  const minMemory = SANDBOX_LIMITS.functionMemoryMb.min;
  if (memory < minMemory) problems.push(`memory must be at least ${minMemory} MB, found ${memory} MB`);
  if (sandboxMemory !== undefined && sandboxMemory >= memory) {
    problems.push(
      `${SANDBOX_ENV.memoryMb} must be below the function's memory (${memory} MB), found ${sandboxMemory}`,
    );
  }
  const allowList = env[SANDBOX_ENV.allowedModules];
  if (allowList !== undefined) {
    const issues = allowListIssues(splitModuleList(allowList));
    if (issues.empty || issues.malformed.length > 0)
      problems.push(
        `${SANDBOX_ENV.allowedModules} must be comma-separated module names, found ${JSON.stringify(allowList)}`,
      );
    if (issues.unvetted.length > 0)
      problems.push(
        `${SANDBOX_ENV.allowedModules} may only list vetted modules, found ${issues.unvetted.join(", ")} (the sandbox refuses to start)`,
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
    const unset = Object.values(SANDBOX_ENV).filter(
      (name) => fn.Environment?.Variables?.[name] === undefined,
    );
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
  const raw = Number(fn.Environment?.Variables?.[SANDBOX_ENV.timeoutMs]);
  return Number.isInteger(raw) && raw > 0 ? raw : SANDBOX_LIMITS.timeoutMs.default;
}

/** The function's unqualified ARN, built from the account when only a name is known. */
export function functionArn(ctx: DoctorContext): string {
  const arn = ctx.found.fn?.FunctionArn;
  if (arn) return arn.split(":").slice(0, 7).join(":");
  const name = ctx.targets.functionName;
  if (parseArn(name)) return name;
  return `arn:aws:lambda:${ctx.targets.region}:${ctx.found.account ?? "*"}:function:${name}`;
}
