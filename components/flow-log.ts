import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BaseTags, componentTags } from "./tags";

/** Which flow log records are kept: rejected packets (what an escape attempt leaves), or every flow. */
export const FLOW_LOG_TRAFFIC_TYPES = ["REJECT", "ALL"] as const;
export type FlowLogTrafficType = (typeof FLOW_LOG_TRAFFIC_TYPES)[number];

export const FLOW_LOG_DEFAULTS = { trafficType: "REJECT", retentionDays: 30 } as const satisfies {
  trafficType: FlowLogTrafficType;
  retentionDays: number;
};

/** VPC flow logs of the sandbox's network into a CloudWatch log group (Security Hub EC2.6). */
export interface FlowLogArgs {
  /** Project and stack tags; `component: flow-log` is added. Required. */
  tags: BaseTags;
  /** Log the whole VPC (the isolated network). Give this or `subnetIds`. */
  vpcId?: pulumi.Input<string>;
  /** Log only these subnets (existing subnets the function joins; the VPC is someone else's). */
  subnetIds?: pulumi.Input<string>[];
  /** Which records: rejected packets (what an escape attempt leaves) or every flow. Default: `REJECT`. */
  trafficType?: FlowLogTrafficType;
  /** Retention of the log group in days: the function's own. Default: 30. */
  retentionDays?: number;
  /** Name of the log group. Default: `/co-intelligence/<stack>/sandbox-flow-logs`. */
  logGroupName?: string;
}

/**
 * A log group, the role the VPC Flow Logs service delivers with (trusting only this account's
 * flow logs: the confused-deputy conditions), and one flow log per VPC or subnet. Nothing can
 * leave the isolated network, so REJECT records are the evidence of code that tried.
 */
export class FlowLog extends pulumi.ComponentResource {
  public readonly logGroupName: pulumi.Output<string>;

  constructor(name: string, args: FlowLogArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:FlowLog", name, {}, opts);
    const trafficType = args.trafficType ?? FLOW_LOG_DEFAULTS.trafficType;
    const retentionDays = args.retentionDays ?? FLOW_LOG_DEFAULTS.retentionDays;
    const logGroupName = args.logGroupName ?? `/co-intelligence/${args.tags.stack}/sandbox-flow-logs`;
    const tags = componentTags(args.tags, "flow-log");
    if ((args.vpcId === undefined) === (args.subnetIds === undefined)) {
      throw new Error(`FlowLog ${name}: give exactly one of vpcId and subnetIds`);
    }

    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: logGroupName, retentionInDays: retentionDays, tags },
      { parent: this },
    );
    const account = aws.getCallerIdentityOutput({}, { parent: this }).accountId;
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: "Delivers the sandbox network's VPC flow logs to CloudWatch Logs",
        assumeRolePolicy: pulumi.jsonStringify(flowLogTrustPolicy(account)),
        tags,
      },
      { parent: this },
    );
    const rolePolicy = new aws.iam.RolePolicy(
      `${name}-role-policy`,
      { role: role.id, policy: pulumi.jsonStringify(flowLogDeliveryPolicy(logGroup.arn)) },
      { parent: this },
    );

    const targets: { key: string; vpcId?: pulumi.Input<string>; subnetId?: pulumi.Input<string> }[] =
      args.vpcId !== undefined
        ? [{ key: "vpc", vpcId: args.vpcId }]
        : args.subnetIds!.map((subnetId, index) => ({ key: `subnet-${index}`, subnetId }));
    for (const target of targets) {
      new aws.ec2.FlowLog(
        `${name}-${target.key}`,
        {
          ...(target.vpcId !== undefined ? { vpcId: target.vpcId } : { subnetId: target.subnetId }),
          trafficType,
          logDestinationType: "cloud-watch-logs",
          logDestination: logGroup.arn,
          iamRoleArn: role.arn,
          maxAggregationInterval: 60,
          tags,
        },
        { parent: this, dependsOn: [rolePolicy] },
      );
    }

    this.logGroupName = logGroup.name;
    this.registerOutputs({ logGroupName: this.logGroupName });
  }
}

/** Only the VPC Flow Logs service, and only for flow logs of this account (confused deputy). */
export function flowLogTrustPolicy(accountId: pulumi.Input<string>): pulumi.Input<aws.iam.PolicyDocument> {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "vpc-flow-logs.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: {
          StringEquals: { "aws:SourceAccount": accountId },
          ArnLike: { "aws:SourceArn": pulumi.interpolate`arn:aws:ec2:*:${accountId}:vpc-flow-log/*` },
        },
      },
    ],
  };
}

/** Write streams of this one log group (DescribeLogGroups names no group, so it takes "*"). */
export function flowLogDeliveryPolicy(
  logGroupArn: pulumi.Input<string>,
): pulumi.Input<aws.iam.PolicyDocument> {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "WriteFlowLogGroup",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        Resource: [logGroupArn, pulumi.interpolate`${logGroupArn}:*`],
      },
      { Sid: "FindLogGroup", Effect: "Allow", Action: "logs:DescribeLogGroups", Resource: "*" },
    ],
  };
}
