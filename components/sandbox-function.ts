import * as fs from "node:fs";
import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_NAMES } from "../contract/names";
import { allowListIssues, DEFAULT_ALLOWED_MODULES, VETTED_MODULES } from "../contract/sandbox-modules";
import {
  DEFAULT_RESERVED_CONCURRENCY,
  defaultSandboxMemoryMb,
  SANDBOX_ENV,
  SANDBOX_LIMITS,
} from "../contract/sandbox";
import { FLOW_LOG_DEFAULTS, FLOW_LOG_TRAFFIC_TYPES, FlowLog, type FlowLogTrafficType } from "./flow-log";
import {
  closedSecurityGroup,
  ISOLATED_NETWORK_DEFAULTS,
  IsolatedNetwork,
  validateIsolatedNetworkArgs,
} from "./isolated-network";
import { BaseTags, componentTags } from "./tags";
import {
  ARG_NAME,
  LOG_RETENTION_DAYS,
  numberOrUnset,
  rangeProblem,
  refuseProblems,
  type ArgProblem,
  type NameOf,
  type Unparsed,
} from "./validation";

/** The directory holding `handler.py` and the `sandbox/` package. */
export const LAMBDA_DIR = path.join(__dirname, "..", "lambda");

/** The sandbox Lambda, attached to a network it cannot leave. */
export interface SandboxFunctionArgs {
  /** Project and stack tags; `component: sandbox-function` is added. Required. */
  tags: BaseTags;
  /** Function name. Default: `co-intelligence-code-executor`. */
  name?: string;
  /** Function memory in MB (512 to 3008). Default: 512. */
  memoryMb?: number;
  /**
   * Function timeout in seconds: more than the sandbox limit so a Timeout is answered, and at
   * most a minute more. Default: the sandbox limit + 5 s (35).
   */
  timeoutSeconds?: number;
  /** `SANDBOX_ALLOWED_MODULES`: vetted modules only. Default: the contract's 15 modules (the handler's own default). */
  allowedModules?: string[];
  /** `SANDBOX_TIMEOUT_MS`: user code's wall-clock limit (1000 to 120000). Default: 30000. */
  sandboxTimeoutMs?: number;
  /** `SANDBOX_MAX_OUTPUT_BYTES`: cap of stdout and of stderr (1024 to 1048576). Default: 65536. */
  maxOutputBytes?: number;
  /** `SANDBOX_MEMORY_MB`: user code's memory cap, below memoryMb. Default: memoryMb - 96 (room for the handler's process and the zygote). */
  sandboxMemoryMb?: number;
  /**
   * Reserved concurrency: the function's share of the account's concurrency and its ceiling, so
   * one busy client cannot take the account's whole Lambda concurrency (1 to 1000; 0 is refused:
   * it would throttle every invoke). `"none"` reserves nothing: the explicit way out for new
   * accounts whose limit of 10 allows no reservation. Default: 20.
   */
  reservedConcurrency?: number | "none";
  /** VPC flow log records kept: `REJECT` or `ALL`. Default: `REJECT`. */
  flowLogTraffic?: FlowLogTrafficType;
  /** Retention of the function's log group (and the flow logs), in days CloudWatch offers. Default: 30. */
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
  /** Availability zones (subnets) of the isolated VPC (2 to 6). Default: 2. */
  availabilityZoneCount?: number;
  /** Directory with `handler.py` and `sandbox/`. Default: this repository's `lambda/`. */
  codeDir?: string;
}

/** The defaults that depend on nothing else; `resolveSandboxFunctionArgs` adds the two that do. */
export const SANDBOX_FUNCTION_DEFAULTS = {
  name: DEFAULT_NAMES.functionName,
  memoryMb: SANDBOX_LIMITS.functionMemoryMb.default,
  allowedModules: DEFAULT_ALLOWED_MODULES,
  sandboxTimeoutMs: SANDBOX_LIMITS.timeoutMs.default,
  maxOutputBytes: SANDBOX_LIMITS.maxOutputBytes.default,
  reservedConcurrency: DEFAULT_RESERVED_CONCURRENCY,
  logRetentionDays: FLOW_LOG_DEFAULTS.retentionDays,
  flowLogTraffic: FLOW_LOG_DEFAULTS.trafficType,
  vpcCidr: ISOLATED_NETWORK_DEFAULTS.cidrBlock,
  availabilityZoneCount: ISOLATED_NETWORK_DEFAULTS.availabilityZoneCount,
} as const;

