/**
 * The check report shared by `doctor` and `smoke` (CONTRACT.md section 3, "Check reports"):
 * checks run in order, each timed; a check whose prerequisite did not pass is skipped with
 * "needs <id>"; a thrown error is a fail. Renderers: human text, `--json` (exactly one
 * object on stdout), JUnit XML. Adding a check is adding one object.
 */
import { errorLine } from "./cli";
import { terminalSafe, terminalSafeJson } from "./terminal-safe";

export type CheckStatus = "pass" | "fail" | "skip";

/** One line of the report, exactly the contract's JSON shape. */
export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  /** Non-empty for every fail: the command or change that repairs it. */
  fix: string;
  durationMs: number;
}

export interface Report {
  ok: boolean;
  checks: CheckResult[];
}

/** What a check's run returns. */
export type Outcome =
  | { status: "pass"; detail: string }
  | { status: "skip"; detail: string }
  | { status: "fail"; detail: string; fix: string };

export const pass = (detail: string): Outcome => ({ status: "pass", detail });
export const skip = (detail: string): Outcome => ({ status: "skip", detail });
export const fail = (detail: string, fix: string): Outcome => ({ status: "fail", detail, fix });

export interface Check<Ctx> {
  id: string;
  title: string;
  /** Ids of earlier checks that must pass first; otherwise this one is skipped. */
  needs?: readonly string[];
  run(ctx: Ctx): Promise<Outcome>;
  /** The fix reported when run throws (default: the generic one of the runner). */
  fixOnError?: (ctx: Ctx) => string;
}

export interface RunOptions {
  /** Progress lines (stderr in every mode; never stdout). */
  progress?: (line: string) => void;
  /** Fix for a check that threw and has no fixOnError. */
  defaultFix?: string;
  now?: () => number;
  /** A check that has no outcome after this long fails ("no result within ..."). Default: none. */
  checkTimeoutMs?: number;
  /**
   * Stops the run: the check under way fails with the reason, the rest are skipped with it,
   * and the report of what ran is returned (smoke writes it as JUnit even when killed).
   */
  signal?: AbortSignal;
}

/** The check's outcome, or a fail when its deadline or the run's stop comes first. */
async function outcomeWithin<Ctx>(check: Check<Ctx>, ctx: Ctx, opts: RunOptions): Promise<Outcome> {
  const timers: ReturnType<typeof setTimeout>[] = [];
  const races: Promise<Outcome>[] = [check.run(ctx)];
  if (opts.checkTimeoutMs !== undefined) {
    const ms = opts.checkTimeoutMs;
    races.push(
      new Promise((resolve) =>
        timers.push(
          setTimeout(
            () => resolve(fail(`no result within ${ms / 1000} s`, opts.defaultFix ?? "see the detail above")),
            ms,
          ),
        ),
      ),
    );
  }
  let onAbort: (() => void) | undefined;
  if (opts.signal !== undefined) {
    const signal = opts.signal;
    races.push(
      new Promise((resolve) => {
        onAbort = () => resolve(fail(`stopped: ${stopReason(signal)}`, opts.defaultFix ?? "run it again"));
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }),
    );
  }
  try {
    return await Promise.race(races);
  } finally {
    for (const t of timers) clearTimeout(t);
    if (onAbort) opts.signal?.removeEventListener("abort", onAbort);
  }
}

const stopReason = (signal: AbortSignal): string =>
  signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted");

/** Runs the checks in order; never throws for a check's failure. */
export async function runChecks<Ctx>(
  checks: readonly Check<Ctx>[],
  ctx: Ctx,
  opts: RunOptions = {},
): Promise<Report> {
  const now = opts.now ?? (() => performance.now());
  const results: CheckResult[] = [];
  const statusOf = new Map<string, CheckStatus>();
  for (const check of checks) {
    const unmet = (check.needs ?? []).find((id) => statusOf.get(id) !== "pass");
    let outcome: Outcome;
    const started = now();
    let ran = false;
    if (opts.signal?.aborted) {
      outcome = skip(`not run: ${stopReason(opts.signal)}`);
    } else if (unmet !== undefined) {
      const why = statusOf.get(unmet) ?? "not run";
      outcome = skip(`needs ${unmet} (${why === "fail" ? "failed" : why === "skip" ? "skipped" : why})`);
    } else {
      opts.progress?.(`… ${check.id}`);
      ran = true;
      try {
        outcome = await outcomeWithin(check, ctx, opts);
      } catch (err) {
        outcome = fail(errorLine(err), check.fixOnError?.(ctx) ?? opts.defaultFix ?? "see the detail above");
      }
      if (outcome.status === "fail" && outcome.fix.trim() === "") {
        outcome = { ...outcome, fix: opts.defaultFix ?? "see the detail above" };
      }
    }
    const durationMs = ran ? Math.round(now() - started) : 0;
    statusOf.set(check.id, outcome.status);
    results.push({
      id: check.id,
      title: check.title,
      status: outcome.status,
      detail: outcome.detail,
      fix: outcome.status === "fail" ? outcome.fix : "",
      durationMs,
    });
  }
  return { ok: results.every((r) => r.status !== "fail"), checks: results };
}

