/**
 * function-network: the sandbox's last line of defence is having no network at all. The
 * function must sit in subnets whose route tables lead nowhere outside the VPC, behind
 * security groups with no egress rule.
 */
import {
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  IpPermission,
  Route,
  RouteTable,
} from "@aws-sdk/client-ec2";
import { awsErrorName } from "../adapters/aws";
import { errorLine } from "../lib/cli";
import { Check, Outcome, fail, pass } from "../lib/report";
import { DoctorContext } from "./context";
import { command } from "../lib/shell";

/** EC2's answers for a subnet or security group the function names that no longer exists. */
const GONE = /^(InvalidSubnetID|InvalidSubnet|InvalidGroup|InvalidGroupId)\.(NotFound|Malformed)$/;

/** A subnet or security group of the function was deleted: its network is not the stack's any more. */
function gone(ctx: DoctorContext, err: unknown): Outcome | undefined {
  if (!GONE.test(awsErrorName(err))) return undefined;
  return fail(
    `expected the function's subnets and security groups to exist, found one deleted: ${errorLine(err)}`,
    // --refresh: without it Pulumi still believes the deleted resource exists and recreates nothing.
    `pulumi up --refresh --stack ${ctx.targets.stack ?? "<stack>"}   (SandboxFunction recreates its isolated subnets and security group and reattaches the function)`,
  );
}

/** Why a route leaves the VPC, or undefined when it stays inside. */
export function leavingRoute(route: Route): string | undefined {
  const dest =
    route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock ?? route.DestinationPrefixListId ?? "?";
  const gateway = route.GatewayId ?? "";
  if (gateway.startsWith("igw-")) return `${dest} -> internet gateway ${gateway}`;
  if (route.NatGatewayId) return `${dest} -> NAT gateway ${route.NatGatewayId}`;
  if (route.EgressOnlyInternetGatewayId)
    return `${dest} -> egress-only gateway ${route.EgressOnlyInternetGatewayId}`;
  const everywhere = route.DestinationCidrBlock === "0.0.0.0/0" || route.DestinationIpv6CidrBlock === "::/0";
  if (everywhere) {
    const target =
      (gateway && gateway !== "local" ? gateway : undefined) ??
      route.TransitGatewayId ??
      route.VpcPeeringConnectionId ??
      route.NetworkInterfaceId ??
      route.InstanceId ??
      route.CarrierGatewayId ??
      route.LocalGatewayId ??
      route.CoreNetworkArn;
    if (target) return `${dest} -> ${target}`;
  }
  return undefined;
}

/** An egress rule, readable: `all traffic to 0.0.0.0/0`, `tcp 443 to sg-123`. */
export function describeRule(rule: IpPermission): string {
  const proto =
    rule.IpProtocol === "-1"
      ? "all traffic"
      : `${rule.IpProtocol} ${rule.FromPort ?? ""}${rule.ToPort !== rule.FromPort ? `-${rule.ToPort}` : ""}`;
  const to = [
    ...(rule.IpRanges ?? []).map((r) => r.CidrIp),
    ...(rule.Ipv6Ranges ?? []).map((r) => r.CidrIpv6),
    ...(rule.UserIdGroupPairs ?? []).map((p) => p.GroupId),
    ...(rule.PrefixListIds ?? []).map((p) => p.PrefixListId),
  ].filter(Boolean);
  return `${proto.trim()} to ${to.join(", ") || "?"}`;
}

