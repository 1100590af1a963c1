/**
 * The Pulumi CLI, as the operations commands use it: a stack's outputs (the names `--stack`
 * resolves), a stack's config keys and `pulumi up` (rollout's one owner of the image), and
 * `pulumi preview|up|destroy` handed to the person at the terminal. Every call goes through
 * run-tool, with a deadline.
 */
import { CliError, StepFailure } from "../lib/cli-error";
import { failureLine, findOnPath, runTool, tail } from "../lib/run-tool";

export type StackOutputs = Record<string, unknown>;

export const PULUMI_INSTALL_HINT =
  "install it with `curl -fsSL https://get.pulumi.com | sh`, or pass the names as flags instead " +
  "(--function NAME --repository NAME --invoke-role NAME ...)";

/** A hung backend login (or a network stall) must not hang the command. */
const OUTPUTS_DEADLINE_MS = 120_000;
const CONFIG_DEADLINE_MS = 60_000;
/** A `pulumi up` that takes longer than this is stopped (its process group killed). */
const UP_DEADLINE_MS = 30 * 60_000;

/** `pulumi stack output --json --stack NAME`, parsed; a clear CliError when it cannot run. */
export async function readStackOutputs(
  stack: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StackOutputs> {
  const pulumi = findOnPath("pulumi", env);
  if (pulumi === undefined) {
    throw new CliError(`--stack ${stack} needs the Pulumi CLI, which is not on PATH: ${PULUMI_INSTALL_HINT}`);
  }
  const result = await runTool(pulumi, ["stack", "output", "--json", "--stack", stack], {
    env,
    timeoutMs: OUTPUTS_DEADLINE_MS,
  });
  if (result.code !== 0) {
    const reason =
      result.code === 124
        ? `no answer within ${OUTPUTS_DEADLINE_MS / 1000} s`
        : firstLineOf(result.stderr) || `exit code ${result.code}`;
    throw new CliError(
      `pulumi stack output --stack ${stack} failed: ${reason} (check the stack name with: pulumi stack ls)`,
    );
  }
  try {
    const parsed: unknown = JSON.parse(result.stdout);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      throw new Error("not an object");
    return parsed as StackOutputs;
  } catch {
    throw new CliError(
      `pulumi stack output --stack ${stack} did not print a JSON object; run it yourself to see why`,
    );
  }
}

function firstLineOf(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}

/** One stack's config and updates, for a command that changes what the stack deploys. */
export class PulumiStack {
  constructor(
    private readonly stack: string,
    private readonly cwd: string,
    private readonly say: (line: string) => void = () => {},
    private readonly echo?: (chunk: string) => void,
  ) {}

  private run(args: string[], timeoutMs: number, echo = false) {
    return runTool("pulumi", args, {
      cwd: this.cwd,
      timeoutMs,
      required: true,
      ...(echo && this.echo ? { echo: this.echo } : {}),
    });
  }

  /** A config key's value, or undefined when the stack does not set it. */
  async get(key: string): Promise<string | undefined> {
    const result = await this.run(["config", "get", "--stack", this.stack, "--", key], CONFIG_DEADLINE_MS);
    if (result.code === 0) return result.stdout.trim() || undefined;
    if (/not found/i.test(`${result.stderr}${result.stdout}`)) return undefined;
    throw new StepFailure(
      `pulumi config get ${key} --stack ${this.stack} failed: ${failureLine(result)}`,
      `check the stack and your Pulumi login: pulumi stack ls  (then: pulumi config --stack ${this.stack})`,
    );
  }

  /** Sets each key to its value; an undefined value removes the key. */
  async set(values: Record<string, string | undefined>): Promise<void> {
    for (const [key, value] of Object.entries(values)) {
      const args =
        value === undefined
          ? ["config", "rm", "--stack", this.stack, "--", key]
          : ["config", "set", "--stack", this.stack, "--", key, value];
      this.say(`→ pulumi ${args.join(" ")}`);
      const result = await this.run(args, CONFIG_DEADLINE_MS);
      if (result.code !== 0 && !(value === undefined && /not found/i.test(failureLine(result)))) {
        throw new StepFailure(
          `pulumi ${args.slice(0, 2).join(" ")} ${key} failed: ${failureLine(result)}`,
          `check the stack and your Pulumi login: pulumi stack ls`,
        );
      }
    }
  }

  /** `pulumi up --yes --non-interactive`, its output echoed where a person watches. */
  async up(): Promise<void> {
    this.say(`→ pulumi up --stack ${this.stack} --yes --non-interactive`);
    const up = await this.run(
      ["up", "--stack", this.stack, "--yes", "--non-interactive"],
      UP_DEADLINE_MS,
      true,
    );
    if (up.code !== 0) {
      throw new StepFailure(
        `pulumi up --stack ${this.stack} failed${up.code === 124 ? " (stopped after 30 minutes)" : ""}: ${failureLine(up)}`,
        `see the update's errors above, then: npm run preview -- --stack ${this.stack}`,
        tail(`${up.stdout}\n${up.stderr}`, 15),
      );
    }
  }
}

/**
 * `pulumi <action> --stack NAME ...` with the terminal handed over (it may ask to confirm),
 * from the project's directory; its exit code. 127 when the CLI is not installed.
 */
export async function runPulumiInteractive(cwd: string, args: string[]): Promise<number> {
  const result = await runTool("pulumi", args, { cwd, interactive: true, timeoutMs: 0 });
  return result.code;
}
