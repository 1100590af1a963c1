import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_ALLOWED_MODULES, DEFAULT_GEMINI_MODEL } from "../backend/config";

/** The chat backend on an existing EKS cluster. */
export interface BackendServiceArgs {
  /** Name of the existing EKS cluster. Required. */
  clusterName: string;
  /** AWS region of the cluster (for `aws eks get-token`) and of the function. Required. */
  region: string;
  /** A kubeconfig to use instead of the cluster's endpoint, CA and `aws eks get-token`. Default: unset. */
  kubeconfig?: pulumi.Input<string>;
  /** Namespace; created unless it is `default`. Default: `co-intelligence`. */
  namespace?: string;
  /** Service account of the pods. Default: `backend`. */
  serviceAccountName?: string;
  /** Annotations of the service account (IRSA's role ARN). Default: none. */
  serviceAccountAnnotations?: pulumi.Input<Record<string, string>>;
  /** Image at creation; afterwards `npm run rollout` owns it (see ignoreChanges). Required. */
  image: pulumi.Input<string>;
  /** The Gemini API key, a Pulumi secret; stored in a Kubernetes Secret. Required. */
  geminiApiKey: pulumi.Input<string>;
  /** `GEMINI_MODEL`. Default: the backend's own default (`DEFAULT_GEMINI_MODEL` of backend/config.ts). */
  geminiModel?: string;
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
  /** Replicas at creation and the autoscaler's minimum. Default: 2. */
  minReplicas?: number;
  /** The autoscaler's maximum. Default: 4. */
  maxReplicas?: number;
  /** Average CPU utilisation the autoscaler aims at, in percent of the request. Default: 70. */
  targetCpuPercent?: number;
  /** Container resources. Default: requests 100m CPU / 128Mi, limits 1 CPU / 512Mi. */
  resources?: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
  /** Numeric user the container runs as (non-root). Default: 1000 (`node` in Node images). */
  runAsUser?: number;
  /** Port the container listens on (`PORT`). Default: 8080. */
  port?: number;
  /** Resources the Deployment waits for (the invoke access its pods need). Default: none. */
  waitFor?: pulumi.Input<pulumi.Resource>[];
}

/** Deployment name the operations commands expect (CONTRACT section 3). */
export const DEPLOYMENT_NAME = "backend";

/**
 * Name of the Deployment's container: `npm run rollout` runs
 * `kubectl set image deployment/backend backend=<image>`, which needs exactly this name.
 */
export const CONTAINER_NAME = "backend";

/**
 * Namespace, service account, Secret, Deployment `backend`, Service, HorizontalPodAutoscaler
 * and PodDisruptionBudget of the chat backend. The Deployment's image is set here once and
 * then owned by `npm run rollout`: Pulumi ignores later changes to it (and to the replica
 * count, which the autoscaler owns), so `pulumi up` never rolls the backend back.
 */
export class BackendService extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  public readonly deploymentName: pulumi.Output<string>;
  public readonly serviceAccountName: pulumi.Output<string>;

  constructor(name: string, args: BackendServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:BackendService", name, {}, opts);
    const namespaceName = args.namespace ?? "co-intelligence";
    const serviceAccountName = args.serviceAccountName ?? "backend";
    const geminiModel = args.geminiModel ?? DEFAULT_GEMINI_MODEL;
    const codeExecutionEnabled = args.codeExecutionEnabled ?? true;
    const sandboxAllowedModules = args.sandboxAllowedModules ?? [...DEFAULT_ALLOWED_MODULES];
    const sandboxTimeoutMs = args.sandboxTimeoutMs ?? 30000;
    const minReplicas = args.minReplicas ?? 2;
    const maxReplicas = args.maxReplicas ?? 4;
    const targetCpuPercent = args.targetCpuPercent ?? 70;
    const resources = args.resources ?? {
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "1", memory: "512Mi" },
    };
    const runAsUser = args.runAsUser ?? 1000;
    const port = args.port ?? 8080;
    const labels = { "app.kubernetes.io/name": "backend", "app.kubernetes.io/part-of": "co-intelligence" };

    if (maxReplicas < minReplicas) {
      throw new Error(
        `BackendService ${name}: maxReplicas (${maxReplicas}) is below minReplicas (${minReplicas})`,
      );
    }

    const provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: args.kubeconfig ?? clusterKubeconfig(args.clusterName, args.region, this) },
      { parent: this },
    );
    const k8sOpts = { parent: this, provider };

    let namespace: pulumi.Output<string>;
    if (namespaceName === "default") {
      namespace = pulumi.output(namespaceName);
    } else {
      const ns = new k8s.core.v1.Namespace(
        `${name}-ns`,
        {
          metadata: {
            name: namespaceName,
            // The pods already meet the "restricted" Pod Security Standard; enforce it.
            labels: { ...labels, "pod-security.kubernetes.io/enforce": "restricted" },
          },
        },
        k8sOpts,
      );
      namespace = ns.metadata.name;
    }

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: {
          name: serviceAccountName,
          namespace,
          labels,
          annotations: args.serviceAccountAnnotations ?? {},
        },
      },
      k8sOpts,
    );

    const secretData: Record<string, pulumi.Input<string>> = { GEMINI_API_KEY: args.geminiApiKey };
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
    const env: k8s.types.input.core.v1.EnvVar[] = [
      { name: "PORT", value: String(port) },
      { name: "GEMINI_MODEL", value: geminiModel },
      { name: "CODE_EXECUTION_ENABLED", value: String(codeExecutionEnabled) },
      { name: "CODE_EXECUTOR_FUNCTION", value: args.functionName },
      { name: "AWS_REGION", value: args.region },
      // The same values the function gets, so the backend's promises match the sandbox's limits.
      { name: "SANDBOX_ALLOWED_MODULES", value: sandboxAllowedModules.join(",") },
      { name: "SANDBOX_TIMEOUT_MS", value: String(sandboxTimeoutMs) },
      secretEnv("GEMINI_API_KEY"),
    ];
    if (args.apiToken !== undefined) env.push(secretEnv("API_TOKEN"));

    const deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: {
          name: DEPLOYMENT_NAME,
          namespace,
          labels,
          // `npm run rollout` waits for (and undoes) rollouts; Pulumi does not wait for pods,
          // so the first `pulumi up` finishes even before an image has been pushed.
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
                    httpGet: { path: "/readyz", port: "http" },
                    periodSeconds: 5,
                    failureThreshold: 3,
                  },
                  livenessProbe: {
                    httpGet: { path: "/healthz", port: "http" },
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
        // The image belongs to `npm run rollout` after creation, the replica count to the HPA.
        ignoreChanges: ["spec.template.spec.containers[0].image", "spec.replicas"],
      },
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

    this.namespace = namespace;
    this.serviceName = service.metadata.name;
    this.deploymentName = deployment.metadata.name;
    this.serviceAccountName = serviceAccount.metadata.name;
    this.registerOutputs({
      namespace: this.namespace,
      serviceName: this.serviceName,
      deploymentName: this.deploymentName,
      serviceAccountName: this.serviceAccountName,
    });
  }
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
