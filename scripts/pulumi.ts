// `npm run preview|deploy|destroy -- --stack NAME [pulumi flags...]`: runs
// `pulumi preview|up|destroy --stack NAME ...` from the repository root, so the stack is
// always named explicitly (no accidental deploy to whatever stack is selected).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { findOnPath } from "./lib/cli";
import { nameProblem } from "./lib/names";

const ACTIONS = { preview: "preview", up: "deploy", destroy: "destroy" } as const;
type Action = keyof typeof ACTIONS;

export const INSTALL_HINT =
  "Pulumi CLI not found on PATH: install it with `curl -fsSL https://get.pulumi.com | sh` " +
  "(or see https://www.pulumi.com/docs/iac/download-install/), then run this again.";

function usage(npmScript: string): string {
  return [
    `usage: npm run ${npmScript} -- --stack NAME [pulumi ${npmScript === "deploy" ? "up" : npmScript} flags...]`,
    "",
    "  --stack NAME   the stack to act on (stacks/Pulumi.NAME.yaml), e.g. dev or prod; required",
    "  --help         this text",
    "",
    `example: npm run ${npmScript} -- --stack dev`,
  ].join("\n");
}

/** Splits our argv into the stack and the flags passed through to pulumi untouched. */
export function parseArgs(args: string[]): { stack?: string; rest: string[]; help: boolean } {
  const rest: string[] = [];
  let stack: string | undefined;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--stack" || arg === "-s") stack = args[++i];
    else if (arg.startsWith("--stack=")) stack = arg.slice("--stack=".length);
    else rest.push(arg);
  }
  return { stack, rest, help };
}

function main(argv: string[]): number {
  const [action, ...args] = argv;
  if (action === undefined || !(action in ACTIONS)) {
    console.error(
      "usage: tsx scripts/pulumi.ts preview|up|destroy --stack NAME  (use npm run preview|deploy|destroy)",
    );
    return 2;
  }
  const npmScript = ACTIONS[action as Action];
  const { stack, rest, help } = parseArgs(args);
  if (help) {
    console.log(usage(npmScript));
    return 0;
  }
  const problem = stack === undefined || stack === "" ? undefined : nameProblem("stack", stack);
  if (problem) {
    console.error(`error: --stack ${problem}`);
    return 2;
  }
  if (stack === undefined || stack === "") {
    console.error(
      `error: --stack NAME is required (dev or prod, see stacks/), e.g. npm run ${npmScript} -- --stack dev`,
    );
    console.error("");
    console.error(usage(npmScript));
    return 2;
  }
  const pulumi = findOnPath("pulumi");
  if (pulumi === undefined) {
    console.error(INSTALL_HINT);
    return 127;
  }
  const root = path.join(__dirname, "..");
  const result = spawnSync(pulumi, [action, "--stack", stack, ...rest], { cwd: root, stdio: "inherit" });
  if (result.error) {
    console.error(`error: could not run ${pulumi}: ${result.error.message}`);
    return 1;
  }
  return result.status ?? 1;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
