/**
 * docker, as build:image and push drive it: every call through run-tool (arguments never
 * parsed by a shell, the registry password on stdin only), a missing docker named with how to
 * get it, and what docker's answers mean (no daemon, the digest a push printed).
 */
import { runTool, type ToolRun, type ToolRunOptions } from "../lib/run-tool";

/** `docker args...`; never throws for docker's own failure, but a missing docker is a CliError. */
export function docker(args: readonly string[], opts: ToolRunOptions = {}): Promise<ToolRun> {
  return runTool("docker", args, { ...opts, required: true });
}

/** docker's "no daemon" answer, whatever the subcommand. */
export function dockerDaemonDown(result: ToolRun): boolean {
  return /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i.test(
    `${result.stdout}\n${result.stderr}`,
  );
}

export const START_DOCKER_FIX =
  "start the Docker daemon (sudo systemctl start docker, or open Docker Desktop), check with: docker version";

/** `<tag>: digest: sha256:<hex> size: N`, the last line of a successful docker push. */
export function parsePushDigest(output: string): string | undefined {
  const matches = [...output.matchAll(/^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+\s*$/gm)];
  return matches[matches.length - 1]?.[1];
}
