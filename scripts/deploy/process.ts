/**
 * Runs the external tools the deploy commands drive (git, docker, kubectl): arguments as an
 * array (never a shell string), stdin from memory (the ECR password never appears in argv),
 * output captured for parsing and, when asked, echoed to stderr as progress.
 */
import { spawn } from "node:child_process";
import { CliError, firstLine } from "../lib/cli";

export interface ToolResult {
  /** Exit code; 127 when the tool is not installed. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ToolOptions {
  cwd?: string;
  /** Written to the tool's stdin, which is then closed. */
  input?: string;
  /** Called with every chunk the tool prints (stdout and stderr), e.g. to show progress. */
  echo?: (chunk: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** How to get each tool when it is missing: the one-line fix. */
export const INSTALL_HINTS: Record<string, string> = {
  docker: "install Docker (https://docs.docker.com/engine/install/) and start its daemon",
  kubectl:
    "install kubectl (https://kubernetes.io/docs/tasks/tools/) and point it at the cluster: aws eks update-kubeconfig --name <cluster>",
  git: "install git (apt-get install git)",
};

/** Runs `tool args...` to completion; never throws for a non-zero exit (the caller decides). */
export function runTool(tool: string, args: readonly string[], opts: ToolOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      opts.echo?.(chunk);
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      opts.echo?.(chunk);
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") {
        reject(new CliError(`${tool} not found on PATH: ${INSTALL_HINTS[tool] ?? `install ${tool}`}`, 127));
      } else reject(new CliError(`could not run ${tool}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined && child.stdin) {
      // A tool that exits before reading its stdin must not crash us with EPIPE.
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input);
    }
  });
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
