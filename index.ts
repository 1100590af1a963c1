// The Co-Intelligence code execution stack, as a table of contents: typed config in,
// one component per concern, the outputs the operations commands read
// (`pulumi stack output --json`).
import * as pulumi from "@pulumi/pulumi";
import { BackendService } from "./components/backend-service";
import { ImageRepository } from "./components/image-repository";
import { InvokeAccess } from "./components/invoke-access";
import { SandboxFunction } from "./components/sandbox-function";
import { clusterOidcIssuer, clusterVpcCidrs } from "./components/backend-service";
import { IMAGE_REFERENCE, loadConfig } from "./config";

const config = loadConfig();

// 1. The sandbox function, in a VPC with no way out. It is created even when code execution
//    is switched off: the switch is a backend setting, so turning the tool off (an incident)
//    and on again is one config change and no infrastructure churn, and an idle function with
//    no trigger, no URL and no resource policy costs nothing and can be reached by nobody but
//    the invoke role.
const sandbox = new SandboxFunction("sandbox", {
  tags: config.tags,
  name: config.sandbox.functionName,
  memoryMb: config.sandbox.memoryMb,
  timeoutSeconds: config.sandbox.timeoutSeconds,
  allowedModules: config.sandbox.allowedModules,
  sandboxTimeoutMs: config.sandbox.sandboxTimeoutMs,
  maxOutputBytes: config.sandbox.maxOutputBytes,
  sandboxMemoryMb: config.sandbox.sandboxMemoryMb,
  reservedConcurrency: config.sandbox.reservedConcurrency,
  logRetentionDays: config.sandbox.logRetentionDays,
  flowLogTraffic: config.sandbox.flowLogTraffic,
  subnetIds: config.sandbox.subnetIds,
  securityGroupIds: config.sandbox.securityGroupIds,
  vpcId: config.sandbox.vpcId,
  vpcCidr: config.sandbox.vpcCidr,
  availabilityZoneCount: config.sandbox.availabilityZoneCount,
});

// 2. Who may invoke it: the backend's service account (pod identity, IRSA) or the node role.
const access = new InvokeAccess("invoke", {
  tags: config.tags,
  functionArn: sandbox.functionArn,
  mode: config.access.mode,
  clusterName: config.backend.clusterName,
  oidcIssuerUrl: config.access.mode === "irsa" ? clusterOidcIssuer(config.backend.clusterName) : undefined,
  namespace: config.backend.namespace,
  serviceAccountName: config.backend.serviceAccountName,
  nodeRoleName: config.access.nodeRoleName,
});

// 3. Where the backend image lives. The running image and its undo target are never expired.
const imageTags = [config.backend.image, config.backend.previousImage]
  .map((image) => (image === undefined ? undefined : IMAGE_REFERENCE.exec(image)?.groups?.tag))
  .filter((tag): tag is string => tag !== undefined);
const repository = new ImageRepository("backend-image", {
  tags: config.tags,
  name: config.repository.name,
  keepImages: config.repository.keepImages,
  protectedTags: imageTags,
});

// 4. The backend on the existing EKS cluster. The stack config owns its image
//    (`co-intelligence:image`, recorded by `npm run rollout`, which then runs `pulumi up`);
//    until the first rollout there is no Deployment. Its pods start after the invoke access
//    exists, so they get the pod identity / IRSA credentials injected at pod creation.
const ingress = config.backend.ingress;
const backend = new BackendService("backend", {
  clusterName: config.backend.clusterName,
  region: config.region,
  kubeconfig: config.backend.kubeconfig,
  namespace: config.backend.namespace,
  serviceAccountName: config.backend.serviceAccountName,
  serviceAccountAnnotations: access.serviceAccountAnnotations,
  image: config.backend.image,
  accessMode: config.access.mode,
  allowFromNamespaces: config.backend.allowFromNamespaces,
  // An ALB sends its traffic from its own addresses in the cluster's VPC.
  allowFromCidrs: ingress
    ? pulumi
        .output(clusterVpcCidrs(config.backend.clusterName))
        .apply((vpc) => [...new Set([...vpc, ...config.backend.allowFromCidrs])])
    : config.backend.allowFromCidrs,
  ingress,
  geminiApiKey: config.backend.geminiApiKey,
  geminiModel: config.backend.geminiModel,
  apiToken: config.backend.apiToken,
  codeExecutionEnabled: config.backend.codeExecutionEnabled,
  functionName: sandbox.functionName,
  // The function's own allow-list and limit: the tool description never promises a module
  // the sandbox refuses, and each execution asks for exactly the function's time limit.
  sandboxAllowedModules: config.sandbox.allowedModules,
  sandboxTimeoutMs: config.sandbox.sandboxTimeoutMs,
  minReplicas: config.backend.minReplicas,
  maxReplicas: config.backend.maxReplicas,
  targetCpuPercent: config.backend.targetCpuPercent,
  waitFor: [access],
});

export const region = config.region;
export const functionName = sandbox.functionName;
export const functionArn = sandbox.functionArn;
export const logGroupName = sandbox.logGroupName;
export const repositoryUrl = repository.repositoryUrl;
export const repositoryName = repository.repositoryName;
export const namespace = backend.namespace;
export const serviceName = backend.serviceName;
export const deploymentName = backend.deploymentName;
export const accessMode = config.access.mode;
export const invokeRoleName = access.roleName;
export const invokeRoleArn = access.roleArn;
export const codeExecutionEnabled = config.backend.codeExecutionEnabled;
/** The image the Deployment runs (`npm run rollout` records it), and the one `--undo` returns to. */
export const image = config.backend.image;
export const previousImage = config.backend.previousImage;
/** `https://<ingressHost>` with an Ingress; without one, reach the chat with kubectl port-forward. */
export const url = backend.url;
