import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BaseTags, componentTags } from "./tags";
import {
  ARG_NAME,
  rangeProblem,
  refuseProblems,
  type ArgProblem,
  type NameOf,
  type Unparsed,
} from "./validation";

/** A VPC the sandbox function attaches to that has no way to reach any network. */
export interface IsolatedNetworkArgs {
  /** Project and stack tags; `component: isolated-network` is added. Required. */
  tags: BaseTags;
  /** The VPC's address block, a /16; each subnet gets a /20 of it. Default: `10.42.0.0/16`. */
  cidrBlock?: string;
  /** How many private subnets, one per availability zone (2 to 6). Default: 2. */
  availabilityZoneCount?: number;
}

export const ISOLATED_NETWORK_DEFAULTS = {
  cidrBlock: "10.42.0.0/16",
  availabilityZoneCount: 2,
} as const;

/** Zones: two for a function that survives one zone's outage, more than six buys nothing. */
export const AVAILABILITY_ZONE_COUNT = { min: 2, max: 6 } as const;

const SLASH_16 = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/;

/** The problems of IsolatedNetworkArgs (a pure function: the stack config calls it too). */
export function validateIsolatedNetworkArgs(
  args: Unparsed<Omit<IsolatedNetworkArgs, "tags">>,
  nameOf: NameOf = ARG_NAME,
): ArgProblem[] {
  const problems = rangeProblem(
    nameOf,
    "availabilityZoneCount",
    args.availabilityZoneCount,
    AVAILABILITY_ZONE_COUNT,
    ISOLATED_NETWORK_DEFAULTS.availabilityZoneCount,
  );
  if (args.cidrBlock !== undefined && !SLASH_16.test(args.cidrBlock))
    problems.push({
      arg: "cidrBlock",
      message: `${nameOf("cidrBlock")} must be a /16 block like 10.42.0.0/16, got ${JSON.stringify(args.cidrBlock)}`,
      suggestion: ISOLATED_NETWORK_DEFAULTS.cidrBlock,
    });
  return problems;
}

/**
 * An isolated VPC: private subnets in distinct availability zones and nothing else. No
 * internet, NAT or egress-only gateway and no VPC endpoint exist, so no route out exists;
 * the subnets' route table holds only the implicit local route; the Amazon DNS resolver is
 * switched off (DNS queries are a classic way to carry data out of a "closed" network); the
 * default security group and the default network ACL are emptied (deny everything); and the
 * function's security group has no rule at all. A Lambda function needs none of this to be
 * invoked: invocations reach it through the Lambda service, never through the ENI.
 */
