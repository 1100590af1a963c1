// BackendService under Pulumi's mocks: the Kubernetes objects of the chat backend.
import { oneOf, runPulumi, RegisteredResource } from "./pulumi-harness";

type BackendModule = typeof import("../../components/backend-service");
type BackendArgs = import("../../components/backend-service").BackendServiceArgs;

const GEMINI_KEY = "gemini-key-under-test";

function backendService(args: Partial<BackendArgs> = {}) {
  return runPulumi({
    program: () => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
      const { BackendService } = require("../../components/backend-service") as BackendModule;
      /* eslint-enable @typescript-eslint/no-require-imports */
      return new BackendService("backend", {
        clusterName: "co-intelligence-eks",
        region: "us-east-1",
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:v1",
        geminiApiKey: pulumi.secret(GEMINI_KEY),
        functionName: "co-intelligence-code-executor",
        ...args,
      });
    },
  });
}

const deploymentOf = (resources: RegisteredResource[]) => oneOf(resources, "kubernetes:apps/v1:Deployment");
const containerOf = (resources: RegisteredResource[]) =>
  deploymentOf(resources).inputs.spec.template.spec.containers[0];
const envOf = (resources: RegisteredResource[]): { name: string; value?: string; valueFrom?: unknown }[] =>
  containerOf(resources).env;

