import * as fs from "node:fs";
import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_ALLOWED_MODULES } from "../backend/config";
import { FlowLog } from "./flow-log";
import { IsolatedNetwork } from "./isolated-network";
import { BaseTags, componentTags } from "./tags";

/** The directory holding `handler.py` and the `sandbox/` package. */
export const LAMBDA_DIR = path.join(__dirname, "..", "lambda");

/** The sandbox Lambda, attached to a network it cannot leave. */
export interface SandboxFunctionArgs {
  /** Project and stack tags; `component: sandbox-function` is added. Required. */
  tags: BaseTags;
  /** Function name. Default: `co-intelligence-code-executor`. */
  name?: string;
  /** Function memory in MB. Default: 512. */
  memoryMb?: number;
  /** Function timeout in seconds; above the sandbox limit so a Timeout is answered. Default: 35. */
  timeoutSeconds?: number;
  /** `SANDBOX_ALLOWED_MODULES`. Default: the contract's 15 modules (the handler's own default). */
  allowedModules?: string[];
  /** `SANDBOX_TIMEOUT_MS`: user code's wall-clock limit. Default: 30000. */
  sandboxTimeoutMs?: number;
  /** `SANDBOX_MAX_OUTPUT_BYTES`: cap of stdout and of stderr. Default: 65536. */
  maxOutputBytes?: number;
  /** `SANDBOX_MEMORY_MB`: user code's memory cap. Default: memoryMb - 96 (room for the handler's process and the zygote). */
  sandboxMemoryMb?: number;
  /**
   * Reserved concurrency: the function's share of the account's concurrency and its ceiling.
   * Default: unset (the stack config's default is 20; new accounts limited to 10 cannot reserve
   * any, hence the component leaves it to the caller); 0 is refused.
   */
  reservedConcurrency?: number;
  /** VPC flow log records kept: `REJECT` or `ALL`. Default: `REJECT`. */
  flowLogTraffic?: "REJECT" | "ALL";
  /** Retention of the function's log group, in days. Default: 30. */
  logRetentionDays?: number;
  /** Name of the function's own log group. Default: `/co-intelligence/<stack>/sandbox`. */
  logGroupName?: string;
  /** Existing private subnets to attach to instead of a new isolated VPC. Default: unset. */
  subnetIds?: pulumi.Input<string>[];
  /** Security groups for existing subnets. Default: a new group with no rules in `vpcId`. */
  securityGroupIds?: pulumi.Input<string>[];
  /** VPC of `subnetIds`, where the closed security group is created. Default: unset. */
  vpcId?: pulumi.Input<string>;
  /** Address block of the isolated VPC. Default: `10.42.0.0/16`. */
  vpcCidr?: string;
  /** Availability zones (subnets) of the isolated VPC. Default: 2. */
  availabilityZoneCount?: number;
  /** Directory with `handler.py` and `sandbox/`. Default: this repository's `lambda/`. */
  codeDir?: string;
}

/**
 * The code execution sandbox: the Python handler of `lambda/` on Python 3.13/arm64, its
 * own log group, an execution role that can only write there and manage its ENIs, and no
 * network egress. It has no resource policy and no function URL: only principals granted
 * `lambda:InvokeFunction` (see InvokeAccess) can call it.
 */
export class SandboxFunction extends pulumi.ComponentResource {
  public readonly functionName: pulumi.Output<string>;
  public readonly functionArn: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;
  public readonly subnetIds: pulumi.Output<string[]>;
  public readonly securityGroupIds: pulumi.Output<string[]>;
  public readonly vpcId: pulumi.Output<string | undefined>;

