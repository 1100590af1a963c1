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

function describeFound(evaluation: Evaluation): string {
  if (evaluation.allowedElsewhere.length === 0) return `no policy of the role allows ${ACTION}`;
  return evaluation.allowedElsewhere
    .map((a) => `${a.policy} allows it on ${a.resources.join(", ")}`)
    .join("; ");
}

export const invokePermission: Check<DoctorContext> = {
  id: "invoke-permission",
  title: "Backend's role may invoke the function",
  needs: ["function-exists"],
  async run(ctx) {
    const roleName = ctx.targets.invokeRoleName;
    const arn = functionArn(ctx);
    const fix = `${ctx.fix.pulumiUp}   (or now: ${command(
      "aws",
      "iam",
      "put-role-policy",
      "--role-name",
      roleName,
      "--policy-name",
      "invoke-code-executor",
      "--policy-document",
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: ACTION, Resource: arn }],
      }),
    )})`;
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

    let simulationNote: string;
    try {
      const sim = await ctx.aws.iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: roleArn,
          ActionNames: [ACTION],
          ResourceArns: [arn],
        }),
      );
      const decision = sim.EvaluationResults?.[0]?.EvalDecision;
      if (decision === "allowed") return pass(`IAM policy simulation: ${roleName} may ${ACTION} on ${arn}`);
      simulationNote = `IAM policy simulation says ${decision ?? "no decision"}`;
    } catch {
      // Not allowed to simulate, or an emulator without a simulator: read the policies instead.
      simulationNote = "";
    }

    let evaluation: Evaluation;
    try {
      evaluation = evaluate(await rolePolicies(ctx.aws.iam, roleName), ACTION, arn);
    } catch (err) {
      if (simulationNote) return fail(`${simulationNote} for ${ACTION} on ${arn}`, fix);
      if (isAccessDenied(err))
        return skip(`cannot simulate or read the policies of ${roleName}: ${errorLine(err)}`);
      throw err;
    }
    const prefix = simulationNote ? `${simulationNote}; ` : "";
    if (!simulationNote && evaluation.decision === "allowed") {
      const by = evaluation.matched.map(
        (m) => `${m.policy}${m.sid ? `#${m.sid}` : ""}${m.conditional ? " (with conditions)" : ""}`,
      );
      return pass(`${roleName} may ${ACTION} on ${arn} (read from its policies: ${by.join(", ")})`);
    }
    if (evaluation.decision === "explicitDeny") {
      const by = evaluation.matched.map((m) => `${m.policy}${m.sid ? `#${m.sid}` : ""}`).join(", ");
      return fail(
        `${prefix}role ${roleName} is denied ${ACTION} on ${arn} by ${by}`,
        `remove that Deny, then: ${fix}`,
      );
    }
    return fail(
      `${prefix}role ${roleName} may not ${ACTION} on ${arn}; found: ${describeFound(evaluation)}`,
      fix,
    );
  },
};
