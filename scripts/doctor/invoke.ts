/**
 * function-invoke and function-sandbox: direct Lambda invokes with the contract's request
 * event. The first proves the function answers; the second that the sandbox still refuses
 * what it must (a forbidden import, a file read).
 */
import { DEFAULT_RESERVED_CONCURRENCY } from "../../contract/sandbox";
import { configKey } from "../../contract/stack";
import { awsErrorName, isAccessDenied } from "../adapters/aws";
import { invokeSandbox, type SandboxAnswer } from "../adapters/lambda";
import { errorLine } from "../lib/cli";
import { Check, Outcome, fail, pass, skip } from "../lib/report";
import { DoctorContext } from "./context";
import { command } from "../lib/shell";

type InvokeResult = { kind: "answer"; response: SandboxAnswer } | { kind: "problem"; outcome: Outcome };

async function invoke(ctx: DoctorContext, code: string): Promise<InvokeResult> {
  try {
    const invocation = await invokeSandbox(ctx.aws.invoke, ctx.targets.functionName, code);
    ctx.found.invoked = true;
    if (invocation.kind === "answer") return { kind: "answer", response: invocation.answer };
    return {
      kind: "problem",
      outcome: fail(
        `the function itself failed (${invocation.functionError}): ${invocation.message}`,
        `read why: ${ctx.fix.logs}; a configuration error names the SANDBOX_* variable to fix, then: ${ctx.fix.pulumiUp}`,
      ),
    };
  } catch (err) {
    const name = awsErrorName(err);
    if (isAccessDenied(err))
      return { kind: "problem", outcome: skip(`no permission to invoke: ${errorLine(err)}`) };
    if (/TooManyRequests|Throttl/.test(name)) {
      return {
        kind: "problem",
        outcome: fail(
          `throttled: ${errorLine(err)}`,
          `raise the stack's ${configKey("reservedConcurrency")}, then ${ctx.fix.pulumiUp} (or now: ${command("aws", "lambda", "put-function-concurrency", "--function-name", ctx.targets.functionName, "--reserved-concurrent-executions", DEFAULT_RESERVED_CONCURRENCY)})`,
        ),
      };
    }
    throw err;
  }
}

const show = (r: SandboxAnswer) =>
  r.error
    ? `error ${r.error.type}: ${(r.error.message ?? "").split("\n")[0]}`
    : `ok=${r.ok} stdout=${JSON.stringify(r.stdout)}`;

export const functionInvoke: Check<DoctorContext> = {
  id: "function-invoke",
  title: "Direct invoke of print(25 * 47) answers 1175",
  needs: ["function-state"],
  fixOnError: (ctx) => `read the function's logs: ${ctx.fix.logs}`,
  async run(ctx) {
    const result = await invoke(ctx, "print(25 * 47)");
    if (result.kind === "problem") return result.outcome;
    const r = result.response;
    if (r.ok === true && (r.stdout ?? "").trim() === "1175") return pass("ok, stdout 1175");
    return fail(
      `expected ok with stdout "1175", found ${show(r)}`,
      `the deployed handler is not the contract's: redeploy lambda/ with ${ctx.fix.pulumiUp}, then read ${ctx.fix.logs}`,
    );
  },
};

export const functionSandbox: Check<DoctorContext> = {
  id: "function-sandbox",
  title: "Sandbox refuses `import os` and reading /etc/passwd",
  needs: ["function-invoke"],
  fixOnError: (ctx) => `read the function's logs: ${ctx.fix.logs}`,
  async run(ctx) {
    const probes = [
      { code: "import os", expected: "ModuleNotAllowed" },
      { code: "print(open('/etc/passwd').read())", expected: "OperationNotAllowed" },
    ];
    const problems: string[] = [];
    for (const probe of probes) {
      const result = await invoke(ctx, probe.code);
      if (result.kind === "problem") return result.outcome;
      const type = result.response.error?.type;
      if (type !== probe.expected) {
        problems.push(`\`${probe.code}\` must answer ${probe.expected}, found ${show(result.response)}`);
      }
    }
    if (problems.length === 0)
      return pass("import os -> ModuleNotAllowed, open('/etc/passwd') -> OperationNotAllowed");
    return fail(
      `the sandbox lets code through: ${problems.join("; ")}`,
      `check SANDBOX_ALLOWED_MODULES lists no os/sys/io, and redeploy the sandbox (lambda/): ${ctx.fix.pulumiUp}`,
    );
  },
};
