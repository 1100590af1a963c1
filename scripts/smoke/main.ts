// `npm run smoke -- --url URL`: the checks a deploy must pass, as CI runs them: the seed's
// five questions through /api/chat, every allowed module and four refusals through the
// sandbox (/api/execute, or the function itself with --function). --junit FILE for CI.
import * as fs from "node:fs";
import * as path from "node:path";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { DEFAULT_ALLOWED_MODULES, MODULE_NAME, splitModuleList } from "../../contract/sandbox-modules";
import { SANDBOX_ENV } from "../../contract/sandbox";
import { lambdaInvokeClient, makeClient } from "../adapters/aws";
import { chat, executeViaBackend } from "../adapters/backend-http";
import { functionEnvironment, invokeSandbox } from "../adapters/lambda";
import {
  SHARED_FLAGS,
  UsageError,
  helpText,
  parseFlags,
  errorLine,
  resolveTargets,
  runCommand,
  type FlagSpecs,
  type Targets,
} from "../lib/cli";
import { printReport, renderJunit, runChecks } from "../lib/report";
import { terminalSafe } from "../lib/terminal-safe";
import { smokeChecks, type SmokeContext } from "./checks";

const COMMAND = "smoke";
const CHAT_TIMEOUT_MS = 120_000;
const EXECUTE_TIMEOUT_MS = 60_000;
/** A check (two chat attempts at most) never takes longer than this. */
const CHECK_TIMEOUT_MS = 2 * CHAT_TIMEOUT_MS + 30_000;
const DEFAULT_DEADLINE = "15m";

const FLAGS = {
  url: { kind: "value", arg: "URL", help: "backend base URL (env BACKEND_URL); chat checks skip without it" },
  function: {
    kind: "value",
    arg: "NAME",
    help: "run the sandbox checks by invoking this function directly instead of POST <url>/api/execute",
  },
  modules: {
    kind: "value",
    arg: "A,B,...",
    help: "allowed modules to check (env SANDBOX_ALLOWED_MODULES, else the function's own when --function or --stack names it, else the contract's 15)",
  },
  junit: {
    kind: "value",
    arg: "FILE",
    help: "also write a JUnit XML report to FILE (for CI), also when stopped (deadline, Ctrl-C, SIGTERM)",
  },
  deadline: {
    kind: "value",
    arg: "DURATION",
    help: `stop the whole run after this long, e.g. 10m (default ${DEFAULT_DEADLINE}); each check stops after ${CHECK_TIMEOUT_MS / 1000} s`,
  },
  stack: SHARED_FLAGS.stack,
  region: SHARED_FLAGS.region,
  json: SHARED_FLAGS.json,
  help: SHARED_FLAGS.help,
} as const satisfies FlagSpecs;

const HELP = helpText({
  command: COMMAND,
  summary:
    "The checks a deploy must pass: the five seed questions through POST /api/chat (each must run code\n" +
    "and answer the right number; one retry), every allowed module through the sandbox, and the sandbox\n" +
    "refusing os, sys, subprocess and a file read. Exit 0 iff every check passes.",
  specs: FLAGS,
  notes: ["API_TOKEN (env): sent as Authorization: Bearer when the backend requires a token."],
  examples: [
    "npm run smoke -- --url https://chat.example.com --junit smoke-junit.xml",
    "npm run smoke -- --url http://localhost:8080 --json",
    "npm run smoke -- --function co-intelligence-code-executor --region us-east-1",
  ],
});

function parseModules(raw: string | undefined): string[] {
  if (raw === undefined) return [...DEFAULT_ALLOWED_MODULES];
  const modules = splitModuleList(raw);
  const bad = modules.find((m) => !MODULE_NAME.test(m));
  if (modules.length === 0 || bad !== undefined) {
    throw new UsageError(
      `--modules must be comma-separated module names like math,json, got ${JSON.stringify(raw)}`,
      COMMAND,
    );
  }
  return modules;
}

/**
 * The allow-list smoke checks: --modules, else SANDBOX_ALLOWED_MODULES, else, when the function
 * is named (--function, --stack, CODE_EXECUTOR_FUNCTION), the function's own (a stack may set
 * co-intelligence:allowedModules to another list), else the contract's 15.
 */
