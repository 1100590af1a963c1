/**
 * kubectl, as doctor uses it: read-only `get ... -o json`, with the reasons it cannot run
 * (not installed, no cluster access) told apart from real answers (not found), because the
 * first make a check `skip` and the second make it `fail`.
 */
import { findOnPath } from "../lib/cli";
import { exec } from "../lib/exec";

/** The parts of a Deployment doctor reads. */
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

export type KubeLookup<T = KubeDeployment> =
  | { status: "ok"; value: T }
  | { status: "skip"; detail: string }
  | { status: "fail"; detail: string; fix: string };

const NO_ACCESS =
  /forbidden|unauthorized|you must be logged in|connection refused|no configuration has been provided|couldn't get current server API group|Unable to connect|i\/o timeout|context deadline exceeded|current-context is not set|getting credentials|exec plugin/i;

export class Kubectl {
  private noCluster?: Promise<string | undefined>;

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /**
   * Why kubectl has no cluster to ask, or undefined. Without a kubeconfig context (and outside
   * a pod), kubectl falls back to http://localhost:8080: on a developer's machine that is where
   * `npm start` serves the chat backend, whose 404s kubectl reports as "not found", and doctor
   * would send on-call after a deployment that was never looked for.
   */
  noClusterReason(): Promise<string | undefined> {
    this.noCluster ??= (async () => {
      if (this.env.KUBERNETES_SERVICE_HOST) return undefined; // in a pod: its service account's config
      const current = await exec("kubectl", ["config", "current-context"], {
        env: this.env,
        timeoutMs: 20000,
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

  get available(): boolean {
    return findOnPath("kubectl", this.env) !== undefined;
  }

  /** `kubectl get <args> -o json`, parsed, or why it could not be read. */
  async getJson<T>(args: string[], whatMissing: { detail: string; fix: string }): Promise<KubeLookup<T>> {
    if (!this.available) {
      return {
        status: "skip",
        detail: "kubectl is not on PATH (install it, then: aws eks update-kubeconfig --name <cluster>)",
      };
    }
    const noCluster = await this.noClusterReason();
    if (noCluster !== undefined) return { status: "skip", detail: noCluster };
    // Flags first, then the caller's words, which end with `--` before any name.
    const dashes = args.indexOf("--");
    const ordered =
      dashes === -1
        ? [...args, "-o", "json"]
        : [...args.slice(0, dashes), "-o", "json", ...args.slice(dashes)];
    const result = await exec("kubectl", ["get", "--request-timeout=15s", ...ordered], {
      env: this.env,
      timeoutMs: 20000,
    });
    if (result.code !== 0) {
      // kubectl's last stderr line is its verdict; earlier ones are client-go's retry logging.
      const reason = lastLine(result.stderr) || `kubectl exited with ${result.code}`;
      if (/NotFound|not found/i.test(reason) && !NO_ACCESS.test(reason)) {
        return { status: "fail", detail: `${whatMissing.detail} (${reason})`, fix: whatMissing.fix };
      }
      return { status: "skip", detail: `kubectl cannot read the cluster: ${reason}` };
    }
    try {
      return { status: "ok", value: JSON.parse(result.stdout) as T };
    } catch {
      return { status: "skip", detail: `kubectl get ${args.join(" ")} did not print JSON` };
    }
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

function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.at(-1) ?? "";
}
