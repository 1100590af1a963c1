// SandboxFunction and IsolatedNetwork under Pulumi's mocks: the function's package, settings
// and permissions, and a network with no way out.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  expectEveryTaggableAwsResourceTagged,
  oneOf,
  ofType,
  policyOf,
  runPulumi,
  taggableAwsResources,
  TAGS,
  RegisteredResource,
} from "./pulumi-harness";

const LAMBDA = path.join(__dirname, "..", "..", "lambda");

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

/** A resource by its name (the component's children are named `sandbox-...`). */
const named = (resources: RegisteredResource[], name: string) => {
  const found = resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}`);
  return found;
};

const FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:co-intelligence-code-executor";
const GROUP_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/co-intelligence/test/sandbox";
/** The request context of a call made with credentials from inside the execution environment. */
const FROM_INSIDE = { keys: { "lambda:SourceFunctionArn": FUNCTION_ARN } };
/** Lambda managing the function's network interfaces with the role: no source function ARN. */
const FROM_LAMBDA_SERVICE = { keys: {} };

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

  it("reserves 20 concurrent executions: a share of the account's concurrency, and a ceiling one client cannot lift", () => {
    expect(lambdaOf(resources).reservedConcurrentExecutions).toBe(20);
  });

  it("logs to its own new log group with a retention, through the function's logging config", () => {
    const group = named(resources, "sandbox-logs").inputs;
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

  it("lets Lambda manage the function's network interfaces, and denies them to credentials used inside the function", () => {
    const { evaluate } = jest.requireActual<typeof import("../../scripts/doctor/iam-policy")>(
      "../../scripts/doctor/iam-policy",
    );
    const policy = [
      { name: "execution", document: policyOf(named(resources, "sandbox-role-policy").inputs.policy) },
    ];
    const eni = [
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ];
    for (const action of eni) {
      expect({ action, lambda: evaluate(policy, action, "*", FROM_LAMBDA_SERVICE).decision }).toEqual({
        action,
        lambda: "allowed",
      });
      expect({ action, inside: evaluate(policy, action, "*", FROM_INSIDE).decision }).toEqual({
        action,
        inside: "explicitDeny",
      });
    }
    // What stolen credentials still reach: the function's own log group, nothing else.
    expect(evaluate(policy, "logs:PutLogEvents", `${GROUP_ARN}:log-stream:x`, FROM_INSIDE).decision).toBe(
      "allowed",
    );
    for (const [action, resource] of [
      ["logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/other:log-stream:x"],
      ["ec2:DescribeSubnets", "*"],
      ["ec2:CreateRoute", "*"],
      ["s3:GetObject", "arn:aws:s3:::anything/x"],
      ["lambda:InvokeFunction", FUNCTION_ARN],
    ])
      expect({ action, decision: evaluate(policy, action!, resource!, FROM_INSIDE).decision }).toEqual({
        action,
        decision: "implicitDeny",
      });
    const deny = policyOf(named(resources, "sandbox-role-policy").inputs.policy).Statement.find(
      (st) => st.Effect === "Deny",
    );
    // The documented key, with the operator that tests its presence.
    expect(deny?.Condition).toEqual({ Null: { "lambda:SourceFunctionArn": "false" } });
    expect([deny?.Action].flat().sort()).toEqual([...eni].sort());
  });

  it("lets its role write only to its own log group, plus the five ENI actions on *", () => {
    const statements = policyOf(named(resources, "sandbox-role-policy").inputs.policy).Statement.filter(
      (st) => st.Effect === "Allow",
    );
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
    const trust = policyOf(named(resources, "sandbox-role").inputs.assumeRolePolicy).Statement;
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

  it("has no IPv6 either (an egress-only gateway would have nothing to serve)", () => {
    expect(oneOf(resources, "aws:ec2/vpc:Vpc").inputs.assignGeneratedIpv6CidrBlock).toBeFalsy();
    expect(ofType(resources, "aws:ec2/vpcIpv6CidrBlockAssociation:VpcIpv6CidrBlockAssociation")).toHaveLength(
      0,
    );
    for (const subnet of ofType(resources, "aws:ec2/subnet:Subnet")) {
      expect(subnet.inputs.ipv6CidrBlock).toBeUndefined();
      expect(subnet.inputs.assignIpv6AddressOnCreation).toBe(false);
    }
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

  it("tags every taggable resource (per the @pulumi/aws schema) with project, stack and component", () => {
    expect(taggableAwsResources(resources).length).toBeGreaterThan(8);
    expectEveryTaggableAwsResourceTagged(resources, TAGS);
  });
});

describe("IsolatedNetwork zones", () => {
  it("spreads the subnets over the zones the region lists", async () => {
    const { resources } = await runPulumi({
      invokeAnswers: {
        "aws:index/getAvailabilityZones:getAvailabilityZones": { names: ["eu-west-1b", "eu-west-1c"] },
      },
      program: () => {
        const { SandboxFunction } = require("../../components/sandbox-function") as SandboxModule; // eslint-disable-line @typescript-eslint/no-require-imports
        return new SandboxFunction("sandbox", { tags: TAGS });
      },
    });
    expect(ofType(resources, "aws:ec2/subnet:Subnet").map((s) => s.inputs.availabilityZone)).toEqual([
      "eu-west-1b",
      "eu-west-1c",
    ]);
  });

  it("an answer without a zone list (a mock echoing its inputs) still gives distinct zones of the region", async () => {
    const { resources } = await runPulumi({
      config: { "aws:region": "eu-west-1" },
      invokeAnswers: { "aws:index/getAvailabilityZones:getAvailabilityZones": { state: "available" } },
      program: () => {
        const { SandboxFunction } = require("../../components/sandbox-function") as SandboxModule; // eslint-disable-line @typescript-eslint/no-require-imports
        return new SandboxFunction("sandbox", { tags: TAGS, availabilityZoneCount: 3 });
      },
    });
    expect(ofType(resources, "aws:ec2/subnet:Subnet").map((s) => s.inputs.availabilityZone)).toEqual([
      "eu-west-1a",
      "eu-west-1b",
      "eu-west-1c",
    ]);
    expect(lambdaOf(resources).vpcConfig.subnetIds).toHaveLength(3);
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
      SANDBOX_MEMORY_MB: "928",
    });
  });

  it("refuses reserved concurrency 0, which would disable the function", async () => {
    await expect(sandboxFunction({ reservedConcurrency: 0 })).rejects.toThrow(/would disable the function/);
  });

  it('reserves nothing only when told so explicitly: reservedConcurrency "none" (accounts limited to 10)', async () => {
    const { resources } = await sandboxFunction({ reservedConcurrency: "none" });
    expect(lambdaOf(resources).reservedConcurrentExecutions).toBeUndefined();
  });

  it("refuses a function timeout that does not outlast the sandbox limit", async () => {
    await expect(sandboxFunction({ timeoutSeconds: 30 })).rejects.toThrow(
      /timeoutSeconds must be more than the sandbox limit \(30000 ms\)/,
    );
  });
});

describe("the deployment package", () => {
  const { sandboxPackageFiles } = jest.requireActual<SandboxModule>("../../components/sandbox-function");

  /** The function's registered `code` archive: archive path -> file on disk. */
  async function registeredArchive(codeDir?: string): Promise<Record<string, string>> {
    const { resources } = await sandboxFunction(codeDir === undefined ? {} : { codeDir });
    const code = lambdaOf(resources).code as { assets: Promise<Record<string, { path: Promise<string> }>> };
    const assets = await code.assets;
    const files: Record<string, string> = {};
    for (const [archivePath, asset] of Object.entries(assets)) files[archivePath] = await asset.path;
    return files;
  }

  it("is registered as an archive of exactly lambda/ as git tracks it: the handler, the sandbox package and both native helper builds", async () => {
    const files = await registeredArchive();
    const tracked = spawnSync("git", ["ls-files", "--", "."], { cwd: LAMBDA, encoding: "utf8" });
    expect(tracked.status).toBe(0);
    const expected = tracked.stdout.split("\n").filter((line) => line !== "");
    expect(expected).toEqual(
      expect.arrayContaining([
        "handler.py",
        "sandbox/__init__.py",
        "sandbox/native/aarch64/_sandbox_kernel.abi3.so",
        "sandbox/native/x86_64/_sandbox_kernel.abi3.so",
      ]),
    );
    expect(Object.keys(files).sort()).toEqual(expected.sort());
    for (const [archivePath, file] of Object.entries(files)) {
      expect({ archivePath, file }).toEqual({ archivePath, file: path.join(LAMBDA, archivePath) });
    }
  });

  it("leaves out byte-code caches, hidden files and anything that is neither Python source nor a helper build", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-code-"));
    try {
      fs.mkdirSync(path.join(dir, "sandbox", "__pycache__"), { recursive: true });
      fs.mkdirSync(path.join(dir, ".idea"));
      fs.writeFileSync(path.join(dir, "handler.py"), "def handler(event, context):\n    return {}\n");
      fs.writeFileSync(path.join(dir, "sandbox", "__init__.py"), "");
      fs.writeFileSync(path.join(dir, "sandbox", "__pycache__", "__init__.cpython-311.pyc"), "x");
      fs.writeFileSync(path.join(dir, "sandbox", "notes.md"), "x");
      fs.writeFileSync(path.join(dir, ".env"), "AWS_SECRET_ACCESS_KEY=x");
      fs.writeFileSync(path.join(dir, ".idea", "workspace.py"), "x");
      for (const arch of ["aarch64", "x86_64"]) {
        fs.mkdirSync(path.join(dir, "sandbox", "native", arch), { recursive: true });
        fs.writeFileSync(path.join(dir, "sandbox", "native", arch, "_sandbox_kernel.abi3.so"), "x");
      }
      expect(Object.keys(await registeredArchive(dir)).sort()).toEqual([
        "handler.py",
        "sandbox/__init__.py",
        "sandbox/native/aarch64/_sandbox_kernel.abi3.so",
        "sandbox/native/x86_64/_sandbox_kernel.abi3.so",
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs on its own: the archive's files alone answer print(25 * 47) through handler.handler", async () => {
    const files = await registeredArchive();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-unzipped-"));
    try {
      for (const [archivePath, file] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, archivePath)), { recursive: true });
        fs.copyFileSync(file, path.join(dir, archivePath));
      }
      const result = spawnSync(
        "python3",
        [
          "-I",
          "-c",
          "import sys, json; sys.path.insert(0, '.'); import handler; " +
            "print(json.dumps(handler.handler({'code': 'print(25 * 47)'}, None)))",
        ],
        { cwd: dir, encoding: "utf8", timeout: 30000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
      );
      expect(result.status).toBe(0);
      const response = JSON.parse(result.stdout.trim().split("\n").pop()!);
      expect(response).toMatchObject({ ok: true, stdout: "1175\n", error: null });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(["aarch64", "x86_64"])(
    "fails the program with the build command when the %s native helper is missing",
    (missing) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-code-"));
      try {
        fs.writeFileSync(path.join(dir, "handler.py"), "");
        for (const arch of ["aarch64", "x86_64"].filter((a) => a !== missing)) {
          fs.mkdirSync(path.join(dir, "sandbox", "native", arch), { recursive: true });
          fs.writeFileSync(path.join(dir, "sandbox", "native", arch, "_sandbox_kernel.abi3.so"), "x");
        }
        expect(() => sandboxPackageFiles(dir)).toThrow(`bash native/build.sh ${missing}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe("the sandbox network's flow logs (Security Hub EC2.6)", () => {
  it("logs the isolated VPC's rejected traffic into a group kept as long as the function's logs", async () => {
    const { resources } = await sandboxFunction({ logRetentionDays: 90 });
    const flow = oneOf(resources, "aws:ec2/flowLog:FlowLog");
    const vpc = oneOf(resources, "aws:ec2/vpc:Vpc");
    expect(flow.inputs).toMatchObject({
      vpcId: `${vpc.name}-id`,
      trafficType: "REJECT",
      logDestinationType: "cloud-watch-logs",
    });
    const group = resources.find((r) => r.name === "sandbox-flow-logs-logs")!;
    expect(flow.inputs.logDestination).toBe(
      `arn:aws:logs:us-east-1:123456789012:log-group:${group.inputs.name}`,
    );
    expect(group.inputs.retentionInDays).toBe(90);
    expect(named(resources, "sandbox-logs").inputs.retentionInDays).toBe(90);
  });

  it("delivers them with a role only this account's flow logs can assume, writing only that group", async () => {
    const { evaluate } = jest.requireActual<typeof import("../../scripts/doctor/iam-policy")>(
      "../../scripts/doctor/iam-policy",
    );
    const { resources } = await sandboxFunction();
    const flow = oneOf(resources, "aws:ec2/flowLog:FlowLog");
    const role = resources.find(
      (r) => r.type === "aws:iam/role:Role" && flow.inputs.iamRoleArn.endsWith(r.name),
    )!;
    const trust = [{ name: "trust", document: policyOf(role.inputs.assumeRolePolicy) }];
    const roleArn = flow.inputs.iamRoleArn;
    const service = { Service: "vpc-flow-logs.amazonaws.com" };
    const ours = {
      "aws:SourceAccount": "123456789012",
      "aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-1",
    };
    expect(evaluate(trust, "sts:AssumeRole", roleArn, { principal: service, keys: ours }).decision).toBe(
      "allowed",
    );
    const otherAccount = {
      "aws:SourceAccount": "999999999999",
      "aws:SourceArn": "arn:aws:ec2:us-east-1:999999999999:vpc-flow-log/fl-1",
    };
    expect(
      evaluate(trust, "sts:AssumeRole", roleArn, { principal: service, keys: otherAccount }).decision,
    ).toBe("implicitDeny");
    expect(
      evaluate(trust, "sts:AssumeRole", roleArn, {
        principal: { Service: "lambda.amazonaws.com" },
        keys: ours,
      }).decision,
    ).toBe("implicitDeny");
    const delivery = [
      {
        name: "delivery",
        document: policyOf(resources.find((r) => r.name === "sandbox-flow-logs-role-policy")!.inputs.policy),
      },
    ];
    const group = "arn:aws:logs:us-east-1:123456789012:log-group:/co-intelligence/test/sandbox-flow-logs";
    expect(evaluate(delivery, "logs:PutLogEvents", `${group}:log-stream:eni-1`).decision).toBe("allowed");
    expect(evaluate(delivery, "logs:PutLogEvents", `${GROUP_ARN}:log-stream:x`).decision).toBe(
      "implicitDeny",
    );
  });

  it("logs each existing subnet the function joins (their VPC is someone else's)", async () => {
    const { resources } = await sandboxFunction({ subnetIds: ["subnet-a", "subnet-b"], vpcId: "vpc-1" });
    const flows = ofType(resources, "aws:ec2/flowLog:FlowLog").map((f) => f.inputs);
    expect(flows.map((f) => f.subnetId).sort()).toEqual(["subnet-a", "subnet-b"]);
    expect(flows.every((f) => f.vpcId === undefined && f.trafficType === "REJECT")).toBe(true);
  });

  it("keeps every flow when the stack asks for ALL", async () => {
    const { resources } = await sandboxFunction({ flowLogTraffic: "ALL" });
    expect(oneOf(resources, "aws:ec2/flowLog:FlowLog").inputs.trafficType).toBe("ALL");
  });
});
