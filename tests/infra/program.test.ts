// The whole program (index.ts) under the real dev and prod stack files, with Pulumi's mocks:
// the security properties hold on every registered resource, and the outputs the operations
// commands read exist.
import { STACK_OUTPUT_NAMES } from "../../contract/stack";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ACCOUNT_ID,
  OIDC_ISSUER,
  oneOf,
  ofType,
  policyOf,
  RegisteredResource,
  runPulumi,
  stackConfigWithSecrets,
  stackFileConfig,
  taggableAwsResources,
  awsTypeTakesTags,
  expectEveryTaggableAwsResourceTagged,
  TEST_GEMINI_KEY,
} from "./pulumi-harness";

/** The component tag each component's resources carry, by the component's resource name. */
const COMPONENT_TAG: Record<string, string> = {
  sandbox: "sandbox-function",
  "sandbox-net": "isolated-network",
  invoke: "invoke-access",
  "backend-image": "image-repository",
  "sandbox-flow-logs": "flow-log",
};

/** An image as `npm run rollout` records it in the stack config. */
export const ROLLED_OUT = `${ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:1a2b3c4d5e6f@sha256:${"ab".repeat(32)}`;
const PREVIOUS = `${ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:0f0e0d0c0b0a@sha256:${"cd".repeat(32)}`;

/** Every taggable AWS resource carries project, stack and the tag of the component it belongs to. */
function expectTagsEverywhere(resources: RegisteredResource[], stack: string): void {
  expectEveryTaggableAwsResourceTagged(resources, { project: "co-intelligence", stack });
  for (const r of taggableAwsResources(resources)) {
    const resource = `${r.type} ${r.name}`;
    expect({ resource, component: r.inputs.tags.component }).toEqual({
      resource,
      component: COMPONENT_TAG[r.parent ?? ""],
    });
  }
}

type Program = typeof import("../../index");

/** The program on a stack's file, rolled out once (an image recorded) unless overridden. */
function runProgram(stack: string, overrides: Record<string, string> = {}, withKey = true) {
  const { config, secretKeys } = stackConfigWithSecrets(stack);
  const merged: Record<string, string> = {
    ...config,
    "co-intelligence:image": ROLLED_OUT,
    "co-intelligence:previousImage": PREVIOUS,
    ...overrides,
  };
  for (const [key, value] of Object.entries(merged)) if (value === "") delete merged[key];
  if (!withKey) delete merged["co-intelligence:geminiApiKey"];
  return runPulumi({
    stack,
    config: merged,
    secretKeys: withKey ? secretKeys : [],
    program: () => require("../../index") as Program, // eslint-disable-line @typescript-eslint/no-require-imports
  });
}

const NO_WAY_OUT = [
  "aws:ec2/internetGateway:InternetGateway",
  "aws:ec2/natGateway:NatGateway",
  "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
  "aws:ec2/vpcEndpoint:VpcEndpoint",
  "aws:ec2/route:Route",
  "aws:ec2/securityGroupRule:SecurityGroupRule",
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  "aws:lambda/permission:Permission",
  "aws:lambda/functionUrl:FunctionUrl",
];

