/**
 * The one way the operations commands run an external tool (git, docker, kubectl, pulumi):
 * zx's `$`, which quotes every interpolated argument (an array becomes separate, escaped
 * words, so nothing from a flag or a stack output is ever parsed by the shell), feeds stdin
 * from memory (the ECR password never appears in argv) and captures the output. Every tool
 * has a deadline. A tool's own failure is a result, never a throw: the caller decides what a
 * non-zero exit means (only `required` turns a missing tool into the error that says how to
 * get it).
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import * as path from "node:path";
import { CliError } from "./cli-error";
import type * as Zx from "zx" with { "resolution-mode": "import" };

// zx is an ES module package that also ships CommonJS (its "require" export); TypeScript's
// node16 resolution only sees the ESM types, so types come from an import type with
// resolution-mode and the value from require() (as backend/providers/gemini.ts does for @google/genai).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { $, quote } = require("zx") as typeof Zx;

/**
 * zx needs bash; found by absolute path once, so a command run with a PATH that lacks it
 * (a tool-less CI image, a test that hides docker) still runs its tools.
 */
const BASH = ["/bin/bash", "/usr/bin/bash"].find((candidate) => existsSync(candidate));

/**
 * A tool stopped at its timeout is killed with its whole process group (it runs detached, in
 * a group of its own). zx's default walks the process tree with `ps` through a shell, which
 * Node 24 answers with a deprecation warning on the user's terminal.
 */
$.kill = async (pid, signal = "SIGKILL") => {
  for (const target of [-Number(pid), Number(pid)]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      // the group is gone already: try the process itself
    }
  }
};

/**
 * Process groups of the tools running now. A command that is stopped (Ctrl-C, a CI job's
 * SIGTERM, its own deadline) takes them along: each tool runs detached in a group of its own,
 * so without this a hung `kubectl` or `docker push` would outlive the command that started it.
 */
const liveGroups = new Set<number>();
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function killLiveGroups(): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  liveGroups.clear();
}

function onStopSignal(signal: NodeJS.Signals): void {
  killLiveGroups();
  // Alone on this signal: take the default way out (die by it), as if we had not listened.
  if (process.listenerCount(signal) === 1) {
    for (const s of STOP_SIGNALS) process.removeListener(s, onStopSignal);
    process.kill(process.pid, signal);
  }
}

function track(pid: number | undefined): () => void {
  if (pid === undefined) return () => {};
  if (liveGroups.size === 0) for (const s of STOP_SIGNALS) process.on(s, onStopSignal);
  liveGroups.add(pid);
  return () => {
    liveGroups.delete(pid);
    if (liveGroups.size === 0) for (const s of STOP_SIGNALS) process.removeListener(s, onStopSignal);
  };
}
process.on("exit", killLiveGroups);

export interface ToolRun {
  /** Exit code; 127 when the tool is not installed, 124 when it was stopped at its deadline. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ToolRunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the tool's stdin, which is then closed. */
  input?: string;
  /** Called with every chunk the tool prints (stdout and stderr), e.g. to show progress. */
  echo?: (chunk: string) => void;
  /** Called with every chunk of its stdout, of its stderr (to relay each stream on its own). */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /**
   * Stop the tool (SIGKILL, its whole process group) after this long; 0: never (a command that
   * follows a stream until Ctrl-C). Default: the tool's own deadline (TOOL_DEADLINES_MS).
   */
  timeoutMs?: number;
  /** A tool that is not installed is a CliError naming how to get it, instead of a 127 result. */
  required?: boolean;
  /**
   * The tool talks to the person at the terminal (pulumi up asking for confirmation): it gets
   * this process's stdin, stdout and stderr and stays in the terminal's process group, so
   * Ctrl-C reaches it and it decides how to stop (this process waits for it). Nothing is
   * captured.
   */
  interactive?: boolean;
}

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

export async function runTool(
  tool: string,
  args: readonly string[],
  opts: ToolRunOptions = {},
): Promise<ToolRun> {
  const result = opts.interactive
    ? await runInteractive(tool, args, opts)
    : await runCaptured(tool, args, opts);
  if (opts.required && isMissing(result))
    throw new CliError(`${tool} not found on PATH: ${INSTALL_HINTS[tool] ?? `install ${tool}`}`, 127);
  return result;
}

