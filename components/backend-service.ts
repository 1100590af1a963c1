import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_PORT, ROUTES } from "../contract/http";
import {
  defaultBedrockModel,
  DEFAULT_OPENAI_BASE_URL,
  PROVIDER_IDS,
  type ProviderId,
} from "../contract/models";
import { DEFAULT_GEMINI_MODEL, DEFAULT_NAMES } from "../contract/names";
import { DEFAULT_ALLOWED_MODULES } from "../contract/sandbox-modules";
import { SANDBOX_ENV, SANDBOX_LIMITS } from "../contract/sandbox";
import type { InvokeAccessMode } from "./invoke-access";
import {
  ARG_NAME,
  DNS_LABEL,
  isCidr,
  rangeProblem,
  numberOrUnset,
  refuseProblems,
  type ArgProblem,
  type NameOf,
  type Unparsed,
} from "./validation";

/** The chat backend on an existing EKS cluster. */
export interface BackendServiceArgs {
  /** Name of the existing EKS cluster. Required. */
  clusterName: string;
  /** AWS region of the cluster (for `aws eks get-token`) and of the function. Required. */
  region: string;
  /** A kubeconfig to use instead of the cluster's endpoint, CA and `aws eks get-token`. Default: unset. */
  kubeconfig?: pulumi.Input<string>;
  /**
   * Namespace, created with Pod Security "restricted" enforced; one of its own (not `default`
   * nor a `kube-*` one, which are shared and carry no such labels). Default: `co-intelligence`.
   */
  namespace?: string;
  /** Service account of the pods. Default: `backend`. */
  serviceAccountName?: string;
  /** Annotations of the service account (IRSA's role ARN). Default: none. */
  serviceAccountAnnotations?: pulumi.Input<Record<string, string>>;
  /**
   * The image the Deployment runs, by digest. The stack config (`co-intelligence:image`) is its
   * only owner: `npm run rollout` records a new digest there and runs `pulumi up`. Default:
   * unset, and then no Deployment, autoscaler or disruption budget exists yet (nothing was
   * pushed; pods could only fail to pull).
   */
  image?: pulumi.Input<string>;
  /** How pods get AWS credentials, which decides the one credential endpoint egress allows. Default: `pod-identity`. */
  accessMode?: InvokeAccessMode;
  /** Namespaces whose pods may reach the HTTP port. Default: none. */
  allowFromNamespaces?: string[];
  /** Address blocks that may reach the HTTP port (with an Ingress: the cluster VPC's). Default: none. */
  allowFromCidrs?: pulumi.Input<string[]>;
  /** An Ingress for the AWS Load Balancer Controller. Default: none (reach it with kubectl port-forward). */
  ingress?: IngressArgs;
  /**
   * `MODEL_PROVIDER`: `gemini`, `bedrock` (Amazon Bedrock, with the pods' own AWS role, which
   * BedrockAccess lets call the model) or `openai` (any OpenAI-compatible API). Default: `gemini`.
   */
  modelProvider?: ProviderId;
  /**
   * `MODEL_ID`: the model in the provider's own naming. Default: the provider's default
   * (contract/models.ts; required for `openai`). For Bedrock, pass the model its role may call.
   */
  modelId?: string;
  /** The Gemini API key, a Pulumi secret; stored in a Kubernetes Secret. Required for `gemini`. */
  geminiApiKey?: pulumi.Input<string>;
  /** `GEMINI_MODEL` (gemini; `modelId` says the same and wins). Default: `DEFAULT_GEMINI_MODEL` of contract/names.ts. */
  geminiModel?: string;
  /** `OPENAI_BASE_URL` (openai): the API's base URL, up to and including `/v1`. Default: OpenAI's own. */
  openaiBaseUrl?: string;
  /** `OPENAI_API_KEY` (openai), a Pulumi secret; stored in the Kubernetes Secret. Default: unset (local servers). */
  openaiApiKey?: pulumi.Input<string>;
  /** `API_TOKEN` (bearer token for `/api/*`), a Pulumi secret. Default: unset (no token). */
  apiToken?: pulumi.Input<string>;
  /** `CODE_EXECUTION_ENABLED`. Default: true. */
  codeExecutionEnabled?: boolean;
  /** `CODE_EXECUTOR_FUNCTION`: the sandbox function's name or ARN. Required. */
  functionName: pulumi.Input<string>;
  /**
   * `SANDBOX_ALLOWED_MODULES`: what the tool description tells the model it may import; pass the
   * function's own allow-list so the model is never promised a module the sandbox refuses.
   * Default: the contract's 15 modules.
   */
  sandboxAllowedModules?: string[];
  /** `SANDBOX_TIMEOUT_MS`: the `timeoutMs` sent with each execution; the function's limit. Default: 30000. */
  sandboxTimeoutMs?: number;
  /** Replicas at creation and the autoscaler's minimum (2 to 20). Default: 2. */
  minReplicas?: number;
  /** The autoscaler's maximum (1 to 50, at least minReplicas). Default: 4. */
  maxReplicas?: number;
  /** Average CPU utilisation the autoscaler aims at, in percent of the request (30 to 90). Default: 70. */
  targetCpuPercent?: number;
  /**
   * Container resources. Default: requests 100m CPU / 128Mi memory / 128Mi ephemeral storage,
   * limits 1 CPU / 512Mi memory / 256Mi ephemeral storage (logs, `/tmp`).
   */
  resources?: {
    requests: { cpu: string; memory: string; "ephemeral-storage": string };
    limits: { cpu: string; memory: string; "ephemeral-storage": string };
  };
  /** Numeric user the container runs as (non-root). Default: 1000 (`node` in Node images). */
  runAsUser?: number;
  /** Port the container listens on (`PORT`). Default: 8080. */
  port?: number;
  /** Resources the Deployment waits for (the invoke access its pods need). Default: none. */
  waitFor?: pulumi.Input<pulumi.Resource>[];
}

