/**
 * The few kubectl answers rollout reads, typed at the edge: the deployment (its selector,
 * containers and replica counts) and its pods (which ones are not well).
 */
import { StepFailure } from "./outcome";
import { failureLine, runTool, type ToolResult } from "./process";

export interface DeploymentInfo {
  name: string;
  namespace: string;
  /** `k=v,k=v` for `kubectl get pods -l`. */
  selector: string;
  /** container name -> image */
  images: Record<string, string>;
  replicas: number;
  readyReplicas: number;
}

export interface PodProblem {
  name: string;
  /** e.g. "CrashLoopBackOff, 7 restarts" or "not ready". */
  reason: string;
}

interface K8sDeployment {
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { spec?: { containers?: { name?: string; image?: string }[] } };
  };
  status?: { readyReplicas?: number; replicas?: number };
}

interface K8sPod {
  metadata?: { name?: string; deletionTimestamp?: string };
  status?: {
    phase?: string;
    containerStatuses?: {
      name?: string;
      ready?: boolean;
      restartCount?: number;
      state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string } };
    }[];
  };
}

/** The fix for a kubectl call that failed for reasons of access, not of the deployment. */
export function kubectlFix(result: ToolResult, namespace: string, deployment: string): string {
  const line = failureLine(result);
  if (/NotFound/.test(line))
    return `check the names (kubectl get deployments -n ${namespace}); pass --namespace NS --deployment NAME or --stack NAME`;
  if (/Forbidden/i.test(line))
    return `use a kubeconfig allowed to get and patch deployments in ${namespace} (kubectl auth can-i patch deployment/${deployment} -n ${namespace})`;
  if (/Unable to connect|no such host|connection refused|i\/o timeout|current-context/i.test(line))
    return "point kubectl at the cluster: aws eks update-kubeconfig --name <cluster> --region <region>";
  return "kubectl config current-context  (is it the right cluster?), then: npm run doctor";
}

async function kubectlJson<T>(args: string[], namespace: string, deployment: string): Promise<T> {
  const result = await runTool("kubectl", args);
  if (result.code !== 0) {
    throw new StepFailure(
      `kubectl ${args.join(" ")} failed: ${failureLine(result)}`,
      kubectlFix(result, namespace, deployment),
    );
  }
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new StepFailure(
      `kubectl ${args.join(" ")} did not print JSON`,
      "run it yourself to see what it prints",
    );
  }
}

export async function getDeployment(namespace: string, name: string): Promise<DeploymentInfo> {
  const d = await kubectlJson<K8sDeployment>(
    ["get", "deployment", "-n", namespace, "-o", "json", "--", name],
    namespace,
    name,
  );
  const labels = d.spec?.selector?.matchLabels ?? {};
  const images: Record<string, string> = {};
  for (const c of d.spec?.template?.spec?.containers ?? []) if (c.name) images[c.name] = c.image ?? "";
  return {
    name,
    namespace,
    selector: Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    images,
    replicas: d.spec?.replicas ?? d.status?.replicas ?? 0,
    readyReplicas: d.status?.readyReplicas ?? 0,
  };
}

/** The deployment's pods that are not well: waiting (CrashLoopBackOff, ImagePullBackOff...), restarting or not ready. */
export async function problemPods(deployment: DeploymentInfo): Promise<PodProblem[]> {
  if (deployment.selector === "") return [];
  const list = await kubectlJson<{ items?: K8sPod[] }>(
    ["get", "pods", "-n", deployment.namespace, "-l", deployment.selector, "-o", "json"],
    deployment.namespace,
    deployment.name,
  );
  const problems: PodProblem[] = [];
  for (const pod of list.items ?? []) {
    const name = pod.metadata?.name;
    if (!name) continue;
    const reasons: string[] = [];
    for (const c of pod.status?.containerStatuses ?? []) {
      const waiting = c.state?.waiting?.reason;
      if (waiting && waiting !== "ContainerCreating") reasons.push(waiting);
      if ((c.restartCount ?? 0) > 0) reasons.push(`${c.restartCount} restarts`);
      if (!waiting && c.ready === false) reasons.push("not ready");
    }
    if (pod.status?.phase === "Pending" && reasons.length === 0) reasons.push("Pending");
    if (reasons.length > 0) problems.push({ name, reason: reasons.join(", ") });
  }
  return problems;
}
