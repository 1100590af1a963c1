/**
 * invoke-permission: may the backend's role (node role, IRSA role or pod identity role,
 * --invoke-role) call lambda:InvokeFunction on the function? IAM's policy simulator
 * answers it exactly; without it (no permission, or an emulator) we read the role's inline
 * and attached policies and evaluate them ourselves (iam-policy.ts).
 */
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  SimulatePrincipalPolicyCommand,
} from "@aws-sdk/client-iam";
import { awsErrorName, isAccessDenied } from "../adapters/aws";
import { errorLine } from "../lib/cli";
import { Check, fail, pass, skip } from "../lib/report";
import { DoctorContext } from "./context";
import { functionArn } from "./function";
import { Evaluation, NamedPolicy, evaluate, parsePolicyDocument } from "./iam-policy";
import { command } from "../lib/shell";
import { BEDROCK_INVOKE_ACTION, defaultBedrockModel, modelTarget } from "../../contract/models";

const ACTION = "lambda:InvokeFunction";

/** The role's inline and attached (default version) policies. */
export async function rolePolicies(iam: IAMClient, roleName: string): Promise<NamedPolicy[]> {
  const policies: NamedPolicy[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName, Marker: marker }));
    for (const policyName of page.PolicyNames ?? []) {
      const p = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }));
      policies.push({
        name: `inline:${policyName}`,
        document: parsePolicyDocument(p.PolicyDocument ?? "{}"),
      });
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  do {
    const page = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName, Marker: marker }));
    for (const attached of page.AttachedPolicies ?? []) {
      const policy = await iam.send(new GetPolicyCommand({ PolicyArn: attached.PolicyArn }));
      const version = await iam.send(
        new GetPolicyVersionCommand({
          PolicyArn: attached.PolicyArn,
          VersionId: policy.Policy?.DefaultVersionId,
        }),
      );
      policies.push({
        name: attached.PolicyArn ?? attached.PolicyName ?? "?",
        document: parsePolicyDocument(version.PolicyVersion?.Document ?? "{}"),
      });
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return policies;
}

function describeFound(evaluation: Evaluation, action: string): string {
  if (evaluation.allowedElsewhere.length === 0) return `no policy of the role allows ${action}`;
  return evaluation.allowedElsewhere
    .map((a) => `${a.policy} allows it on ${a.resources.join(", ")}`)
    .join("; ");
}

/** What the role may do about one action on one resource, in words for the report. */
type Verdict =
  | { status: "pass"; detail: string }
  | { status: "fail"; detail: string; deniedBy?: string }
  | { status: "skip"; detail: string };

/**
 * May `roleName` do `action` on `arn`? IAM's policy simulator answers it exactly; without it
 * (no permission, or an emulator) the role's policies are read and evaluated here.
 */
async function judge(
  ctx: DoctorContext,
  roleName: string,
  roleArn: string,
  action: string,
  arn: string,
): Promise<Verdict> {
  let simulationNote: string;
  try {
    const sim = await ctx.aws.iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: [action],
        ResourceArns: [arn],
      }),
    );
    const decision = sim.EvaluationResults?.[0]?.EvalDecision;
    if (decision === "allowed")
      return { status: "pass", detail: `IAM policy simulation: ${roleName} may ${action} on ${arn}` };
    simulationNote = `IAM policy simulation says ${decision ?? "no decision"}`;
  } catch {
    // Not allowed to simulate, or an emulator without a simulator: read the policies instead.
    simulationNote = "";
  }

  let evaluation: Evaluation;
  try {
    evaluation = evaluate(await rolePolicies(ctx.aws.iam, roleName), action, arn);
  } catch (err) {
    if (simulationNote) return { status: "fail", detail: `${simulationNote} for ${action} on ${arn}` };
    if (isAccessDenied(err))
      return {
        status: "skip",
        detail: `cannot simulate or read the policies of ${roleName}: ${errorLine(err)}`,
      };
    throw err;
  }
  const prefix = simulationNote ? `${simulationNote}; ` : "";
  if (!simulationNote && evaluation.decision === "allowed") {
    const by = evaluation.matched.map(
      (m) => `${m.policy}${m.sid ? `#${m.sid}` : ""}${m.conditional ? " (with conditions)" : ""}`,
    );
    return {
      status: "pass",
      detail: `${roleName} may ${action} on ${arn} (read from its policies: ${by.join(", ")})`,
    };
  }
  if (evaluation.decision === "explicitDeny") {
    const by = evaluation.matched.map((m) => `${m.policy}${m.sid ? `#${m.sid}` : ""}`).join(", ");
    return {
      status: "fail",
      detail: `${prefix}role ${roleName} is denied ${action} on ${arn} by ${by}`,
      deniedBy: by,
    };
  }
  return {
    status: "fail",
    detail: `${prefix}role ${roleName} may not ${action} on ${arn}; found: ${describeFound(evaluation, action)}`,
  };
}

