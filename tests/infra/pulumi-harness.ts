// Runs a Pulumi program (a component or the whole index.ts) under Pulumi's unit-test mocks and
// returns every resource it registered with its inputs. Each run loads fresh copies of the
// Pulumi SDKs and of our modules (jest.isolateModulesAsync) because Pulumi's runtime state is
// process-global: runs never see each other's config, stack or resources.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

export interface RegisteredResource {
  type: string;
  name: string;
  inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The resource's ignoreChanges option. */
  ignoreChanges: string[];
  /** Names of the resources its dependsOn option names. */
  dependsOn: string[];
  /** Name of its parent resource (the component it belongs to), if any. */
  parent?: string;
  /** Provider reference (`urn::id`) the engine saw, if any. */
  provider?: string;
}

export interface Invoke {
  token: string;
  inputs: Record<string, unknown>;
}

export interface RunResult<T> {
  resources: RegisteredResource[];
  invokes: Invoke[];
  value: T;
  /** Resolves an Output (or plain value) the program returned. */
  resolve<V>(output: unknown): Promise<V>;
}

export const ACCOUNT_ID = "123456789012";
export const OIDC_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
export const REGION = "us-east-1";
export const CLUSTER_VPC_ID = "vpc-0cluster";
/** The cluster VPC's blocks (a primary and a secondary one, as EKS clusters often have). */
export const CLUSTER_VPC_CIDRS = ["10.0.0.0/16", "100.64.0.0/16"];

