/** Drive lambda/handler.py through tests/lambda/harness.py: one warm process per batch. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { SandboxError, SandboxResponse } from "../../contract/sandbox";

export type { SandboxError, SandboxResponse };
export interface ProcessState {
  alive: boolean;
  stopped?: boolean;
  nice?: number;
  scheduler?: number;
  affinity?: number[];
  ioprio?: number | null;
  limits?: Record<string, [number, number]>;
}
export interface Fingerprint {
  builtins: string[];
  printIsBuiltin: boolean;
  modules: number;
  cwd: string;
  environHasCanary: boolean;
  handlerProcess: ProcessState;
  zygoteProcess: ProcessState | null;
  zygoteRestarted: boolean;
}
export interface BatchResult {
  response?: SandboxResponse;
  functionError?: { type: string; message: string };
  marshalError?: string;
  importError?: string;
  after?: Fingerprint;
}

const HARNESS = path.join(__dirname, "harness.py");
/** Hands user code a memory primitive and removes every in-process layer (test-only). */
export const BREACH_PRELUDE = path.join(__dirname, "breach_prelude.py");
/**
 * Secrets planted in the warm environment, as Lambda plants the function's credentials; no
 * output may ever contain them, and no child's memory. The session token is as long as a
 * real one (about 900 characters).
 */
export const CANARY = {
  AWS_ACCESS_KEY_ID: "ASIACANARY7F3A9C0000",
  AWS_SECRET_ACCESS_KEY: "canary-secret-7f3a9c-" + "k".repeat(19),
  AWS_SESSION_TOKEN: "canary-token-51be02-" + "IQoJb3JpZ2luX2VjE".repeat(52),
};

/** The unprivileged account the sandbox tests also run as (Lambda never runs as root). */
export const SANDBOX_TEST_USER = "co-intelligence-sandbox";

export interface RunAs {
  /** Shown in test names. */
  label: string;
  /** setpriv arguments that switch to the account, or none to run as this process's user. */
  setpriv?: string[];
}

function accountIds(name: string): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) =>
      Number(execFileSync("id", [flag, name], { encoding: "utf8", stdio: "pipe" }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    return undefined;
  }
}

/**
 * Who the sandbox tests run as: as root, both root (local containers) and the unprivileged
 * SANDBOX_TEST_USER (what Lambda does: the child has the same uid as the handler's process);
 * as anyone else, just that user, which is already unprivileged.
 */
export function runAsModes(): RunAs[] {
  if (process.getuid?.() !== 0) return [{ label: "as an unprivileged user" }];
  const ids = accountIds(SANDBOX_TEST_USER);
  if (!ids)
    throw new Error(
      `the unprivileged account ${SANDBOX_TEST_USER} is missing: run bash dev/ensure-test-deps.sh as root (npm test does)`,
    );
  return [
    { label: "as root" },
    {
      label: `as the unprivileged ${SANDBOX_TEST_USER}`,
      setpriv: [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, "--clear-groups", "--inh-caps=-all", "--"],
    },
  ];
}

export interface BatchOptions {
  env?: Record<string, string>;
  /** Python the zygote runs before its main (BREACH_PRELUDE). */
  prelude?: string;
  runAs?: RunAs;
  timeoutMs?: number;
}

/** Run `events` through one warm handler process on `python`; returns one result per event. */
export function runBatch(python: string, events: unknown[], options: BatchOptions = {}): BatchResult[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-test-"));
  fs.chmodSync(dir, 0o777); // the unprivileged account writes the results here
  try {
    const input = path.join(dir, "events.json");
    const output = path.join(dir, "results.json");
    fs.writeFileSync(input, JSON.stringify(events));
    fs.chmodSync(input, 0o644);
    const args = [HARNESS, input, output, ...(options.prelude ? [options.prelude] : [])];
    const [command, argv] = options.runAs?.setpriv
      ? ["setpriv", [...options.runAs.setpriv, python, ...args]]
      : [python, args];
    execFileSync(command, argv, {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: dir,
        ...CANARY,
        ...options.env,
      },
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: options.timeoutMs ?? 120000,
    });
    return JSON.parse(fs.readFileSync(output, "utf8")) as BatchResult[];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function code(source: string, timeoutMs?: number): Record<string, unknown> {
  return timeoutMs === undefined ? { code: source } : { code: source, timeoutMs };
}

export function responseOf(result: BatchResult | undefined): SandboxResponse {
  if (!result?.response) throw new Error(`expected a response, got ${JSON.stringify(result)}`);
  if (result.marshalError)
    throw new Error(`the response does not survive Lambda's marshalling: ${result.marshalError}`);
  return result.response;
}