/** The command that allows `action` on `arn` to the role right now (an inline policy). */
function putRolePolicy(roleName: string, policyName: string, action: string, arn: string): string {
  return command(
    "aws",
    "iam",
    "put-role-policy",
    "--role-name",
    roleName,
    "--policy-name",
    policyName,
    "--policy-document",
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: action, Resource: arn }],
    }),
  );
}

/** The ARN the backend's role must be allowed to call: the configured Bedrock model (or its default). */
function bedrockModelArn(ctx: DoctorContext, roleArn: string): string {
  const account = /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1] ?? ctx.found.account ?? "<account>";
  const model = ctx.targets.model.id ?? defaultBedrockModel(ctx.targets.region);
  return modelTarget(model, ctx.targets.region, account).arn;
}

export const invokePermission: Check<DoctorContext> = {
  id: "invoke-permission",
  title: "Backend's role may invoke the function (and, with Amazon Bedrock, call its model)",
  needs: ["function-exists"],
  async run(ctx) {
    const roleName = ctx.targets.invokeRoleName;
    const arn = functionArn(ctx);
    const fix = `${ctx.fix.pulumiUp}   (or now: ${putRolePolicy(roleName, "invoke-code-executor", ACTION, arn)})`;
    let roleArn: string;
    try {
      roleArn = (await ctx.aws.iam.send(new GetRoleCommand({ RoleName: roleName }))).Role!.Arn!;
    } catch (err) {
      if (awsErrorName(err) === "NoSuchEntity" || awsErrorName(err) === "NoSuchEntityException") {
        return fail(
          `no IAM role ${roleName}: ${errorLine(err)}`,
          `${ctx.fix.pulumiUp}   (or pass the role the backend really uses: --invoke-role NAME)`,
        );
      }
      if (isAccessDenied(err)) return skip(`no permission to read role ${roleName}: ${errorLine(err)}`);
      throw err;
    }

    const invoke = await judge(ctx, roleName, roleArn, ACTION, arn);
    if (invoke.status === "skip") return skip(invoke.detail);
    // With Amazon Bedrock as the model, the same role must also be allowed to call it.
    if (ctx.targets.model.provider !== "bedrock") {
      if (invoke.status === "pass") return pass(invoke.detail);
      return fail(invoke.detail, invoke.deniedBy ? `remove that Deny, then: ${fix}` : fix);
    }
    const modelArn = bedrockModelArn(ctx, roleArn);
    const model = await judge(ctx, roleName, roleArn, BEDROCK_INVOKE_ACTION, modelArn);
    const bedrockFix =
      `pulumi config set co-intelligence:modelProvider bedrock ${ctx.fix.stackFlag} && ${ctx.fix.pulumiUp}   ` +
      `(or now: ${putRolePolicy(roleName, "BedrockInvokeModelPolicy", BEDROCK_INVOKE_ACTION, modelArn)}; ` +
      "an inference profile also needs the foundation models it routes to: docs/choosing-a-model.md)";
    const detail = `${invoke.detail}; Amazon Bedrock: ${model.status === "skip" ? `not checked (${model.detail})` : model.detail}`;
    if (invoke.status === "pass" && model.status !== "fail") return pass(detail);
    const fixes = [
      ...(invoke.status === "fail" ? [invoke.deniedBy ? `remove that Deny, then: ${fix}` : fix] : []),
      ...(model.status === "fail"
        ? [model.deniedBy ? `remove that Deny, then: ${bedrockFix}` : bedrockFix]
        : []),
    ];
    return fail(detail, fixes.join("; and "));
  },
};