/** Route tables of the subnets: each subnet's explicit association, else its VPC's main table. */
async function routeTablesFor(ctx: DoctorContext, subnetIds: string[]): Promise<Map<string, RouteTable>> {
  const tables = new Map<string, RouteTable>();
  const explicit = await ctx.aws.ec2.send(
    new DescribeRouteTablesCommand({ Filters: [{ Name: "association.subnet-id", Values: subnetIds }] }),
  );
  const covered = new Set<string>();
  for (const table of explicit.RouteTables ?? []) {
    tables.set(table.RouteTableId!, table);
    for (const a of table.Associations ?? []) if (a.SubnetId) covered.add(a.SubnetId);
  }
  const uncovered = subnetIds.filter((id) => !covered.has(id));
  if (uncovered.length > 0) {
    // The function's reported VpcId is not trusted (emulators fake it): ask the subnets.
    const subnets = await ctx.aws.ec2.send(new DescribeSubnetsCommand({ SubnetIds: uncovered }));
    const vpcIds = [...new Set((subnets.Subnets ?? []).map((s) => s.VpcId!).filter(Boolean))];
    if (vpcIds.length > 0) {
      const main = await ctx.aws.ec2.send(
        new DescribeRouteTablesCommand({
          Filters: [
            { Name: "vpc-id", Values: vpcIds },
            { Name: "association.main", Values: ["true"] },
          ],
        }),
      );
      for (const table of main.RouteTables ?? []) tables.set(table.RouteTableId!, table);
    }
  }
  return tables;
}

export const functionNetwork: Check<DoctorContext> = {
  id: "function-network",
  title: "Function has no network egress (isolated subnets, no egress rules)",
  needs: ["function-exists"],
  async run(ctx) {
    const vpc = ctx.found.fn!.VpcConfig;
    const subnetIds = vpc?.SubnetIds ?? [];
    const groupIds = vpc?.SecurityGroupIds ?? [];
    if (subnetIds.length === 0) {
      return fail(
        "expected the function in isolated subnets, found no VPC attachment: user code could reach the internet",
        `${ctx.fix.pulumiUp}   (SandboxFunction attaches it to an isolated VPC)`,
      );
    }
    const problems: string[] = [];
    const fixes: string[] = [];
    let tables: Map<string, RouteTable>;
    try {
      tables = await routeTablesFor(ctx, subnetIds);
    } catch (err) {
      const outcome = gone(ctx, err);
      if (outcome) return outcome;
      throw err;
    }
    for (const table of tables.values()) {
      for (const route of table.Routes ?? []) {
        const why = leavingRoute(route);
        if (why === undefined) continue;
        problems.push(`route table ${table.RouteTableId} routes ${why}`);
        const dest = route.DestinationCidrBlock
          ? ["--destination-cidr-block", route.DestinationCidrBlock]
          : route.DestinationIpv6CidrBlock
            ? ["--destination-ipv6-cidr-block", route.DestinationIpv6CidrBlock]
            : ["--destination-prefix-list-id", route.DestinationPrefixListId ?? ""];
        fixes.push(
          command("aws", "ec2", "delete-route", "--route-table-id", table.RouteTableId ?? "", ...dest),
        );
      }
    }
    if (groupIds.length === 0) problems.push("no security group attached");
    else {
      let groups;
      try {
        groups = await ctx.aws.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groupIds }));
      } catch (err) {
        const outcome = gone(ctx, err);
        if (outcome) return outcome;
        throw err;
      }
      for (const group of groups.SecurityGroups ?? []) {
        for (const rule of group.IpPermissionsEgress ?? []) {
          problems.push(`security group ${group.GroupId} allows egress: ${describeRule(rule)}`);
          fixes.push(
            command(
              "aws",
              "ec2",
              "revoke-security-group-egress",
              "--group-id",
              group.GroupId ?? "",
              "--ip-permissions",
              JSON.stringify(stripEmpty(rule)),
            ),
          );
        }
      }
    }
    if (problems.length === 0) {
      return pass(
        `${subnetIds.length} subnet(s), ${tables.size} route table(s) without internet/NAT routes, ${groupIds.length} security group(s) without egress`,
      );
    }
    return fail(
      `expected no way out of the VPC, found: ${problems.join("; ")}`,
      `${ctx.fix.pulumiUp}   (or now: ${fixes.join(" && ")})`,
    );
  },
};

/** The rule without empty lists, as the AWS CLI's --ip-permissions takes it. */
function stripEmpty(rule: IpPermission): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(rule).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  );
}