async function allowedModules(
  given: string | undefined,
  targets: Targets,
  functionNamed: boolean,
): Promise<string[]> {
  if (given !== undefined || !functionNamed) return parseModules(given);
  const name = targets.functionName;
  try {
    const environment = await functionEnvironment(
      makeClient(LambdaClient, { region: targets.region }),
      name,
      AbortSignal.timeout(15_000),
    );
    const raw = environment[SANDBOX_ENV.allowedModules];
    const modules = raw === undefined ? [] : splitModuleList(raw).filter((m) => MODULE_NAME.test(m));
    if (modules.length > 0) {
      process.stderr.write(
        `smoke: modules from ${name}'s ${SANDBOX_ENV.allowedModules}: ${modules.join(",")}\n`,
      );
      return modules;
    }
  } catch (err) {
    process.stderr.write(
      `smoke: could not read ${name}'s ${SANDBOX_ENV.allowedModules} (${terminalSafe(errorLine(err))}); checking the contract's default modules (or pass --modules)\n`,
    );
  }
  return [...DEFAULT_ALLOWED_MODULES];
}

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, FLAGS, COMMAND);
  if (flags.switches.has("help")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const targets = await resolveTargets(flags, { command: COMMAND });
  const direct =
    flags.values.function !== undefined || (targets.url === undefined && targets.stack !== undefined);
  if (targets.url === undefined && !direct) {
    throw new UsageError(
      "--url URL is required (the backend to check, e.g. --url http://localhost:8080), or --function NAME for the sandbox checks alone",
      COMMAND,
    );
  }
  const deadlineText = flags.values.deadline ?? DEFAULT_DEADLINE;
  const deadline = /^(\d+)(s|m|h)$/.exec(deadlineText);
  if (!deadline || Number(deadline[1]) === 0) {
    throw new UsageError(
      `--deadline must be a duration like 90s, 10m or 1h, got ${JSON.stringify(deadlineText)}`,
      COMMAND,
    );
  }
  const deadlineMs =
    Number(deadline[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[deadline[2] as "s" | "m" | "h"];
  const modules = await allowedModules(
    flags.values.modules ?? process.env[SANDBOX_ENV.allowedModules],
    targets,
    flags.values.function !== undefined ||
      targets.stack !== undefined ||
      !!process.env.CODE_EXECUTOR_FUNCTION,
  );
  const token = process.env.API_TOKEN || undefined;
  const backend = targets.url === undefined ? undefined : { url: targets.url, ...(token ? { token } : {}) };
  const lambda = direct ? lambdaInvokeClient(targets.region) : undefined;
  const doctorArgs = [
    ...(targets.stack ? [`--stack ${targets.stack}`] : []),
    ...(targets.url ? [`--url ${targets.url}`] : []),
  ].join(" ");
  const ctx: SmokeContext = {
    ...(targets.url === undefined ? {} : { url: targets.url }),
    sandboxVia: lambda ? `Lambda ${targets.functionName}` : `POST ${targets.url}/api/execute`,
    doctorCommand: `npm run doctor${doctorArgs ? ` -- ${doctorArgs}` : ""}`,
    chat: (question) => chat({ ...backend!, timeoutMs: CHAT_TIMEOUT_MS }, question),
    execute: (code) =>
      lambda
        ? executeViaLambda(lambda, targets.functionName, code)
        : executeViaBackend({ ...backend!, timeoutMs: EXECUTE_TIMEOUT_MS }, code),
  };
  process.stderr.write(
    `smoke: ${targets.url ?? "(no --url: chat checks skipped)"}; sandbox via ${ctx.sandboxVia}\n`,
  );
  // The run stops at its deadline or on Ctrl-C / SIGTERM (a CI job cancelled or timed out):
  // the check under way fails with the reason, the rest are skipped, and the report of what
  // ran is still written.
  const stop = new AbortController();
  const timer = setTimeout(
    () => stop.abort(new Error(`the run's --deadline of ${deadlineText} passed`)),
    deadlineMs,
  );
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`interrupted by ${signal}`));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let report;
  try {
    report = await runChecks(smokeChecks(modules), ctx, {
      progress: (line) => process.stderr.write(`${terminalSafe(line)}\n`),
      defaultFix: ctx.doctorCommand,
      checkTimeoutMs: CHECK_TIMEOUT_MS,
      signal: stop.signal,
    });
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const junit = flags.values.junit;
  if (junit !== undefined) {
    try {
      fs.mkdirSync(path.dirname(path.resolve(junit)), { recursive: true });
      fs.writeFileSync(junit, renderJunit(report, "smoke"));
    } catch (err) {
      process.stderr.write(
        `error: could not write the JUnit report to ${junit}: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      printReport(report, { json: flags.switches.has("json") });
      return 1;
    }
  }
  const code = printReport(report, { json: flags.switches.has("json") });
  // A stopped run may leave a request hanging (its own timeout is minutes away): do not wait.
  if (stop.signal.aborted) process.exit(code);
  return code;
}

/** Runs code by invoking the function itself; a function error is a failure of the check. */
async function executeViaLambda(lambda: LambdaClient, functionName: string, code: string) {
  const invocation = await invokeSandbox(lambda, functionName, code);
  if (invocation.kind === "function-error")
    throw new Error(`the function failed (${invocation.functionError}): ${invocation.message}`);
  return invocation.answer;
}

if (require.main === module) void runCommand(main);
