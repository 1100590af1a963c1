/**
 * Where the sandbox function logs and how to read it: shared by `doctor` (function-logs)
 * and `logs`. The log group is the function's LoggingConfig.LogGroup (the stack sets one),
 * else Lambda's default /aws/lambda/<name>.
 */
import {
  CloudWatchLogsClient,
  FilterLogEventsCommand,
  FilteredLogEvent,
} from "@aws-sdk/client-cloudwatch-logs";
import { GetFunctionConfigurationCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { awsErrorName } from "./aws";

/** The function's name from a name or an ARN (`arn:...:function:NAME[:qualifier]`). */
export function functionNameOf(nameOrArn: string): string {
  const match = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(nameOrArn);
  return match ? match[1]! : nameOrArn;
}

export function logGroupOf(
  fn: { FunctionName?: string; LoggingConfig?: { LogGroup?: string } },
  fallbackName: string,
): string {
  return fn.LoggingConfig?.LogGroup || `/aws/lambda/${functionNameOf(fn.FunctionName ?? fallbackName)}`;
}

/** Looks the log group up from the function's configuration; `/aws/lambda/<name>` when that cannot be read. */
export async function resolveLogGroup(lambda: LambdaClient, functionName: string): Promise<string> {
  try {
    const fn = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    return logGroupOf(fn, functionName);
  } catch (err) {
    if (awsErrorName(err) === "ResourceNotFoundException") throw err;
    return logGroupOf({}, functionName);
  }
}

export interface FilterOptions {
  logGroupName: string;
  startTime: number;
  endTime?: number;
  /** A CloudWatch filter pattern; keep to one term or one quoted phrase (see docs/troubleshoot.md). */
  filterPattern?: string;
  /** Stop after this many events. */
  limit?: number;
}

/** Every matching event in time order, following nextToken pages. */
export async function filterEvents(
  client: CloudWatchLogsClient,
  opts: FilterOptions,
): Promise<FilteredLogEvent[]> {
  const events: FilteredLogEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new FilterLogEventsCommand({
        logGroupName: opts.logGroupName,
        startTime: opts.startTime,
        ...(opts.endTime === undefined ? {} : { endTime: opts.endTime }),
        ...(opts.filterPattern ? { filterPattern: opts.filterPattern } : {}),
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken && (opts.limit === undefined || events.length < opts.limit));
  events.sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
  return opts.limit === undefined ? events : events.slice(0, opts.limit);
}