/** The ways in from outside the cluster: an ALB inside the VPC, or one on the internet. */
export const INGRESS_SCHEMES = ["internal", "internet-facing"] as const;

/** An Ingress for the AWS Load Balancer Controller (an ALB), TLS with an ACM certificate. */
export interface IngressArgs {
  scheme: (typeof INGRESS_SCHEMES)[number];
  /** The chat's DNS name, the certificate's. */
  host: string;
  /** An ACM certificate in the stack's region (a load balancer can use no other). */
  certificateArn: string;
  /** Who may connect to the load balancer. Default: the controller's default (anyone). */
  inboundCidrs?: string[];
}

/** Deployment name the operations commands expect (CONTRACT section 3). */
export const DEPLOYMENT_NAME = DEFAULT_NAMES.deploymentName;

/** Name of the Deployment's container (what `kubectl logs -c` and the rollout diagnosis name). */
export const CONTAINER_NAME = DEFAULT_NAMES.containerName;

export const BACKEND_SERVICE_DEFAULTS = {
  namespace: DEFAULT_NAMES.namespace,
  serviceAccountName: DEFAULT_NAMES.serviceAccountName,
  modelProvider: "gemini",
  geminiModel: DEFAULT_GEMINI_MODEL,
  openaiBaseUrl: DEFAULT_OPENAI_BASE_URL,
  codeExecutionEnabled: true,
  sandboxAllowedModules: DEFAULT_ALLOWED_MODULES,
  sandboxTimeoutMs: SANDBOX_LIMITS.timeoutMs.default,
  minReplicas: 2,
  maxReplicas: 4,
  targetCpuPercent: 70,
  accessMode: "pod-identity",
  runAsUser: 1000,
  port: DEFAULT_PORT,
  resources: {
    requests: { cpu: "100m", memory: "128Mi", "ephemeral-storage": "128Mi" },
    limits: { cpu: "1", memory: "512Mi", "ephemeral-storage": "256Mi" },
  },
} as const;

/** Two replicas at least (one zone or node may go); the rest is what one stack can use. */
export const BACKEND_SERVICE_BOUNDS = {
  minReplicas: { min: 2, max: 20 },
  maxReplicas: { min: 1, max: 50 },
  targetCpuPercent: { min: 30, max: 90 },
} as const;