function deadlineOf(tool: string, opts: ToolRunOptions): number {
  return opts.timeoutMs ?? TOOL_DEADLINES_MS[tool] ?? FALLBACK_DEADLINE_MS;
}

async function runCaptured(tool: string, args: readonly string[], opts: ToolRunOptions): Promise<ToolRun> {
  const started = performance.now();
  const deadline = deadlineOf(tool, opts);
  const process$ = $({
    nothrow: true,
    detached: true,
    ...(BASH ? { shell: BASH, quote } : {}),
    quiet: true,
    verbose: false,
    // zx runs the command through bash with a socket as stdin; a bash that sees a socket there
    // and no SHLVL thinks rshd started it and sources ~/.bashrc (noise on stderr, a changed
    // PATH). SHLVL=1 says "not a login from afar" unless the caller's environment says more.
    env: { SHLVL: "1", ...(opts.env ?? process.env) },
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(deadline > 0 ? { timeout: deadline, timeoutSignal: "SIGKILL" as const } : {}),
  })`${tool} ${[...args]}`;
  const untrack = track(process$.child?.pid);
  const relay = (stream: NodeJS.ReadableStream, ...sinks: (((chunk: string) => void) | undefined)[]) => {
    const wanted = sinks.filter((sink) => sink !== undefined);
    if (wanted.length > 0)
      stream.on("data", (chunk: Buffer) => {
        for (const sink of wanted) sink(chunk.toString("utf8"));
      });
  };
  relay(process$.stdout, opts.echo, opts.onStdout);
  relay(process$.stderr, opts.echo, opts.onStderr);
  let output: Awaited<typeof process$>;
  try {
    output = await process$;
  } finally {
    untrack();
  }
  const timedOut = deadline > 0 && output.signal !== null && performance.now() - started >= deadline;
  if (output.exitCode === null && output.signal === null)
    // The shell itself could not be started: say why instead of an empty failure.
    return { code: 127, stdout: "", stderr: `could not run ${tool}: ${output.message.split("\n")[0]}` };
  return {
    code: timedOut ? 124 : (output.exitCode ?? 128),
    stdout: output.stdout,
    stderr: output.stderr,
  };
}

/** An interactive tool: the terminal is its; this process only waits for its exit code. */
async function runInteractive(tool: string, args: readonly string[], opts: ToolRunOptions): Promise<ToolRun> {
  const located = findOnPath(tool, opts.env ?? process.env);
  if (located === undefined) return { code: 127, stdout: "", stderr: `${tool}: command not found` };
  // Ctrl-C and a terminal's SIGTERM reach the tool in our process group; it stops the way it
  // knows (pulumi cancels an update safely), and its exit code is ours.
  const waitForTool = () => undefined;
  for (const signal of STOP_SIGNALS) process.on(signal, waitForTool);
  try {
    const deadline = deadlineOf(tool, opts);
    const output = await $({
      nothrow: true,
      ...(BASH ? { shell: BASH, quote } : {}),
      quiet: true,
      verbose: false,
      stdio: "inherit",
      env: { SHLVL: "1", ...(opts.env ?? process.env) },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(deadline > 0 ? { timeout: deadline, timeoutSignal: "SIGKILL" as const } : {}),
    })`${located} ${[...args]}`;
    return { code: output.exitCode ?? 128, stdout: "", stderr: "" };
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, waitForTool);
  }
}

/** The tool could not be found (bash's "command not found", or it could not be started at all). */
export function isMissing(result: ToolRun): boolean {
  return (
    result.code === 127 && /command not found|No such file or directory|could not run/.test(result.stderr)
  );
}

/** The executable's path when `command` is on PATH. */
export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The most telling line of a failed tool's output: its last `error`-ish line, else its last line. */
export function failureLine(result: ToolRun): string {
  const lines = `${result.stdout}\n${result.stderr}`
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const errorish = lines.filter((l) => /error|denied|unknown|not found|forbidden|refused|unable/i.test(l));
  return errorish[errorish.length - 1] ?? lines[lines.length - 1] ?? `exit code ${result.code}`;
}

/** The last `count` non-empty lines of a tool's output, for a failure report. */
export function tail(text: string, count: number): string[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-count);
}

/** The last non-empty line of `text`: where kubectl and friends put their verdict. */
export function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.at(-1) ?? "";
}
