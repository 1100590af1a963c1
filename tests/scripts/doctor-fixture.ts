/**
 * A healthy deployment's AWS resources in moto, built the way the stack builds them, and the
 * faults doctor must find, each injected by one named helper.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DeleteLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  AllocateAddressCommand,
  AssociateRouteTableCommand,
  AuthorizeSecurityGroupEgressCommand,
  CreateInternetGatewayCommand,
  CreateNatGatewayCommand,
  AttachInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeRouteTablesCommand,
  DeleteSecurityGroupCommand,
  EC2Client,
  RevokeSecurityGroupEgressCommand,
} from "@aws-sdk/client-ec2";
import {
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  ECRClient,
  PutImageCommand,
  StartImageScanCommand,
} from "@aws-sdk/client-ecr";
import {
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
} from "@aws-sdk/client-lambda";

export const NAMES = {
  functionName: "co-intelligence-code-executor",
  repositoryName: "co-intelligence-backend",
  invokeRoleName: "co-intelligence-eks-node-role",
  invokePolicyName: "invoke-code-executor",
  logGroup: "/aws/lambda/co-intelligence-code-executor",
} as const;

/** The function environment the stack deploys (components/sandbox-function.ts). */
export const SANDBOX_ENV = {
  SANDBOX_ALLOWED_MODULES:
    "math,json,datetime,random,statistics,re,collections,itertools,string,decimal,fractions,uuid,hashlib,base64,textwrap",
  SANDBOX_TIMEOUT_MS: "30000",
  SANDBOX_MAX_OUTPUT_BYTES: "65536",
  SANDBOX_MEMORY_MB: "448",
};

export interface Deployment {
  functionArn: string;
  securityGroupId: string;
  routeTableId: string;
  vpcId: string;
  /** The deployed image, `<repositoryUri>@sha256:...`. */
  image: string;
}

export interface Clients {
  ec2: EC2Client;
  iam: IAMClient;
  lambda: LambdaClient;
  logs: CloudWatchLogsClient;
  ecr: ECRClient;
}

export function clientsFor(endpoint: string): Clients {
  const config = {
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  };
  return {
    ec2: new EC2Client(config),
    iam: new IAMClient(config),
    lambda: new LambdaClient(config),
    logs: new CloudWatchLogsClient(config),
    ecr: new ECRClient(config),
  };
}

const invokePolicy = (resource: string) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Sid: "InvokeSandbox", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: resource },
    ],
  });

/** An empty zip: moto stores the code without running it. */
const EMPTY_ZIP = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]);