/**
 * What the product needs, not the platform's maximums: a chat tool that runs for 15 minutes
 * or prints 6 MB is a runaway, and these bounds keep one setting from turning the sandbox into
 * a general compute service.
 */
export const SANDBOX_FUNCTION_BOUNDS = {
  memoryMb: { min: SANDBOX_LIMITS.functionMemoryMb.min, max: 3008 },
  sandboxTimeoutMs: { min: 1000, max: 120_000 },
  maxOutputBytes: { min: 1024, max: 1024 * 1024 },
  sandboxMemoryMb: { min: SANDBOX_LIMITS.minSandboxMemoryMb, max: 3008 },
  reservedConcurrency: { min: 0, max: 1000 },
  /** Seconds the function may run past the sandbox limit. */
  timeoutSecondsBeyondLimit: 60,
} as const;

/** The args with every default applied: what the function is created from. */
export type ResolvedSandboxFunctionArgs = SandboxFunctionArgs &
  Required<
    Pick<
      SandboxFunctionArgs,
      | "name"
      | "memoryMb"
      | "timeoutSeconds"
      | "allowedModules"
      | "sandboxTimeoutMs"
      | "maxOutputBytes"
      | "sandboxMemoryMb"
      | "reservedConcurrency"
      | "flowLogTraffic"
      | "logRetentionDays"
    >
  >;

/** Every default in one place; `timeoutSeconds` and `sandboxMemoryMb` follow from the limit and the memory. */
export function resolveSandboxFunctionArgs(args: SandboxFunctionArgs): ResolvedSandboxFunctionArgs {
  const d = SANDBOX_FUNCTION_DEFAULTS;
  const memoryMb = args.memoryMb ?? d.memoryMb;
  const sandboxTimeoutMs = args.sandboxTimeoutMs ?? d.sandboxTimeoutMs;
  return {
    ...args,
    name: args.name ?? d.name,
    memoryMb,
    timeoutSeconds: args.timeoutSeconds ?? Math.min(900, Math.ceil(sandboxTimeoutMs / 1000) + 5),
    allowedModules: args.allowedModules ?? [...d.allowedModules],
    sandboxTimeoutMs,
    maxOutputBytes: args.maxOutputBytes ?? d.maxOutputBytes,
    sandboxMemoryMb: args.sandboxMemoryMb ?? defaultSandboxMemoryMb(memoryMb),
    reservedConcurrency: args.reservedConcurrency ?? d.reservedConcurrency,
    flowLogTraffic: args.flowLogTraffic ?? d.flowLogTraffic,
    logRetentionDays: args.logRetentionDays ?? d.logRetentionDays,
  };
}