describe.each(["dev", "prod"])("the %s stack", (stack) => {
  let run: Awaited<ReturnType<typeof runProgram>>;
  let resources: RegisteredResource[];
  beforeAll(async () => {
    run = await runProgram(stack);
    resources = run.resources;
  });

  it("creates the sandbox function with the contract's name on Python 3.13/arm64 in the isolated VPC", () => {
    const fn = oneOf(resources, "aws:lambda/function:Function").inputs;
    expect(fn.name).toBe("co-intelligence-code-executor");
    expect(fn).toMatchObject({ runtime: "python3.13", architectures: ["arm64"], memorySize: 512 });
    expect(fn.vpcConfig.subnetIds).toHaveLength(2);
  });

  it("has no egress rule, no internet route, no gateway, no endpoint and no resource policy anywhere", () => {
    for (const type of NO_WAY_OUT)
      expect({ type, count: ofType(resources, type).length }).toEqual({ type, count: 0 });
    for (const sg of ofType(resources, "aws:ec2/securityGroup:SecurityGroup"))
      expect(sg.inputs.egress).toEqual([]);
    for (const sg of ofType(resources, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")) {
      expect(sg.inputs).toMatchObject({ egress: [], ingress: [] });
    }
    for (const rt of ofType(resources, "aws:ec2/routeTable:RouteTable")) expect(rt.inputs.routes).toEqual([]);
    expect(oneOf(resources, "aws:ec2/vpc:Vpc").inputs.enableDnsSupport).toBe(false);
  });

  it("grants only its inline policies: no managed policy (AWSLambdaBasicExecutionRole, VPCAccess) anywhere", () => {
    for (const type of [
      "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
      "aws:iam/policyAttachment:PolicyAttachment",
      "aws:iam/policy:Policy",
      "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive",
    ])
      expect({ type, count: ofType(resources, type).length }).toEqual({ type, count: 0 });
    for (const role of ofType(resources, "aws:iam/role:Role")) {
      expect(role.inputs.managedPolicyArns ?? []).toEqual([]);
      expect(role.inputs.inlinePolicies ?? []).toEqual([]);
    }
    const statements = ofType(resources, "aws:iam/rolePolicy:RolePolicy").flatMap(
      (p) => policyOf(p.inputs.policy).Statement,
    );
    const allowed = statements
      .filter((st) => st.Effect === "Allow")
      .flatMap((st) => [st.Action].flat())
      .sort();
    expect(allowed).toEqual([
      "ec2:AssignPrivateIpAddresses",
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:UnassignPrivateIpAddresses",
      "lambda:InvokeFunction",
      // the function's own log group
      "logs:CreateLogStream",
      // the flow log delivery role's group
      "logs:CreateLogStream",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
      "logs:PutLogEvents",
    ]);
    expect(statements.every((st) => st.NotAction === undefined)).toBe(true);
    // The only Deny: the ENI actions for credentials used inside the function.
    const denies = statements.filter((st) => st.Effect === "Deny");
    expect(denies.map((st) => st.Condition)).toEqual([{ Null: { "lambda:SourceFunctionArn": "false" } }]);
  });

  it("lets the backend's pods (pod identity) invoke exactly this function and nothing else", () => {
    const fnArn = `arn:aws:lambda:us-east-1:${ACCOUNT_ID}:function:${stackFileConfig(stack)["co-intelligence:functionName"]}`;
    const invokePolicies = ofType(resources, "aws:iam/rolePolicy:RolePolicy").filter((p) =>
      p.inputs.policy.includes("lambda:InvokeFunction"),
    );
    expect(invokePolicies).toHaveLength(1);
    expect(policyOf(invokePolicies[0]!.inputs.policy).Statement).toEqual([
      { Sid: "InvokeSandbox", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: fnArn },
    ]);
    const association = oneOf(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs;
    expect(association).toMatchObject({
      clusterName: stackFileConfig(stack)["co-intelligence:clusterName"],
      namespace: "co-intelligence",
      serviceAccount: "backend",
    });
  });

  it("creates the ECR repository immutable, scanned, encrypted and with a lifecycle", () => {
    const repo = oneOf(resources, "aws:ecr/repository:Repository").inputs;
    expect(repo.name).toBe("co-intelligence-backend");
    expect(repo).toMatchObject({
      imageTagMutability: "IMMUTABLE",
      imageScanningConfiguration: { scanOnPush: true },
    });
    expect(repo.encryptionConfigurations).toHaveLength(1);
    expect(ofType(resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy")).toHaveLength(1);
  });

  it("tags every taggable AWS resource (per the @pulumi/aws schema) with project, stack and its component", () => {
    expectTagsEverywhere(resources, stack);
    const taggedTypes = new Set(taggableAwsResources(resources).map((r) => r.type));
    for (const type of [
      "aws:lambda/function:Function",
      "aws:cloudwatch/logGroup:LogGroup",
      "aws:iam/role:Role",
      "aws:ec2/vpc:Vpc",
      "aws:ec2/subnet:Subnet",
      "aws:ec2/routeTable:RouteTable",
      "aws:ec2/defaultRouteTable:DefaultRouteTable",
      "aws:ec2/securityGroup:SecurityGroup",
      "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
      "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
      "aws:ecr/repository:Repository",
      "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    ])
      expect(taggedTypes).toContain(type);
  });

  it("runs the backend hardened, with the key from a Secret and the image left to rollout", () => {
    const deployment = oneOf(resources, "kubernetes:apps/v1:Deployment");
    const container = deployment.inputs.spec.template.spec.containers[0];
    expect(deployment.inputs.spec.template.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(deployment.inputs.spec.replicas).toBe(2);
    expect(deployment.inputs.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(JSON.stringify(deployment.inputs)).not.toContain(TEST_GEMINI_KEY);
    expect(deployment.ignoreChanges).toEqual(["spec.replicas"]);
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string }) => [e.name, e.value]),
    );
    expect(env.CODE_EXECUTOR_FUNCTION).toBe(stackFileConfig(stack)["co-intelligence:functionName"]);
    expect(env.AWS_REGION).toBe("us-east-1");
    const hpa = oneOf(resources, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec;
    expect(hpa.maxReplicas).toBe(Number(stackFileConfig(stack)["co-intelligence:maxReplicas"]));
    expect(hpa.minReplicas).toBe(2);
    const pdb = oneOf(resources, "kubernetes:policy/v1:PodDisruptionBudget").inputs.spec;
    expect(pdb.maxUnavailable).toBe(1);
    expect(pdb.minAvailable).toBeUndefined();
    expect(oneOf(resources, "kubernetes:core/v1:Service").inputs.spec.type).toBe("ClusterIP");
    const key = container.env.find((e: { name: string }) => e.name === "GEMINI_API_KEY");
    expect(key).toEqual({
      name: "GEMINI_API_KEY",
      valueFrom: { secretKeyRef: { name: "backend-secrets", key: "GEMINI_API_KEY" } },
    });
  });

  it("runs the recorded image in its one container, backend", () => {
    const deployment = oneOf(resources, "kubernetes:apps/v1:Deployment");
    const containers = deployment.inputs.spec.template.spec.containers as { name: string; image: string }[];
    expect(containers.map((c) => [c.name, c.image])).toEqual([["backend", ROLLED_OUT]]);
    expect(deployment.inputs.metadata.name).toBe("backend");
  });

  it("keeps the running image and its undo target out of the lifecycle policy's reach", () => {
    const policy = JSON.parse(oneOf(resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.policy);
    expect(policy.rules.slice(0, 2)).toMatchObject([
      {
        rulePriority: 1,
        selection: { tagStatus: "tagged", tagPatternList: ["1a2b3c4d5e6f"], countNumber: 1 },
      },
      {
        rulePriority: 2,
        selection: { tagStatus: "tagged", tagPatternList: ["0f0e0d0c0b0a"], countNumber: 1 },
      },
    ]);
  });

  it("isolates the backend's pods: a NetworkPolicy, no API token, zone spreading", () => {
    const policy = oneOf(resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs.spec;
    expect(policy.policyTypes).toEqual(["Ingress", "Egress"]);
    // pod identity: the agent's endpoint is the one plain-HTTP destination
    expect(JSON.stringify(policy.egress)).toContain("169.254.170.23/32");
    expect(JSON.stringify(policy.egress)).not.toContain("169.254.169.254");
    const pod = oneOf(resources, "kubernetes:apps/v1:Deployment").inputs.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(oneOf(resources, "kubernetes:core/v1:ServiceAccount").inputs.automountServiceAccountToken).toBe(
      false,
    );
    expect(pod.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey)).toContain(
      "topology.kubernetes.io/zone",
    );
  });

  it("records the isolated VPC's rejected traffic in a flow log kept as long as the function's logs", () => {
    const flow = oneOf(resources, "aws:ec2/flowLog:FlowLog").inputs;
    expect(flow).toMatchObject({
      trafficType: "REJECT",
      vpcId: `${oneOf(resources, "aws:ec2/vpc:Vpc").name}-id`,
    });
    const retention = stackFileConfig(stack)["co-intelligence:logRetentionDays"];
    const groups = ofType(resources, "aws:cloudwatch/logGroup:LogGroup").map((g) => g.inputs.retentionInDays);
    expect(groups).toEqual([Number(retention), Number(retention)]);
  });

  it("scopes the Pod Identity role's trust to this cluster, namespace and service account", () => {
    const trusts = ofType(resources, "aws:iam/role:Role").map(
      (r) => policyOf(r.inputs.assumeRolePolicy).Statement[0]!,
    );
    const pods = trusts.find((t) => JSON.stringify(t.Principal).includes("pods.eks.amazonaws.com"));
    expect(pods?.Condition).toEqual({
      StringEquals: {
        "aws:RequestTag/eks-cluster-arn": `arn:aws:eks:us-east-1:${ACCOUNT_ID}:cluster/${stackFileConfig(stack)["co-intelligence:clusterName"]}`,
        "aws:RequestTag/kubernetes-namespace": "co-intelligence",
        "aws:RequestTag/kubernetes-service-account": "backend",
      },
    });
  });

  it("gives the backend the same allow-list and time limit as the function", () => {
    const fnEnv = oneOf(resources, "aws:lambda/function:Function").inputs.environment.variables;
    const podEnv = Object.fromEntries(
      oneOf(resources, "kubernetes:apps/v1:Deployment").inputs.spec.template.spec.containers[0].env.map(
        (e: { name: string; value?: string }) => [e.name, e.value],
      ),
    );
    expect(podEnv.SANDBOX_ALLOWED_MODULES).toBe(fnEnv.SANDBOX_ALLOWED_MODULES);
    expect(podEnv.SANDBOX_TIMEOUT_MS).toBe(fnEnv.SANDBOX_TIMEOUT_MS);
  });

  it("creates the backend's pods only after their invoke access exists", () => {
    expect(oneOf(resources, "kubernetes:apps/v1:Deployment").dependsOn).toEqual(["invoke"]);
  });

  it("creates no Deployment before the first rollout records an image (nothing could be pulled)", async () => {
    const first = await runProgram(stack, {
      "co-intelligence:image": "",
      "co-intelligence:previousImage": "",
    });
    expect(ofType(first.resources, "kubernetes:apps/v1:Deployment")).toHaveLength(0);
    expect(ofType(first.resources, "aws:lambda/function:Function")).toHaveLength(1);
    expect(ofType(first.resources, "aws:ecr/repository:Repository")).toHaveLength(1);
    expect(ofType(first.resources, "kubernetes:core/v1:Service")).toHaveLength(1);
  });

  it("exports exactly the outputs the operations commands read, with the stack's names", async () => {
    const outputs = run.value as unknown as Record<string, unknown>;
    expect(Object.keys(outputs).sort()).toEqual([...STACK_OUTPUT_NAMES].sort());
    const values: Record<string, unknown> = {};
    for (const key of STACK_OUTPUT_NAMES) values[key] = await run.resolve(outputs[key]);
    const config = stackFileConfig(stack);
    expect(values).toMatchObject({
      functionName: config["co-intelligence:functionName"],
      functionArn: `arn:aws:lambda:us-east-1:${ACCOUNT_ID}:function:${config["co-intelligence:functionName"]}`,
      repositoryName: config["co-intelligence:repositoryName"],
      repositoryUrl: `${ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/${config["co-intelligence:repositoryName"]}`,
      namespace: "co-intelligence",
      serviceName: "backend",
      deploymentName: "backend",
      region: "us-east-1",
    });
    expect(values.invokeRoleArn).toMatch(/^arn:aws:iam::123456789012:role\//);
    expect(String(values.invokeRoleArn)).toContain(String(values.invokeRoleName));
  });
});

describe("the stack files", () => {
  it("differ only in commented keys", () => {
    const dev = stackFileConfig("dev");
    const prod = stackFileConfig("prod");
    // The rolled-out image is a record `npm run rollout` writes (and CI commits), not a setting.
    const records = ["co-intelligence:image", "co-intelligence:previousImage"];
    const differing = Object.keys({ ...dev, ...prod }).filter(
      (key) => dev[key] !== prod[key] && !records.includes(key),
    );
    expect(differing.length).toBeGreaterThan(0);
    for (const file of ["dev", "prod"]) {
      const lines = fs
        .readFileSync(path.join(__dirname, "..", "..", "stacks", `Pulumi.${file}.yaml`), "utf8")
        .split("\n");
      for (const key of differing) {
        const at = lines.findIndex((line) => line.trim().startsWith(`${key}:`));
        expect({ file, key, comment: lines[at - 1]?.trim().startsWith("# Differs") }).toEqual({
          file,
          key,
          comment: true,
        });
      }
    }
  });

  it("hold no Gemini key: the program refuses to run without it and says how to set it", async () => {
    expect(stackFileConfig("prod")["co-intelligence:geminiApiKey"]).toBeUndefined();
    await expect(runProgram("prod", {}, false)).rejects.toThrow(
      "pulumi config set --secret co-intelligence:geminiApiKey <key>",
    );
  });
});

describe("the model's permissions", () => {
  const bedrockPolicies = (resources: RegisteredResource[]) =>
    ofType(resources, "aws:iam/rolePolicy:RolePolicy").filter((p) =>
      JSON.stringify(p.inputs.policy).includes("bedrock:"),
    );

  it("with Gemini (the default) the backend's role gets no Bedrock permission at all", async () => {
    const { resources } = await runProgram("prod");
    expect(bedrockPolicies(resources)).toEqual([]);
  });

  it.each(["pod-identity", "irsa", "node-role"])(
    "with Bedrock (%s) the role the backend acts as may call exactly the configured model, and the pods start after it may",
    async (mode) => {
      const run = await runProgram("prod", {
        "co-intelligence:modelProvider": "bedrock",
        "co-intelligence:modelId": "amazon.nova-pro-v1:0",
        "co-intelligence:accessMode": mode,
        "co-intelligence:geminiApiKey": "",
      });
      const [policy] = bedrockPolicies(run.resources);
      expect(bedrockPolicies(run.resources)).toHaveLength(1);
      const invokeRole = await run.resolve<string>(
        (run.value as unknown as Record<string, unknown>).invokeRoleName,
      );
      expect(String(policy!.inputs.role)).toContain(mode === "node-role" ? invokeRole : "invoke-role");
      expect(policyOf(policy!.inputs.policy).Statement).toEqual([
        {
          Sid: "InvokeTheConfiguredModel",
          Effect: "Allow",
          Action: "bedrock:InvokeModelWithResponseStream",
          Resource: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
        },
      ]);
      const deployment = oneOf(run.resources, "kubernetes:apps/v1:Deployment");
      expect(deployment.dependsOn).toContain("bedrock");
      const env = deployment.inputs.spec.template.spec.containers[0].env as {
        name: string;
        value?: string;
      }[];
      expect(env).toEqual(
        expect.arrayContaining([
          { name: "MODEL_PROVIDER", value: "bedrock" },
          { name: "MODEL_ID", value: "amazon.nova-pro-v1:0" },
        ]),
      );
      expect(JSON.stringify(env)).not.toContain("GEMINI_API_KEY");
      const outputs = run.value as unknown as Record<string, unknown>;
      expect(await run.resolve(outputs.modelProvider)).toBe("bedrock");
      expect(await run.resolve(outputs.modelId)).toBe("amazon.nova-pro-v1:0");
    },
  );
});

describe("adopting the original setup (stacks/adopt-original.json for pulumi import)", () => {
  const importFile = JSON.parse(
    fs.readFileSync(path.join(__dirname, "..", "..", "stacks", "adopt-original.json"), "utf8"),
  ) as { resources: { type: string; name: string; id?: string; parent?: string; component?: boolean }[] };

  it("names the function, the node role policy and the repository exactly as the program declares them", async () => {
    const { resources } = await runProgram("prod", { "co-intelligence:accessMode": "node-role" });
    for (const entry of importFile.resources) {
      const declared = resources.find((r) => r.type === entry.type && r.name === entry.name);
      expect({ entry: entry.name, declared: declared !== undefined, parent: declared?.parent }).toEqual({
        entry: entry.name,
        declared: true,
        parent: entry.parent,
      });
    }
    expect(importFile.resources.filter((r) => !r.component).map((r) => r.id)).toEqual([
      "co-intelligence-code-executor",
      "co-intelligence-eks-node-role:LambdaInvokePolicy",
      "co-intelligence-backend",
    ]);
  });
});

describe("under the plainest mocks (state = inputs, invokes echo their inputs)", () => {
  it.each(["dev", "prod"])("the %s stack still registers its whole graph", async (stack) => {
    const { config, secretKeys } = stackConfigWithSecrets(stack);
    const plain = await runPulumi({
      stack,
      config: { ...config, "co-intelligence:image": ROLLED_OUT, "co-intelligence:previousImage": PREVIOUS },
      secretKeys,
      echoMocks: true,
      program: () => require("../../index") as Program, // eslint-disable-line @typescript-eslint/no-require-imports
    });
    const full = await runProgram(stack);
    const count = (resources: RegisteredResource[]) =>
      resources.reduce<Record<string, number>>(
        (counts, r) => ({ ...counts, [r.type]: (counts[r.type] ?? 0) + 1 }),
        {},
      );
    expect(count(plain.resources)).toEqual(count(full.resources));
    const zones = ofType(plain.resources, "aws:ec2/subnet:Subnet").map((s) => s.inputs.availabilityZone);
    expect(new Set(zones).size).toBe(2);
  });
});

describe("tags in every shape of the program", () => {
  it("knows which AWS types take tags from @pulumi/aws itself", () => {
    expect(awsTypeTakesTags("aws:ec2/vpc:Vpc")).toBe(true);
    expect(awsTypeTakesTags("aws:eks/podIdentityAssociation:PodIdentityAssociation")).toBe(true);
    expect(awsTypeTakesTags("aws:iam/rolePolicy:RolePolicy")).toBe(false);
    expect(awsTypeTakesTags("aws:ec2/routeTableAssociation:RouteTableAssociation")).toBe(false);
    expect(awsTypeTakesTags("aws:ecr/lifecyclePolicy:LifecyclePolicy")).toBe(false);
  });

  it.each([
    ["irsa", { "co-intelligence:accessMode": "irsa" }],
    ["node-role", { "co-intelligence:accessMode": "node-role" }],
    [
      "existing subnets",
      { "co-intelligence:subnetIds": '["subnet-a","subnet-b"]', "co-intelligence:vpcId": "vpc-1" },
    ],
  ])("%s: every taggable AWS resource still carries project, stack and component", async (_, overrides) => {
    const { resources } = await runProgram("dev", overrides);
    expectTagsEverywhere(resources, "dev");
  });
});

describe("the program's other access modes", () => {
  it("irsa: a role trusting the cluster's OIDC provider for co-intelligence/backend, set on the service account", async () => {
    const { resources } = await runProgram("dev", { "co-intelligence:accessMode": "irsa" });
    const issuer = OIDC_ISSUER.replace("https://", "");
    const trusts = ofType(resources, "aws:iam/role:Role").flatMap(
      (r) => policyOf(r.inputs.assumeRolePolicy).Statement,
    );
    const invokeRole = trusts.find((s) => JSON.stringify(s).includes("oidc-provider"));
    expect(invokeRole?.Condition).toEqual({
      StringEquals: {
        [`${issuer}:sub`]: "system:serviceaccount:co-intelligence:backend",
        [`${issuer}:aud`]: "sts.amazonaws.com",
      },
    });
    const sa = oneOf(resources, "kubernetes:core/v1:ServiceAccount").inputs.metadata;
    expect(sa.annotations["eks.amazonaws.com/role-arn"]).toMatch(/^arn:aws:iam::123456789012:role\//);
    expect(ofType(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation")).toHaveLength(0);
  });

  it("node-role: LambdaInvokePolicy on co-intelligence-eks-node-role, and no invoke role ARN output", async () => {
    const run = await runProgram("prod", { "co-intelligence:accessMode": "node-role" });
    const policy = ofType(run.resources, "aws:iam/rolePolicy:RolePolicy").find(
      (p) => p.inputs.name === "LambdaInvokePolicy",
    );
    expect(policy?.inputs.role).toBe("co-intelligence-eks-node-role");
    const outputs = run.value as unknown as Record<string, unknown>;
    expect(await run.resolve(outputs.invokeRoleName)).toBe("co-intelligence-eks-node-role");
    expect(await run.resolve(outputs.invokeRoleArn)).toBeUndefined();
  });

  it("a changed allow-list or limit reaches the function and the backend alike", async () => {
    const { resources } = await runProgram("dev", {
      "co-intelligence:allowedModules": JSON.stringify(["math", "statistics"]),
      "co-intelligence:sandboxTimeoutMs": "10000",
    });
    const fn = oneOf(resources, "aws:lambda/function:Function").inputs;
    expect(fn.environment.variables).toMatchObject({
      SANDBOX_ALLOWED_MODULES: "math,statistics",
      SANDBOX_TIMEOUT_MS: "10000",
    });
    expect(fn.timeout).toBeGreaterThan(10);
    const env = oneOf(resources, "kubernetes:apps/v1:Deployment").inputs.spec.template.spec.containers[0].env;
    expect(env).toEqual(
      expect.arrayContaining([
        { name: "SANDBOX_ALLOWED_MODULES", value: "math,statistics" },
        { name: "SANDBOX_TIMEOUT_MS", value: "10000" },
      ]),
    );
  });

  it("existing subnets: the function joins them with a new rule-less security group, and no VPC is created", async () => {
    const { resources } = await runProgram("prod", {
      "co-intelligence:subnetIds": JSON.stringify(["subnet-a", "subnet-b"]),
      "co-intelligence:vpcId": "vpc-original",
    });
    for (const type of ["aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/routeTable:RouteTable"])
      expect({ type, count: ofType(resources, type).length }).toEqual({ type, count: 0 });
    const sg = oneOf(resources, "aws:ec2/securityGroup:SecurityGroup");
    expect(sg.inputs).toMatchObject({ vpcId: "vpc-original", ingress: [], egress: [] });
    expect(oneOf(resources, "aws:lambda/function:Function").inputs.vpcConfig).toEqual({
      subnetIds: ["subnet-a", "subnet-b"],
      securityGroupIds: [`${sg.name}-id`],
    });
  });

  it("keeps the function when code execution is switched off, and tells the backend", async () => {
    const { resources } = await runProgram("dev", { "co-intelligence:codeExecutionEnabled": "false" });
    expect(ofType(resources, "aws:lambda/function:Function")).toHaveLength(1);
    const env = oneOf(resources, "kubernetes:apps/v1:Deployment").inputs.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: "CODE_EXECUTION_ENABLED", value: "false" });
  });
});
