// The Co-Intelligence code execution stack, as a table of contents: typed config in,
// one component per concern, the outputs the operations commands read
// (`pulumi stack output --json`).
import * as pulumi from "@pulumi/pulumi";
import { BackendService } from "./components/backend-service";
import { ImageRepository } from "./components/image-repository";
import { InvokeAccess } from "./components/invoke-access";
import { SandboxFunction } from "./components/sandbox-function";
import { clusterOidcIssuer } from "./components/backend-service";
import { loadConfig } from "./config";

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

// 3. Where the backend image lives.
const repository = new ImageRepository("backend-image", {
  tags: config.tags,
  name: config.repository.name,
  keepImages: config.repository.keepImages,
});

// 4. The backend on the existing EKS cluster. The image is only the first one: afterwards
//    `npm run rollout` owns it. Its pods start after the invoke access exists, so they get
//    the pod identity / IRSA credentials the mutating webhook injects at pod creation.
const backend = new BackendService("backend", {
  clusterName: config.backend.clusterName,
  region: config.region,
  kubeconfig: config.backend.kubeconfig,
  namespace: config.backend.namespace,
  serviceAccountName: config.backend.serviceAccountName,
  serviceAccountAnnotations: access.serviceAccountAnnotations,
  image: config.backend.image ?? pulumi.interpolate`${repository.repositoryUrl}:initial`,
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