export const exitCode = (report: Report): number => (report.ok ? 0 : 1);

const MARK: Record<CheckStatus, string> = { pass: "✔", fail: "✘", skip: "–" };

/** Human report: one line per check, the fix under each failure, a summary line. */
export function renderText(report: Report): string {
  const width = Math.max(0, ...report.checks.map((c) => c.id.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(
      `${MARK[c.status]} ${c.id.padEnd(width)}  ${c.title}${c.detail ? `: ${c.detail}` : ""}  (${c.durationMs} ms)`,
    );
    if (c.status === "fail") lines.push(`${" ".repeat(width + 4)}fix: ${c.fix}`);
  }
  const count = (s: CheckStatus) => report.checks.filter((c) => c.status === s).length;
  lines.push("");
  lines.push(
    `${report.ok ? "OK" : "FAILED"}: ${count("pass")} passed, ${count("fail")} failed, ${count("skip")} skipped`,
  );
  // Details and fixes quote remote text (AWS messages, logs, model answers).
  return terminalSafe(lines.join("\n")) + "\n";
}

/** `--json`: exactly one object, `{ok, checks}`. */
export function renderJson(report: Report): string {
  return terminalSafeJson(JSON.stringify({ ok: report.ok, checks: report.checks }, null, 2)) + "\n";
}

const xmlEscape = (text: string): string =>
  text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    // XML 1.0 cannot carry most control characters, even escaped.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");

/** JUnit XML (one testsuite, one testcase per check) for CI, e.g. `smoke --junit FILE`. */
export function renderJunit(report: Report, suiteName: string): string {
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const total = report.checks.reduce((sum, c) => sum + c.durationMs, 0);
  const failures = report.checks.filter((c) => c.status === "fail").length;
  const skipped = report.checks.filter((c) => c.status === "skip").length;
  const cases = report.checks.map((c) => {
    const open = `    <testcase classname="${xmlEscape(suiteName)}" name="${xmlEscape(c.id)}" time="${seconds(c.durationMs)}">`;
    const body =
      c.status === "fail"
        ? `      <failure message="${xmlEscape(c.detail)}">${xmlEscape(`${c.title}\n${c.detail}\nfix: ${c.fix}`)}</failure>`
        : c.status === "skip"
          ? `      <skipped message="${xmlEscape(c.detail)}"/>`
          : `      <system-out>${xmlEscape(c.detail)}</system-out>`;
    return `${open}\n${body}\n    </testcase>`;
  });
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="${xmlEscape(suiteName)}" tests="${report.checks.length}" failures="${failures}" skipped="${skipped}" time="${seconds(total)}">`,
    `  <testsuite name="${xmlEscape(suiteName)}" tests="${report.checks.length}" failures="${failures}" skipped="${skipped}" time="${seconds(total)}">`,
    ...cases,
    `  </testsuite>`,
    `</testsuites>`,
    "",
  ].join("\n");
}

/** Writes the report to stdout in the chosen format and returns the exit code. */
export function printReport(report: Report, opts: { json: boolean; write?: (text: string) => void }): number {
  const write = opts.write ?? ((text: string) => process.stdout.write(text));
  write(opts.json ? renderJson(report) : renderText(report));
  return exitCode(report);
}

/** Progress for slow checks: stderr, and only on a terminal unless forced (keeps CI logs clean). */
export function stderrProgress(enabled = process.stderr.isTTY === true): (line: string) => void {
  return (line) => {
    if (enabled) process.stderr.write(`${terminalSafe(line)}\n`);
  };
}
