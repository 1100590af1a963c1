// BackendService under Pulumi's mocks: the Kubernetes objects of the chat backend.
import { oneOf, runPulumi, RegisteredResource } from "./pulumi-harness";

type BackendModule = typeof import("../../components/backend-service");
type BackendArgs = import("../../components/backend-service").BackendServiceArgs;

const GEMINI_KEY = "gemini-key-under-test";
const IMAGE = `123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:1a2b3c4d5e6f@sha256:${"ab".repeat(32)}`;

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
        image: IMAGE,
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
    expect(ns.metadata.labels).toMatchObject({
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
      "pod-security.kubernetes.io/warn": "restricted",
    });
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
      MODEL_PROVIDER: "gemini",
      GEMINI_MODEL:
        jest.requireActual<typeof import("../../contract/names")>("../../contract/names")
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

  it("runs one container, backend", () => {
    const containers = deploymentOf(resources).inputs.spec.template.spec.containers;
    expect(containers.map((c: { name: string }) => c.name)).toEqual(["backend"]);
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

  it("sets resource requests and limits, ephemeral storage included", () => {
    const { requests, limits } = containerOf(resources).resources;
    for (const resource of ["cpu", "memory", "ephemeral-storage"]) {
      expect({
        resource,
        request: requests[resource] !== undefined,
        limit: limits[resource] !== undefined,
      }).toEqual({
        resource,
        request: true,
        limit: true,
      });
    }
  });

  it("mounts no Kubernetes API token: not in the service account, not in the pods", () => {
    expect(oneOf(resources, "kubernetes:core/v1:ServiceAccount").inputs.automountServiceAccountToken).toBe(
      false,
    );
    expect(deploymentOf(resources).inputs.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it("spreads the replicas over zones (and nodes) without refusing to schedule on a one-zone cluster", () => {
    const constraints = deploymentOf(resources).inputs.spec.template.spec.topologySpreadConstraints;
    expect(constraints).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          topologyKey: "topology.kubernetes.io/zone",
          maxSkew: 1,
          whenUnsatisfiable: "ScheduleAnyway",
          labelSelector: { matchLabels: deploymentOf(resources).inputs.spec.selector.matchLabels },
        }),
      ]),
    );
  });

  it("starts two replicas and rolls with zero downtime (maxUnavailable 0, maxSurge 1)", () => {
    const spec = deploymentOf(resources).inputs.spec;
    expect(spec.replicas).toBe(2);
    expect(spec.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
  });

  it("owns the image itself (no other field manager) and leaves only the replica count to the autoscaler", () => {
    expect(deploymentOf(resources).ignoreChanges).toEqual(["spec.replicas"]);
    expect(containerOf(resources).image).toBe(IMAGE);
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

  it("annotates the service account for IRSA", async () => {
    const { resources } = await backendService({
      serviceAccountAnnotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x" },
    });
    const sa = oneOf(resources, "kubernetes:core/v1:ServiceAccount").inputs.metadata;
    expect(sa.annotations).toEqual({ "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x" });
  });

  it.each(["default", "kube-system"])(
    "refuses the shared namespace %s, which would not carry the pod-security labels",
    async (namespace) => {
      await expect(backendService({ namespace })).rejects.toThrow(
        /is shared with other workloads and has no pod-security labels/,
      );
    },
  );

  it("creates no Deployment, autoscaler or disruption budget until an image is recorded", async () => {
    const { resources } = await backendService({ image: undefined });
    const types = resources.map((r) => r.type);
    for (const type of [
      "kubernetes:apps/v1:Deployment",
      "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
      "kubernetes:policy/v1:PodDisruptionBudget",
    ])
      expect({ type, created: types.includes(type) }).toEqual({ type, created: false });
    for (const type of [
      "kubernetes:core/v1:Namespace",
      "kubernetes:core/v1:Service",
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    ])
      expect({ type, created: types.includes(type) }).toEqual({ type, created: true });
  });

  it("refuses an autoscaler maximum below the minimum", async () => {
    await expect(backendService({ minReplicas: 3, maxReplicas: 2 })).rejects.toThrow(
      /maxReplicas \(2\) must be at least minReplicas \(3\)/,
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

describe("the backend's NetworkPolicy", () => {
  const policyOf = (resources: RegisteredResource[]) =>
    oneOf(resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs;

  it("selects the backend's pods and governs both directions", async () => {
    const { resources } = await backendService();
    const policy = policyOf(resources);
    expect(policy.spec.podSelector.matchLabels).toEqual(
      deploymentOf(resources).inputs.spec.selector.matchLabels,
    );
    expect(policy.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(policy.metadata.namespace).toBe("co-intelligence");
  });

  it("admits nothing when the stack names no source (port-forward enters through the kubelet)", async () => {
    const { resources } = await backendService();
    expect(policyOf(resources).spec.ingress).toEqual([]);
  });

  it("admits only the HTTP port, only from the namespaces and blocks the stack names", async () => {
    const { resources } = await backendService({
      allowFromNamespaces: ["ingress-nginx"],
      allowFromCidrs: ["10.0.0.0/16"],
    });
    expect(policyOf(resources).spec.ingress).toEqual([
      {
        from: [
          { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } },
          { ipBlock: { cidr: "10.0.0.0/16" } },
        ],
        ports: [{ protocol: "TCP", port: 8080 }],
      },
    ]);
  });

  it.each([
    ["pod-identity", "169.254.170.23/32"],
    ["node-role", "169.254.169.254/32"],
    ["irsa", undefined],
  ] as const)(
    "lets %s pods out only to DNS, HTTPS and their credential endpoint",
    async (accessMode, endpoint) => {
      const { resources } = await backendService({ accessMode });
      const egress = policyOf(resources).spec.egress as {
        to?: { ipBlock: { cidr: string } }[];
        ports: { protocol: string; port: number }[];
      }[];
      const ports = egress.flatMap((rule) => rule.ports.map((p) => `${p.protocol}/${p.port}`)).sort();
      expect(ports).toEqual(
        endpoint ? ["TCP/443", "TCP/53", "TCP/80", "UDP/53"] : ["TCP/443", "TCP/53", "UDP/53"],
      );
      const plainHttp = egress.filter((rule) => rule.ports.some((p) => p.port === 80));
      expect(plainHttp.flatMap((rule) => rule.to!.map((t) => t.ipBlock.cidr))).toEqual(
        endpoint ? [endpoint] : [],
      );
    },
  );
});

describe("the optional Ingress (AWS Load Balancer Controller)", () => {
  const ingress = {
    scheme: "internal" as const,
    host: "chat.example.com",
    certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
  };

  it("does not exist by default: the Service stays ClusterIP", async () => {
    const { resources } = await backendService();
    expect(resources.filter((r) => r.type === "kubernetes:networking.k8s.io/v1:Ingress")).toHaveLength(0);
  });

  it("routes the host to the Service over HTTPS only, with the ACM certificate, internal or internet-facing", async () => {
    for (const scheme of ["internal", "internet-facing"] as const) {
      const { resources } = await backendService({
        ingress: { ...ingress, scheme, inboundCidrs: ["203.0.113.0/24"] },
      });
      const spec = oneOf(resources, "kubernetes:networking.k8s.io/v1:Ingress").inputs;
      expect(spec.spec.ingressClassName).toBe("alb");
      expect(spec.metadata.annotations).toMatchObject({
        "alb.ingress.kubernetes.io/scheme": scheme,
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/certificate-arn": ingress.certificateArn,
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS":443}]',
        "alb.ingress.kubernetes.io/inbound-cidrs": "203.0.113.0/24",
      });
      expect(spec.spec.rules).toEqual([
        {
          host: "chat.example.com",
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "backend", port: { name: "http" } } },
              },
            ],
          },
        },
      ]);
    }
  });
});

describe("BackendService with each model provider", () => {
  const secretOf = (resources: RegisteredResource[]) => oneOf(resources, "kubernetes:core/v1:Secret").inputs;
  const plainEnv = (resources: RegisteredResource[]) =>
    Object.fromEntries(
      envOf(resources)
        .filter((e) => e.value !== undefined)
        .map((e) => [e.name, e.value]),
    );
  const fromSecret = (resources: RegisteredResource[]) =>
    envOf(resources)
      .filter((e) => e.valueFrom !== undefined)
      .map((e) => e.name)
      .sort();
  const egressPorts = (resources: RegisteredResource[]) =>
    (
      oneOf(resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs.spec.egress as {
        ports: { port: number }[];
      }[]
    ).flatMap((rule) => rule.ports.map((p) => p.port));

  it("bedrock: MODEL_PROVIDER and the model it may call, and no key at all in the Secret or the environment", async () => {
    const { resources } = await backendService({
      modelProvider: "bedrock",
      modelId: "us.amazon.nova-2-lite-v1:0",
      geminiApiKey: undefined,
    });
    expect(plainEnv(resources)).toMatchObject({
      MODEL_PROVIDER: "bedrock",
      MODEL_ID: "us.amazon.nova-2-lite-v1:0",
    });
    expect(Object.keys(plainEnv(resources)).filter((n) => /GEMINI|OPENAI/.test(n))).toEqual([]);
    expect(fromSecret(resources)).toEqual([]);
    expect(JSON.stringify(secretOf(resources).stringData)).not.toMatch(/GEMINI|OPENAI/);
  });

  it("bedrock without a model: the region's default, the same the backend would pick", async () => {
    const { resources } = await backendService({
      modelProvider: "bedrock",
      geminiApiKey: undefined,
      region: "eu-west-1",
    });
    expect(plainEnv(resources)).toMatchObject({ MODEL_ID: "global.amazon.nova-2-lite-v1:0" });
  });

  it("openai: its key in the Secret by reference, its base URL and model in the environment", async () => {
    const { resources } = await backendService({
      modelProvider: "openai",
      modelId: "llama-3.3-70b-versatile",
      openaiBaseUrl: "https://api.groq.com/openai/v1",
      openaiApiKey: "openai-key-under-test",
      geminiApiKey: undefined,
    });
    expect(plainEnv(resources)).toMatchObject({
      MODEL_PROVIDER: "openai",
      MODEL_ID: "llama-3.3-70b-versatile",
      OPENAI_BASE_URL: "https://api.groq.com/openai/v1",
    });
    expect(fromSecret(resources)).toEqual(["OPENAI_API_KEY"]);
    expect(JSON.stringify(deploymentOf(resources).inputs)).not.toContain("openai-key-under-test");
    expect(egressPorts(resources)).not.toContain(11434);
  });

  it("openai on a server in the cluster (Ollama on 11434): the NetworkPolicy lets the pods reach that port", async () => {
    const { resources } = await backendService({
      modelProvider: "openai",
      modelId: "llama3.2",
      openaiBaseUrl: "http://ollama.ollama.svc:11434/v1",
      geminiApiKey: undefined,
    });
    expect(egressPorts(resources)).toContain(11434);
    expect(fromSecret(resources)).toEqual([]);
  });

  it.each([
    [
      { modelProvider: "azure" as never },
      /modelProvider must be one of gemini, bedrock, openai, got "azure"/,
    ],
    [
      { modelProvider: "openai" as const, geminiApiKey: undefined },
      /modelId is required with modelProvider openai/,
    ],
    [
      { modelProvider: "openai" as const, modelId: "m", openaiBaseUrl: "https://u:p@proxy.example/v1" },
      /openaiBaseUrl may not hold a user name or password/,
    ],
    [{ modelId: "gemini x" }, /modelId must be a model name/],
  ])("refuses %j", async (args, message) => {
    await expect(backendService(args)).rejects.toThrow(message);
  });
});
