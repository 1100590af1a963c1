/**
 * The external tools the deploy commands drive (git, docker, kubectl), run through zx
 * (scripts/lib/run-tool.ts: every argument quoted, stdin from memory so the ECR password
 * never appears in argv), plus what the commands read from a tool's failure.
 */
import { CliError, firstLine } from "../lib/cli";
import { runTool as run, type ToolRun, type ToolRunOptions } from "../lib/run-tool";

export type ToolResult = ToolRun;
export type ToolOptions = ToolRunOptions;

/**
 * How long each tool may run when the caller names no deadline: every tool has one, and a
 * tool past it is killed with its whole process group (exit 124).
 */
export const TOOL_DEADLINES_MS: Record<string, number> = {
  git: 60_000,
  kubectl: 120_000,
  docker: 10 * 60_000,
  pulumi: 30 * 60_000,
};
const FALLBACK_DEADLINE_MS = 10 * 60_000;

/** How to get each tool when it is missing: the one-line fix. */
export const INSTALL_HINTS: Record<string, string> = {
  docker: "install Docker (https://docs.docker.com/engine/install/) and start its daemon",
  kubectl:
    "install kubectl (https://kubernetes.io/docs/tasks/tools/) and point it at the cluster: aws eks update-kubeconfig --name <cluster>",
  git: "install git (apt-get install git)",
  pulumi: "install the Pulumi CLI (curl -fsSL https://get.pulumi.com | sh), then: pulumi login",
};

/**
 * Runs `tool args...` to completion; never throws for a non-zero exit (the caller decides),
 * but a tool that is not installed is a CliError with the one-line way to get it.
 */
export async function runTool(
  tool: string,
  args: readonly string[],
  opts: ToolOptions = {},
): Promise<ToolResult> {
  const result = await run(tool, args, {
    ...opts,
    timeoutMs: opts.timeoutMs ?? TOOL_DEADLINES_MS[tool] ?? FALLBACK_DEADLINE_MS,
  });
  if (result.code === 127 && /command not found|No such file or directory/.test(result.stderr))
    throw new CliError(`${tool} not found on PATH: ${INSTALL_HINTS[tool] ?? `install ${tool}`}`, 127);
  return result;
}

/** The most telling line of a failed tool's output: its last `error`-ish line, else its last line. */
export function failureLine(result: ToolResult): string {
  const lines = `${result.stdout}\n${result.stderr}`
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const errorish = lines.filter((l) => /error|denied|unknown|not found|forbidden|refused|unable/i.test(l));
  return errorish[errorish.length - 1] ?? lines[lines.length - 1] ?? firstLine(`exit code ${result.code}`);
}

/** The last `count` non-empty lines of a tool's output, for a failure report. */
export function tail(text: string, count: number): string[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-count);
}

/** docker's "no daemon" answer, whatever the subcommand. */
export function dockerDaemonDown(result: ToolResult): boolean {
  return /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i.test(
    `${result.stdout}\n${result.stderr}`,
  );
}

export const START_DOCKER_FIX =
  "start the Docker daemon (sudo systemctl start docker, or open Docker Desktop), check with: docker version";