/** The problems of SandboxFunctionArgs, defaults applied (a pure function: the stack config calls it too). */
export function validateSandboxFunctionArgs(
  given: Unparsed<SandboxFunctionArgs>,
  nameOf: NameOf = ARG_NAME,
): ArgProblem[] {
  // What does not parse is reported below and reads as unset, so its default applies here.
  const args = resolveSandboxFunctionArgs({
    ...(given as SandboxFunctionArgs),
    memoryMb: numberOrUnset(given.memoryMb),
    timeoutSeconds: numberOrUnset(given.timeoutSeconds),
    sandboxTimeoutMs: numberOrUnset(given.sandboxTimeoutMs),
    maxOutputBytes: numberOrUnset(given.maxOutputBytes),
    sandboxMemoryMb: numberOrUnset(given.sandboxMemoryMb),
    reservedConcurrency:
      given.reservedConcurrency === "none" ? "none" : numberOrUnset(given.reservedConcurrency),
    logRetentionDays: numberOrUnset(given.logRetentionDays),
    availabilityZoneCount: numberOrUnset(given.availabilityZoneCount),
  });
  const d = SANDBOX_FUNCTION_DEFAULTS;
  const b = SANDBOX_FUNCTION_BOUNDS;
  const limitSeconds = Math.ceil(args.sandboxTimeoutMs / 1000);
  const problems: ArgProblem[] = [
    ...rangeProblem(nameOf, "memoryMb", given.memoryMb, b.memoryMb, d.memoryMb),
    ...rangeProblem(
      nameOf,
      "sandboxTimeoutMs",
      given.sandboxTimeoutMs,
      b.sandboxTimeoutMs,
      d.sandboxTimeoutMs,
    ),
    ...rangeProblem(
      nameOf,
      "timeoutSeconds",
      given.timeoutSeconds,
      { min: 1, max: limitSeconds + b.timeoutSecondsBeyondLimit },
      Math.min(900, limitSeconds + 5),
    ),
    ...rangeProblem(nameOf, "maxOutputBytes", given.maxOutputBytes, b.maxOutputBytes, d.maxOutputBytes),
    ...rangeProblem(
      nameOf,
      "sandboxMemoryMb",
      given.sandboxMemoryMb,
      b.sandboxMemoryMb,
      defaultSandboxMemoryMb(args.memoryMb),
    ),
    ...(given.reservedConcurrency !== "none"
      ? rangeProblem(
          nameOf,
          "reservedConcurrency",
          given.reservedConcurrency,
          b.reservedConcurrency,
          d.reservedConcurrency,
        )
      : []),
  ];
  // The function must outlive the sandbox's own limit so a Timeout is answered, not killed.
  if (args.timeoutSeconds * 1000 <= args.sandboxTimeoutMs)
    problems.push({
      arg: "timeoutSeconds",
      message:
        `${nameOf("timeoutSeconds")} must be more than the sandbox limit (${args.sandboxTimeoutMs} ms), ` +
        `at least ${limitSeconds + 1}`,
      suggestion: String(limitSeconds + 5),
    });
  if (args.sandboxMemoryMb >= args.memoryMb)
    problems.push({
      arg: "sandboxMemoryMb",
      message:
        `${nameOf("sandboxMemoryMb")} must be below ${nameOf("memoryMb")} (${args.memoryMb}): ` +
        "the warm parent needs room too",
      suggestion: String(defaultSandboxMemoryMb(args.memoryMb)),
    });
  if (args.reservedConcurrency === 0)
    problems.push({
      arg: "reservedConcurrency",
      message:
        `${nameOf("reservedConcurrency")} 0 would disable the function (every invoke is throttled); ` +
        "give a positive number, or none to reserve nothing",
      suggestion: String(d.reservedConcurrency),
    });
  const retention = rangeProblem(
    nameOf,
    "logRetentionDays",
    given.logRetentionDays,
    { min: LOG_RETENTION_DAYS[0], max: LOG_RETENTION_DAYS[LOG_RETENTION_DAYS.length - 1]! },
    d.logRetentionDays,
  );
  problems.push(...retention);
  if (
    retention.length === 0 &&
    typeof given.logRetentionDays === "number" &&
    !(LOG_RETENTION_DAYS as readonly number[]).includes(given.logRetentionDays)
  )
    problems.push({
      arg: "logRetentionDays",
      message: `${nameOf("logRetentionDays")} must be one of ${LOG_RETENTION_DAYS.join(", ")}`,
      suggestion: String(d.logRetentionDays),
    });
  if (!(FLOW_LOG_TRAFFIC_TYPES as readonly string[]).includes(args.flowLogTraffic))
    problems.push({
      arg: "flowLogTraffic",
      message: `${nameOf("flowLogTraffic")} must be ${FLOW_LOG_TRAFFIC_TYPES.join(" or ")}, got ${JSON.stringify(args.flowLogTraffic)}`,
      suggestion: d.flowLogTraffic,
    });
  problems.push(...allowListProblems(args.allowedModules, nameOf));
  problems.push(...networkProblems(given, nameOf));
  return problems;
}

