/**
 * What build-image, push, rollout and update-backend report: a step either succeeds with
 * facts (image ref, digest, ...) or fails with what went wrong and the command that fixes it.
 * One shape for the readable report and for `--json`.
 */
import { CliError, errorLine } from "../lib/cli";
import { terminalSafe, terminalSafeJson } from "../lib/terminal-safe";

/** A failed step: thrown by the step, caught by the command, printed as detail + fix. */
export class StepFailure extends CliError {
  constructor(
    message: string,
    /** The command or change that repairs it. */
    readonly fix: string,
    /** Extra lines for the readable report (events, log lines). */
    readonly details: string[] = [],
    exitCode = 1,
  ) {
    super(message, exitCode);
    this.name = "StepFailure";
  }
}

export interface StepReport {
  ok: boolean;
  /** The step's name: build, push, rollout. */
  step: string;
  /** Facts on success (and whatever was known before a failure). */
  result: Record<string, unknown>;
  error?: { message: string; fix: string; details: string[] };
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
