/**
 * The one way the operations commands run an external tool (git, docker, kubectl, pulumi):
 * zx's `$`, which quotes every interpolated argument (an array becomes separate, escaped
 * words, so nothing from a flag or a stack output is ever parsed by the shell), feeds stdin
 * from memory (the ECR password never appears in argv) and captures the output. A tool's own
 * failure is a result, never a throw: the caller decides what a non-zero exit means.
 */
import { existsSync } from "node:fs";
import type * as Zx from "zx" with { "resolution-mode": "import" };

// zx is an ES module package that also ships CommonJS (its "require" export); TypeScript's
// node16 resolution only sees the ESM types, so types come from an import type with
// resolution-mode and the value from require() (as backend/gemini.ts does for @google/genai).
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
  /** Exit code; 127 when the tool is not installed, 124 when it was stopped at `timeoutMs`. */
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
  /** Stop the tool (SIGKILL) after this long. Default: no limit. */
  timeoutMs?: number;
}

export async function runTool(
  tool: string,
  args: readonly string[],
  opts: ToolRunOptions = {},
): Promise<ToolRun> {
  const started = performance.now();
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
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs, timeoutSignal: "SIGKILL" as const } : {}),
  })`${tool} ${[...args]}`;
  const untrack = track(process$.child?.pid);
  if (opts.echo) {
    const echo = opts.echo;
    process$.stdout.on("data", (chunk: Buffer) => echo(chunk.toString("utf8")));
    process$.stderr.on("data", (chunk: Buffer) => echo(chunk.toString("utf8")));
  }
  let output: Awaited<typeof process$>;
  try {
    output = await process$;
  } finally {
    untrack();
  }
  const timedOut =
    opts.timeoutMs !== undefined && output.signal !== null && performance.now() - started >= opts.timeoutMs;
  if (output.exitCode === null && output.signal === null)
    // The shell itself could not be started: say why instead of an empty failure.
    return { code: 127, stdout: "", stderr: `could not run ${tool}: ${output.message.split("\n")[0]}` };
  return {
    code: timedOut ? 124 : (output.exitCode ?? 128),
    stdout: output.stdout,
    stderr: output.stderr,
  };
}