/** Namespaces the backend must not share: they hold the cluster's own workloads and carry no pod-security labels. */
export const SHARED_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** The problems of BackendServiceArgs (a pure function: the stack config calls it too). */
export function validateBackendServiceArgs(
  args: Unparsed<BackendServiceArgs>,
  nameOf: NameOf = ARG_NAME,
): ArgProblem[] {
  const d = BACKEND_SERVICE_DEFAULTS;
  const b = BACKEND_SERVICE_BOUNDS;
  const problems: ArgProblem[] = [];
  for (const [arg, value, suggestion] of [
    ["namespace", args.namespace, d.namespace],
    ["serviceAccountName", args.serviceAccountName, d.serviceAccountName],
  ] as const) {
    if (value !== undefined && !DNS_LABEL.test(value))
      problems.push({
        arg,
        message: `${nameOf(arg)} must be a Kubernetes name (lower-case letters, digits, '-'), got ${JSON.stringify(value)}`,
        suggestion,
      });
  }
  if (args.namespace !== undefined && SHARED_NAMESPACES.includes(args.namespace))
    problems.push({
      arg: "namespace",
      message:
        `${nameOf("namespace")} ${args.namespace} is shared with other workloads and has no pod-security labels the program ` +
        `may set; use a namespace of its own (created with Pod Security "restricted" enforced)`,
      suggestion: d.namespace,
    });
  problems.push(
    ...rangeProblem(nameOf, "minReplicas", args.minReplicas, b.minReplicas, d.minReplicas),
    ...rangeProblem(nameOf, "maxReplicas", args.maxReplicas, b.maxReplicas, d.maxReplicas),
    ...rangeProblem(
      nameOf,
      "targetCpuPercent",
      args.targetCpuPercent,
      b.targetCpuPercent,
      d.targetCpuPercent,
    ),
  );
  const minReplicas = numberOrUnset(args.minReplicas) ?? d.minReplicas;
  const maxReplicas = numberOrUnset(args.maxReplicas) ?? d.maxReplicas;
  if (maxReplicas < minReplicas)
    problems.push({
      arg: "maxReplicas",
      message: `${nameOf("maxReplicas")} (${maxReplicas}) must be at least ${nameOf("minReplicas")} (${minReplicas})`,
      suggestion: String(minReplicas),
    });
  for (const namespace of args.allowFromNamespaces ?? [])
    if (!DNS_LABEL.test(namespace))
      problems.push({
        arg: "allowFromNamespaces",
        message: `${nameOf("allowFromNamespaces")} must hold Kubernetes namespace names, got ${JSON.stringify(namespace)}`,
        suggestion: "ingress-nginx",
      });
  // Only a plain list can be checked here; one computed at deploy time (the VPC's) is AWS's own.
  if (Array.isArray(args.allowFromCidrs))
    for (const cidr of args.allowFromCidrs as unknown[])
      if (typeof cidr === "string" && !isCidr(cidr))
        problems.push({
          arg: "allowFromCidrs",
          message: `${nameOf("allowFromCidrs")} must hold address blocks like 10.0.0.0/16, got ${JSON.stringify(cidr)}`,
          suggestion: "10.0.0.0/16",
        });
  if (args.ingress !== undefined) problems.push(...ingressProblems(args.ingress, args.region, nameOf));
  problems.push(...modelProblems(args, nameOf));
  return problems;
}

/** What the backend's environment will say about its model (MODEL_PROVIDER, MODEL_ID and the provider's own). */
export interface ResolvedModel {
  provider: ProviderId;
  /** The model, defaults applied (undefined only for openai without a modelId, which is refused). */
  modelId: string | undefined;
}

/** The model the backend will use: the provider and its model, defaults applied. */
export function resolveModel(
  args: Pick<BackendServiceArgs, "modelProvider" | "modelId" | "geminiModel" | "region">,
): ResolvedModel {
  const provider = args.modelProvider ?? BACKEND_SERVICE_DEFAULTS.modelProvider;
  if (provider === "gemini")
    return { provider, modelId: args.modelId ?? args.geminiModel ?? BACKEND_SERVICE_DEFAULTS.geminiModel };
  if (provider === "bedrock") return { provider, modelId: args.modelId ?? defaultBedrockModel(args.region) };
  return { provider, modelId: args.modelId };
}

/** A model name: printable ASCII without spaces, as every provider's names are (it is shown in a header). */
const MODEL_NAME = /^[\x21-\x7e]{1,256}$/;

