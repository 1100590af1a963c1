/**
 * What build-image, push, rollout and update-backend report: a step either succeeds with
 * facts (image ref, digest, ...) or fails with what went wrong and the command that fixes it.
 * One shape for the readable report and for `--json`.
 */
import { isAccessDenied } from "../adapters/aws";
import { StepFailure } from "../lib/cli-error";
import { errorLine } from "../lib/cli";
import { terminalSafe, terminalSafeJson } from "../lib/terminal-safe";

export { StepFailure };

export interface StepReport {
  ok: boolean;
  /** The step's name: build, push, rollout. */
  step: string;
  /** Facts on success (and whatever was known before a failure). */
  result: Record<string, unknown>;
  error?: { message: string; fix: string; details: string[] };
}

/** An ECR (AWS) error as a step failure whose fix depends on the kind of error. */
export function ecrFailure(err: unknown, what: string): StepFailure {
  if (isAccessDenied(err)) {
    return new StepFailure(
      `not allowed to ${what}: ${errorLine(err)}`,
      "use credentials allowed ecr:GetAuthorizationToken, ecr:DescribeRepositories and the ecr push actions (AWS_PROFILE=...)",
    );
  }
  if (/credential/i.test(errorLine(err))) {
    return new StepFailure(
      `could not ${what}: ${errorLine(err)}`,
      "configure AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), then: aws sts get-caller-identity",
    );
  }
  return new StepFailure(
    `could not ${what}: ${errorLine(err)}`,
    "npm run doctor  (checks credentials, region and the repository)",
  );
}

/** Progress goes to stderr, always: stdout is for the report (and must stay pure JSON). */
export const progress = (line: string): void => {
  process.stderr.write(`${terminalSafe(line)}\n`);
};

export function renderStepText(reports: StepReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    if (r.ok) {
      const facts = Object.entries(r.result)
        .filter(([, v]) => v !== undefined && v !== null && v !== "")
        .map(([k, v]) => `    ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
      lines.push(`✔ ${r.step}`, ...facts);
    } else {
      lines.push(`✘ ${r.step}  ${r.error?.message ?? "failed"}`);
      for (const d of r.error?.details ?? []) lines.push(`    ${d}`);
      lines.push(`    fix: ${r.error?.fix ?? ""}`);
    }
  }
  // Messages and details quote pod logs, events and tool output.
  return terminalSafe(lines.join("\n")) + "\n";
}

export function renderStepJson(reports: StepReport[]): string {
  const ok = reports.every((r) => r.ok);
  return terminalSafeJson(JSON.stringify({ ok, steps: reports }, null, 2)) + "\n";
}

/** Runs a step, turning a StepFailure (or any error) into a failed report. */
export async function runStep(
  step: string,
  fn: () => Promise<Record<string, unknown>>,
  defaultFix: string,
): Promise<StepReport> {
  try {
    return { ok: true, step, result: await fn() };
  } catch (err) {
    if (err instanceof StepFailure)
      return {
        ok: false,
        step,
        result: {},
        error: { message: err.message, fix: err.fix, details: err.details },
      };
    return { ok: false, step, result: {}, error: { message: errorLine(err), fix: defaultFix, details: [] } };
  }
}
