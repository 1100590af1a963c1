// `npm run preview|deploy|destroy -- --stack NAME [pulumi flags...]`: runs
// `pulumi preview|up|destroy --stack NAME ...` from the repository root, so the stack is
// always named explicitly (no accidental deploy to whatever stack is selected). The terminal
// is pulumi's while it runs (it may ask to confirm); other flags pass through untouched.
import * as path from "node:path";
import { runPulumiInteractive } from "../adapters/pulumi";
import { CliError, UsageError, helpText, parseFlags, runCommand, type FlagSpecs } from "../lib/cli";
import { nameProblem } from "../lib/names";

/** pulumi's action -> the npm script that runs it. */
const ACTIONS = { preview: "preview", up: "deploy", destroy: "destroy" } as const;
type Action = keyof typeof ACTIONS;

export const INSTALL_HINT =
  "Pulumi CLI not found on PATH: install it with `curl -fsSL https://get.pulumi.com | sh` " +
  "(or see https://www.pulumi.com/docs/iac/download-install/), then run this again.";

const FLAGS = {
  stack: {
    kind: "value",
    arg: "NAME",
    short: "-s",
    help: "the stack to act on (stacks/Pulumi.NAME.yaml), e.g. dev or prod; required",
  },
  help: { kind: "switch", help: "this text" },
} as const satisfies FlagSpecs;

const ROOT = path.join(__dirname, "..", "..");

async function main(argv: string[]): Promise<number> {
  const [action, ...args] = argv;
  if (action === undefined || !Object.hasOwn(ACTIONS, action))
    throw new UsageError(
      "tsx scripts/pulumi/main.ts preview|up|destroy --stack NAME: use npm run preview, deploy or destroy",
      "preview",
    );
  const npmScript = ACTIONS[action as Action];
  const flags = parseFlags(args, FLAGS, npmScript, { passThrough: true });
  if (flags.switches.has("help")) {
    process.stdout.write(
      `${helpText({
        command: npmScript,
        summary: `Runs pulumi ${action} --stack NAME from the repository root; other flags pass through to pulumi.`,
        specs: FLAGS,
        examples: [`npm run ${npmScript} -- --stack dev`],
      })}\n`,
    );
    return 0;
  }
  const stack = flags.values.stack;
  if (stack === undefined)
    throw new UsageError(
      `--stack NAME is required (dev or prod, see stacks/), e.g. npm run ${npmScript} -- --stack dev`,
      npmScript,
    );
  const problem = nameProblem("stack", stack);
  if (problem) throw new UsageError(`--stack ${problem}`, npmScript);
  const code = await runPulumiInteractive(ROOT, [action, "--stack", stack, ...flags.rest]);
  if (code === 127) throw new CliError(INSTALL_HINT, 127);
  return code;
}

if (require.main === module) void runCommand(main);
