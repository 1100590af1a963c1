// `npm run logs`: follow the sandbox function's logs (CloudWatch Logs, polled from --since
// minutes ago), or with --backend the backend deployment's (kubectl logs -f). Ctrl-C stops
// it cleanly (exit 0).
import { FilteredLogEvent } from "@aws-sdk/client-cloudwatch-logs";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { awsErrorName, makeClient } from "../adapters/aws";
import { Kubectl } from "../adapters/kubectl";
import {
  CliError,
  FlagSpecs,
  SHARED_FLAGS,
  Targets,
  UsageError,
  errorLine,
  helpText,
  parseFlags,
  resolveTargets,
  runCommand,
} from "../lib/cli";
import { filterEvents, resolveLogGroup } from "../adapters/cloudwatch-logs";
import { terminalSafe, terminalSafeJson } from "../lib/terminal-safe";

const COMMAND = "logs";
const POLL_MS = 2000;

const FLAGS: FlagSpecs = {
  stack: SHARED_FLAGS.stack,
  region: SHARED_FLAGS.region,
  function: SHARED_FLAGS.function,
  since: { kind: "value", arg: "MINUTES", help: "start this many minutes back (default 15)" },
  filter: {
    kind: "value",
    arg: "PATTERN",
    help: "CloudWatch filter pattern, e.g. ERROR or '\"Task timed out\"' (function logs only)",
  },
  once: { kind: "switch", help: "print what is there and exit instead of following (alias --no-follow)" },
  "no-follow": { kind: "switch", help: "same as --once" },
  backend: {
    kind: "switch",
    help: "the backend deployment's logs instead (kubectl logs -f, all containers)",
  },
  namespace: SHARED_FLAGS.namespace,
  deployment: SHARED_FLAGS.deployment,
  json: {
    kind: "switch",
    help: "one JSON object per event: {timestamp, logStream, message} (function logs only)",
  },
  help: SHARED_FLAGS.help,
};

const HELP = helpText({
  command: COMMAND,
  summary:
    "Follows the sandbox function's logs: its log group (LoggingConfig.LogGroup, else /aws/lambda/<name>), polled\n" +
    "every 2 s, one line per event: ISO timestamp, then the message. Ctrl-C to stop.",
  specs: FLAGS,
  notes: [
    'Filter patterns: one term (ERROR) or one quoted phrase ("Task timed out") works everywhere, emulators included.',
    "--backend runs: kubectl logs -f deployment/<deployment> -n <namespace> --all-containers --since=<since>m",
  ],
  examples: [
    "npm run logs -- --stack prod --since 60 --filter ERROR",
    "npm run logs -- --backend --namespace default --deployment backend",
    "npm run logs -- --function co-intelligence-code-executor --once --json",
  ],
});

/** Resolves when Ctrl-C (or SIGTERM) arrives; `stopped` says whether it has. */
function stopSignal(): { stopped: () => boolean; wait: (ms: number) => Promise<void>; dispose: () => void } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    stopped = true;
    wake?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    stopped: () => stopped,
    wait: (ms) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

function formatEvent(event: FilteredLogEvent, json: boolean): string {
  const timestamp = new Date(event.timestamp ?? 0).toISOString();
  const message = (event.message ?? "").replace(/\s+$/, "");
  // Log lines are remote text: no escape code or workflow command reaches the terminal.
  return json
    ? terminalSafeJson(JSON.stringify({ timestamp, logStream: event.logStreamName, message }))
    : terminalSafe(`${timestamp} ${message}`);
}

async function functionLogs(
  t: Targets,
  opts: { follow: boolean; json: boolean; filter?: string },
): Promise<number> {
  const lambda = makeClient(LambdaClient, { region: t.region });
  const logs = makeClient(CloudWatchLogsClient, { region: t.region });
  let group: string;
  try {
    group = await resolveLogGroup(lambda, t.functionName);
  } catch (err) {
    throw new CliError(
      `no function ${t.functionName} in ${t.region} (${errorLine(err)}): pass --function NAME --region R, or run npm run doctor`,
    );
  }
  if (opts.follow)
    process.stderr.write(`following ${group} from ${t.sinceMinutes} min ago (Ctrl-C to stop)\n`);
  const signal = stopSignal();
  // Events already printed: polls overlap by design (late events can share the last timestamp).
  const seen = new Set<string>();
  let startTime = Date.now() - t.sinceMinutes * 60000;
  try {
    do {
      let events: FilteredLogEvent[];
      try {
        events = await filterEvents(logs, { logGroupName: group, startTime, filterPattern: opts.filter });
      } catch (err) {
        if (awsErrorName(err) === "ResourceNotFoundException") {
          throw new CliError(
            `log group ${group} does not exist: the function has not logged yet (invoke it, or check --function/--region)`,
          );
        }
        throw err;
      }
      for (const event of events) {
        const key = event.eventId ?? `${event.logStreamName}:${event.timestamp}:${event.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        process.stdout.write(`${formatEvent(event, opts.json)}\n`);
        startTime = Math.max(startTime, event.timestamp ?? 0);
      }
      if (seen.size > 10000) seen.clear(); // bounded memory; startTime already moved past them
      if (!opts.follow) break;
      await signal.wait(POLL_MS);
    } while (!signal.stopped());
  } finally {
    signal.dispose();
  }
  return 0;
}

async function backendLogs(t: Targets, follow: boolean): Promise<number> {
  const kubectl = new Kubectl();
  if (!kubectl.available) {
    throw new CliError(
      "kubectl is not on PATH: install it, then: aws eks update-kubeconfig --name <cluster>",
    );
  }
  const args = [
    "logs",
    ...(follow ? ["-f"] : []),
    "-n",
    t.namespace,
    "--all-containers",
    `--since=${Math.ceil(t.sinceMinutes)}m`,
    "--",
    `deployment/${t.deploymentName}`,
  ];
  // The pods' output is remote text: relay it line by line, made safe.
  const relay = (to: NodeJS.WritableStream) => {
    let partial = "";
    return {
      chunk: (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) to.write(`${terminalSafe(line)}\n`);
      },
      end: () => {
        if (partial !== "") to.write(`${terminalSafe(partial)}\n`);
      },
    };
  };
  const out = relay(process.stdout);
  const err = relay(process.stderr);
  // Ctrl-C (or SIGTERM) stops kubectl (its process group) and is a clean end of following.
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const result = await kubectl.follow(args, out.chunk, err.chunk);
    out.end();
    err.end();
    if (interrupted) return 0;
    if (result.code !== 0) {
      throw new CliError(
        `kubectl ${args.join(" ")} failed (exit ${result.code}); check the cluster with: npm run doctor`,
        result.code,
      );
    }
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, FLAGS, COMMAND);
  if (flags.switches.has("help")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const follow = !flags.switches.has("once") && !flags.switches.has("no-follow");
  const json = flags.switches.has("json");
  const targets = await resolveTargets(flags, { command: COMMAND });
  if (flags.switches.has("backend")) {
    if (flags.values.filter !== undefined || json) {
      throw new UsageError(
        "--filter and --json are for function logs; pipe kubectl's output through grep instead",
        COMMAND,
      );
    }
    return backendLogs(targets, follow);
  }
  return functionLogs(targets, {
    follow,
    json,
    ...(flags.values.filter ? { filter: flags.values.filter } : {}),
  });
}

if (require.main === module) void runCommand(main);
