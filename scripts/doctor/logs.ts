/**
 * function-logs: errors, timeouts and throttles of the last --since minutes, from the
 * function's log group and its AWS/Lambda metrics. One filter per term: CloudWatch term
 * patterns are ANDed, and we want any of them (emulators honour only a single term or a
 * quoted phrase anyway).
 */
import { GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import { FilteredLogEvent } from "@aws-sdk/client-cloudwatch-logs";
import { awsErrorName, isAccessDenied } from "../adapters/aws";
import { errorLine } from "../lib/cli";
import { filterEvents, functionNameOf, logGroupOf } from "../adapters/cloudwatch-logs";
import { Check, fail, pass, skip } from "../lib/report";
import { DoctorContext } from "./context";
import { command } from "../lib/shell";

/** What counts as trouble in the function's logs. */
export const TROUBLE_PATTERNS = [
  "ERROR", // the handler's {"level":"ERROR"} lines, and the runtime's [ERROR]
  '"Task timed out"', // Lambda killed the function at its timeout
  '"Runtime exited"', // the Python process died
  '"Process exited before completing request"',
] as const;

const METRICS = ["Errors", "Throttles"] as const;

/** Sum of each AWS/Lambda metric over the window; {} when metrics cannot be read. */
async function metricSums(
  ctx: DoctorContext,
  start: Date,
  end: Date,
): Promise<{ sums: Record<string, number>; note?: string }> {
  const sums: Record<string, number> = {};
  const periodSeconds = Math.max(60, Math.ceil((end.getTime() - start.getTime()) / 60000) * 60);
  try {
    for (const metric of METRICS) {
      const out = await ctx.aws.cloudwatch.send(
        new GetMetricStatisticsCommand({
          Namespace: "AWS/Lambda",
          MetricName: metric,
          Dimensions: [{ Name: "FunctionName", Value: functionNameOf(ctx.targets.functionName) }],
          StartTime: start,
          EndTime: end,
          Period: periodSeconds,
          Statistics: ["Sum"],
        }),
      );
      sums[metric] = (out.Datapoints ?? []).reduce((total, p) => total + (p.Sum ?? 0), 0);
    }
    return { sums };
  } catch (err) {
    return { sums, note: `metrics unavailable (${errorLine(err)})` };
  }
}

const oneLine = (event: FilteredLogEvent) => (event.message ?? "").replace(/\s+/g, " ").trim().slice(0, 200);

export const functionLogs: Check<DoctorContext> = {
  id: "function-logs",
  title: "No errors, timeouts or throttles in the function's recent logs",
  needs: ["function-exists"],
  async run(ctx) {
    const since = ctx.targets.sinceMinutes;
    const group = logGroupOf(ctx.found.fn ?? {}, ctx.targets.functionName);
    const end = new Date();
    const start = new Date(end.getTime() - since * 60000);
    const hits = new Map<string, { pattern: string; event: FilteredLogEvent }>();
    try {
      for (const pattern of TROUBLE_PATTERNS) {
        const events = await filterEvents(ctx.aws.logs, {
          logGroupName: group,
          startTime: start.getTime(),
          endTime: end.getTime(),
          filterPattern: pattern,
          limit: 20,
        });
        for (const event of events) {
          const key = event.eventId ?? `${event.logStreamName}/${event.timestamp}/${event.message}`;
          if (!hits.has(key)) hits.set(key, { pattern, event });
        }
      }
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") {
        // The function just answered function-invoke, so it has written logs: they went nowhere.
        if (ctx.found.invoked)
          return fail(
            `log group ${group} does not exist, though the function just ran: its logs are lost`,
            `pulumi up --refresh --stack ${ctx.targets.stack ?? "<stack>"}   (recreates the stack's log group; or now: ${command("aws", "logs", "create-log-group", "--log-group-name", group, "--region", ctx.targets.region)})`,
          );
        return skip(
          `log group ${group} does not exist (the function has not logged yet, or logs go elsewhere)`,
        );
      }
      if (isAccessDenied(err)) return skip(`no permission to read ${group}: ${errorLine(err)}`);
      throw err;
    }
    const { sums, note } = await metricSums(ctx, start, end);
    const problems: string[] = [];
    if (hits.size > 0) {
      const byPattern = new Map<string, number>();
      for (const { pattern } of hits.values()) byPattern.set(pattern, (byPattern.get(pattern) ?? 0) + 1);
      const counts = [...byPattern].map(([p, n]) => `${n} x ${p}`).join(", ");
      const latest = [...hits.values()].sort(
        (a, b) => (b.event.timestamp ?? 0) - (a.event.timestamp ?? 0),
      )[0]!;
      problems.push(`${hits.size} log event(s) in ${group} (${counts}); latest: ${oneLine(latest.event)}`);
    }
    for (const metric of METRICS) {
      if ((sums[metric] ?? 0) > 0) problems.push(`AWS/Lambda ${metric} = ${sums[metric]}`);
    }
    const window = `last ${since} min`;
    if (problems.length === 0) {
      return pass(`${window}: nothing in ${group}${note ? `; ${note}` : ", Errors 0, Throttles 0"}`);
    }
    const throttled = (sums.Throttles ?? 0) > 0;
    return fail(
      `${window}: ${problems.join("; ")}`,
      `read them: ${ctx.fix.logs}` +
        (throttled
          ? `; for throttles raise the stack's co-intelligence:reservedConcurrency (then ${ctx.fix.pulumiUp}), or now: ${command("aws", "lambda", "put-function-concurrency", "--function-name", ctx.targets.functionName, "--reserved-concurrent-executions")} N`
          : "") +
        "; docs/troubleshoot.md lists the usual causes",
    );
  },
};
