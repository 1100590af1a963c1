/**
 * Named helpers for the deploy command tests (build, push, rollout, update-backend, smoke):
 * run a real command (`tsx scripts/<name>.ts ...`) with the recording docker/kubectl stubs
 * of tests/fixtures/bin first on PATH, and read back what the stubs were asked to do.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const ROOT = path.join(__dirname, "..", "..");
const NODE_BIN = path.join(ROOT, "node_modules", ".bin");
export const STUB_BIN = path.join(ROOT, "tests", "fixtures", "bin");

export interface CommandRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Every docker/kubectl call, argv with the command name first, in order. */
  calls: string[][];
  /** What calls that read stdin received: size and hash only. */
  stdin: { argv: string[]; bytes: number; sha256: string }[];
}

export interface RunOptions {
  /** STUB_SCENARIO: healthy, build-fail, push-fail, rollout-fail, ... */
  scenario?: string;
  env?: Record<string, string>;
  /** Leave the stubs off PATH (a machine without docker/kubectl). */
  noStubs?: boolean;
  /** Run it the way the docs show: `npm run --silent <script> -- args...`. */
  viaNpm?: string;
  /** System directories on PATH after the stubs and node. Default /usr/local/bin, /usr/bin, /bin. */
  systemPath?: string[];
}

/** A scratch directory removed by the returned function. */
export function scratchDir(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `tsx scripts/<script>.ts args...` from the repository root; never throws. */
export async function runScript(script: string, args: string[], opts: RunOptions = {}): Promise<CommandRun> {
  const scratch = scratchDir("deploy-run-");
  const record = path.join(scratch.dir, "calls.jsonl");
  const PATH = [
    ...(opts.noStubs ? [] : [STUB_BIN]),
    NODE_BIN,
    ...(opts.systemPath ?? ["/usr/local/bin", "/usr/bin", "/bin"]),
  ].join(path.delimiter);
  const env: NodeJS.ProcessEnv = {
    PATH,
    HOME: scratch.dir,
    STUB_RECORD: record,
    STUB_SCENARIO: opts.scenario ?? "healthy",
    // No real cloud, ever: fake credentials unless the test gives moto's.
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_REGION: "us-east-1",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
    ...opts.env,
  };
  const [command, commandArgs] = opts.viaNpm
    ? ["npm", ["run", "--silent", opts.viaNpm, "--", ...args]]
    : [path.join(NODE_BIN, "tsx"), [path.join("scripts", script, "main.ts"), ...args]];
  const child = spawn(command, commandArgs, {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const status = await new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const lines = (file: string) =>
    fs.existsSync(file)
      ? fs
          .readFileSync(file, "utf8")
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l) as unknown)
      : [];
  const run: CommandRun = {
    status,
    stdout,
    stderr,
    calls: lines(record) as string[][],
    stdin: lines(`${record}.stdin`) as CommandRun["stdin"],
  };
  scratch.remove();
  return run;
}

/** A directory holding only `git` (and what the shell needs): PATH for "docker is not installed". */
export function onlyGitOnPath(): { dir: string; remove(): void } {
  const scratch = scratchDir("only-git-");
  for (const tool of ["git", "sh"]) {
    const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
    if (found) fs.symlinkSync(found, path.join(scratch.dir, tool));
  }
  return scratch;
}

/** A git repository with backend/Dockerfile committed: a clean build context. */
export function cleanRepo(): { dir: string; commit: string; remove(): void } {
  const scratch = scratchDir("deploy-repo-");
  const git = (...args: string[]) => {
    const r = spawnSync("git", args, { cwd: scratch.dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  fs.mkdirSync(path.join(scratch.dir, "backend"));
  fs.writeFileSync(path.join(scratch.dir, "backend", "Dockerfile"), "FROM node:24-bookworm-slim\n");
  git("init", "-q");
  git("add", ".");
  git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init");
  return { dir: scratch.dir, commit: git("rev-parse", "HEAD"), remove: scratch.remove };
}

/** The stdout of a `--json` run, parsed. */
export function jsonOf<T = Record<string, unknown>>(run: CommandRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

/** A `pulumi` stub answering `pulumi stack output --json --stack NAME` with `outputs`; PATH dirs to use. */
export function pulumiWithOutputs(outputs: Record<string, string>): { systemPath: string[]; remove(): void } {
  const scratch = scratchDir("pulumi-stub-");
  fs.writeFileSync(
    path.join(scratch.dir, "pulumi"),
    `#!/bin/sh\n[ "$1 $2 $3" = "stack output --json" ] || exit 3\ncat <<'EOF'\n${JSON.stringify(outputs)}\nEOF\n`,
    { mode: 0o755 },
  );
  return { systemPath: [scratch.dir, "/usr/local/bin", "/usr/bin", "/bin"], remove: scratch.remove };
}

/** The recording `pulumi` stub (tests/fixtures/pulumi-bin): PATH dirs and its state directory. */
export const PULUMI_STUB_BIN = path.join(ROOT, "tests", "fixtures", "pulumi-bin");

export interface PulumiStub {
  /** systemPath for runScript: the stub first, then the system. */
  systemPath: string[];
  /** STUB_PULUMI_STATE for runScript's env. */
  env: Record<string, string>;
  /** The stack's config as the stub keeps it now. */
  config(stack: string): Record<string, string>;
  setConfig(stack: string, values: Record<string, string>): void;
  /** Every `pulumi up`/`preview` so far, with the config it ran the program with. */
  runs(): { command: "up" | "preview"; stack: string; config: Record<string, string> }[];
  remove(): void;
}

export function pulumiStub(initial: Record<string, Record<string, string>> = {}): PulumiStub {
  const scratch = scratchDir("pulumi-state-");
  const configFile = path.join(scratch.dir, "config.json");
  fs.writeFileSync(configFile, JSON.stringify(initial));
  const readConfigs = () =>
    JSON.parse(fs.readFileSync(configFile, "utf8")) as Record<string, Record<string, string>>;
  return {
    systemPath: [PULUMI_STUB_BIN, "/usr/local/bin", "/usr/bin", "/bin"],
    env: { STUB_PULUMI_STATE: scratch.dir },
    config: (stack) => readConfigs()[stack] ?? {},
    setConfig: (stack, values) => {
      const all = readConfigs();
      all[stack] = { ...(all[stack] ?? {}), ...values };
      fs.writeFileSync(configFile, JSON.stringify(all));
    },
    runs: () => {
      const file = path.join(scratch.dir, "runs.jsonl");
      return fs.existsSync(file)
        ? fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => l !== "")
            .map((l) => JSON.parse(l))
        : [];
    },
    remove: scratch.remove,
  };
}

/** kubectl verbs that change the cluster: none of them may ever touch the image. */
export const KUBECTL_WRITES = new Set([
  "set",
  "patch",
  "apply",
  "edit",
  "replace",
  "create",
  "delete",
  "scale",
  "annotate",
  "label",
]);
