// SandboxFunction and IsolatedNetwork under Pulumi's mocks: the function's package, settings
// and permissions, and a network with no way out.
import { oneOf, ofType, policyOf, runPulumi, TAGS, RegisteredResource } from "./pulumi-harness";

type SandboxModule = typeof import("../../components/sandbox-function");

function sandboxFunction(
  args: Partial<import("../../components/sandbox-function").SandboxFunctionArgs> = {},
) {
  return runPulumi({
    program: () => {
      const { SandboxFunction } = require("../../components/sandbox-function") as SandboxModule; // eslint-disable-line @typescript-eslint/no-require-imports
      return new SandboxFunction("sandbox", { tags: TAGS, ...args });
    },
  });
}

const lambdaOf = (resources: RegisteredResource[]) => oneOf(resources, "aws:lambda/function:Function").inputs;

describe("SandboxFunction defaults", () => {
  let resources: RegisteredResource[];
  beforeAll(async () => {
    ({ resources } = await sandboxFunction());
  });

  it("creates co-intelligence-code-executor on Python 3.13, arm64, 512 MB, with handler handler.handler", () => {
    const fn = lambdaOf(resources);
    expect(fn.name).toBe("co-intelligence-code-executor");
    expect(fn.runtime).toBe("python3.13");
    expect(fn.architectures).toEqual(["arm64"]);
    expect(fn.memorySize).toBe(512);
    expect(fn.handler).toBe("handler.handler");
  });

  it("times the function out a little after the sandbox's own 30 s limit", () => {
    const fn = lambdaOf(resources);
    expect(fn.timeout).toBeGreaterThan(30);
    expect(fn.timeout).toBeLessThanOrEqual(40);
  });

  it("passes the contract's SANDBOX_* defaults, with user memory a little under the function's", () => {
    const vars = lambdaOf(resources).environment.variables;
    expect(vars.SANDBOX_ALLOWED_MODULES).toBe(
      "math,json,datetime,random,statistics,re,collections,itertools,string,decimal,fractions,uuid,hashlib,base64,textwrap",
    );
    expect(vars.SANDBOX_TIMEOUT_MS).toBe("30000");
    expect(vars.SANDBOX_MAX_OUTPUT_BYTES).toBe("65536");
    expect(Number(vars.SANDBOX_MEMORY_MB)).toBeLessThan(512);
    expect(Number(vars.SANDBOX_MEMORY_MB)).toBeGreaterThanOrEqual(384);
  });

  it("leaves reserved concurrency unset (young accounts reject any reservation)", () => {
    expect(lambdaOf(resources).reservedConcurrentExecutions).toBeUndefined();
  });

  it("logs to its own new log group with a retention, through the function's logging config", () => {
    const group = oneOf(resources, "aws:cloudwatch/logGroup:LogGroup").inputs;
    expect(group.name).toBe("/co-intelligence/test/sandbox");
    expect(group.name.startsWith("/aws/lambda/")).toBe(false);
    expect(group.retentionInDays).toBe(30);
    expect(lambdaOf(resources).loggingConfig.logGroup).toBe("/co-intelligence/test/sandbox");
  });

  it("has no resource policy, no function URL and no event source: nothing but IAM can invoke it", () => {
    for (const type of [
      "aws:lambda/permission:Permission",
      "aws:lambda/functionUrl:FunctionUrl",
      "aws:lambda/eventSourceMapping:EventSourceMapping",
    ]) {
      expect(ofType(resources, type)).toHaveLength(0);
    }
  });

  it("lets its role write only to its own log group, plus the five ENI actions on *", () => {
    const statements = policyOf(oneOf(resources, "aws:iam/rolePolicy:RolePolicy").inputs.policy).Statement;
    const groupArn = "arn:aws:logs:us-east-1:123456789012:log-group:/co-intelligence/test/sandbox";
    const logs = statements.find((s) => [s.Action].flat().some((a) => a.startsWith("logs:")))!;
    expect([logs.Action].flat().sort()).toEqual(["logs:CreateLogStream", "logs:PutLogEvents"]);
    expect([logs.Resource].flat()).toEqual([groupArn, `${groupArn}:*`]);
    const ec2 = statements.find((s) => [s.Action].flat().some((a) => a.startsWith("ec2:")))!;
    expect([ec2.Action].flat().sort()).toEqual([
      "ec2:AssignPrivateIpAddresses",
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:UnassignPrivateIpAddresses",
    ]);
    expect(ec2.Resource).toBe("*");
    expect(statements).toHaveLength(2);
    expect(statements.every((s) => s.Effect === "Allow")).toBe(true);
  });

  it("has a role only Lambda can assume", () => {
    const trust = policyOf(oneOf(resources, "aws:iam/role:Role").inputs.assumeRolePolicy).Statement;
    expect(trust).toEqual([
      { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
    ]);
    expect(ofType(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")).toHaveLength(0);
  });

  it("attaches to two private subnets and the rule-less security group of its isolated VPC", () => {
    const vpcConfig = lambdaOf(resources).vpcConfig;
    const subnets = ofType(resources, "aws:ec2/subnet:Subnet");
    expect(subnets).toHaveLength(2);
    expect(vpcConfig.subnetIds.sort()).toEqual(subnets.map((s) => `${s.name}-id`).sort());
    expect(vpcConfig.securityGroupIds).toEqual([
      `${oneOf(resources, "aws:ec2/securityGroup:SecurityGroup").name}-id`,
    ]);
  });

  it("refuses egress: the function's security group has no egress rule (and no ingress)", () => {
    const sg = oneOf(resources, "aws:ec2/securityGroup:SecurityGroup").inputs;
    // Explicitly empty, not absent: AWS adds an allow-all egress rule otherwise.
    expect(sg.egress).toEqual([]);
    expect(sg.ingress).toEqual([]);
    expect(ofType(resources, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")).toHaveLength(0);
    expect(ofType(resources, "aws:ec2/securityGroupRule:SecurityGroupRule")).toHaveLength(0);
  });

  it("closes the VPC's default security group and default network ACL", () => {
    const defaultSg = oneOf(resources, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs;
    expect(defaultSg.ingress).toEqual([]);
    expect(defaultSg.egress).toEqual([]);
    const acl = oneOf(resources, "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl").inputs;
    expect(acl.ingress).toEqual([]);
    expect(acl.egress).toEqual([]);
  });

  it("switches DNS resolution off in the VPC so lookups cannot carry data out", () => {
    const vpc = oneOf(resources, "aws:ec2/vpc:Vpc").inputs;
    expect(vpc.enableDnsSupport).toBe(false);
    expect(vpc.enableDnsHostnames).toBe(false);
  });

  it("creates no internet, NAT or egress-only gateway, no VPC endpoint and no route", () => {
    for (const type of [
      "aws:ec2/internetGateway:InternetGateway",
      "aws:ec2/natGateway:NatGateway",
      "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
      "aws:ec2/vpcEndpoint:VpcEndpoint",
      "aws:ec2/route:Route",
      "aws:ec2/eip:Eip",
      "aws:ec2/transitGatewayVpcAttachment:TransitGatewayVpcAttachment",
      "aws:ec2/vpcPeeringConnection:VpcPeeringConnection",
    ]) {
      expect(ofType(resources, type)).toHaveLength(0);
    }
  });

  it("associates every subnet explicitly with a route table that has no route (no default route)", () => {
    const table = oneOf(resources, "aws:ec2/routeTable:RouteTable");
    expect(table.inputs.routes).toEqual([]);
    expect(oneOf(resources, "aws:ec2/defaultRouteTable:DefaultRouteTable").inputs.routes).toEqual([]);
    const associations = ofType(resources, "aws:ec2/routeTableAssociation:RouteTableAssociation");
    const subnets = ofType(resources, "aws:ec2/subnet:Subnet");
    expect(associations.map((a) => a.inputs.subnetId).sort()).toEqual(
      subnets.map((s) => `${s.name}-id`).sort(),
    );
    expect(associations.every((a) => a.inputs.routeTableId === `${table.name}-id`)).toBe(true);
  });

  it("spreads the subnets over distinct availability zones, with no public IPs", () => {
    const subnets = ofType(resources, "aws:ec2/subnet:Subnet").map((s) => s.inputs);
    expect(new Set(subnets.map((s) => s.availabilityZone)).size).toBe(2);
    expect(subnets.every((s) => s.mapPublicIpOnLaunch === false)).toBe(true);
    expect(subnets.map((s) => s.cidrBlock)).toEqual(["10.42.0.0/20", "10.42.16.0/20"]);
  });

  it("tags every taggable resource with project, stack and component", () => {
    const untaggable = new Set([
      "aws:iam/rolePolicy:RolePolicy",
      "aws:ec2/routeTableAssociation:RouteTableAssociation",
    ]);
    const aws = resources.filter((r) => r.type.startsWith("aws:") && !untaggable.has(r.type));
    expect(aws.length).toBeGreaterThan(8);
    for (const r of aws) {
      expect({ type: r.type, tags: r.inputs.tags }).toEqual({
        type: r.type,
        tags: expect.objectContaining({
          project: "co-intelligence",
          stack: "test",
          component: expect.any(String),
        }),
      });
    }
  });
});

describe("SandboxFunction options", () => {
  it("uses existing subnets with a new rule-less security group in their VPC, and creates no VPC", async () => {
    const { resources } = await sandboxFunction({ subnetIds: ["subnet-a", "subnet-b"], vpcId: "vpc-1" });
    expect(ofType(resources, "aws:ec2/vpc:Vpc")).toHaveLength(0);
    const sg = oneOf(resources, "aws:ec2/securityGroup:SecurityGroup").inputs;
    expect(sg).toMatchObject({ vpcId: "vpc-1", egress: [], ingress: [] });
    expect(lambdaOf(resources).vpcConfig.subnetIds).toEqual(["subnet-a", "subnet-b"]);
  });

  it("uses given security groups as they are", async () => {
    const { resources } = await sandboxFunction({ subnetIds: ["subnet-a"], securityGroupIds: ["sg-1"] });
    expect(ofType(resources, "aws:ec2/securityGroup:SecurityGroup")).toHaveLength(0);
    expect(lambdaOf(resources).vpcConfig.securityGroupIds).toEqual(["sg-1"]);
  });

  it("passes configured limits and a reserved concurrency through", async () => {
    const { resources } = await sandboxFunction({
      memoryMb: 1024,
      allowedModules: ["math", "json"],
      sandboxTimeoutMs: 10000,
      timeoutSeconds: 15,
      reservedConcurrency: 5,
    });
    const fn = lambdaOf(resources);
    expect(fn.reservedConcurrentExecutions).toBe(5);
    expect(fn.timeout).toBe(15);
    expect(fn.environment.variables).toMatchObject({
      SANDBOX_ALLOWED_MODULES: "math,json",
      SANDBOX_TIMEOUT_MS: "10000",
      SANDBOX_MEMORY_MB: "960",
    });
  });

  it("refuses reserved concurrency 0, which would disable the function", async () => {
    await expect(sandboxFunction({ reservedConcurrency: 0 })).rejects.toThrow(/would disable the function/);
  });

  it("refuses a function timeout that does not outlast the sandbox limit", async () => {
    await expect(sandboxFunction({ timeoutSeconds: 30 })).rejects.toThrow(/must exceed the sandbox limit/);
  });
});

describe("the deployment package", () => {
  const { sandboxPackageFiles } = jest.requireActual<SandboxModule>("../../components/sandbox-function");

  it("ships handler.py and the sandbox package, and nothing of lambda/local or byte-code caches", () => {
    const files = Object.keys(sandboxPackageFiles());
    expect(files).toContain("handler.py");
    expect(files).toContain("sandbox/__init__.py");
    expect(files).toContain("sandbox/config.py");
    expect(files.every((f) => f === "handler.py" || f.startsWith("sandbox/"))).toBe(true);
    expect(files.some((f) => f.includes("local") || f.includes("__pycache__") || f.endsWith(".pyc"))).toBe(
      false,
    );
  });
});