function modelProblems(args: Unparsed<BackendServiceArgs>, nameOf: NameOf): ArgProblem[] {
  const problems: ArgProblem[] = [];
  const provider = args.modelProvider ?? BACKEND_SERVICE_DEFAULTS.modelProvider;
  if (!(PROVIDER_IDS as readonly string[]).includes(provider)) {
    problems.push({
      arg: "modelProvider",
      message: `${nameOf("modelProvider")} must be one of ${PROVIDER_IDS.join(", ")}, got ${JSON.stringify(provider)}`,
      suggestion: "bedrock",
    });
    return problems;
  }
  for (const arg of ["modelId", "geminiModel"] as const) {
    const value = args[arg];
    if (value !== undefined && !MODEL_NAME.test(value))
      problems.push({
        arg,
        message: `${nameOf(arg)} must be a model name (printable ASCII without spaces), got ${JSON.stringify(value)}`,
        suggestion: provider === "bedrock" ? "us.amazon.nova-2-lite-v1:0" : "<model>",
      });
  }
  if (provider === "gemini" && args.modelId && args.geminiModel && args.modelId !== args.geminiModel)
    problems.push({
      arg: "geminiModel",
      message: `${nameOf("modelId")} (${args.modelId}) and ${nameOf("geminiModel")} (${args.geminiModel}) name different models; keep one`,
      remove: true,
    });
  if (provider === "openai") {
    if (args.modelId === undefined)
      problems.push({
        arg: "modelId",
        message: `${nameOf("modelId")} is required with ${nameOf("modelProvider")} openai (the model's name at the API)`,
        suggestion: "gpt-4.1-mini",
      });
    if (args.openaiBaseUrl !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(args.openaiBaseUrl);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
        problems.push({
          arg: "openaiBaseUrl",
          message: `${nameOf("openaiBaseUrl")} must be an http(s) URL up to and including /v1, got ${JSON.stringify(args.openaiBaseUrl)}`,
          suggestion: "https://api.groq.com/openai/v1",
        });
      else if (url.username || url.password)
        problems.push({
          arg: "openaiBaseUrl",
          message: `${nameOf("openaiBaseUrl")} may not hold a user name or password (the key is ${nameOf("openaiApiKey")}, a secret)`,
          suggestion: `${url.protocol}//${url.host}${url.pathname}`,
        });
    }
  }
  return problems;
}

/** The port an OpenAI-compatible base URL is reached on, when it is not HTTPS's 443 (the NetworkPolicy opens it). */
export function modelEgressPort(provider: ProviderId, openaiBaseUrl: string | undefined): number | undefined {
  if (provider !== "openai" || openaiBaseUrl === undefined) return undefined;
  try {
    const url = new URL(openaiBaseUrl);
    const port = Number(url.port || (url.protocol === "http:" ? 80 : 443));
    return port === 443 ? undefined : port;
  } catch {
    return undefined;
  }
}

/** An ALB with TLS needs a scheme, the chat's DNS name and an ACM certificate of the region. */
function ingressProblems(ingress: IngressArgs, region: string | undefined, nameOf: NameOf): ArgProblem[] {
  const problems: ArgProblem[] = [];
  if (!(INGRESS_SCHEMES as readonly string[]).includes(ingress.scheme))
    problems.push({
      arg: "ingress.scheme",
      message: `${nameOf("ingress.scheme")} must be ${INGRESS_SCHEMES.join(" or ")}, got ${JSON.stringify(ingress.scheme)}`,
      suggestion: "internal",
    });
  if (!/^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(ingress.host))
    problems.push({
      arg: "ingress.host",
      message: `${nameOf("ingress.host")} must be the chat's DNS name (the ACM certificate's), got ${JSON.stringify(ingress.host)}`,
      suggestion: "chat.example.com",
    });
  // The load balancer takes certificates from ACM in its own region only.
  const arn = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[0-9a-f-]{36}$/.exec(
    ingress.certificateArn,
  );
  if (!arn)
    problems.push({
      arg: "ingress.certificateArn",
      message: `${nameOf("ingress.certificateArn")} must be an ACM certificate ARN for ${ingress.host || "the host"}, got ${JSON.stringify(ingress.certificateArn)}`,
      suggestion: "arn:aws:acm:<region>:<account>:certificate/<id>",
    });
  else if (region !== undefined && arn[1] !== region)
    problems.push({
      arg: "ingress.certificateArn",
      message:
        `${nameOf("ingress.certificateArn")} is in ${arn[1]}, but a load balancer in ${region} can only use certificates of ${region}; ` +
        "request or import one there",
      suggestion: "<arn>",
    });
  for (const cidr of ingress.inboundCidrs ?? [])
    if (!isCidr(cidr))
      problems.push({
        arg: "ingress.inboundCidrs",
        message: `${nameOf("ingress.inboundCidrs")} must hold address blocks like 203.0.113.0/24, got ${JSON.stringify(cidr)}`,
        suggestion: "203.0.113.0/24",
      });
  return problems;
}

