/**
 * A sandbox response as the commands read one, from the function (adapters/lambda.ts) or
 * through the backend (adapters/backend-http.ts): leniently, keeping what they judge, and
 * saying what came instead when it is not one at all.
 */
import type { SandboxResponse } from "../../contract/sandbox";

/** The part of a sandbox response the commands judge. */
export type SandboxAnswer = Pick<SandboxResponse, "ok" | "stdout" | "stderr" | "result"> & {
  error: { type: string; message: string } | null;
};

/** A payload as a sandbox answer; an Error saying what came instead when it is not one. */
export function readSandboxAnswer(value: unknown, from: string): SandboxAnswer {
  const v = value as Partial<SandboxResponse> | null;
  if (!v || typeof v !== "object" || typeof v.ok !== "boolean")
    throw new Error(`${from} did not answer a sandbox response: ${JSON.stringify(value)?.slice(0, 200)}`);
  const error = v.error && typeof v.error === "object" ? v.error : null;
  return {
    ok: v.ok,
    stdout: typeof v.stdout === "string" ? v.stdout : "",
    stderr: typeof v.stderr === "string" ? v.stderr : "",
    result: typeof v.result === "string" ? v.result : null,
    error: error && { type: String(error.type), message: String(error.message ?? "") },
  };
}
