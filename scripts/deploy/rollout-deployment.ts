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
import { StepFailure } from "./outcome";
import { failureLine, runTool, tail } from "./process";
import { getDeployment, kubectlFix, problemPods, type DeploymentInfo } from "./kube";
import { kubernetesName } from "../lib/names";

export const DEFAULT_TIMEOUT = "5m";
/** Pods whose events and logs a failed rollout prints (the rest are alike). */
const MAX_DIAGNOSED_PODS = 3;
const LOG_LINES = 50;
/** A `pulumi up` that takes longer than this is stopped (its process group killed). */
const PULUMI_UP_DEADLINE_MS = 30 * 60_000;
const PULUMI_CONFIG_DEADLINE_MS = 60_000;

export const IMAGE_KEY = "co-intelligence:image";
export const PREVIOUS_IMAGE_KEY = "co-intelligence:previousImage";

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

/** An image reference by tag and digest: what the stack config records. */
export function isTaggedDigestRef(image: string): boolean {
  return /^[^@\s:/]+(?::\d+)?(?:\/[^@\s:]+)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64}$/.test(
    image,
  );
}

/** An image reference pinned by digest (with or without a tag). */
export function isDigestRef(image: string): boolean {
  return /^[^@\s]+@sha256:[0-9a-f]{64}$/.test(image);
}

class PulumiStack {
  constructor(
    private readonly stack: string,
    private readonly cwd: string,
    private readonly say: (line: string) => void,
    private readonly echo?: (chunk: string) => void,
  ) {}

  private async run(args: string[], timeoutMs: number, echo = false) {
    return runTool("pulumi", args, {
      cwd: this.cwd,
      timeoutMs,
      ...(echo && this.echo ? { echo: this.echo } : {}),
    });
  }

  async get(key: string): Promise<string | undefined> {
    const result = await this.run(
      ["config", "get", "--stack", this.stack, "--", key],
      PULUMI_CONFIG_DEADLINE_MS,
    );
    if (result.code === 0) return result.stdout.trim() || undefined;
    if (/not found/i.test(`${result.stderr}${result.stdout}`)) return undefined;
    throw new StepFailure(
      `pulumi config get ${key} --stack ${this.stack} failed: ${failureLine(result)}`,
      `check the stack and your Pulumi login: pulumi stack ls  (then: pulumi config --stack ${this.stack})`,
    );
  }

  /** Writes both keys (a missing value removes the key), then `pulumi up`. */
  async apply(images: ImageConfig): Promise<void> {
    for (const [key, value] of [
      [IMAGE_KEY, images.image],
      [PREVIOUS_IMAGE_KEY, images.previousImage],
    ] as const) {
      const args =
        value === undefined
          ? ["config", "rm", "--stack", this.stack, "--", key]
          : ["config", "set", "--stack", this.stack, "--", key, value];
      this.say(`→ pulumi ${args.join(" ")}`);
      const result = await this.run(args, PULUMI_CONFIG_DEADLINE_MS);
      if (result.code !== 0 && !(value === undefined && /not found/i.test(failureLine(result)))) {
        throw new StepFailure(
          `pulumi ${args.slice(0, 2).join(" ")} ${key} failed: ${failureLine(result)}`,
          `check the stack and your Pulumi login: pulumi stack ls`,
        );
      }
    }
    this.say(`→ pulumi up --stack ${this.stack} --yes --non-interactive`);
    const up = await this.run(
      ["up", "--stack", this.stack, "--yes", "--non-interactive"],
      PULUMI_UP_DEADLINE_MS,
      true,
    );
    if (up.code !== 0) {
      throw new StepFailure(
        `pulumi up --stack ${this.stack} failed${up.code === 124 ? " (stopped after 30 minutes)" : ""}: ${failureLine(up)}`,
        `see the update's errors above, then: npm run preview -- --stack ${this.stack}`,
        tail(`${up.stdout}\n${up.stderr}`, 15),
      );
    }
  }
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
    await pulumi.apply(after);
  } catch (err) {
    // Put the config back so the stack says what runs; a second up converges the cluster.
    say(`✘ pulumi up failed; restoring ${IMAGE_KEY} and ${PREVIOUS_IMAGE_KEY}`);
    await pulumi.apply(before).catch(() => undefined);
    throw err;
  }

  const target = `deployment/${name}`;
  say(`→ kubectl rollout status ${target} -n ${namespace} --timeout=${opts.timeout}`);
  const status = await runTool(
    "kubectl",
    ["rollout", "status", "-n", namespace, `--timeout=${opts.timeout}`, "--", target],
    {
      echo: opts.echo,
      timeoutMs: kubectlDurationMs(opts.timeout) + 60_000,
    },
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
  let details: string[];
  try {
    details = await diagnose(await getDeployment(namespace, name), say);
  } catch (err) {
    details = [`could not read the deployment: ${err instanceof Error ? err.message : String(err)}`];
  }

  say(`→ undo: ${IMAGE_KEY} back to ${before.image ?? "(unset)"}, then pulumi up`);
  let undoLine: string;
  let undone = true;
  try {
    await pulumi.apply(before);
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

/** Events and last log lines of the deployment's unwell pods, as report lines. */
async function diagnose(deployment: DeploymentInfo, say: (line: string) => void): Promise<string[]> {
  const lines: string[] = [];
  let pods;
  try {
    pods = await problemPods(deployment);
  } catch (err) {
    return [`could not list the pods: ${err instanceof Error ? err.message : String(err)}`];
  }
  if (pods.length === 0) {
    return [
      `no pod is crash-looping or waiting; see: kubectl describe deployment/${deployment.name} -n ${deployment.namespace}`,
    ];
  }
  for (const pod of pods.slice(0, MAX_DIAGNOSED_PODS)) {
    say(`  pod ${pod.name}: ${pod.reason}`);
    lines.push(`pod ${pod.name}: ${pod.reason}`);
    const events = await runTool(
      "kubectl",
      ["get", "events", "-n", deployment.namespace, "--field-selector", `involvedObject.name=${pod.name}`],
      { timeoutMs: 60_000 },
    );
    lines.push("  events:");
    lines.push(...indented(events.code === 0 ? events.stdout : failureLine(events)));
    const logs = await runTool(
      "kubectl",
      ["logs", "-n", deployment.namespace, `--tail=${LOG_LINES}`, "--", pod.name],
      {
        timeoutMs: 60_000,
      },
    );
    lines.push(`  last ${LOG_LINES} log lines:`);
    lines.push(...indented(logs.code === 0 ? logs.stdout : failureLine(logs)));
  }
  if (pods.length > MAX_DIAGNOSED_PODS) lines.push(`(${pods.length - MAX_DIAGNOSED_PODS} more pods alike)`);
  return lines;
}

const indented = (text: string): string[] =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => `    ${l}`);

export { kubectlFix };
