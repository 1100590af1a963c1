/**
 * Runs an external tool (kubectl, docker, pulumi) and captures its output. Never throws for
 * the tool's own failure: callers decide what a non-zero exit means for them.
 */
import { runTool, type ToolRun } from "./run-tool";

export type ExecResult = ToolRun;

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  /** Kill the tool after this long. Default: 30 s. */
  timeoutMs?: number;
  cwd?: string;
}

export function exec(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return runTool(command, args, { ...opts, timeoutMs: opts.timeoutMs ?? 30000 });
}
