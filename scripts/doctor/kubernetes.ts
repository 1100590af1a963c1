/**
 * deployment-ready, deployment-image and backend-ready: the backend on EKS has every
 * replica ready, no pod crash-looping, runs an image of our repository, and answers /readyz.
 * Without kubectl (or without access to the cluster) the deployment checks skip with the reason.
 */
import { ROUTES } from "../../contract/http";
import { backendContainer, labelSelector, podProblem, RESTART_LOOP } from "../adapters/kubectl";
import { errorLine } from "../lib/cli";
import { Check, fail, pass, skip } from "../lib/report";
import { DoctorContext, asCheckLookup, deploymentOf } from "./context";
import { imageInRepository } from "./ecr";
import { command } from "../lib/shell";

export const deploymentReady: Check<DoctorContext> = {
  id: "deployment-ready",
  title: "Backend deployment has all replicas ready, no crash loops",
  async run(ctx) {
    const { namespace, deploymentName } = ctx.targets;
    const lookup = await deploymentOf(ctx);
    if (lookup.status === "skip") return skip(lookup.detail);
    if (lookup.status === "fail") return fail(lookup.detail, lookup.fix);
    const dep = lookup.value;
    const wanted = dep.spec?.replicas ?? 1;
    const ready = dep.status?.readyReplicas ?? 0;
    // 0/0 is "all ready" to arithmetic, but nothing serves the chat, and the autoscaler does
    // not scale a deployment up from 0. The stack leaves replicas to the autoscaler, so
    // pulumi up would not restore them either.
    if (wanted === 0)
      return fail(
        `expected at least one replica, found ${namespace}/${deploymentName} scaled to 0: no pod serves the chat, and the autoscaler does not scale up from 0`,
        `${command("kubectl", "scale", `deployment/${deploymentName}`, "-n", namespace, "--replicas=2")}   (the stack's co-intelligence:minReplicas; the autoscaler takes over from there)`,
      );
    const problems: string[] = [];
    if (ready < wanted) problems.push(`${ready}/${wanted} replicas ready`);
    const selector = labelSelector(dep);
    const pods = asCheckLookup(await ctx.kubectl.pods(namespace, dep), { detail: "no pods", fix: "" });
    if (pods.status === "ok") {
      for (const pod of pods.value) {
        const problem = podProblem(pod);
        if (problem) problems.push(problem);
      }
    } else if (problems.length > 0) problems.push(`pods not readable: ${pods.detail}`);
    const metrics = await metricsApiNote(ctx);
    if (problems.length === 0)
      return pass(
        `${ready}/${wanted} replicas ready in ${namespace}/${deploymentName}${metrics ? `; ${metrics}` : ""}`,
      );
    if (metrics) problems.push(metrics);
    // A container that ran and died has logs to read; one whose image cannot be pulled never ran
    // (every stuck pod's problem says "(N restarts", so that alone does not mean it looped).
    const looping = problems.some((p) => /CrashLoopBackOff|not ready after \d+ restarts/.test(p));
    const unpullable = problems.some((p) => /ImagePullBackOff|ErrImagePull|InvalidImageName/.test(p));
    const describe = command(
      "kubectl",
      "describe",
      "pods",
      "-n",
      namespace,
      "-l",
      selector ?? `app=${deploymentName}`,
    );
    const fix = looping
      ? `see why: ${command("kubectl", "logs", `deployment/${deploymentName}`, "-n", namespace, "--previous")}   then go back to the last good image: ${ctx.fix.rollout} --undo   (or roll out a fixed one: ${ctx.fix.updateBackend})`
      : unpullable
        ? `see why: ${describe}   (the nodes cannot pull the image: is it in the repository, may they read it?); then go back to the last good image: ${ctx.fix.rollout} --undo   (or push and roll out one: ${ctx.fix.updateBackend})`
        : `see why: ${describe}   (then: ${ctx.fix.rollout})`;
    return fail(
      `expected ${wanted}/${wanted} ready and no pod restarting in a loop (${RESTART_LOOP} restarts), found: ${problems.join("; ")}`,
      fix,
    );
  },
};

/**
 * The HorizontalPodAutoscaler reads CPU from the metrics API, which EKS does not install: without
 * metrics-server the autoscaler silently never scales. A note for deployment-ready's detail,
 * or undefined when the API answers (or kubectl cannot tell).
 */
async function metricsApiNote(ctx: DoctorContext): Promise<string | undefined> {
  const api = asCheckLookup(
    await ctx.kubectl.getJson<{
      status?: { conditions?: { type?: string; status?: string; message?: string }[] };
    }>(["apiservice", "--", "v1beta1.metrics.k8s.io"]),
    { detail: "no metrics API", fix: "" },
  );
  const install =
    "install metrics-server: aws eks create-addon --cluster-name <cluster> --addon-name metrics-server " +
    "(or kubectl apply -f https://github.com/kubernetes-sigs/metrics-server/releases/latest/download/components.yaml)";
  if (api.status === "fail") {
    return `the autoscaler cannot scale: the metrics API (v1beta1.metrics.k8s.io) is missing; ${install}`;
  }
  if (api.status === "ok") {
    const available = api.value.status?.conditions?.find((c) => c.type === "Available");
    if (available?.status !== "True")
      return `the autoscaler cannot scale: the metrics API is not available (${available?.message ?? "no status"}); ${install}`;
  }
  return undefined;
}

export const deploymentImage: Check<DoctorContext> = {
  id: "deployment-image",
  title: "Backend deployment runs an image from the repository",
  needs: ["ecr-repository"],
  async run(ctx) {
    const lookup = await deploymentOf(ctx);
    if (lookup.status === "skip") return skip(lookup.detail);
    if (lookup.status === "fail") return skip(`needs the deployment: ${lookup.detail}`);
    const uri = ctx.found.repository!.repositoryUri!;
    const image = backendContainer(lookup.value)?.image ?? "";
    const id = imageInRepository(image, uri);
    if (id) return pass(`${image}${id.imageDigest ? "" : " (by tag; rollout pins digests)"}`);
    return fail(
      `expected an image of ${uri}, found ${image || "no image"}`,
      `roll out the repository's image: ${ctx.fix.rollout}`,
    );
  },
};

export const backendReady: Check<DoctorContext> = {
  id: "backend-ready",
  title: "Backend answers GET /readyz",
  async run(ctx) {
    const { url, namespace, deploymentName } = ctx.targets;
    if (!url) return skip("no --url given (pass --url https://... or set BACKEND_URL)");
    const target = `${url}${ROUTES.ready}`;
    let res: Response;
    try {
      res = await fetch(target, { signal: AbortSignal.timeout(10000) });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      return fail(
        `GET ${target} failed: ${errorLine(cause ?? err)}`,
        `check the URL and that the service is reachable: ${command("kubectl", "get", "svc,ingress", "-n", namespace)}; ${command("kubectl", "logs", `deployment/${deploymentName}`, "-n", namespace)}`,
      );
    }
    const body = (await res.text()).replace(/\s+/g, " ").trim().slice(0, 300);
    if (res.status === 200) return pass(`GET ${target} -> 200`);
    return fail(
      `GET ${target} -> ${res.status}${body ? `: ${body}` : ""}`,
      `the answer names what configuration is missing; set it (${ctx.fix.pulumiUp}) and see: ${command("kubectl", "logs", `deployment/${deploymentName}`, "-n", namespace)}`,
    );
  },
};
