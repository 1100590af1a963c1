/**
 * `rollout`: point the deployment's container at an image by digest, wait for Kubernetes to
 * report the rollout complete, and when it does not (crash loop, bad image, timeout) undo it
 * and show why: the failing pods' events and last log lines.
 */
import { StepFailure } from "./outcome";
import { failureLine, runTool } from "./process";
import { getDeployment, kubectlFix, problemPods, type DeploymentInfo } from "./kube";

export const DEFAULT_CONTAINER = "backend";
export const DEFAULT_TIMEOUT = "5m";
/** Pods whose events and logs a failed rollout prints (the rest are alike). */
const MAX_DIAGNOSED_PODS = 3;
const LOG_LINES = 50;

export interface RolloutOptions {
  namespace: string;
  deployment: string;
  container: string;
  /** `<repository>@sha256:<64 hex>` */
  image: string;
  /** kubectl duration: 90s, 5m. */
  timeout: string;
  echo?: (chunk: string) => void;
  progress?: (line: string) => void;
}

export interface RolloutResult {
  deployment: string;
  namespace: string;
  image: string;
  previousImage: string;
}

/** An image reference pinned by digest: rollouts never deploy a mutable tag. */
export function isDigestRef(image: string): boolean {
  return /^[^@\s]+@sha256:[0-9a-f]{64}$/.test(image);
}

export async function rollout(opts: RolloutOptions): Promise<RolloutResult> {
  const { namespace, deployment: name, container } = opts;
  const say = opts.progress ?? (() => {});
  const target = `deployment/${name}`;

  const before = await getDeployment(namespace, name);
  const previousImage = before.images[container];
  if (previousImage === undefined) {
    throw new StepFailure(
      `deployment ${name} in ${namespace} has no container named ${container} (it has: ${Object.keys(before.images).join(", ") || "none"})`,
      `name the container: npm run rollout -- --container ${Object.keys(before.images)[0] ?? "NAME"} ...`,
    );
  }

  say(`→ kubectl set image ${target} ${container}=${opts.image} -n ${namespace}`);
  const set = await runTool("kubectl", [
    "set",
    "image",
    target,
    `${container}=${opts.image}`,
    "-n",
    namespace,
  ]);
  if (set.code !== 0) {
    throw new StepFailure(`kubectl set image failed: ${failureLine(set)}`, kubectlFix(set, namespace, name));
  }

  say(`→ kubectl rollout status ${target} -n ${namespace} --timeout=${opts.timeout}`);
  const status = await runTool(
    "kubectl",
    ["rollout", "status", target, "-n", namespace, `--timeout=${opts.timeout}`],
    {
      echo: opts.echo,
    },
  );
  if (status.code === 0) return { deployment: name, namespace, image: opts.image, previousImage };

  // Diagnose before undoing: the undo scales the new ReplicaSet down, and its pods' logs go
  // with them. The old pods keep serving meanwhile (maxUnavailable 0), so this costs nothing.
  say(`✘ rollout did not complete: ${failureLine(status)}; collecting the failing pods' events and logs`);
  const details = await diagnose(before, say);

  say(`→ kubectl rollout undo ${target} -n ${namespace}`);
  const undo = await runTool("kubectl", ["rollout", "undo", target, "-n", namespace]);
  const undoLine =
    undo.code === 0
      ? `rolled back to ${previousImage}`
      : `UNDO FAILED (${failureLine(undo)}): run kubectl rollout undo ${target} -n ${namespace}`;

  throw new StepFailure(
    `rollout of ${opts.image} did not complete (${failureLine(status)}); ${undoLine}`,
    undo.code === 0
      ? `fix what the pods' events and logs above show, then push a new image and roll it out: npm run update-backend  (history: kubectl rollout history ${target} -n ${namespace})`
      : `kubectl rollout undo ${target} -n ${namespace}`,
    details,
  );
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
      `no pod is crash-looping or waiting; see: kubectl describe ${`deployment/${deployment.name}`} -n ${deployment.namespace}`,
    ];
  }
  for (const pod of pods.slice(0, MAX_DIAGNOSED_PODS)) {
    say(`  pod ${pod.name}: ${pod.reason}`);
    lines.push(`pod ${pod.name}: ${pod.reason}`);
    const events = await runTool("kubectl", [
      "get",
      "events",
      "-n",
      deployment.namespace,
      "--field-selector",
      `involvedObject.name=${pod.name}`,
    ]);
    lines.push("  events:");
    lines.push(
      ...(events.code === 0 ? events.stdout : failureLine(events))
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => `    ${l}`),
    );
    const logs = await runTool("kubectl", [
      "logs",
      pod.name,
      "-n",
      deployment.namespace,
      `--tail=${LOG_LINES}`,
    ]);
    lines.push(`  last ${LOG_LINES} log lines:`);
    lines.push(
      ...(logs.code === 0 ? logs.stdout : failureLine(logs))
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => `    ${l}`),
    );
  }
  if (pods.length > MAX_DIAGNOSED_PODS) lines.push(`(${pods.length - MAX_DIAGNOSED_PODS} more pods alike)`);
  return lines;
}
