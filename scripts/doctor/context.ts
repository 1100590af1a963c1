/**
 * What every doctor check receives: the resolved targets, AWS clients, the fix commands
 * (named once here so every check says them the same way) and what earlier checks found.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ECRClient, Repository } from "@aws-sdk/client-ecr";
import { IAMClient } from "@aws-sdk/client-iam";
import { FunctionConfiguration, LambdaClient } from "@aws-sdk/client-lambda";
import { STSClient } from "@aws-sdk/client-sts";
import { lambdaInvokeClient, makeClient } from "../adapters/aws";
import { Kubectl, type KubeDeployment, type KubeLookup } from "../adapters/kubectl";
import { Targets } from "../lib/cli";
import { command } from "../lib/shell";

export interface DoctorContext {
  targets: Targets;
  env: NodeJS.ProcessEnv;
  aws: {
    sts: STSClient;
    lambda: LambdaClient;
    /** Lambda Invoke only (AWS_ENDPOINT_URL_LAMBDA_INVOKE, see scripts/adapters/aws.ts). */
    invoke: LambdaClient;
    ec2: EC2Client;
    logs: CloudWatchLogsClient;
    cloudwatch: CloudWatchClient;
    iam: IAMClient;
    ecr: ECRClient;
  };
  kubectl: Kubectl;
  fix: Fixes;
  /** Filled in by earlier checks, read by later ones. */
  found: {
    account?: string;
    fn?: FunctionConfiguration;
    reservedConcurrency?: number;
    repository?: Repository;
    /** function-invoke got an answer: the function ran, so it has logged. */
    invoked?: boolean;
    /** The deployment as kubectl reports it, looked up once. */
    deployment?: Promise<DoctorLookup<KubeDeployment>>;
  };
}

/** What a check makes of a kubectl answer: the object, a skip (kubectl could not ask), or a fail. */
export type DoctorLookup<T> =
  | { status: "ok"; value: T }
  | { status: "skip"; detail: string }
  | { status: "fail"; detail: string; fix: string };

/** A kubectl lookup as a check reads it: "could not ask" skips, "not there" fails with `missing`'s fix. */
export function asCheckLookup<T>(
  lookup: KubeLookup<T>,
  missing: { detail: string; fix: string },
): DoctorLookup<T> {
  if (lookup.status === "ok") return lookup;
  if (lookup.status === "unavailable") return { status: "skip", detail: lookup.reason };
  return { status: "fail", detail: `${missing.detail} (${lookup.reason})`, fix: missing.fix };
}

/** The deployment as kubectl reports it, looked up once per doctor run. */
export function deploymentOf(ctx: DoctorContext): Promise<DoctorLookup<KubeDeployment>> {
  const { namespace, deploymentName } = ctx.targets;
  ctx.found.deployment ??= ctx.kubectl.deployment(namespace, deploymentName).then((lookup) =>
    asCheckLookup(lookup, {
      detail: `no deployment ${deploymentName} in namespace ${namespace}`,
      fix:
        `${ctx.fix.pulumiUp}; before the first rollout there is no Deployment: ${ctx.fix.updateBackend}` +
        `   (or pass where the backend runs: --namespace NS --deployment NAME)`,
    }),
  );
  return ctx.found.deployment;
}

/** The repair commands, with this run's names filled in. */
export interface Fixes {
  pulumiUp: string;
  rollout: string;
  updateBackend: string;
  logs: string;
  stackFlag: string;
}

export function fixesFor(t: Targets): Fixes {
  // Without --stack we still name the command, with a placeholder the reader must fill in.
  const stack = t.stack ?? "<stack>";
  const stackFlag = t.stack ? `--stack ${t.stack}` : `--stack <stack>`;
  return {
    pulumiUp: `pulumi up --stack ${stack}`,
    rollout: `npm run rollout -- ${stackFlag}`,
    updateBackend: `npm run update-backend -- ${stackFlag}`,
    logs: command(
      "npm",
      "run",
      "logs",
      "--",
      "--function",
      t.functionName,
      "--region",
      t.region,
      "--since",
      t.sinceMinutes,
    ),
    stackFlag,
  };
}

export function createContext(targets: Targets, env: NodeJS.ProcessEnv): DoctorContext {
  const region = targets.region;
  return {
    targets,
    env,
    aws: {
      sts: makeClient(STSClient, { region }),
      lambda: makeClient(LambdaClient, { region }),
      invoke: lambdaInvokeClient(region, env),
      ec2: makeClient(EC2Client, { region }),
      logs: makeClient(CloudWatchLogsClient, { region }),
      cloudwatch: makeClient(CloudWatchClient, { region }),
      iam: makeClient(IAMClient, { region }),
      ecr: makeClient(ECRClient, { region }),
    },
    kubectl: new Kubectl(env, { requireContext: true }),
    fix: fixesFor(targets),
    found: {},
  };
}