/** What AWS computes for a resource, as far as our code reads it. */
function computedState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const physicalName = (inputs.name as string | undefined) ?? name;
  const state: Record<string, unknown> = { ...inputs };
  switch (type) {
    case "aws:lambda/function:Function":
      state.arn = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${physicalName}`;
      state.name = physicalName;
      break;
    case "aws:iam/role:Role":
      state.name = physicalName;
      state.arn = `arn:aws:iam::${ACCOUNT_ID}:role/${physicalName}`;
      break;
    case "aws:cloudwatch/logGroup:LogGroup":
      state.arn = `arn:aws:logs:${REGION}:${ACCOUNT_ID}:log-group:${physicalName}`;
      break;
    case "aws:ecr/repository:Repository":
      state.arn = `arn:aws:ecr:${REGION}:${ACCOUNT_ID}:repository/${physicalName}`;
      state.repositoryUrl = `${ACCOUNT_ID}.dkr.ecr.${REGION}.amazonaws.com/${physicalName}`;
      break;
    case "aws:ec2/vpc:Vpc":
      state.defaultNetworkAclId = `${name}-acl-id`;
      state.defaultRouteTableId = `${name}-rtb-id`;
      state.defaultSecurityGroupId = `${name}-sg-id`;
      break;
    default:
      if (typeof state.arn !== "string") state.arn = `arn:aws:mock:${REGION}:${ACCOUNT_ID}:${type}/${name}`;
  }
  return state;
}

function invokeResult(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (token) {
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return {
        names: ["us-east-1a", "us-east-1b", "us-east-1c"],
        zoneIds: ["use1-az1", "use1-az2", "use1-az4"],
        id: REGION,
      };
    case "aws:eks/getCluster:getCluster":
      return {
        name: inputs.name,
        arn: `arn:aws:eks:${REGION}:${ACCOUNT_ID}:cluster/${String(inputs.name)}`,
        endpoint: "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com",
        certificateAuthorities: [{ data: "LS0tLS1CRUdJTi1DRVJU" }],
        identities: [{ oidcs: [{ issuer: OIDC_ISSUER }] }],
        vpcConfig: { vpcId: CLUSTER_VPC_ID, subnetIds: ["subnet-cluster-a", "subnet-cluster-b"] },
      };
    case "aws:ec2/getVpc:getVpc":
      return {
        id: inputs.id,
        cidrBlock: CLUSTER_VPC_CIDRS[0],
        cidrBlockAssociations: CLUSTER_VPC_CIDRS.map((cidrBlock, i) => ({
          associationId: `a-${i}`,
          cidrBlock,
        })),
      };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { accountId: ACCOUNT_ID, arn: `arn:aws:iam::${ACCOUNT_ID}:user/test`, userId: "AIDEXAMPLE" };
    case "aws:index/getRegion:getRegion":
      return { name: REGION, region: REGION, id: REGION };
    default:
      throw new Error(`unmocked invoke ${token}`);
  }
}

export interface RunOptions<T> {
  stack?: string;
  /** Full keys (`co-intelligence:clusterName`) to string values, as the Pulumi CLI hands them over. */
  config?: Record<string, string>;
  secretKeys?: string[];
  /**
   * The plainest mocks there are (resource state = its inputs, every invoke answers its own
   * inputs), as a generic test harness writes them: the program must still register its whole
   * graph. Default: false, the AWS-like answers below.
   */
  echoMocks?: boolean;
  /** Answers to use instead of the default mock's, by invoke token (`aws:eks/getCluster:getCluster`). */
  invokeAnswers?: Record<string, Record<string, unknown>>;
  /** Builds the program; must `require` our modules itself so they bind to this run's SDK copies. */
  program: () => T;
}

export async function runPulumi<T>(options: RunOptions<T>): Promise<RunResult<T>> {
  const resources: RegisteredResource[] = [];
  const invokes: Invoke[] = [];
  const optionsOf = new Map<string, { ignoreChanges: string[]; dependsOn: string[]; parent?: string }>();
  let value!: T;
  let waitForRPCs!: () => Promise<void>;
  let outputOf!: (v: unknown) => { apply: (f: (x: unknown) => void) => unknown };
  await jest.isolateModulesAsync(async () => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
    /* eslint-enable @typescript-eslint/no-require-imports */
    await pulumi.runtime.setMocks(
      {
        newResource(args) {
          resources.push({
            type: args.type,
            name: args.name,
            inputs: args.inputs,
            provider: args.provider,
            ignoreChanges: [],
            dependsOn: [],
            ...optionsOf.get(`${args.type}::${args.name}`),
          });
          if (options.echoMocks) return { id: `${args.name}-id`, state: args.inputs };
          return { id: `${args.name}-id`, state: computedState(args.type, args.name, args.inputs) };
        },
        call(args) {
          invokes.push({ token: args.token, inputs: args.inputs });
          if (options.echoMocks) return args.inputs;
          return options.invokeAnswers?.[args.token] ?? invokeResult(args.token, args.inputs);
        },
      },
      "co-intelligence",
      options.stack ?? "test",
      false,
    );
    pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);
    // The mock monitor does not see resource options; an in-process stack transformation
    // does, and it needs the root stack resource that runInPulumiStack creates.
    let failure: unknown;
    await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((args) => {
        const dependsOn = [args.opts.dependsOn ?? []].flat() as unknown as { __name?: string }[];
        const parent = args.opts.parent as unknown as { __name?: string } | undefined;
        optionsOf.set(`${args.type}::${args.name}`, {
          ignoreChanges: [...(args.opts.ignoreChanges ?? [])],
          dependsOn: dependsOn.map((d) => String(d.__name)),
          parent: parent?.__name,
        });
        return undefined;
      });
      try {
        value = options.program();
      } catch (err) {
        failure = err;
      }
      return {};
    });
    if (failure !== undefined) throw failure;
    waitForRPCs = settings.waitForRPCs;
    outputOf = pulumi.output as unknown as typeof outputOf;
  });
  await waitForRPCs();
  return {
    resources,
    invokes,
    value,
    resolve: <V>(output: unknown) =>
      new Promise<V>((resolve) => {
        outputOf(output).apply((v) => resolve(v as V));
      }),
  };
}

/** The resources of one type (`aws:ec2/vpc:Vpc`). */
export function ofType(resources: RegisteredResource[], type: string): RegisteredResource[] {
  return resources.filter((r) => r.type === type);
}

/** The single resource of a type; fails the test when there is not exactly one. */
export function oneOf(resources: RegisteredResource[], type: string): RegisteredResource {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]!;
}

/** The `config:` map of a real stack file (stacks/Pulumi.<stack>.yaml), as the CLI passes it. */
export function stackFileConfig(stack: string): Record<string, string> {
  const file = path.join(__dirname, "..", "..", "stacks", `Pulumi.${stack}.yaml`);
  const parsed = parseYaml(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed.config ?? {})) {
    // The CLI hands structured values (lists, maps) to programs as JSON, scalars as strings.
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return config;
}

export const TEST_GEMINI_KEY = "test-gemini-key-NOT-A-REAL-ONE";
export const TEST_API_TOKEN = "test-api-token-NOT-A-REAL-ONE";

/** A stack file's config plus the secrets the files cannot hold (no CLI to encrypt them). */
export function stackConfigWithSecrets(stack: string): {
  config: Record<string, string>;
  secretKeys: string[];
} {
  return {
    config: {
      ...stackFileConfig(stack),
      "co-intelligence:geminiApiKey": TEST_GEMINI_KEY,
      "co-intelligence:apiToken": TEST_API_TOKEN,
    },
    secretKeys: ["co-intelligence:geminiApiKey", "co-intelligence:apiToken"],
  };
}

export const TAGS = { project: "co-intelligence", stack: "test" };

/** Parses a policy document input (a JSON string after serialization). */
export function policyOf(input: unknown): {
  Statement: {
    Effect: string;
    Action: string | string[];
    Resource?: string | string[];
    [k: string]: unknown;
  }[];
} {
  return typeof input === "string" ? JSON.parse(input) : (input as never);
}

/**
 * Whether an `aws:*` resource type takes tags, read from the installed @pulumi/aws itself
 * (its `<Resource>Args` interface declares `tags`), so a new resource type is checked without
 * anyone remembering to list it. `aws:ec2/vpc:Vpc` -> `@pulumi/aws/ec2/vpc.d.ts`, `VpcArgs`.
 */
export function awsTypeTakesTags(type: string): boolean {
  const match = /^aws:([^/]+)\/([^:]+):(\w+)$/.exec(type);
  if (!match) throw new Error(`not an aws resource type token: ${type}`);
  const [, module, file, className] = match;
  const declarations = path.join(
    path.dirname(require.resolve("@pulumi/aws/package.json")),
    module === "index" ? "" : module!,
    `${file}.d.ts`,
  );
  const source = fs.readFileSync(declarations, "utf8");
  const start = source.indexOf(`export interface ${className}Args {`);
  if (start < 0) throw new Error(`${declarations} declares no ${className}Args`);
  const body = source.slice(start, source.indexOf("\n}", start));
  return /^\s{4}tags\?:/m.test(body);
}

/** The registered `aws:*` resources whose type takes tags. */
export function taggableAwsResources(resources: RegisteredResource[]): RegisteredResource[] {
  return resources.filter((r) => r.type.startsWith("aws:") && awsTypeTakesTags(r.type));
}

/** Checks project, stack and the owning component's tag on every taggable AWS resource. */
export function expectEveryTaggableAwsResourceTagged(
  resources: RegisteredResource[],
  tags: { project: string; stack: string },
): void {
  const taggable = taggableAwsResources(resources);
  expect(taggable.length).toBeGreaterThan(0);
  for (const r of taggable) {
    const resource = `${r.type} ${r.name}`;
    expect({ resource, tags: r.inputs.tags }).toEqual({
      resource,
      tags: expect.objectContaining({
        project: tags.project,
        stack: tags.stack,
        component: expect.stringMatching(/^[a-z][a-z-]+$/),
      }),
    });
  }
}
