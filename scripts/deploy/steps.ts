/**
 * The three deploy steps as functions of resolved targets, shared by their own commands
 * (build:image, push, rollout) and by update-backend, which chains them in-process.
 */
import * as path from "node:path";
import type { ECRClient } from "@aws-sdk/client-ecr";
import { describeImage, describeRepository, ecrClient } from "../adapters/ecr";
import { gitState } from "../adapters/git";
import { buildImage, type BuildResult } from "../build-image/build";
import { pushImage, tagOf, type PushResult } from "../push/push-image";
import { rollout, type RolloutResult } from "../rollout/rollout-deployment";
import { errorLine } from "../lib/cli";
import { terminalSafe } from "../lib/terminal-safe";
import { StepFailure, ecrFailure, progress } from "./outcome";
import type { DeployTargets } from "./targets";

/** The repository root (scripts/deploy/..): the default build context. */
export const REPO_ROOT = path.join(__dirname, "..", "..");

/** Echo a tool's own output (docker build layers...) only where a person watches. */
const echo = process.stderr.isTTY ? (chunk: string) => process.stderr.write(terminalSafe(chunk)) : undefined;

export interface StepInputs {
  targets: DeployTargets;
  /** --image */
  image?: string;
  /** --context */
  context?: string;
  allowDirty?: boolean;
  /** --undo: back to the stack's recorded previous image. */
  undo?: boolean;
  /** ECR client override (tests); default one for targets.region. */
  ecr?: ECRClient;
}

export async function buildStep(inputs: StepInputs): Promise<BuildResult> {
  const context = path.resolve(inputs.context ?? REPO_ROOT);
  const imageName = inputs.targets.repositoryUrl ?? inputs.targets.repositoryName;
  progress(`→ docker build -f backend/Dockerfile -t ${imageName}:<commit> ${context}`);
  return buildImage({ context, imageName, allowDirty: inputs.allowDirty === true, echo });
}

/** The repository URL: given (flag, env, stack) or looked up by name in ECR. */
async function repositoryUrl(inputs: StepInputs, client: ECRClient): Promise<string> {
  const { targets } = inputs;
  if (targets.repositoryUrl !== undefined) return targets.repositoryUrl;
  progress(`→ ECR DescribeRepositories ${targets.repositoryName} (${targets.region})`);
  let repository;
  try {
    repository = await describeRepository(client, targets.repositoryName);
  } catch (err) {
    throw ecrFailure(err, `describe ECR repository ${targets.repositoryName}`);
  }
  if (!repository.found)
    throw new StepFailure(
      `ECR repository ${targets.repositoryName} does not exist in ${targets.region}`,
      "create it with the stack: npm run deploy -- --stack <stack>  (or name the right one: --repository NAME / --region R)",
    );
  if (!repository.value.repositoryUri)
    throw ecrFailure(
      new Error(`DescribeRepositories returned no URI for ${targets.repositoryName}`),
      `describe ECR repository ${targets.repositoryName}`,
    );
  return repository.value.repositoryUri;
}

/**
 * update-backend's first step: find the repository before spending minutes on a build, so a
 * missing repository fails at once and the build tags straight into it.
 */
export async function repositoryStep(inputs: StepInputs): Promise<{ repositoryUrl: string }> {
  return { repositoryUrl: await repositoryUrl(inputs, inputs.ecr ?? ecrClient(inputs.targets.region)) };
}

/** The image of this commit when none is named: what build:image tags a clean tree with. */
async function imageOfHead(inputs: StepInputs, name: string, command: string): Promise<string> {
  const state = await gitState(path.resolve(inputs.context ?? REPO_ROOT));
  if (state.changes.length > 0) {
    throw new StepFailure(
      "the working tree has uncommitted changes, so this commit's image is not what was built",
      `name the image build:image printed: npm run ${command} -- --image <repository>:<tag>`,
    );
  }
  return `${name}:${state.shortCommit}`;
}