/** The allow-list rule of contract/sandbox-modules.ts, worded for this argument. */
function allowListProblems(modules: readonly string[], nameOf: NameOf): ArgProblem[] {
  const name = nameOf("allowedModules");
  const issues = allowListIssues(modules);
  const problem = (message: string): ArgProblem => ({
    arg: "allowedModules",
    message,
    suggestion: "math,json,re",
  });
  return [
    ...(issues.empty ? [problem(`${name} is empty`)] : []),
    ...(issues.malformed.length > 0
      ? [
          problem(
            `${name} must hold top-level module names, got ${issues.malformed.map((m) => JSON.stringify(m)).join(", ")}`,
          ),
        ]
      : []),
    ...(issues.unvetted.length > 0
      ? [
          problem(
            `${name} may only name vetted modules (they compute without files, network, processes ` +
              `or interpreter internals), got ${issues.unvetted.join(", ")}; vetted: ${Object.keys(VETTED_MODULES).join(", ")}`,
          ),
        ]
      : []),
  ];
}

/** An isolated VPC, or existing subnets with a VPC (for a closed security group) or security groups. */
function networkProblems(args: Unparsed<SandboxFunctionArgs>, nameOf: NameOf): ArgProblem[] {
  if (args.subnetIds === undefined) {
    const problems = validateIsolatedNetworkArgs(
      { cidrBlock: args.vpcCidr, availabilityZoneCount: args.availabilityZoneCount },
      (arg) => nameOf(arg === "cidrBlock" ? "vpcCidr" : arg),
    ).map((p) => ({ ...p, arg: p.arg === "cidrBlock" ? "vpcCidr" : p.arg }));
    if (args.securityGroupIds !== undefined || args.vpcId !== undefined)
      problems.push({
        arg: "subnetIds",
        message: `${nameOf("securityGroupIds")} and ${nameOf("vpcId")} only apply with existing subnets (or remove them for the isolated VPC)`,
        suggestion: "subnet-...",
      });
    return problems;
  }
  if (args.subnetIds.length === 0)
    return [
      {
        arg: "subnetIds",
        message: `${nameOf("subnetIds")} is empty (without it an isolated VPC is created)`,
        remove: true,
      },
    ];
  if (args.securityGroupIds === undefined && args.vpcId === undefined)
    return [
      {
        arg: "vpcId",
        message: `${nameOf("subnetIds")} needs ${nameOf("vpcId")} (a closed security group is created there) or ${nameOf("securityGroupIds")}`,
        suggestion: "vpc-...",
      },
    ];
  return [];
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

  constructor(name: string, given: SandboxFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:SandboxFunction", name, {}, opts);
    refuseProblems("SandboxFunction", name, validateSandboxFunctionArgs(given));
    const args = resolveSandboxFunctionArgs(given);
    const functionName = args.name;
    const logGroupName = args.logGroupName ?? `/co-intelligence/${args.tags.stack}/sandbox`;
    const codeDir = args.codeDir ?? LAMBDA_DIR;
    const tags = componentTags(args.tags, "sandbox-function");

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
        // (validateSandboxFunctionArgs refused subnets with neither a VPC nor security groups.)
        const securityGroup = closedSecurityGroup(name, args.vpcId!, tags, this);
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
        trafficType: args.flowLogTraffic,
        retentionDays: args.logRetentionDays,
        logGroupName: `${logGroupName}-flow-logs`,
      },
      { parent: this },
    );

    // A new log group: the original setup's `/aws/lambda/<name>` group may already exist, and
    // creating that name would clash; the function's logging config points here instead.
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: logGroupName, retentionInDays: args.logRetentionDays, tags },
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
        memorySize: args.memoryMb,
        timeout: args.timeoutSeconds,
        role: role.arn,
        reservedConcurrentExecutions:
          args.reservedConcurrency === "none" ? undefined : args.reservedConcurrency,
        environment: { variables: sandboxEnvironment(args) },
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
    [SANDBOX_ENV.allowedModules]: limits.allowedModules.join(","),
    [SANDBOX_ENV.timeoutMs]: String(limits.sandboxTimeoutMs),
    [SANDBOX_ENV.maxOutputBytes]: String(limits.maxOutputBytes),
    [SANDBOX_ENV.memoryMb]: String(limits.sandboxMemoryMb),
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
