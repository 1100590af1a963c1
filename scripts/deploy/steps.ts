/**
 * The three deploy steps as functions of resolved targets, shared by their own commands
 * (build:image, push, rollout) and by update-backend, which chains them in-process.
 */
import * as path from "node:path";
import { DescribeImagesCommand, type ECRClient } from "@aws-sdk/client-ecr";
import { errorLine } from "../lib/cli";
import { awsErrorName } from "../lib/aws";
import { buildImage, gitState, type BuildResult } from "./build";
import { ecrClient, repositoryUrlOf } from "./ecr";
import { StepFailure, progress } from "./outcome";
import { pushImage, tagOf, type PushResult } from "./push-image";
import { isDigestRef, rollout, type RolloutResult } from "./rollout-deployment";
import type { DeployTargets } from "./targets";

/** The repository root (scripts/deploy/..): the default build context. */
export const REPO_ROOT = path.join(__dirname, "..", "..");

/** Echo a tool's own output (docker build layers...) only where a person watches. */
const echo = process.stderr.isTTY ? (chunk: string) => process.stderr.write(chunk) : undefined;

export interface StepInputs {
  targets: DeployTargets;
  /** --image */
  image?: string;
  /** --context */
  context?: string;
  allowDirty?: boolean;
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
  return repositoryUrlOf(client, targets.repositoryName, targets.region);
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

/** `<repo>:<tag>` -> `<repo>@sha256:...` through ECR DescribeImages. */
async function digestRefOf(client: ECRClient, url: string, image: string): Promise<string> {
  const tag = tagOf(image);
  const repoUrl = tag === undefined ? image : image.slice(0, image.length - tag.length - 1);
  const repositoryName = repoUrl.split("/").slice(1).join("/");
  if (tag === undefined || repositoryName === "" || !repoUrl.includes(".")) {
    throw new StepFailure(
      `cannot find the digest of ${image}`,
      `roll out by digest (push prints it): npm run rollout -- --image ${url}@sha256:<digest>`,
    );
  }
  try {
    const out = await client.send(
      new DescribeImagesCommand({ repositoryName, imageIds: [{ imageTag: tag }] }),
    );
    const digest = out.imageDetails?.[0]?.imageDigest;
    if (digest) return `${repoUrl}@${digest}`;
  } catch (err) {
    if (awsErrorName(err) !== "ImageNotFoundException" && awsErrorName(err) !== "RepositoryNotFoundException")
      throw new StepFailure(`could not look up ${image} in ECR: ${errorLine(err)}`, "npm run doctor");
  }
  throw new StepFailure(
    `${image} is not in the repository`,
    "push it first: npm run push  (or build, push and roll out in one: npm run update-backend)",
  );
}

export async function rolloutStep(inputs: StepInputs): Promise<RolloutResult> {
  const { targets } = inputs;
  let image = inputs.image;
  if (image === undefined || !isDigestRef(image)) {
    // A tag can be moved; the deployment is pinned to the digest the tag has now.
    const client = inputs.ecr ?? ecrClient(targets.region);
    const url = await repositoryUrl(inputs, client);
    image = await digestRefOf(client, url, image ?? (await imageOfHead(inputs, url, "rollout")));
  }
  return rollout({
    namespace: targets.namespace,
    deployment: targets.deploymentName,
    container: targets.container,
    image,
    timeout: targets.timeout,
    echo,
    progress,
  });
}
