/**
 * `push`: log docker in to the repository's registry (the password through stdin only) and
 * push the image, reading the digest the registry assigned: that digest, not the tag, is
 * what rollout deploys.
 */
import type { ECRClient } from "@aws-sdk/client-ecr";
import { START_DOCKER_FIX, docker, dockerDaemonDown, parsePushDigest } from "../adapters/docker";
import { MalformedToken, registryLogin, registryOf, type RegistryLogin } from "../adapters/ecr";
import { ecrFailure, StepFailure } from "../deploy/outcome";
import { failureLine, tail, type ToolRun } from "../lib/run-tool";

export interface PushOptions {
  client: ECRClient;
  /** `<registry>/<name>` */
  repositoryUrl: string;
  /** The built image: `<repositoryUrl>:<tag>`, or a local name that is tagged into it first. */
  image: string;
  echo?: (chunk: string) => void;
}

export interface PushResult {
  /** `<repositoryUrl>:<tag>` that was pushed. */
  image: string;
  /** `sha256:<64 hex>` */
  digest: string;
  /** `<repositoryUrl>@sha256:...`: what rollout deploys. */
  imageByDigest: string;
}

/** The tag of an image reference (`host:5000/name:tag` -> tag), or undefined. */
export function tagOf(image: string): string | undefined {
  if (image.includes("@")) return undefined; // a digest reference names no tag
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  return colon === -1 ? undefined : image.slice(colon + 1);
}

export { parsePushDigest };

export async function pushImage(opts: PushOptions): Promise<PushResult> {
  const tag = tagOf(opts.image);
  if (tag === undefined || tag === "") {
    throw new StepFailure(
      `image ${opts.image} has no tag`,
      "push what build:image printed: npm run push -- --image <repository>:<tag>",
    );
  }
  const target = `${opts.repositoryUrl}:${tag}`;
  const registry = registryOf(opts.repositoryUrl);
  const login = await loginOf(opts.client, registry);

  const loggedIn = await docker(
    ["login", "--username", login.username, "--password-stdin", "--", login.registry],
    { input: login.password, timeoutMs: 120_000 },
  );
  // docker keeps the password in ~/.docker/config.json (unless a credential helper holds it):
  // a 12-hour ECR token left on disk. Log out again, whatever happens to the push.
  try {
    return await tagAndPush(opts, target, loggedIn);
  } finally {
    const out = await docker(["logout", "--", registry], { timeoutMs: 60_000 }).catch(() => undefined);
    if (out !== undefined && out.code !== 0)
      process.stderr.write(
        `warning: docker logout ${registry} failed: ${failureLine(out)}; run it yourself\n`,
      );
  }
}

/** The registry's docker login, or the step failure that says why there is none. */
async function loginOf(client: ECRClient, registry: string): Promise<RegistryLogin> {
  let login: RegistryLogin | undefined;
  try {
    login = await registryLogin(client, registry);
  } catch (err) {
    if (err instanceof MalformedToken)
      throw new StepFailure(err.message, "check AWS_ENDPOINT_URL points at ECR (or an emulator of it)");
    throw ecrFailure(err, "get an ECR authorization token");
  }
  if (login === undefined)
    throw new StepFailure(
      "ECR GetAuthorizationToken returned no token",
      "check the AWS credentials and region: aws sts get-caller-identity && npm run doctor",
    );
  return login;
}

async function tagAndPush(opts: PushOptions, target: string, loggedIn: ToolRun): Promise<PushResult> {
  const registry = registryOf(opts.repositoryUrl);
  if (loggedIn.code !== 0) {
    throw new StepFailure(
      `docker login to ${registry} failed: ${failureLine(loggedIn)}`,
      dockerDaemonDown(loggedIn)
        ? START_DOCKER_FIX
        : "check that the AWS credentials belong to the repository's account (aws sts get-caller-identity), then: npm run push",
    );
  }

  if (target !== opts.image) {
    const tagged = await docker(["tag", "--", opts.image, target], { timeoutMs: 60_000 });
    if (tagged.code !== 0) {
      throw new StepFailure(
        `docker tag ${opts.image} ${target} failed: ${failureLine(tagged)}`,
        "build the image first: npm run build:image",
      );
    }
  }

  const pushed = await docker(["push", "--", target], { echo: opts.echo, timeoutMs: 20 * 60_000 });
  if (pushed.code !== 0) {
    const line = failureLine(pushed);
    const fix = dockerDaemonDown(pushed)
      ? START_DOCKER_FIX
      : /does not exist|name unknown/i.test(line)
        ? "create the repository with the stack (npm run deploy -- --stack <stack>) or pass the right one: --repository NAME"
        : /tag invalid|already exists|immutable/i.test(line)
          ? "tags are immutable: commit your change and build a new tag (npm run build:image), then push that"
          : /no such image|does not exist locally/i.test(line)
            ? "build it first: npm run build:image"
            : "retry: npm run push  (then npm run doctor if it fails again)";
    throw new StepFailure(
      `docker push ${target} failed: ${line}`,
      fix,
      tail(`${pushed.stdout}\n${pushed.stderr}`, 10),
    );
  }
  const digest = parsePushDigest(pushed.stdout);
  if (digest === undefined) {
    throw new StepFailure(
      `docker push ${target} printed no digest line ("<tag>: digest: sha256:... size: N")`,
      `read the digest with: docker image inspect --format '{{index .RepoDigests 0}}' ${target}`,
      tail(pushed.stdout, 5),
    );
  }
  return { image: target, digest, imageByDigest: `${opts.repositoryUrl}@${digest}` };
}
