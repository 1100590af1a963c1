/** Drive lambda/handler.py through tests/lambda/harness.py: one warm process per batch. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface SandboxError {
  type: string;
  message: string;
  traceback: string | null;
}
export interface SandboxResponse {
  ok: boolean;
  stdout: string;
  stderr: string;
  result: string | null;
  error: SandboxError | null;
  truncated: boolean;
  durationMs: number;
}
export interface Fingerprint {
  builtins: string[];
  printIsBuiltin: boolean;
  modules: number;
  cwd: string;
  environHasCanary: boolean;
}
export interface BatchResult {
  response?: SandboxResponse;
  functionError?: { type: string; message: string };
  importError?: string;
  after?: Fingerprint;
}

const HARNESS = path.join(__dirname, "harness.py");
/** Secrets planted in the warm environment; no output may ever contain them. */
export const CANARY = {
  AWS_SECRET_ACCESS_KEY: "canary-secret-7f3a9c",
  AWS_SESSION_TOKEN: "canary-token-51be02",
};

/** Run `events` through one warm handler process on `python`; returns one result per event. */
export function runBatch(
  python: string,
  events: unknown[],
  env: Record<string, string> = {},
  timeoutMs = 120000,
): BatchResult[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-test-"));
  try {
    const input = path.join(dir, "events.json");
    const output = path.join(dir, "results.json");
    fs.writeFileSync(input, JSON.stringify(events));
    execFileSync(python, [HARNESS, input, output], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        ...CANARY,
        ...env,
      },
      stdio: ["ignore", "ignore", "pipe"],
      timeout: timeoutMs,
    });
    return JSON.parse(fs.readFileSync(output, "utf8")) as BatchResult[];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function code(source: string, timeoutMs?: number): Record<string, unknown> {
  return timeoutMs === undefined ? { code: source } : { code: source, timeoutMs };
}
