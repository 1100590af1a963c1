// InvokeAccess under Pulumi's mocks: exactly one permission on exactly one function, in each
// of the three ways the backend's pods can hold it.
import { ACCOUNT_ID, OIDC_ISSUER, oneOf, ofType, policyOf, runPulumi, TAGS } from "./pulumi-harness";

type InvokeModule = typeof import("../../components/invoke-access");
type InvokeArgs = import("../../components/invoke-access").InvokeAccessArgs;

const FUNCTION_ARN = `arn:aws:lambda:us-east-1:${ACCOUNT_ID}:function:co-intelligence-code-executor`;
const ISSUER_HOST = OIDC_ISSUER.replace("https://", "");

function invokeAccess(args: Partial<InvokeArgs>) {
  return runPulumi({
    program: () => {
      const { InvokeAccess } = require("../../components/invoke-access") as InvokeModule; // eslint-disable-line @typescript-eslint/no-require-imports
      return new InvokeAccess("invoke", { tags: TAGS, functionArn: FUNCTION_ARN, ...args });
    },
  });
}

function expectInvokeOnlyThisFunction(policyInput: unknown): void {
  const statements = policyOf(policyInput).Statement;
  expect(statements).toHaveLength(1);
  expect(statements[0]).toMatchObject({
    Effect: "Allow",
    Action: "lambda:InvokeFunction",
    Resource: FUNCTION_ARN,
  });
  expect(JSON.stringify(statements)).not.toContain("*");
}

