/**
 * `rollout`: the stack config is the one owner of the image the backend runs. A rollout
 * records the new image (`co-intelligence:image`, by tag and digest) and the one it replaces
 * (`co-intelligence:previousImage`, the undo target) in the stack's config, runs `pulumi up`,
 * and waits for Kubernetes to report the rollout complete (`kubectl rollout status`, which
 * only reads). When it does not complete (crash loop, bad image, timeout), it shows why (the
 * failing pods' events and last log lines) and undoes it the same way: the config back to
 * what it was, and `pulumi up`. Nothing else ever writes the Deployment's image, so no later
 * `pulumi up` (the kill switch, a probe, an env var) meets another field manager's image.
 */
import { IMAGE_CONFIG_KEYS } from "../../contract/stack";
import { Kubectl, kubectlFix, podNotReady, podProblem, type KubeDeployment } from "../adapters/kubectl";
import { PulumiStack } from "../adapters/pulumi";
import { StepFailure } from "../lib/cli-error";
import { kubernetesName } from "../lib/names";
import { failureLine, runTool } from "../lib/run-tool";

export const DEFAULT_TIMEOUT = "5m";
/** Pods whose events and logs a failed rollout prints (the rest are alike). */
const MAX_DIAGNOSED_PODS = 3;
const LOG_LINES = 50;

const IMAGE_KEY = IMAGE_CONFIG_KEYS.image;
const PREVIOUS_IMAGE_KEY = IMAGE_CONFIG_KEYS.previousImage;

export interface RolloutOptions {
  /** The Pulumi stack whose config owns the image. */
  stack: string;
  /** Where the Pulumi project lives (Pulumi.yaml). */
  projectDir: string;
  namespace: string;
  deployment: string;
  /** `<repository>:<tag>@sha256:<64 hex>`, or undefined for `--undo`. */
  image?: string;
  /** kubectl duration: 90s, 5m. */
  timeout: string;
  echo?: (chunk: string) => void;
  progress?: (line: string) => void;
}

export interface RolloutResult {
  stack: string;
  deployment: string;
  namespace: string;
  image: string;
  previousImage: string;
}

/** The recorded images: what runs and what an undo returns to. */
interface ImageConfig {
  image?: string;
  previousImage?: string;
}

/** Records both images in the stack's config (an undefined one is removed), then `pulumi up`. */
async function apply(pulumi: PulumiStack, images: ImageConfig): Promise<void> {
  await pulumi.set({ [IMAGE_KEY]: images.image, [PREVIOUS_IMAGE_KEY]: images.previousImage });
  await pulumi.up();
}