export class IsolatedNetwork extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly subnetIds: pulumi.Output<string>[];
  public readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: IsolatedNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:IsolatedNetwork", name, {}, opts);
    const cidrBlock = args.cidrBlock ?? ISOLATED_NETWORK_DEFAULTS.cidrBlock;
    const availabilityZoneCount =
      args.availabilityZoneCount ?? ISOLATED_NETWORK_DEFAULTS.availabilityZoneCount;
    const tags = componentTags(args.tags, "isolated-network");
    refuseProblems("IsolatedNetwork", name, validateIsolatedNetworkArgs(args));
    const subnetCidrs = slash20s(cidrBlock, availabilityZoneCount);

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock,
        // No resolver: a function that cannot resolve names cannot leak data through DNS.
        enableDnsSupport: false,
        enableDnsHostnames: false,
        tags: { ...tags, Name: `${name}-vpc` },
      },
      { parent: this },
    );

    // Close what AWS creates with every VPC: the default security group (allows all traffic
    // between its members and all egress) and the default network ACL (allows everything).
    new aws.ec2.DefaultSecurityGroup(
      `${name}-default-sg`,
      { vpcId: vpc.id, ingress: [], egress: [], tags: { ...tags, Name: `${name}-default-closed` } },
      { parent: this },
    );
    new aws.ec2.DefaultNetworkAcl(
      `${name}-default-acl`,
      {
        defaultNetworkAclId: vpc.defaultNetworkAclId,
        ingress: [],
        egress: [],
        tags: { ...tags, Name: `${name}-default-deny` },
      },
      { parent: this, ignoreChanges: ["subnetIds"] },
    );
    // The main route table: managed with an empty route list so nothing can be added to it.
    new aws.ec2.DefaultRouteTable(
      `${name}-main-rt`,
      { defaultRouteTableId: vpc.defaultRouteTableId, routes: [], tags: { ...tags, Name: `${name}-main` } },
      { parent: this },
    );

    // The subnets' own route table, associated explicitly, with an explicitly empty route list:
    // only the implicit local route exists, there is no default route.
    const routeTable = new aws.ec2.RouteTable(
      `${name}-rt`,
      { vpcId: vpc.id, routes: [], tags: { ...tags, Name: `${name}-private` } },
      { parent: this },
    );

    const zones = aws.getAvailabilityZonesOutput({ state: "available" }, { parent: this });
    const subnets = subnetCidrs.map((subnetCidr, index) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-private-${index}`,
        {
          vpcId: vpc.id,
          cidrBlock: subnetCidr,
          availabilityZone: zones.names.apply((listed: string[] | undefined) => {
            const names = listed ?? fallbackZoneNames(availabilityZoneCount);
            const zone = names[index];
            if (zone === undefined) {
              throw new Error(
                `IsolatedNetwork ${name}: the region has only ${names.length} available zones, ` +
                  `${availabilityZoneCount} requested; lower co-intelligence:availabilityZoneCount`,
              );
            }
            return zone;
          }),
          mapPublicIpOnLaunch: false,
          assignIpv6AddressOnCreation: false,
          tags: { ...tags, Name: `${name}-private-${index}` },
        },
        { parent: this },
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-private-${index}`,
        { subnetId: subnet.id, routeTableId: routeTable.id },
        { parent: this },
      );
      return subnet;
    });

    const securityGroup = closedSecurityGroup(name, vpc.id, tags, this);

    this.vpcId = vpc.id;
    this.subnetIds = subnets.map((subnet) => subnet.id);
    this.securityGroupId = securityGroup.id;
    this.registerOutputs({
      vpcId: this.vpcId,
      subnetIds: this.subnetIds,
      securityGroupId: this.securityGroupId,
    });
  }
}

/**
 * The function's security group: no rule at all. AWS adds an allow-all egress rule to a new
 * security group unless egress is given explicitly; `egress: []` makes Pulumi remove it and
 * keep it removed.
 */
export function closedSecurityGroup(
  name: string,
  vpcId: pulumi.Input<string>,
  tags: Record<string, string>,
  parent: pulumi.Resource,
): aws.ec2.SecurityGroup {
  return new aws.ec2.SecurityGroup(
    `${name}-function-sg`,
    {
      vpcId,
      description: "Sandbox function: no ingress, no egress",
      ingress: [],
      egress: [],
      revokeRulesOnDelete: true,
      tags: { ...tags, Name: `${name}-function` },
    },
    { parent },
  );
}

/**
 * Zone names when the zone lookup answers no list at all. AWS always answers one (possibly
 * shorter than asked, which fails above with the fix); an answer without `names` comes from
 * a unit-test mock that echoes the lookup's inputs, and the region's first zones keep the
 * program's resource graph whole there instead of failing in the middle of it.
 */
function fallbackZoneNames(count: number): string[] {
  const region = aws.config.region ?? "us-east-1";
  return Array.from({ length: count }, (_, index) => `${region}${"abcdefghijklmnop"[index]}`);
}

/** The first `count` /20 blocks of a /16 (`10.42.0.0/16` -> `10.42.0.0/20`, `10.42.16.0/20`, ...). */
export function slash20s(cidrBlock: string, count: number): string[] {
  const match = SLASH_16.exec(cidrBlock);
  if (!match) throw new Error(`IsolatedNetwork: cidrBlock must be a /16 like 10.42.0.0/16, got ${cidrBlock}`);
  if (count > 16) throw new Error(`IsolatedNetwork: a /16 holds at most 16 /20 subnets, ${count} requested`);
  return Array.from({ length: count }, (_, index) => `${match[1]}.${match[2]}.${index * 16}.0/20`);
}