export async function pushStep(inputs: StepInputs): Promise<PushResult> {
  const client = inputs.ecr ?? ecrClient(inputs.targets.region);
  const url = await repositoryUrl(inputs, client);
  const image = inputs.image ?? (await imageOfHead(inputs, url, "push"));
  progress(
    `→ docker login ${url.split("/")[0]} (password on stdin) and docker push ${url}:${tagOf(image) ?? ""}`,
  );
  return pushImage({ client, repositoryUrl: url, image, echo });
}

/** Splits `<repo>[:<tag>][@sha256:<digest>]`. */
function imageParts(image: string): { repo: string; tag?: string; digest?: string } {
  const at = image.indexOf("@");
  const digest = at === -1 ? undefined : image.slice(at + 1);
  const named = at === -1 ? image : image.slice(0, at);
  const tag = tagOf(named);
  return { repo: tag === undefined ? named : named.slice(0, named.length - tag.length - 1), tag, digest };
}

/**
 * The image as the stack config records it, `<repo>:<tag>@sha256:<digest>`, checked against
 * ECR: the digest pins what runs (a tag can be pushed anew elsewhere), the tag is what the
 * lifecycle policy protects. A tag is resolved to its digest; a digest to its tag.
 */
async function taggedDigestRefOf(client: ECRClient, url: string, image: string): Promise<string> {
  const { repo, tag, digest } = imageParts(image);
  const repositoryName = repo.split("/").slice(1).join("/");
  if ((tag === undefined && digest === undefined) || repositoryName === "" || !repo.includes(".")) {
    throw new StepFailure(
      `cannot tell which image ${image} is: name it <repositoryUrl>:<tag> (push prints it)`,
      `npm run rollout -- --stack <stack> --image ${url}:<tag>`,
    );
  }
  let found;
  try {
    found = await describeImage(
      client,
      repositoryName,
      digest !== undefined ? { imageDigest: digest } : { imageTag: tag! },
    );
  } catch (err) {
    throw new StepFailure(`could not look up ${image} in ECR: ${errorLine(err)}`, "npm run doctor");
  }
  const details = found.found ? found.value : undefined;
  if (!details?.imageDigest) {
    throw new StepFailure(
      `${image} is not in the repository`,
      "push it first: npm run push  (or build, push and roll out in one: npm run update-backend)",
    );
  }
  const tags = details.imageTags ?? [];
  if (tag !== undefined && !tags.includes(tag)) {
    throw new StepFailure(
      `${image}: the repository's image ${details.imageDigest} is not tagged ${tag} (it has: ${tags.join(", ") || "no tag"})`,
      `name the image by its tag alone: npm run rollout -- --image ${repo}:<tag>`,
    );
  }
  const chosen = tag ?? tags.find((t) => /^[0-9a-f]{12}/.test(t)) ?? tags[0];
  if (chosen === undefined) {
    throw new StepFailure(
      `${image} has no tag, and the lifecycle policy protects the running image by its tag`,
      "push it with a tag (npm run push tags it with its commit), then roll that out",
    );
  }
  return `${repo}:${chosen}@${details.imageDigest}`;
}

export async function rolloutStep(inputs: StepInputs): Promise<RolloutResult> {
  const { targets } = inputs;
  if (targets.stack === undefined) {
    throw new StepFailure(
      "rollout records the image in the stack's config and runs pulumi up: it needs the stack",
      `name it: npm run rollout -- --stack <stack>${inputs.undo ? " --undo" : ""}`,
    );
  }
  let image: string | undefined;
  if (!inputs.undo) {
    const client = inputs.ecr ?? ecrClient(targets.region);
    const url = await repositoryUrl(inputs, client);
    image = await taggedDigestRefOf(client, url, inputs.image ?? (await imageOfHead(inputs, url, "rollout")));
  }
  return rollout({
    stack: targets.stack,
    projectDir: REPO_ROOT,
    namespace: targets.namespace,
    deployment: targets.deploymentName,
    ...(image === undefined ? {} : { image }),
    timeout: targets.timeout,
    echo,
    progress,
  });
}
