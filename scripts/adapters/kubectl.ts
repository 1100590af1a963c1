/**
 * kubectl, as the operations commands read the cluster: read-only `get ... -o json` typed at
 * the edge (the deployment, its pods), the reasons kubectl cannot answer (not installed, no
 * access) told apart from real answers (not found), and the one rule of what makes a pod
 * unwell, which doctor's deployment-ready and rollout's diagnosis both apply.
 */
import { failureLine, findOnPath, lastLine, runTool, type ToolRun } from "../lib/run-tool";

/** The parts of a Deployment the commands read. */
export interface KubeDeployment {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { spec?: { containers?: { name?: string; image?: string }[] } };
  };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
}

export interface ContainerStatus {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  image?: string;
  state?: { waiting?: { reason?: string; message?: string } };
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

export interface KubePod {
  metadata?: { name?: string };
  status?: {
    phase?: string;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

/**
 * What kubectl answered: the object; `missing` when the cluster says it does not exist; or
 * `unavailable` when kubectl could not ask (not installed, no context, no access, no JSON).
 */
export type KubeLookup<T> =
  | { status: "ok"; value: T }
  | { status: "missing"; reason: string }
  | { status: "unavailable"; reason: string };

/** The answers that mean "could not ask", not "it is not there". */
const NO_ACCESS =
  /forbidden|unauthorized|you must be logged in|connection refused|no configuration has been provided|couldn't get current server API group|Unable to connect|i\/o timeout|context deadline exceeded|current-context is not set|getting credentials|exec plugin/i;

/** How long one `kubectl get` may take (its own request timeout is a little shorter). */
const GET_DEADLINE_MS = 20_000;

export interface KubectlOptions {
  /**
   * Ask kubectl for its current context first, and call the cluster unavailable without one.
   * Without a context (and outside a pod), kubectl falls back to http://localhost:8080: on a
   * developer's machine that is where `npm start` serves the chat backend, whose 404s kubectl
   * reports as "not found", and doctor would send on-call after a deployment that was never
   * looked for.
   */
  requireContext?: boolean;
}

export class Kubectl {
  private noCluster?: Promise<string | undefined>;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly options: KubectlOptions = {},
  ) {}

  get available(): boolean {
    return findOnPath("kubectl", this.env) !== undefined;
  }

  /** Why kubectl has no cluster to ask, or undefined (see KubectlOptions.requireContext). */
  noClusterReason(): Promise<string | undefined> {
    this.noCluster ??= (async () => {
      if (this.env.KUBERNETES_SERVICE_HOST) return undefined; // in a pod: its service account's config
      const current = await runTool("kubectl", ["config", "current-context"], {
        env: this.env,
        timeoutMs: GET_DEADLINE_MS,
      });
      if (current.code === 0 && current.stdout.trim() !== "") return undefined;
      return (
        `no cluster configured: kubectl has no current context (${lastLine(current.stderr) || "none set"}), and ` +
        "would talk to http://localhost:8080 instead, where npm start serves the chat, not a cluster; " +
        "point it at the cluster: aws eks update-kubeconfig --name <cluster> --region <region>"
      );
    })();
    return this.noCluster;
  }

  /** `kubectl get <args> -o json`, parsed; `args` end with `--` before any name. */
  async getJson<T>(args: string[]): Promise<KubeLookup<T>> {
    if (!this.available)
      return {
        status: "unavailable",
        reason: "kubectl is not on PATH (install it, then: aws eks update-kubeconfig --name <cluster>)",
      };
    if (this.options.requireContext) {
      const noCluster = await this.noClusterReason();
      if (noCluster !== undefined) return { status: "unavailable", reason: noCluster };
    }
    // Flags first, then the caller's words, which end with `--` before any name.
    const dashes = args.indexOf("--");
    const ordered =
      dashes === -1
        ? [...args, "-o", "json"]
        : [...args.slice(0, dashes), "-o", "json", ...args.slice(dashes)];
    const result = await runTool("kubectl", ["get", "--request-timeout=15s", ...ordered], {
      env: this.env,
      timeoutMs: GET_DEADLINE_MS,
    });
    if (result.code !== 0) {
      // kubectl's last stderr line is its verdict; earlier ones are client-go's retry logging.
      const reason = lastLine(result.stderr) || failureLine(result);
      if (/NotFound|not found/i.test(reason) && !NO_ACCESS.test(reason)) return { status: "missing", reason };
      return { status: "unavailable", reason: `kubectl cannot read the cluster: ${reason}` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(result.stdout);
    } catch {
      parsed = undefined;
    }
    // Every `get -o json` answers one object; anything else (`null`, a list) is not an answer to read.
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      return { status: "unavailable", reason: `kubectl get ${args.join(" ")} did not print JSON` };
    return { status: "ok", value: parsed as T };
  }

  deployment(namespace: string, name: string): Promise<KubeLookup<KubeDeployment>> {
    return this.getJson<KubeDeployment>(["deployment", "-n", namespace, "--", name]);
  }

  /** The deployment's pods (by its selector); none when it has no selector. */
  async pods(namespace: string, deployment: KubeDeployment): Promise<KubeLookup<KubePod[]>> {
    const selector = labelSelector(deployment);
    if (selector === undefined) return { status: "ok", value: [] };
    const list = await this.getJson<{ items?: KubePod[] }>(["pods", "-n", namespace, "-l", selector]);
    return list.status === "ok" ? { status: "ok", value: list.value.items ?? [] } : list;
  }

  /** Runs a read-only kubectl command (events, logs) and returns its output as it is. */
  read(args: string[], timeoutMs = 60_000): Promise<ToolRun> {
    return runTool("kubectl", args, { env: this.env, timeoutMs });
  }

  /**
   * Runs a read-only kubectl command that follows a stream (`logs -f`) until it ends or this
   * command is stopped, handing each chunk of stdout and stderr over as it comes; no deadline.
   * A missing kubectl is a CliError that says how to get it.
   */
  follow(
    args: string[],
    onStdout: (chunk: string) => void,
    onStderr: (chunk: string) => void,
  ): Promise<ToolRun> {
    return runTool("kubectl", args, { env: this.env, timeoutMs: 0, required: true, onStdout, onStderr });
  }
}

/** The container that runs the backend: the one named like the deployment or "backend", else the first. */
export function backendContainer(deployment: KubeDeployment): { name?: string; image?: string } | undefined {
  const containers = deployment.spec?.template?.spec?.containers ?? [];
  const name = deployment.metadata?.name;
  return (
    containers.find((c) => c.name === name) ?? containers.find((c) => c.name === "backend") ?? containers[0]
  );
}

/** `-l` selector from a deployment's matchLabels (`app=backend,tier=web`). */
export function labelSelector(deployment: KubeDeployment): string | undefined {
  const labels = deployment.spec?.selector?.matchLabels ?? {};
  const pairs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? pairs.join(",") : undefined;
}

/** Waiting reasons that mean a pod will not get better by waiting. */
export const STUCK_REASONS = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/**
 * Restarts after which a container that is not ready counts as restarting in a loop even
 * between back-offs. One restart is not a loop: a pod that restarted once (a node drain, an
 * OOM long ago) and is ready again is healthy, and calling it unwell would page on-call for
 * nothing.
 */
export const RESTART_LOOP = 3;

/**
 * What is wrong with one pod, or undefined: a container stuck waiting (CrashLoopBackOff,
 * ImagePullBackOff, ...), or not ready after RESTART_LOOP restarts.
 */
export function podProblem(pod: KubePod): string | undefined {
  const statuses: ContainerStatus[] = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  for (const c of statuses) {
    const waiting = c.state?.waiting?.reason;
    const last = c.lastState?.terminated;
    const lastText = last ? `, last exit: ${last.reason ?? "?"} code ${last.exitCode ?? "?"}` : "";
    if (waiting && STUCK_REASONS.has(waiting))
      return `pod ${pod.metadata?.name} container ${c.name}: ${waiting} (${c.restartCount ?? 0} restarts${lastText})`;
    if ((c.restartCount ?? 0) >= RESTART_LOOP && c.ready !== true)
      return `pod ${pod.metadata?.name} container ${c.name}: not ready after ${c.restartCount} restarts${lastText}`;
  }
  return undefined;
}

/** Why a pod is not serving yet, when it is not unwell: not scheduled, or not (yet) ready. */
export function podNotReady(pod: KubePod): string | undefined {
  if (pod.status?.phase === "Pending") return `pod ${pod.metadata?.name}: Pending`;
  const waiting = (pod.status?.containerStatuses ?? []).find((c) => c.ready !== true);
  return waiting ? `pod ${pod.metadata?.name} container ${waiting.name}: not ready` : undefined;
}

/** The fix for a kubectl call that failed for reasons of access, not of the deployment. */
export function kubectlFix(reason: string, namespace: string, deployment: string): string {
  if (/NotFound|not found/.test(reason))
    return `check the names (kubectl get deployments -n ${namespace}); pass --namespace NS --deployment NAME or --stack NAME`;
  if (/Forbidden/i.test(reason))
    return `use a kubeconfig allowed to get and patch deployments in ${namespace} (kubectl auth can-i patch deployment/${deployment} -n ${namespace})`;
  if (
    /not on PATH|Unable to connect|no such host|connection refused|i\/o timeout|current-context/i.test(reason)
  )
    return "point kubectl at the cluster: aws eks update-kubeconfig --name <cluster> --region <region>";
  return "kubectl config current-context  (is it the right cluster?), then: npm run doctor";
}