describe("InvokeAccess in pod-identity mode (the default)", () => {
  it("creates a role only EKS Pod Identity can assume, allowed only to invoke this function", async () => {
    const { resources } = await invokeAccess({ clusterName: "co-intelligence-eks" });
    const trust = policyOf(oneOf(resources, "aws:iam/role:Role").inputs.assumeRolePolicy).Statement;
    expect(trust).toHaveLength(1);
    expect(trust[0]).toMatchObject({
      Effect: "Allow",
      Principal: { Service: "pods.eks.amazonaws.com" },
      Action: ["sts:AssumeRole", "sts:TagSession"],
    });
    const policy = oneOf(resources, "aws:iam/rolePolicy:RolePolicy");
    expect(policy.inputs.role).toBe(`${oneOf(resources, "aws:iam/role:Role").name}-id`);
    expectInvokeOnlyThisFunction(policy.inputs.policy);
  });

  it("binds the role to the backend's namespace and service account in the cluster", async () => {
    const { resources } = await invokeAccess({
      clusterName: "co-intelligence-eks",
      namespace: "chat",
      serviceAccountName: "api",
    });
    const association = oneOf(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs;
    expect(association).toMatchObject({
      clusterName: "co-intelligence-eks",
      namespace: "chat",
      serviceAccount: "api",
    });
    expect(association.roleArn).toMatch(/^arn:aws:iam::123456789012:role\//);
    expect(association.tags).toMatchObject({ component: "invoke-access" });
  });

  it("returns the role ARN and needs no service account annotation", async () => {
    const run = await invokeAccess({ clusterName: "co-intelligence-eks" });
    expect(await run.resolve(run.value.roleArn)).toMatch(/^arn:aws:iam::123456789012:role\//);
    expect(await run.resolve(run.value.serviceAccountAnnotations)).toEqual({});
  });
});

describe("InvokeAccess in irsa mode", () => {
  it("trusts only the cluster's OIDC provider for system:serviceaccount:<ns>:<sa>, audience STS", async () => {
    const { resources } = await invokeAccess({
      mode: "irsa",
      oidcIssuerUrl: OIDC_ISSUER,
      namespace: "co-intelligence",
      serviceAccountName: "backend",
    });
    const trust = policyOf(oneOf(resources, "aws:iam/role:Role").inputs.assumeRolePolicy).Statement;
    expect(trust).toEqual([
      {
        Effect: "Allow",
        Principal: { Federated: `arn:aws:iam::${ACCOUNT_ID}:oidc-provider/${ISSUER_HOST}` },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${ISSUER_HOST}:sub`]: "system:serviceaccount:co-intelligence:backend",
            [`${ISSUER_HOST}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ]);
    expectInvokeOnlyThisFunction(oneOf(resources, "aws:iam/rolePolicy:RolePolicy").inputs.policy);
    expect(ofType(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation")).toHaveLength(0);
  });

  it("annotates the service account with the role ARN", async () => {
    const run = await invokeAccess({ mode: "irsa", oidcIssuerUrl: OIDC_ISSUER });
    const annotations = await run.resolve<Record<string, string>>(run.value.serviceAccountAnnotations);
    expect(annotations["eks.amazonaws.com/role-arn"]).toMatch(/^arn:aws:iam::123456789012:role\//);
  });
});

describe("InvokeAccess in node-role mode (the original setup, least safe)", () => {
  it("puts inline policy LambdaInvokePolicy on co-intelligence-eks-node-role and creates no role", async () => {
    const run = await invokeAccess({ mode: "node-role" });
    const policy = oneOf(run.resources, "aws:iam/rolePolicy:RolePolicy").inputs;
    expect(policy.name).toBe("LambdaInvokePolicy");
    expect(policy.role).toBe("co-intelligence-eks-node-role");
    expectInvokeOnlyThisFunction(policy.policy);
    expect(ofType(run.resources, "aws:iam/role:Role")).toHaveLength(0);
    expect(await run.resolve(run.value.roleName)).toBe("co-intelligence-eks-node-role");
    expect(await run.resolve(run.value.roleArn)).toBeUndefined();
  });
});

describe("InvokeAccess refusals", () => {
  it("refuses pod-identity without a cluster name", async () => {
    await expect(invokeAccess({ mode: "pod-identity" })).rejects.toThrow(/pod-identity needs clusterName/);
  });

  it("refuses irsa without the cluster's OIDC issuer", async () => {
    await expect(invokeAccess({ mode: "irsa" })).rejects.toThrow(/irsa needs oidcIssuerUrl/);
  });
});

describe("the Pod Identity trust, evaluated against the requests EKS Pod Identity makes", () => {
  const { evaluate } = jest.requireActual<typeof import("../../scripts/doctor/iam-policy")>(
    "../../scripts/doctor/iam-policy",
  );
  const CLUSTER_ARN = "arn:aws:eks:us-east-1:123456789012:cluster/co-intelligence-eks";
  /** The session tags the service sets on every session (EKS user guide's list), as request tags. */
  const request = (overrides: Record<string, string> = {}) => ({
    principal: { Service: "pods.eks.amazonaws.com" },
    keys: {
      "aws:RequestTag/eks-cluster-arn": CLUSTER_ARN,
      "aws:RequestTag/eks-cluster-name": "co-intelligence-eks",
      "aws:RequestTag/kubernetes-namespace": "co-intelligence",
      "aws:RequestTag/kubernetes-service-account": "backend",
      "aws:RequestTag/kubernetes-pod-name": "backend-7d9f8b6c5d-x2x7k",
      "aws:RequestTag/kubernetes-pod-uid": "0b1d1d4e-7c2e-4f0a-9d53-2f7d4c3a9e11",
      "aws:SourceAccount": "123456789012",
      ...overrides,
    },
  });
  let trust: { name: string; document: ReturnType<typeof policyOf> }[];
  let roleArn: string;
  let association: Record<string, unknown>;
  beforeAll(async () => {
    const { resources } = await invokeAccess({ clusterName: "co-intelligence-eks" });
    const role = oneOf(resources, "aws:iam/role:Role");
    trust = [{ name: "trust", document: policyOf(role.inputs.assumeRolePolicy) }];
    roleArn = `arn:aws:iam::123456789012:role/${role.name}`;
    association = oneOf(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs;
  });

  it.each(["sts:AssumeRole", "sts:TagSession"])("lets the backend's own pods in: %s", (action) => {
    expect(evaluate(trust as never, action, roleArn, request()).decision).toBe("allowed");
  });

  it.each([
    ["another namespace", { "aws:RequestTag/kubernetes-namespace": "default" }],
    ["another service account", { "aws:RequestTag/kubernetes-service-account": "default" }],
    [
      "another cluster of the account",
      { "aws:RequestTag/eks-cluster-arn": CLUSTER_ARN.replace("co-intelligence-eks", "other") },
    ],
    [
      "the same cluster name in another account",
      { "aws:RequestTag/eks-cluster-arn": CLUSTER_ARN.replace("123456789012", "999999999999") },
    ],
  ])("keeps %s out", (_, overrides) => {
    expect(evaluate(trust as never, "sts:AssumeRole", roleArn, request(overrides)).decision).toBe(
      "implicitDeny",
    );
  });

  it("keeps out a session without the tags, and any other service", () => {
    expect(
      evaluate(trust as never, "sts:AssumeRole", roleArn, {
        principal: { Service: "pods.eks.amazonaws.com" },
        keys: {},
      }).decision,
    ).toBe("implicitDeny");
    expect(
      evaluate(trust as never, "sts:AssumeRole", roleArn, {
        ...request(),
        principal: { Service: "ec2.amazonaws.com" },
      }).decision,
    ).toBe("implicitDeny");
  });

  it("keeps the session tags on: the association may not disable what the trust reads", () => {
    expect(association.disableSessionTags).toBe(false);
  });
});