  constructor(name: string, args: SandboxFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:SandboxFunction", name, {}, opts);
    const functionName = args.name ?? "co-intelligence-code-executor";
    const memoryMb = args.memoryMb ?? 512;
    const timeoutSeconds = args.timeoutSeconds ?? 35;
    const allowedModules = args.allowedModules ?? [...DEFAULT_ALLOWED_MODULES];
    const sandboxTimeoutMs = args.sandboxTimeoutMs ?? 30000;
    const maxOutputBytes = args.maxOutputBytes ?? 65536;
    const sandboxMemoryMb = args.sandboxMemoryMb ?? Math.max(64, memoryMb - 96);
    const reservedConcurrency = args.reservedConcurrency;
    const logRetentionDays = args.logRetentionDays ?? 30;
    const logGroupName = args.logGroupName ?? `/co-intelligence/${args.tags.stack}/sandbox`;
    const codeDir = args.codeDir ?? LAMBDA_DIR;
    const tags = componentTags(args.tags, "sandbox-function");

    if (reservedConcurrency !== undefined && reservedConcurrency < 1) {
      throw new Error(
        `SandboxFunction ${name}: reservedConcurrency ${reservedConcurrency} would disable the function ` +
          "(every invoke throttled); leave it unset or give a positive number",
      );
    }
    if (timeoutSeconds * 1000 <= sandboxTimeoutMs) {
      throw new Error(
        `SandboxFunction ${name}: timeoutSeconds (${timeoutSeconds}) must exceed the sandbox limit (${sandboxTimeoutMs} ms)`,
      );
    }
    if (sandboxMemoryMb >= memoryMb) {
      throw new Error(
        `SandboxFunction ${name}: sandboxMemoryMb (${sandboxMemoryMb}) must be below memoryMb (${memoryMb})`,
      );
    }

    // The network: an isolated VPC unless existing subnets are given.
    let subnetIds: pulumi.Output<string[]>;
    let securityGroupIds: pulumi.Output<string[]>;
    let vpcId: pulumi.Output<string | undefined>;
    let isolatedVpcId: pulumi.Output<string> | undefined;
    if (args.subnetIds === undefined) {
      const network = new IsolatedNetwork(
        `${name}-net`,
        { tags: args.tags, cidrBlock: args.vpcCidr, availabilityZoneCount: args.availabilityZoneCount },
        { parent: this },
      );
      subnetIds = pulumi.all(network.subnetIds);
      securityGroupIds = pulumi.all([network.securityGroupId]);
      vpcId = network.vpcId;
      isolatedVpcId = network.vpcId;
    } else {
      subnetIds = pulumi.all(args.subnetIds);
      vpcId = pulumi.output(args.vpcId);
      if (args.securityGroupIds !== undefined) {
        securityGroupIds = pulumi.all(args.securityGroupIds);
      } else {
        if (args.vpcId === undefined) {
          throw new Error(
            `SandboxFunction ${name}: subnetIds needs vpcId (for a closed security group) or securityGroupIds`,
          );
        }
        // Same rule as in the isolated network: explicit empty lists, or AWS adds allow-all egress.
        const securityGroup = new aws.ec2.SecurityGroup(
          `${name}-function-sg`,
          {
            vpcId: args.vpcId,
            description: "Sandbox function: no ingress, no egress",
            ingress: [],
            egress: [],
            revokeRulesOnDelete: true,
            tags: { ...tags, Name: `${name}-function` },
          },
          { parent: this },
        );
        securityGroupIds = pulumi.all([securityGroup.id]);
      }
    }

    // Evidence of what the function's network refused: the whole isolated VPC, or just the
    // existing subnets the function joins (their VPC belongs to someone else).
    new FlowLog(
      `${name}-flow-logs`,
      {
        tags: args.tags,
        ...(isolatedVpcId !== undefined ? { vpcId: isolatedVpcId } : { subnetIds: args.subnetIds }),
        trafficType: args.flowLogTraffic ?? "REJECT",
        retentionDays: logRetentionDays,
        logGroupName: `${logGroupName}-flow-logs`,
      },
      { parent: this },
    );

    // A new log group: the original setup's `/aws/lambda/<name>` group may already exist, and
    // creating that name would clash; the function's logging config points here instead.
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: logGroupName, retentionInDays: logRetentionDays, tags },
      { parent: this },
    );

    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `Execution role of the ${functionName} sandbox function`,
        assumeRolePolicy: pulumi.jsonStringify(lambdaTrustPolicy()),
        tags,
      },
      { parent: this },
    );
    const rolePolicy = new aws.iam.RolePolicy(
      `${name}-role-policy`,
      { role: role.id, policy: pulumi.jsonStringify(executionPolicy(logGroup.arn)) },
      { parent: this },
    );

    const fn = new aws.lambda.Function(
      `${name}-function`,
      {
        name: functionName,
        description: "Co-Intelligence code sandbox: runs model-written Python with no network",
        runtime: "python3.13",
        architectures: ["arm64"],
        handler: "handler.handler",
        code: sandboxCodeArchive(codeDir),
        memorySize: memoryMb,
        timeout: timeoutSeconds,
        role: role.arn,
        reservedConcurrentExecutions: reservedConcurrency,
        environment: {
          variables: sandboxEnvironment({
            allowedModules,
            sandboxTimeoutMs,
            maxOutputBytes,
            sandboxMemoryMb,
          }),
        },
        loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
        vpcConfig: { subnetIds, securityGroupIds },
        tags,
      },
      // The role's policy must exist before Lambda validates the ENI permissions at creation.
      { parent: this, dependsOn: [rolePolicy, logGroup] },
    );

    this.functionName = fn.name;
    this.functionArn = fn.arn;
    this.roleArn = role.arn;
    this.logGroupName = logGroup.name;
    this.subnetIds = subnetIds;
    this.securityGroupIds = securityGroupIds;
    this.vpcId = vpcId;
    this.registerOutputs({
      functionName: this.functionName,
      functionArn: this.functionArn,
      roleArn: this.roleArn,
      logGroupName: this.logGroupName,
      subnetIds: this.subnetIds,
      securityGroupIds: this.securityGroupIds,
      vpcId: this.vpcId,
    });
  }
}

/** The contract's SANDBOX_* variables, in the format lambda/sandbox/config.py parses. */
export function sandboxEnvironment(limits: {
  allowedModules: string[];
  sandboxTimeoutMs: number;
  maxOutputBytes: number;
  sandboxMemoryMb: number;
}): Record<string, string> {
  return {
    SANDBOX_ALLOWED_MODULES: limits.allowedModules.join(","),
    SANDBOX_TIMEOUT_MS: String(limits.sandboxTimeoutMs),
    SANDBOX_MAX_OUTPUT_BYTES: String(limits.maxOutputBytes),
    SANDBOX_MEMORY_MB: String(limits.sandboxMemoryMb),
  };
}