describe("BackendService defaults", () => {
  let resources: RegisteredResource[];
  beforeAll(async () => {
    ({ resources } = await backendService());
  });

  it("talks to the existing cluster found by name, with `aws eks get-token` credentials", () => {
    const provider = oneOf(resources, "pulumi:providers:kubernetes").inputs;
    const kubeconfig = JSON.parse(provider.kubeconfig);
    expect(kubeconfig.clusters[0].cluster).toEqual({
      server: "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com",
      "certificate-authority-data": "LS0tLS1CRUdJTi1DRVJU",
    });
    expect(kubeconfig.users[0].user.exec).toMatchObject({
      command: "aws",
      args: [
        "eks",
        "get-token",
        "--cluster-name",
        "co-intelligence-eks",
        "--region",
        "us-east-1",
        "--output",
        "json",
      ],
    });
  });

  it("creates every Kubernetes object through that provider, never the operator's current kubectl context", () => {
    const k8sObjects = resources.filter((r) => r.type.startsWith("kubernetes:"));
    expect(k8sObjects.length).toBeGreaterThanOrEqual(7);
    for (const r of k8sObjects) {
      expect({ type: r.type, provider: r.provider }).toEqual({
        type: r.type,
        provider: expect.stringMatching(/pulumi:providers:kubernetes::backend-k8s::/),
      });
    }
  });

  it("does not make `pulumi up` wait for pods: `npm run rollout` waits for (and undoes) rollouts", () => {
    expect(deploymentOf(resources).inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
  });

  it("creates the namespace (enforcing the restricted pod security standard) and the service account", () => {
    const ns = oneOf(resources, "kubernetes:core/v1:Namespace").inputs;
    expect(ns.metadata.name).toBe("co-intelligence");
    expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const sa = oneOf(resources, "kubernetes:core/v1:ServiceAccount").inputs;
    expect(sa.metadata).toMatchObject({ name: "backend", namespace: "co-intelligence" });
    expect(deploymentOf(resources).inputs.spec.template.spec.serviceAccountName).toBe("backend");
  });

  it("keeps the Gemini key in a Secret and refers to it: never a plain env value", () => {
    const secret = oneOf(resources, "kubernetes:core/v1:Secret").inputs;
    expect(JSON.stringify(secret.stringData)).toContain(GEMINI_KEY);
    const key = envOf(resources).find((e) => e.name === "GEMINI_API_KEY")!;
    expect(key.value).toBeUndefined();
    expect(key.valueFrom).toEqual({ secretKeyRef: { name: secret.metadata.name, key: "GEMINI_API_KEY" } });
    expect(JSON.stringify(deploymentOf(resources).inputs)).not.toContain(GEMINI_KEY);
  });

  it("names the deployment backend and gives it the contract's environment", () => {
    expect(deploymentOf(resources).inputs.metadata.name).toBe("backend");
    const plain = Object.fromEntries(
      envOf(resources)
        .filter((e) => e.value !== undefined)
        .map((e) => [e.name, e.value]),
    );
    expect(plain).toEqual({
      PORT: "8080",
      GEMINI_MODEL:
        jest.requireActual<typeof import("../../backend/config")>("../../backend/config")
          .DEFAULT_GEMINI_MODEL,
      CODE_EXECUTION_ENABLED: "true",
      CODE_EXECUTOR_FUNCTION: "co-intelligence-code-executor",
      AWS_REGION: "us-east-1",
      SANDBOX_ALLOWED_MODULES:
        "math,json,datetime,random,statistics,re,collections,itertools,string,decimal,fractions,uuid,hashlib,base64,textwrap",
      SANDBOX_TIMEOUT_MS: "30000",
    });
    expect(envOf(resources).some((e) => e.name === "API_TOKEN")).toBe(false);
  });

  it("names its one container backend, the name `npm run rollout` sets the image of", () => {
    const { DEFAULT_CONTAINER } = jest.requireActual<
      typeof import("../../scripts/deploy/rollout-deployment")
    >("../../scripts/deploy/rollout-deployment");
    const containers = deploymentOf(resources).inputs.spec.template.spec.containers;
    expect(containers.map((c: { name: string }) => c.name)).toEqual(["backend"]);
    expect(DEFAULT_CONTAINER).toBe("backend");
  });

  it("probes readiness on /readyz and liveness on /healthz", () => {
    const container = containerOf(resources);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.ports).toEqual([{ name: "http", containerPort: 8080 }]);
  });

  it("runs hardened: non-root, read-only root filesystem, no capabilities, no escalation, RuntimeDefault seccomp", () => {
    const podSpec = deploymentOf(resources).inputs.spec.template.spec;
    const container = containerOf(resources);
    expect(podSpec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(podSpec.securityContext.runAsUser).toBe(1000);
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
    expect(podSpec.volumes[0]).toMatchObject({ name: "tmp", emptyDir: {} });
  });

  it("sets resource requests and limits", () => {
    const { requests, limits } = containerOf(resources).resources;
    expect(requests.cpu).toBeDefined();
    expect(requests.memory).toBeDefined();
    expect(limits.cpu).toBeDefined();
    expect(limits.memory).toBeDefined();
  });

  it("starts two replicas and rolls with zero downtime (maxUnavailable 0, maxSurge 1)", () => {
    const spec = deploymentOf(resources).inputs.spec;
    expect(spec.replicas).toBe(2);
    expect(spec.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
  });

  it("leaves the image to `npm run rollout` and the replica count to the autoscaler", () => {
    expect(deploymentOf(resources).ignoreChanges).toEqual(
      expect.arrayContaining(["spec.template.spec.containers[0].image", "spec.replicas"]),
    );
    expect(containerOf(resources).image).toBe(
      "123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:v1",
    );
  });

  it("autoscales from 2 to the maximum on CPU (autoscaling/v2)", () => {
    const hpa = oneOf(resources, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec;
    expect(hpa.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "backend" });
    expect(hpa.minReplicas).toBe(2);
    expect(hpa.maxReplicas).toBe(4);
    expect(hpa.metrics).toEqual([
      {
        type: "Resource",
        resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
      },
    ]);
  });

  it("has a disruption budget that never blocks a node drain (maxUnavailable 1, no minAvailable)", () => {
    const pdb = oneOf(resources, "kubernetes:policy/v1:PodDisruptionBudget").inputs.spec;
    expect(pdb.maxUnavailable).toBe(1);
    expect(pdb.minAvailable).toBeUndefined();
  });

  it("exposes the pods through a Service on the http port", () => {
    const service = oneOf(resources, "kubernetes:core/v1:Service").inputs;
    expect(service.spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http" }]);
    expect(service.spec.selector).toEqual(deploymentOf(resources).inputs.spec.selector.matchLabels);
  });
});

describe("BackendService options", () => {
  it("switches code execution off with CODE_EXECUTION_ENABLED=false", async () => {
    const { resources } = await backendService({ codeExecutionEnabled: false });
    expect(envOf(resources).find((e) => e.name === "CODE_EXECUTION_ENABLED")!.value).toBe("false");
  });

  it("tells the backend the function's own allow-list and time limit", async () => {
    const { resources } = await backendService({
      sandboxAllowedModules: ["math", "statistics"],
      sandboxTimeoutMs: 12000,
    });
    expect(envOf(resources)).toEqual(
      expect.arrayContaining([
        { name: "SANDBOX_ALLOWED_MODULES", value: "math,statistics" },
        { name: "SANDBOX_TIMEOUT_MS", value: "12000" },
      ]),
    );
  });

  it("passes API_TOKEN through the Secret too when one is configured", async () => {
    const { resources } = await backendService({ apiToken: "token-under-test" });
    const token = envOf(resources).find((e) => e.name === "API_TOKEN")!;
    expect(token.valueFrom).toEqual({ secretKeyRef: { name: "backend-secrets", key: "API_TOKEN" } });
    expect(JSON.stringify(deploymentOf(resources).inputs)).not.toContain("token-under-test");
  });

  it("uses an explicit kubeconfig instead of the cluster lookup", async () => {
    const { resources, invokes } = await backendService({ kubeconfig: "apiVersion: v1\nkind: Config\n" });
    expect(oneOf(resources, "pulumi:providers:kubernetes").inputs.kubeconfig).toBe(
      "apiVersion: v1\nkind: Config\n",
    );
    expect(invokes.filter((i) => i.token === "aws:eks/getCluster:getCluster")).toHaveLength(0);
  });

  it("annotates the service account for IRSA and uses an existing default namespace as is", async () => {
    const { resources } = await backendService({
      namespace: "default",
      serviceAccountAnnotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x" },
    });
    expect(resources.filter((r) => r.type === "kubernetes:core/v1:Namespace")).toHaveLength(0);
    const sa = oneOf(resources, "kubernetes:core/v1:ServiceAccount").inputs.metadata;
    expect(sa.namespace).toBe("default");
    expect(sa.annotations).toEqual({ "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x" });
  });

  it("refuses an autoscaler maximum below the minimum", async () => {
    await expect(backendService({ minReplicas: 3, maxReplicas: 2 })).rejects.toThrow(
      /maxReplicas \(2\) is below/,
    );
  });
});

describe("the cluster's OIDC issuer (irsa)", () => {
  const { oidcIssuerOf } = jest.requireActual<BackendModule>("../../components/backend-service");

  it("is read from the cluster's identities", () => {
    expect(oidcIssuerOf("c", [{ oidcs: [{ issuer: "https://oidc.eks.example/id/1" }] }])).toBe(
      "https://oidc.eks.example/id/1",
    );
  });

  it.each([
    ["no identities", undefined],
    ["an empty list", []],
    ["no oidc entry", [{}]],
  ])("%s fails naming the fix, not with a TypeError", (_, identities) => {
    expect(() => oidcIssuerOf("co-intelligence-eks", identities)).toThrow(
      "EKS cluster co-intelligence-eks has no OIDC issuer; IRSA needs one (eksctl utils associate-iam-oidc-provider --cluster co-intelligence-eks --approve), or use: pulumi config set co-intelligence:accessMode pod-identity",
    );
  });
});