export async function healthyDeployment(aws: Clients): Promise<Deployment> {
  // Isolated network: two subnets on a route table with only the local route, a security
  // group whose default allow-all egress rule is revoked.
  const vpcId = (await aws.ec2.send(new CreateVpcCommand({ CidrBlock: "10.20.0.0/16" }))).Vpc!.VpcId!;
  const subnetIds: string[] = [];
  for (const cidr of ["10.20.1.0/24", "10.20.2.0/24"]) {
    subnetIds.push(
      (await aws.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr }))).Subnet!.SubnetId!,
    );
  }
  const routeTableId = (await aws.ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!
    .RouteTableId!;
  for (const SubnetId of subnetIds) {
    await aws.ec2.send(new AssociateRouteTableCommand({ RouteTableId: routeTableId, SubnetId }));
  }
  const securityGroupId = (
    await aws.ec2.send(
      new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: "sandbox", Description: "no egress" }),
    )
  ).GroupId!;
  await aws.ec2.send(
    new RevokeSecurityGroupEgressCommand({
      GroupId: securityGroupId,
      IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }],
    }),
  );

  const trust = (service: string) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
    });
  const executionRole = await aws.iam.send(
    new CreateRoleCommand({
      RoleName: "sandbox-execution",
      AssumeRolePolicyDocument: trust("lambda.amazonaws.com"),
    }),
  );
  const fn = await aws.lambda.send(
    new CreateFunctionCommand({
      FunctionName: NAMES.functionName,
      Runtime: "python3.13",
      Role: executionRole.Role!.Arn!,
      Handler: "handler.handler",
      Code: { ZipFile: EMPTY_ZIP },
      Timeout: 35,
      MemorySize: 512,
      Environment: { Variables: SANDBOX_ENV },
      VpcConfig: { SubnetIds: subnetIds, SecurityGroupIds: [securityGroupId] },
    }),
  );
  const functionArn = fn.FunctionArn!;

  await aws.iam.send(
    new CreateRoleCommand({
      RoleName: NAMES.invokeRoleName,
      AssumeRolePolicyDocument: trust("ec2.amazonaws.com"),
    }),
  );
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: NAMES.invokeRoleName,
      PolicyName: NAMES.invokePolicyName,
      PolicyDocument: invokePolicy(functionArn),
    }),
  );

  await aws.logs.send(new CreateLogGroupCommand({ logGroupName: NAMES.logGroup }));
  await writeLogLines(aws, [
    JSON.stringify({ level: "INFO", message: "invocation", ok: true, durationMs: 3.1 }),
  ]);

  const repo = await aws.ecr.send(
    new CreateRepositoryCommand({
      repositoryName: NAMES.repositoryName,
      imageTagMutability: "IMMUTABLE",
      imageScanningConfiguration: { scanOnPush: true },
    }),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      size: 1,
      digest: `sha256:${"a".repeat(64)}`,
    },
    layers: [],
  });
  const pushed = await aws.ecr.send(
    new PutImageCommand({
      repositoryName: NAMES.repositoryName,
      imageManifest: manifest,
      imageTag: "3f2c1ab",
    }),
  );
  const digest = pushed.image!.imageId!.imageDigest!;
  // Scan on push, as ECR does (moto's default findings: one HIGH, no CRITICAL).
  await aws.ecr.send(
    new StartImageScanCommand({ repositoryName: NAMES.repositoryName, imageId: { imageDigest: digest } }),
  );

  return {
    functionArn,
    securityGroupId,
    routeTableId,
    vpcId,
    image: `${repo.repository!.repositoryUri}@${digest}`,
  };
}

let sequence = 0;
/** Puts events, each `ageMs` old, into the function's log group in a stream of their own. */
export async function putLogEvents(
  aws: Clients,
  events: { ageMs: number; message: string }[],
): Promise<void> {
  const logStreamName = `2026/11/30/[$LATEST]s${++sequence}`;
  await aws.logs.send(new CreateLogStreamCommand({ logGroupName: NAMES.logGroup, logStreamName }));
  const now = Date.now();
  await aws.logs.send(
    new PutLogEventsCommand({
      logGroupName: NAMES.logGroup,
      logStreamName,
      logEvents: events.map((e) => ({ timestamp: now - e.ageMs, message: e.message })),
    }),
  );
}

/** Log lines written about a minute ago, in order. */
export function writeLogLines(aws: Clients, lines: string[]): Promise<void> {
  return putLogEvents(
    aws,
    lines.map((message, i) => ({ ageMs: 60000 - i, message })),
  );
}

