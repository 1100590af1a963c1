/**
 * The sandbox function, invoked directly (Lambda Invoke with the contract's request event): how
 * doctor's function-invoke and function-sandbox checks and `smoke --function` run code without
 * the backend. What comes back is read leniently, as a report reads it: a payload that is not
 * a sandbox response is said to be one, a function error is told apart from an answer. Also
 * the function's environment, for the module list smoke checks.
 */
import { GetFunctionConfigurationCommand, InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { SandboxRequest } from "../../contract/sandbox";
import { readSandboxAnswer, type SandboxAnswer } from "./sandbox-answer";

export type { SandboxAnswer };

export type Invocation =
  | { kind: "answer"; answer: SandboxAnswer }
  /** The function itself failed (a broken sandbox or a configuration error, never user code). */
  | { kind: "function-error"; functionError: string; message: string };

/** Invokes `functionName` with `{code}`; AWS errors (not found, denied, throttled) are thrown. */
export async function invokeSandbox(
  client: LambdaClient,
  functionName: string,
  code: string,
): Promise<Invocation> {
  const request: SandboxRequest = { code };
  const out = await client.send(
    new InvokeCommand({
      FunctionName: functionName,
      Payload: new TextEncoder().encode(JSON.stringify(request)),
    }),
  );
  const text = out.Payload ? new TextDecoder().decode(out.Payload) : "";
  if (out.FunctionError) {
    let message = text;
    try {
      const e = JSON.parse(text) as { errorType?: string; errorMessage?: string };
      message = `${e.errorType ?? "Error"}: ${e.errorMessage ?? ""}`;
    } catch {
      // keep the raw payload
    }
    return { kind: "function-error", functionError: out.FunctionError, message: message.slice(0, 300) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text || "null");
  } catch {
    parsed = text;
  }
  return { kind: "answer", answer: readSandboxAnswer(parsed, `Lambda ${functionName}`) };
}

/** The function's environment variables (none set: empty); AWS errors are thrown. */
export async function functionEnvironment(
  client: LambdaClient,
  functionName: string,
  signal?: AbortSignal,
): Promise<Record<string, string>> {
  const fn = await client.send(
    new GetFunctionConfigurationCommand({ FunctionName: functionName }),
    signal ? { abortSignal: signal } : {},
  );
  return fn.Environment?.Variables ?? {};
}
