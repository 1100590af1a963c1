// The Co-Intelligence code execution stack, as a table of contents: typed config in (each
// section is one component's arguments), one component per concern, the outputs the
// operations commands read (`pulumi stack output --json`).
import * as pulumi from "@pulumi/pulumi";
import type { StackOutputName } from "./contract/stack";
import { BackendService, clusterOidcIssuer, clusterVpcCidrs } from "./components/backend-service";
import { BedrockAccess } from "./components/bedrock-access";
import { ImageRepository } from "./components/image-repository";
import { InvokeAccess } from "./components/invoke-access";
import { SandboxFunction } from "./components/sandbox-function";
import { loadConfig } from "./config";

const config = loadConfig();
const { backend: settings } = config;

// 1. The sandbox function, in a VPC with no way out. It is created even when code execution
//    is switched off: the switch is a backend setting, so turning the tool off (an incident)
//    and on again is one config change and no infrastructure churn, and an idle function with
//    no trigger, no URL and no resource policy costs nothing and can be reached by nobody but
//    the invoke role.
const sandbox = new SandboxFunction("sandbox", config.sandbox);

// 2. Who may invoke it: the backend's service account (pod identity, IRSA) or the node role.
const access = new InvokeAccess("invoke", {
  tags: config.tags,
  functionArn: sandbox.functionArn,
  mode: config.access.mode,
  clusterName: settings.clusterName,
  oidcIssuerUrl: config.access.mode === "irsa" ? clusterOidcIssuer(settings.clusterName) : undefined,
  namespace: settings.namespace,
  serviceAccountName: settings.serviceAccountName,
  nodeRoleName: config.access.nodeRoleName,
});

// 3. With Amazon Bedrock as the model, the same role may call exactly the configured model
//    (and, for an inference profile, the models it routes to, only through it). With any
//    other provider the role gets no Bedrock permission at all.
const bedrock =
  settings.modelProvider === "bedrock"
    ? new BedrockAccess("bedrock", {
        roleName: access.roleName,
        model: settings.modelId!,
        region: config.region,
      })
    : undefined;

// 4. Where the backend image lives. The running image and its undo target are never expired.
const repository = new ImageRepository("backend-image", config.repository);

// 5. The backend on the existing EKS cluster. The stack config owns its image
//    (`co-intelligence:image`, recorded by `npm run rollout`, which then runs `pulumi up`);
//    until the first rollout there is no Deployment. Its pods start after the invoke (and
//    Bedrock) access exists, so they get the pod identity / IRSA credentials injected at pod
//    creation and may call what they need from their first request.
const backend = new BackendService("backend", {
  ...settings,
  serviceAccountAnnotations: access.serviceAccountAnnotations,
  // An ALB sends its traffic from its own addresses in the cluster's VPC.
  allowFromCidrs: settings.ingress
    ? pulumi
        .output(clusterVpcCidrs(settings.clusterName))
        .apply((vpc) => [...new Set([...vpc, ...settings.allowFromCidrs])])
    : settings.allowFromCidrs,
  functionName: sandbox.functionName,
  // The function's own allow-list and limit: the tool description never promises a module
  // the sandbox refuses, and each execution asks for exactly the function's time limit.
  sandboxAllowedModules: config.sandbox.allowedModules,
  sandboxTimeoutMs: config.sandbox.sandboxTimeoutMs,
  waitFor: bedrock ? [access, bedrock] : [access],
});

// 6. What the operations commands read with --stack: exactly the outputs contract/stack.ts
//    names (the compiler refuses a missing or an extra one).
const outputs = {
  region: config.region,
  functionName: sandbox.functionName,
  functionArn: sandbox.functionArn,
  logGroupName: sandbox.logGroupName,
  repositoryUrl: repository.repositoryUrl,
  repositoryName: repository.repositoryName,
  namespace: backend.namespace,
  serviceName: backend.serviceName,
  deploymentName: backend.deploymentName,
  accessMode: config.access.mode,
  invokeRoleName: access.roleName,
  invokeRoleArn: access.roleArn,
  codeExecutionEnabled: settings.codeExecutionEnabled,
  /** The model the backend talks to (doctor checks the role may call a Bedrock one). */
  modelProvider: settings.modelProvider ?? "gemini",
  modelId: settings.modelId,
  /** The image the Deployment runs (`npm run rollout` records it), and the one `--undo` returns to. */
  image: config.images.image,
  previousImage: config.images.previousImage,
  /** `https://<ingressHost>` with an Ingress; without one, reach the chat with kubectl port-forward. */
  url: backend.url,
} satisfies Record<StackOutputName, unknown>;

export = outputs;