/** One fault each: what on-call actually meets. */
export const faults = {
  functionMissing: (aws: Clients) =>
    aws.lambda.send(new DeleteFunctionCommand({ FunctionName: NAMES.functionName })),
  wrongTimeout: (aws: Clients) =>
    aws.lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: NAMES.functionName, Timeout: 10 }),
    ),
  egressRule: (aws: Clients, d: Deployment) =>
    aws.ec2.send(
      new AuthorizeSecurityGroupEgressCommand({
        GroupId: d.securityGroupId,
        IpPermissions: [
          { IpProtocol: "tcp", FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: "0.0.0.0/0" }] },
        ],
      }),
    ),
  internetRoute: async (aws: Clients, d: Deployment) => {
    const igw = (await aws.ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!
      .InternetGatewayId!;
    await aws.ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: d.vpcId }));
    await aws.ec2.send(
      new CreateRouteCommand({
        RouteTableId: d.routeTableId,
        DestinationCidrBlock: "0.0.0.0/0",
        GatewayId: igw,
      }),
    );
    return igw;
  },
  /** A NAT gateway (in some subnet of the VPC) as the default route of the function's subnets. */
  natRoute: async (aws: Clients, d: Deployment) => {
    const subnet = (
      await aws.ec2.send(new CreateSubnetCommand({ VpcId: d.vpcId, CidrBlock: "10.20.100.0/24" }))
    ).Subnet!.SubnetId!;
    const { AllocationId } = await aws.ec2.send(new AllocateAddressCommand({ Domain: "vpc" }));
    const nat = (await aws.ec2.send(new CreateNatGatewayCommand({ SubnetId: subnet, AllocationId })))
      .NatGateway!.NatGatewayId!;
    await aws.ec2.send(
      new CreateRouteCommand({
        RouteTableId: d.routeTableId,
        DestinationCidrBlock: "0.0.0.0/0",
        NatGatewayId: nat,
      }),
    );
    return nat;
  },
  /**
   * The function moved to a public subnet: one without a route table of its own, so it uses the
   * VPC's main route table, which routes to an internet gateway.
   */
  publicSubnet: async (aws: Clients, d: Deployment) => {
    const subnet = (
      await aws.ec2.send(new CreateSubnetCommand({ VpcId: d.vpcId, CidrBlock: "10.20.200.0/24" }))
    ).Subnet!.SubnetId!;
    const main = (
      await aws.ec2.send(
        new DescribeRouteTablesCommand({
          Filters: [
            { Name: "vpc-id", Values: [d.vpcId] },
            { Name: "association.main", Values: ["true"] },
          ],
        }),
      )
    ).RouteTables![0]!.RouteTableId!;
    const igw = (await aws.ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!
      .InternetGatewayId!;
    await aws.ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: d.vpcId }));
    await aws.ec2.send(
      new CreateRouteCommand({ RouteTableId: main, DestinationCidrBlock: "0.0.0.0/0", GatewayId: igw }),
    );
    await aws.lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: NAMES.functionName,
        VpcConfig: { SubnetIds: [subnet], SecurityGroupIds: [d.securityGroupId] },
      }),
    );
    return { mainRouteTableId: main, igw };
  },
  invokePolicyMissing: (aws: Clients) =>
    aws.iam.send(
      new DeleteRolePolicyCommand({ RoleName: NAMES.invokeRoleName, PolicyName: NAMES.invokePolicyName }),
    ),
  invokePolicyOnWrongArn: (aws: Clients, d: Deployment) =>
    aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: NAMES.invokeRoleName,
        PolicyName: NAMES.invokePolicyName,
        PolicyDocument: invokePolicy(d.functionArn.replace(/function:.*$/, "function:old-executor")),
      }),
    ),
  logErrors: (aws: Clients) =>
    writeLogLines(aws, [
      JSON.stringify({
        level: "ERROR",
        message: "sandbox configuration error",
        error: "SANDBOX_TIMEOUT_MS must be ...",
      }),
      "2026-11-30T10:01:02.000Z 5f1c Task timed out after 35.04 seconds",
    ]),
  /** ECR's scan of the deployed image found a critical vulnerability (moto's scan-results API). */
  criticalFindings: async (motoEndpoint: string, d: Deployment) => {
    const imageDigest = d.image.split("@")[1]!;
    const result = {
      registryId: "123456789012",
      repositoryName: NAMES.repositoryName,
      imageId: { imageDigest },
      imageScanStatus: { status: "COMPLETE", description: "The scan was completed successfully." },
      imageScanFindings: { findingSeverityCounts: { CRITICAL: 2, HIGH: 1 }, findings: [] },
    };
    const res = await fetch(`${motoEndpoint}/moto-api/static/ecr/scan-finding-results`, {
      method: "POST",
      body: JSON.stringify({ results: [result], region: "us-east-1" }),
    });
    if (!res.ok) throw new Error(`moto refused the scan results: ${res.status}`);
  },
  /** Deleted behind Pulumi's back (the function still names it). */
  securityGroupDeleted: (aws: Clients, d: Deployment) =>
    aws.ec2.send(new DeleteSecurityGroupCommand({ GroupId: d.securityGroupId })),
  logGroupMissing: (aws: Clients) =>
    aws.logs.send(new DeleteLogGroupCommand({ logGroupName: NAMES.logGroup })),
  repositoryMissing: (aws: Clients) =>
    aws.ecr.send(new DeleteRepositoryCommand({ repositoryName: NAMES.repositoryName, force: true })),
};
