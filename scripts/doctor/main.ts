// `npm run doctor`: the troubleshooting guide as checks. Resolve the names (flags, env,
// stack outputs, defaults), run the 14 checks in order, print the report (or --json),
// exit 0 iff nothing failed. docs/troubleshoot.md explains each check and its fix.
import { INVOKE_ENDPOINT_ENV } from "../adapters/aws";
import { SHARED_FLAGS, helpText, parseFlags, readStackOutputs, resolveTargets, runCommand } from "../lib/cli";
import { printReport, runChecks, stderrProgress } from "../lib/report";
import { CHECKS } from "./checks";
import { createContext } from "./context";

const COMMAND = "doctor";
const FLAGS = SHARED_FLAGS;

const HELP = helpText({
  command: COMMAND,
  summary: [
    "Checks the deployment end to end and prints, for each check, pass/fail/skip and the command that fixes it:",
    `  ${CHECKS.map((c) => c.id).join(", ")}.`,
    "Exit code 0 iff no check failed. Read-only: it changes nothing (its invokes run print(25 * 47) and two refused probes).",
  ].join("\n"),
  specs: FLAGS,
  notes: [
    "AWS settings are the SDK's own: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>;",
    `${INVOKE_ENDPOINT_ENV} sends only Lambda Invoke elsewhere (e.g. a local sandbox from npm run sandbox).`,
    "kubectl (for the deployment checks) uses your current kubeconfig context; without it those checks skip.",
    "MODEL_PROVIDER and MODEL_ID (else the stack's modelProvider and modelId outputs) name the backend's model: with",
    "bedrock, invoke-permission also checks the role may call it (bedrock:InvokeModelWithResponseStream).",
  ],
  examples: [
    "npm run doctor -- --stack prod --url https://chat.example.com",
    "npm run doctor -- --function co-intelligence-code-executor --region us-east-1 --json",
  ],
});

/** Where doctor reads its environment and writes its report; tests pass their own. */
export interface DoctorIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
}

const PROCESS_IO: DoctorIo = { env: process.env, stdout: (text) => void process.stdout.write(text) };

export async function main(argv: string[], io: DoctorIo = PROCESS_IO): Promise<number> {
  const flags = parseFlags(argv, FLAGS, COMMAND);
  if (flags.switches.has("help")) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const targets = await resolveTargets(flags, {
    command: COMMAND,
    env: io.env,
    readStack: (stack) => readStackOutputs(stack, io.env),
  });
  const ctx = createContext(targets, io.env);
  const report = await runChecks(CHECKS, ctx, {
    progress: stderrProgress(),
    defaultFix: "see docs/troubleshoot.md",
  });
  return printReport(report, { json: flags.switches.has("json"), write: io.stdout });
}

if (require.main === module) void runCommand((argv) => main(argv));