/** The EKS Pod Identity agent's credential endpoint on every node (link-local, plain HTTP). */
export const POD_IDENTITY_AGENT_CIDR = "169.254.170.23/32";
/** The instance metadata service, where node-role pods get the node's credentials. */
export const INSTANCE_METADATA_CIDR = "169.254.169.254/32";

/** Pod Security Standards labels: "restricted" enforced, audited and warned on, at the latest version. */
export const POD_SECURITY_LABELS = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};

/**
 * Namespace, service account, Secret, NetworkPolicy, Service, optional Ingress, and (once an
 * image is recorded) the Deployment `backend` with its HorizontalPodAutoscaler and
 * PodDisruptionBudget. Pulumi is the one owner of every field it sets, the image included:
 * `npm run rollout` changes the image through the stack config and `pulumi up`, so a later
 * `pulumi up` (the kill switch, a probe, an env var) never fights another field manager. Only
 * the replica count is left to the autoscaler (ignoreChanges on `spec.replicas`).
 */
export class BackendService extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  public readonly deploymentName: pulumi.Output<string>;
  public readonly serviceAccountName: pulumi.Output<string>;
  /** `https://<ingressHost>` when there is an Ingress. */
  public readonly url: pulumi.Output<string | undefined>;

  constructor(name: string, args: BackendServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:BackendService", name, {}, opts);
    refuseProblems("BackendService", name, validateBackendServiceArgs(args));
    const d = BACKEND_SERVICE_DEFAULTS;
    const namespaceName = args.namespace ?? d.namespace;
    const serviceAccountName = args.serviceAccountName ?? d.serviceAccountName;
    const model = resolveModel(args);
    const codeExecutionEnabled = args.codeExecutionEnabled ?? d.codeExecutionEnabled;
    const sandboxAllowedModules = args.sandboxAllowedModules ?? [...d.sandboxAllowedModules];
    const sandboxTimeoutMs = args.sandboxTimeoutMs ?? d.sandboxTimeoutMs;
    const minReplicas = args.minReplicas ?? d.minReplicas;
    const maxReplicas = args.maxReplicas ?? d.maxReplicas;
    const targetCpuPercent = args.targetCpuPercent ?? d.targetCpuPercent;
    const resources = args.resources ?? d.resources;
    const accessMode = args.accessMode ?? d.accessMode;
    const allowFromNamespaces = args.allowFromNamespaces ?? [];
    const allowFromCidrs = args.allowFromCidrs ?? [];
    const runAsUser = args.runAsUser ?? d.runAsUser;
    const port = args.port ?? d.port;
    const labels = {
      "app.kubernetes.io/name": DEPLOYMENT_NAME,
      "app.kubernetes.io/part-of": "co-intelligence",
    };

    const provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: args.kubeconfig ?? clusterKubeconfig(args.clusterName, args.region, this) },
      { parent: this },
    );
    const k8sOpts = { parent: this, provider };

    // The pods meet the "restricted" Pod Security Standard; the namespace enforces it, so a
    // later change that weakens them is refused by the API server, not merely noticed.
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      { metadata: { name: namespaceName, labels: { ...labels, ...POD_SECURITY_LABELS } } },
      k8sOpts,
    );
    const namespace = ns.metadata.name;

    // The backend never calls the Kubernetes API: no token in its pods (Pod Identity and IRSA
    // mount their own, separate tokens for AWS).
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: {
          name: serviceAccountName,
          namespace,
          labels,
          annotations: args.serviceAccountAnnotations ?? {},
        },
        automountServiceAccountToken: false,
      },
      k8sOpts,
    );

    // Keys go into the Secret, and only the chosen provider's: a Bedrock backend holds no key at all.
    const secretData: Record<string, pulumi.Input<string>> = {};
    if (model.provider === "gemini") {
      if (args.geminiApiKey === undefined)
        throw new Error(`BackendService ${name}: modelProvider gemini needs geminiApiKey`);
      secretData.GEMINI_API_KEY = args.geminiApiKey;
    }
    if (model.provider === "openai" && args.openaiApiKey !== undefined)
      secretData.OPENAI_API_KEY = args.openaiApiKey;
    if (args.apiToken !== undefined) secretData.API_TOKEN = args.apiToken;
    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name: "backend-secrets", namespace, labels },
        type: "Opaque",
        stringData: pulumi.secret(secretData),
      },
      k8sOpts,
    );

    const secretEnv = (envName: string): k8s.types.input.core.v1.EnvVar => ({
      name: envName,
      valueFrom: { secretKeyRef: { name: secret.metadata.name, key: envName } },
    });
    const modelEnv: k8s.types.input.core.v1.EnvVar[] =
      model.provider === "gemini"
        ? [{ name: "GEMINI_MODEL", value: model.modelId! }]
        : [
            { name: "MODEL_ID", value: model.modelId! },
            ...(model.provider === "openai"
              ? [{ name: "OPENAI_BASE_URL", value: args.openaiBaseUrl ?? d.openaiBaseUrl }]
              : []),
          ];
    const env: k8s.types.input.core.v1.EnvVar[] = [
      { name: "PORT", value: String(port) },
      { name: "MODEL_PROVIDER", value: model.provider },
      ...modelEnv,
      { name: "CODE_EXECUTION_ENABLED", value: String(codeExecutionEnabled) },
      { name: "CODE_EXECUTOR_FUNCTION", value: args.functionName },
      { name: "AWS_REGION", value: args.region },
      // The same values the function gets, so the backend's promises match the sandbox's limits.
      { name: SANDBOX_ENV.allowedModules, value: sandboxAllowedModules.join(",") },
      { name: SANDBOX_ENV.timeoutMs, value: String(sandboxTimeoutMs) },
      ...Object.keys(secretData)
        .filter((key) => key !== "API_TOKEN")
        .map(secretEnv),
    ];
    if (args.apiToken !== undefined) env.push(secretEnv("API_TOKEN"));

    new k8s.networking.v1.NetworkPolicy(
      `${name}-network-policy`,
      {
        metadata: { name: DEPLOYMENT_NAME, namespace, labels },
        spec: pulumi.output(allowFromCidrs).apply((cidrs) =>
          backendNetworkPolicySpec({
            labels,
            port,
            accessMode,
            allowFromNamespaces,
            allowFromCidrs: cidrs,
            modelPort: modelEgressPort(model.provider, args.openaiBaseUrl),
          }),
        ),
      },
      k8sOpts,
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: DEPLOYMENT_NAME, namespace, labels },
        spec: {
          type: "ClusterIP",
          selector: labels,
          ports: [{ name: "http", port: 80, targetPort: "http" }],
        },
      },
      k8sOpts,
    );

    if (args.ingress !== undefined) {
      new k8s.networking.v1.Ingress(
        `${name}-ingress`,
        {
          metadata: {
            name: DEPLOYMENT_NAME,
            namespace,
            labels,
            annotations: albAnnotations(args.ingress),
          },
          spec: {
            ingressClassName: "alb",
            tls: [{ hosts: [args.ingress.host] }],
            rules: [
              {
                host: args.ingress.host,
                http: {
                  paths: [
                    {
                      path: "/",
                      pathType: "Prefix",
                      backend: { service: { name: service.metadata.name, port: { name: "http" } } },
                    },
                  ],
                },
              },
            ],
          },
        },
        k8sOpts,
      );
    }

    this.namespace = namespace;
    this.serviceName = service.metadata.name;
    this.deploymentName = pulumi.output(DEPLOYMENT_NAME);
    this.serviceAccountName = serviceAccount.metadata.name;
    this.url = pulumi.output(args.ingress ? `https://${args.ingress.host}` : undefined);

    if (args.image === undefined) {
      this.registerOwnOutputs();
      return;
    }

    const deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: {
          name: DEPLOYMENT_NAME,
          namespace,
          labels,
          // `npm run rollout` waits for the rollout itself (kubectl rollout status, read-only)
          // and undoes a failed one through the stack config; Pulumi need not block on pods.
          annotations: { "pulumi.com/skipAwait": "true" },
        },
        spec: {
          replicas: minReplicas,
          selector: { matchLabels: labels },
          // Zero downtime: a new pod must be ready before an old one goes.
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: serviceAccount.metadata.name,
              automountServiceAccountToken: false,
              // Replicas in different zones (and on different nodes): one zone's outage leaves
              // the others serving. ScheduleAnyway: a single-zone cluster still runs them.
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: "topology.kubernetes.io/zone",
                  whenUnsatisfiable: "ScheduleAnyway",
                  labelSelector: { matchLabels: labels },
                },
                {
                  maxSkew: 1,
                  topologyKey: "kubernetes.io/hostname",
                  whenUnsatisfiable: "ScheduleAnyway",
                  labelSelector: { matchLabels: labels },
                },
              ],
              securityContext: {
                runAsNonRoot: true,
                runAsUser,
                runAsGroup: runAsUser,
                seccompProfile: { type: "RuntimeDefault" },
              },
              // Chat answers are streams: give them time to finish when a pod is replaced.
              terminationGracePeriodSeconds: 30,
              containers: [
                {
                  name: CONTAINER_NAME,
                  image: args.image,
                  ports: [{ name: "http", containerPort: port }],
                  env,
                  readinessProbe: {
                    httpGet: { path: ROUTES.ready, port: "http" },
                    periodSeconds: 5,
                    failureThreshold: 3,
                  },
                  livenessProbe: {
                    httpGet: { path: ROUTES.health, port: "http" },
                    initialDelaySeconds: 10,
                    periodSeconds: 10,
                    failureThreshold: 3,
                  },
                  resources,
                  securityContext: {
                    // Repeated from the pod level so the container's own context is complete on its own.
                    runAsNonRoot: true,
                    runAsUser,
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                    seccompProfile: { type: "RuntimeDefault" },
                  },
                  volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
              ],
              // The root filesystem is read-only; Node and libraries may still need a scratch dir.
              volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
            },
          },
        },
      },
      {
        ...k8sOpts,
        dependsOn: args.waitFor ?? [],
        // The replica count belongs to the autoscaler; every other field, the image included,
        // to this program (a plain path: no array index for the provider to misread).
        ignoreChanges: ["spec.replicas"],
      },
    );

    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-hpa`,
      {
        metadata: { name: DEPLOYMENT_NAME, namespace, labels },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
          minReplicas,
          maxReplicas,
          metrics: [
            {
              type: "Resource",
              resource: {
                name: "cpu",
                target: { type: "Utilization", averageUtilization: targetCpuPercent },
              },
            },
          ],
        },
      },
      k8sOpts,
    );

    // maxUnavailable (not minAvailable): one pod may always go, so a node drain never blocks.
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: DEPLOYMENT_NAME, namespace, labels },
        spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
      },
      k8sOpts,
    );

    this.registerOwnOutputs();
  }

  /** The last step of the constructor, on both of its paths (before and after the first rollout). */
  private registerOwnOutputs(): void {
    this.registerOutputs({
      namespace: this.namespace,
      serviceName: this.serviceName,
      deploymentName: this.deploymentName,
      serviceAccountName: this.serviceAccountName,
      url: this.url,
    });
  }
}

/**
 * Ingress: only the HTTP port, only from the named namespaces and address blocks (the load
 * balancer's subnets when there is an Ingress). Egress: DNS, HTTPS (the model's API, Lambda,
 * STS), the one plain-HTTP credential endpoint the access mode needs (the Pod Identity agent,
 * or the instance metadata service for node-role), and the port of an OpenAI-compatible server
 * that is not on 443 (an Ollama or vLLM in the cluster); nothing else, so a compromised pod
 * cannot reach the cluster's other services or the metadata service it has no business with.
 */
export function backendNetworkPolicySpec(opts: {
  labels: Record<string, string>;
  port: number;
  accessMode: InvokeAccessMode;
  allowFromNamespaces: string[];
  allowFromCidrs: string[];
  /** The model server's port when it is not 443 (modelEgressPort). */
  modelPort?: number;
}): k8s.types.input.networking.v1.NetworkPolicySpec {
  const sources: k8s.types.input.networking.v1.NetworkPolicyPeer[] = [
    ...opts.allowFromNamespaces.map((ns) => ({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
    })),
    ...opts.allowFromCidrs.map((cidr) => ({ ipBlock: { cidr } })),
  ];
  const credentialEndpoint =
    opts.accessMode === "pod-identity"
      ? POD_IDENTITY_AGENT_CIDR
      : opts.accessMode === "node-role"
        ? INSTANCE_METADATA_CIDR
        : undefined;
  return {
    podSelector: { matchLabels: opts.labels },
    policyTypes: ["Ingress", "Egress"],
    // No source named: no ingress rule at all, which denies every connection (kubectl
    // port-forward still works: it enters through the kubelet, not the pod network).
    ingress: sources.length === 0 ? [] : [{ from: sources, ports: [{ protocol: "TCP", port: opts.port }] }],
    egress: [
      {
        ports: [
          { protocol: "UDP", port: 53 },
          { protocol: "TCP", port: 53 },
        ],
      },
      { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 443 }] },
      ...(opts.modelPort === undefined
        ? []
        : [
            {
              // Outside the cluster, or a model server's pods inside it (ipBlock need not match pod addresses).
              to: [{ ipBlock: { cidr: "0.0.0.0/0" } }, { namespaceSelector: {} }],
              ports: [{ protocol: "TCP", port: opts.modelPort }],
            },
          ]),
      ...(credentialEndpoint === undefined
        ? []
        : [{ to: [{ ipBlock: { cidr: credentialEndpoint } }], ports: [{ protocol: "TCP", port: 80 }] }]),
    ],
  };
}

/** The AWS Load Balancer Controller's annotations: an ALB with TLS from ACM, HTTPS only. */
export function albAnnotations(ingress: Omit<IngressArgs, "host">): Record<string, string> {
  return {
    "alb.ingress.kubernetes.io/scheme": ingress.scheme,
    // Straight to the pods' IPs (the NetworkPolicy admits the VPC's blocks), no node ports.
    "alb.ingress.kubernetes.io/target-type": "ip",
    "alb.ingress.kubernetes.io/certificate-arn": ingress.certificateArn,
    "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS":443}]',
    "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "alb.ingress.kubernetes.io/healthcheck-path": ROUTES.ready,
    // Chat answers are server-sent event streams with a heartbeat every 15 s.
    "alb.ingress.kubernetes.io/load-balancer-attributes": "idle_timeout.timeout_seconds=120",
    ...(ingress.inboundCidrs && ingress.inboundCidrs.length > 0
      ? { "alb.ingress.kubernetes.io/inbound-cidrs": ingress.inboundCidrs.join(",") }
      : {}),
  };
}

/** The IPv4 blocks of the cluster's VPC: where an ALB's nodes (and so its connections) come from. */
export function clusterVpcCidrs(clusterName: string, parent?: pulumi.Resource): pulumi.Output<string[]> {
  const cluster = aws.eks.getClusterOutput({ name: clusterName }, { parent });
  return cluster.vpcConfig.apply((vpcConfig): pulumi.Output<string[]> => {
    if (!vpcConfig?.vpcId) return pulumi.output([]);
    return aws.ec2
      .getVpcOutput({ id: vpcConfig.vpcId }, { parent })
      .apply((vpc) =>
        [vpc.cidrBlock, ...(vpc.cidrBlockAssociations ?? []).map((a) => a.cidrBlock)].filter(
          (cidr, i, all): cidr is string =>
            typeof cidr === "string" && cidr !== "" && all.indexOf(cidr) === i,
        ),
      );
  });
}

/** The OIDC issuer URL of an existing EKS cluster (for IRSA trust policies). */
export function clusterOidcIssuer(clusterName: string): pulumi.Output<string> {
  return aws.eks
    .getClusterOutput({ name: clusterName })
    .identities.apply((identities) => oidcIssuerOf(clusterName, identities));
}

/**
 * The issuer in an EKS DescribeCluster answer's identities. Optional chaining all the way: an
 * answer without them ends in a message naming the fix, not in a TypeError in the middle of
 * the resource graph.
 */
export function oidcIssuerOf(
  clusterName: string,
  identities: { oidcs?: { issuer?: string }[] }[] | undefined,
): string {
  const issuer = identities?.[0]?.oidcs?.[0]?.issuer;
  if (!issuer) {
    throw new Error(
      `EKS cluster ${clusterName} has no OIDC issuer; IRSA needs one (eksctl utils associate-iam-oidc-provider ` +
        `--cluster ${clusterName} --approve), or use: pulumi config set co-intelligence:accessMode pod-identity`,
    );
  }
  return issuer;
}

/**
 * A kubeconfig for an existing EKS cluster: its endpoint and CA from the EKS API, and
 * credentials from `aws eks get-token` at each use (nothing long-lived is stored in state).
 */
export function clusterKubeconfig(
  clusterName: string,
  region: string,
  parent?: pulumi.Resource,
): pulumi.Output<string> {
  const cluster = aws.eks.getClusterOutput({ name: clusterName }, { parent });
  return pulumi.jsonStringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: clusterName,
        cluster: {
          server: cluster.endpoint,
          "certificate-authority-data": cluster.certificateAuthorities[0]!.data,
        },
      },
    ],
    contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
    "current-context": clusterName,
    users: [
      {
        name: clusterName,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "aws",
            args: ["eks", "get-token", "--cluster-name", clusterName, "--region", region, "--output", "json"],
            interactiveMode: "Never",
          },
        },
      },
    ],
  });
}