/**
 * The native helper builds (native/build.sh writes them into lambda/): the arm64 one is what
 * the function loads; the x86_64 one ships too, so that `lambda/` is exactly the archive and
 * the archive runs unchanged on either architecture.
 */
export const NATIVE_HELPERS = [
  "sandbox/native/aarch64/_sandbox_kernel.abi3.so",
  "sandbox/native/x86_64/_sandbox_kernel.abi3.so",
] as const;

/** What the function can use: Python source and the native helper's shared objects. */
const SHIPPED = /\.(py|so)$/;

/**
 * The files the function ships, by archive path: the Python sources and native helper builds
 * of `lambda/` (the handler, the `sandbox/` package, both helper builds). `lambda/` holds only
 * what ships (the local runtime lives in dev/, the helper's source in native/), so this is all
 * of it; byte-code caches, hidden files and anything else a developer leaves there stay out.
 */
export function sandboxPackageFiles(codeDir: string = LAMBDA_DIR): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs
      .readdirSync(dir, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith(".") || entry.name === "__pycache__") continue;
      if (entry.isDirectory()) walk(path.join(dir, entry.name), `${prefix}${entry.name}/`);
      else if (entry.isFile() && SHIPPED.test(entry.name))
        files[`${prefix}${entry.name}`] = path.join(dir, entry.name);
    }
  };
  walk(codeDir, "");
  for (const required of ["handler.py", ...NATIVE_HELPERS]) {
    if (files[required] === undefined) {
      const arch = /native\/(\w+)\//.exec(required)?.[1];
      throw new Error(
        `SandboxFunction: ${path.join(codeDir, required)} is missing; the function's code lives in lambda/` +
          (arch === undefined ? "" : ` (rebuild the helper with: bash native/build.sh ${arch})`),
      );
    }
  }
  return files;
}

/** The deployment package as an archive of exactly `sandboxPackageFiles()`. */
export function sandboxCodeArchive(codeDir: string = LAMBDA_DIR): pulumi.asset.AssetArchive {
  const assets: Record<string, pulumi.asset.Asset> = {};
  for (const [archivePath, filePath] of Object.entries(sandboxPackageFiles(codeDir))) {
    assets[archivePath] = new pulumi.asset.FileAsset(filePath);
  }
  return new pulumi.asset.AssetArchive(assets);
}

function lambdaTrustPolicy(): aws.iam.PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
    ],
  };
}

/**
 * The one key that tells the credentials' two users apart. Lambda adds it to every AWS call
 * made with the credentials inside the execution environment (and to the log writes it makes
 * for the function), but not to the EC2 calls that manage the function's network interfaces
 * (Lambda developer guide, "Using source function ARN to control function access behavior").
 */
export const SOURCE_FUNCTION_ARN_KEY = "lambda:SourceFunctionArn";

/**
 * Log writes on the function's own group, plus what Lambda needs to manage its VPC ENIs, and
 * a Deny of those ENI actions whenever the call carries `lambda:SourceFunctionArn`: Lambda's
 * own ENI management never does, code inside the function always does. Credentials stolen
 * from the function therefore reach nothing but its own log group.
 */
export function executionPolicy(logGroupArn: pulumi.Input<string>): pulumi.Input<aws.iam.PolicyDocument> {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "WriteOwnLogGroup",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: [logGroupArn, pulumi.interpolate`${logGroupArn}:*`],
      },
      {
        // Resource "*" on purpose, as the Lambda guide documents for a VPC function's role:
        // DescribeNetworkInterfaces works only on "*"; DeleteNetworkInterface must name the
        // interface or all of them (Lambda picks interface IDs itself, so it cannot be named
        // here); and Lambda checks these permissions when the function is created, before any
        // interface exists to scope them to. The five actions only manage the function's own
        // network interfaces: none reads data, opens a route or changes a security group. This
        // is still narrower than AWSLambdaVPCAccessExecutionRole (no DescribeSubnets, no
        // logs:CreateLogGroup, no logs on "*"), which is deliberately not attached.
        Sid: "ManageVpcNetworkInterfaces",
        Effect: "Allow",
        Action: [...VPC_NETWORK_INTERFACE_ACTIONS],
        Resource: "*",
      },
      {
        // `Null: false` = the key is present: the call came from inside the execution
        // environment (or is one of Lambda's log writes, which this Deny does not name).
        Sid: "DenyNetworkInterfacesFromInsideTheFunction",
        Effect: "Deny",
        Action: [...VPC_NETWORK_INTERFACE_ACTIONS],
        Resource: "*",
        Condition: { Null: { [SOURCE_FUNCTION_ARN_KEY]: "false" } },
      },
    ],
  };
}

/** The EC2 actions Lambda performs with the role to manage a VPC function's interfaces. */
export const VPC_NETWORK_INTERFACE_ACTIONS = [
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
] as const;