export async function rollout(opts: RolloutOptions): Promise<RolloutResult> {
  const { namespace, deployment: name, stack } = opts;
  kubernetesName("namespace", namespace);
  kubernetesName("deployment", name);
  const say = opts.progress ?? (() => {});
  const pulumi = new PulumiStack(stack, opts.projectDir, say, opts.echo);

  const before: ImageConfig = {
    image: await pulumi.get(IMAGE_KEY),
    previousImage: await pulumi.get(PREVIOUS_IMAGE_KEY),
  };
  let after: ImageConfig;
  if (opts.image === undefined) {
    // --undo: back to the recorded undo target; the image it replaces becomes the new one.
    if (before.previousImage === undefined) {
      throw new StepFailure(
        `stack ${stack} records no earlier image (${PREVIOUS_IMAGE_KEY} is not set): nothing to undo`,
        `roll out the image you want by name: npm run rollout -- --stack ${stack} --image <repositoryUrl>:<tag>`,
      );
    }
    after = { image: before.previousImage, previousImage: before.image };
  } else {
    after = {
      image: opts.image,
      previousImage: before.image === opts.image ? before.previousImage : before.image,
    };
  }

  try {
    await apply(pulumi, after);
  } catch (err) {
    // Put the config back so the stack says what runs; a second up converges the cluster.
    say(`✘ pulumi up failed; restoring ${IMAGE_KEY} and ${PREVIOUS_IMAGE_KEY}`);
    await apply(pulumi, before).catch(() => undefined);
    throw err;
  }

  const target = `deployment/${name}`;
  say(`→ kubectl rollout status ${target} -n ${namespace} --timeout=${opts.timeout}`);
  const status = await runTool(
    "kubectl",
    ["rollout", "status", "-n", namespace, `--timeout=${opts.timeout}`, "--", target],
    { echo: opts.echo, timeoutMs: kubectlDurationMs(opts.timeout) + 60_000, required: true },
  );
  if (status.code === 0) {
    return {
      stack,
      deployment: name,
      namespace,
      image: after.image!,
      previousImage: after.previousImage ?? "",
    };
  }

  // Diagnose before undoing: the undo replaces the new pods, and their logs go with them. The
  // old pods keep serving meanwhile (maxUnavailable 0), so this costs nothing.
  say(`✘ rollout did not complete: ${failureLine(status)}; collecting the failing pods' events and logs`);
  const details = await diagnose(new Kubectl(), namespace, name, say);

  say(`→ undo: ${IMAGE_KEY} back to ${before.image ?? "(unset)"}, then pulumi up`);
  let undoLine: string;
  let undone = true;
  try {
    await apply(pulumi, before);
    undoLine = before.image ? `rolled back to ${before.image}` : "rolled back to no recorded image";
  } catch (err) {
    undone = false;
    undoLine = `UNDO FAILED (${err instanceof Error ? err.message : String(err)})`;
  }
  throw new StepFailure(
    `rollout of ${after.image} did not complete (${failureLine(status)}); ${undoLine}`,
    undone
      ? `fix what the pods' events and logs above show, then push a new image and roll it out: npm run update-backend -- --stack ${stack}`
      : `restore the recorded image: pulumi config set --stack ${stack} ${IMAGE_KEY} ${before.image ?? "<image>"} && pulumi up --stack ${stack}`,
    details,
  );
}

/** `90s`, `5m`, `1h` in milliseconds. */
export function kubectlDurationMs(duration: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(duration);
  if (!match) return 5 * 60_000;
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as "s" | "m" | "h"];
}

/**
 * Events and last log lines of the deployment's unwell pods (adapters/kubectl.ts's one rule:
 * stuck waiting, or restarting in a loop), else of the pods that are not ready (a failing
 * readiness probe, a pod that cannot be scheduled), as report lines.
 */
async function diagnose(
  kubectl: Kubectl,
  namespace: string,
  name: string,
  say: (line: string) => void,
): Promise<string[]> {
  const deployment = await kubectl.deployment(namespace, name);
  if (deployment.status !== "ok")
    return [
      `could not read the deployment: ${deployment.reason} (${kubectlFix(deployment.reason, namespace, name)})`,
    ];
  const pods = await kubectl.pods(namespace, deployment.value as KubeDeployment);
  if (pods.status !== "ok") return [`could not list the pods: ${pods.reason}`];
  const described = (rule: typeof podProblem) =>
    pods.value.flatMap((pod) => {
      const problem = rule(pod);
      return problem === undefined || !pod.metadata?.name ? [] : [{ pod: pod.metadata.name, problem }];
    });
  const unwell = described(podProblem);
  const chosen = unwell.length > 0 ? unwell : described(podNotReady);
  if (chosen.length === 0)
    return [`no pod is crash-looping or waiting; see: kubectl describe deployment/${name} -n ${namespace}`];
  const lines: string[] = [];
  for (const { pod, problem } of chosen.slice(0, MAX_DIAGNOSED_PODS)) {
    say(`  ${problem}`);
    lines.push(problem);
    const events = await kubectl.read([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      `involvedObject.name=${pod}`,
    ]);
    lines.push("  events:");
    lines.push(...indented(events.code === 0 ? events.stdout : failureLine(events)));
    const logs = await kubectl.read(["logs", "-n", namespace, `--tail=${LOG_LINES}`, "--", pod]);
    lines.push(`  last ${LOG_LINES} log lines:`);
    lines.push(...indented(logs.code === 0 ? logs.stdout : failureLine(logs)));
  }
  if (chosen.length > MAX_DIAGNOSED_PODS)
    lines.push(`(${chosen.length - MAX_DIAGNOSED_PODS} more pods alike)`);
  return lines;
}

const indented = (text: string): string[] =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => `    ${l}`);
