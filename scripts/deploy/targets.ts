/**
 * Adapter over scripts/lib/cli.ts for the deploy commands: the shared targets plus the
 * values only they need, resolved the same way (flag, environment, stack outputs, default):
 *
 *   --repository-url URL   env BACKEND_REPOSITORY_URL, stack output repositoryUrl, else looked
 *                          up in ECR by --repository (push) or the bare repository name (build)
 *   --timeout DURATION     env ROLLOUT_TIMEOUT, else 5m
 */
import {
  readStackOutputs,
  resolveTargets,
  UsageError,
  type FlagSpec,
  type ParsedFlags,
  type StackOutputs,
  type Targets,
} from "../lib/cli";
import { DEFAULT_TIMEOUT } from "../rollout/rollout-deployment";

export const DEPLOY_FLAGS = {
  "repository-url": {
    kind: "value",
    arg: "URL",
    help: "ECR repository URL (env BACKEND_REPOSITORY_URL, stack output repositoryUrl, else looked up by --repository)",
  },
  timeout: {
    kind: "value",
    arg: "DURATION",
    help: "how long to wait for the rollout, e.g. 90s, 5m (env ROLLOUT_TIMEOUT, else 5m)",
  },
  image: {
    kind: "value",
    arg: "REF",
    help: "image to use instead of the one built from this commit (<repositoryUrl>:<tag>, @sha256:<digest> or both)",
  },
  undo: {
    kind: "switch",
    help: "go back to the image before the last rollout (co-intelligence:previousImage of the stack)",
  },
  context: {
    kind: "value",
    arg: "DIR",
    help: "repository to build (the docker context and the git commit; default this repository)",
  },
  "allow-dirty": {
    kind: "switch",
    help: "build with uncommitted changes (the tag gets a -dirty-<time> suffix)",
  },
} as const satisfies Record<string, FlagSpec>;

export interface DeployTargets extends Targets {
  repositoryUrl?: string;
  timeout: string;
}

export async function resolveDeployTargets(
  flags: ParsedFlags,
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DeployTargets> {
  let outputs: StackOutputs = {};
  const targets = await resolveTargets(flags, {
    env,
    command,
    readStack: async (stack) => (outputs = await readStackOutputs(stack, env)),
  });
  const pick = (flag: string, envName: string, output?: string): string | undefined => {
    const fromFlag = flags.values[flag];
    if (fromFlag !== undefined) return fromFlag;
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    const fromStack = output === undefined ? undefined : outputs[output];
    return typeof fromStack === "string" && fromStack !== "" ? fromStack : undefined;
  };
  const repositoryUrl = pick("repository-url", "BACKEND_REPOSITORY_URL", "repositoryUrl")?.replace(
    /\/+$/,
    "",
  );
  if (repositoryUrl !== undefined && !/^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+$/.test(repositoryUrl)) {
    throw new UsageError(
      `--repository-url must look like 123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend, got ${JSON.stringify(repositoryUrl)}`,
      command,
    );
  }
  const timeout = pick("timeout", "ROLLOUT_TIMEOUT") ?? DEFAULT_TIMEOUT;
  if (!/^\d+(s|m|h)$/.test(timeout)) {
    throw new UsageError(
      `--timeout must be a duration like 90s, 5m or 1h, got ${JSON.stringify(timeout)}`,
      command,
    );
  }
  return {
    ...targets,
    ...(repositoryUrl === undefined ? {} : { repositoryUrl }),
    timeout,
  };
}
