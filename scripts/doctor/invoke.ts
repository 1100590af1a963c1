/**
 * function-invoke and function-sandbox: direct Lambda invokes with the contract's request
 * event. The first proves the function answers; the second that the sandbox still refuses
 * what it must (a forbidden import, a file read).
 */
import { InvokeCommand } from "@aws-sdk/client-lambda";
import { awsErrorName, isAccessDenied } from "../lib/aws";
import { errorLine } from "../lib/cli";
import { Check, Outcome, fail, pass, skip } from "../lib/report";
import { DoctorContext } from "./context";
import { command } from "../lib/shell";

interface SandboxResponse {
  ok?: boolean;
  stdout?: string;
  error?: { type?: string; message?: string } | null;
}

type InvokeResult = { kind: "answer"; response: SandboxResponse } | { kind: "problem"; outcome: Outcome };

async function invoke(ctx: DoctorContext, code: string): Promise<InvokeResult> {
  const name = ctx.targets.functionName;
  try {
    const out = await ctx.aws.invoke.send(
      new InvokeCommand({ FunctionName: name, Payload: new TextEncoder().encode(JSON.stringify({ code })) }),
    );
    const text = out.Payload ? new TextDecoder().decode(out.Payload) : "";
    if (out.FunctionError) {
      let message = text;
      try {
        const e = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        message = `${e.errorType ?? "Error"}: ${e.errorMessage ?? ""}`;
      } catch {
        // keep the raw payload
      }
      return {
        kind: "problem",
        outcome: fail(
          `the function itself failed (${out.FunctionError}): ${message.slice(0, 300)}`,
          `read why: ${ctx.fix.logs}; a configuration error names the SANDBOX_* variable to fix, then: ${ctx.fix.pulumiUp}`,
        ),
      };
    }
    return { kind: "answer", response: JSON.parse(text) as SandboxResponse };
  } catch (err) {
    const name = awsErrorName(err);
    if (isAccessDenied(err))
      return { kind: "problem", outcome: skip(`no permission to invoke: ${errorLine(err)}`) };
    if (/TooManyRequests|Throttl/.test(name)) {
      return {
        kind: "problem",
        outcome: fail(
          `throttled: ${errorLine(err)}`,
          `raise the stack's co-intelligence:reservedConcurrency, then ${ctx.fix.pulumiUp} (or now: ${command("aws", "lambda", "put-function-concurrency", "--function-name", ctx.targets.functionName, "--reserved-concurrent-executions", 20)})`,
        ),
      };
    }
    throw err;
  }
}

const show = (r: SandboxResponse) =>
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
