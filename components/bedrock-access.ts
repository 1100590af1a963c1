import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BEDROCK_INVOKE_ACTION, modelTarget, type ModelTarget } from "../contract/models";

/** Lets the backend call exactly one Bedrock model (MODEL_PROVIDER=bedrock). */
export interface BedrockAccessArgs {
  /** The IAM role the backend acts as (InvokeAccess's role, or the node role); the policy goes on it. Required. */
  roleName: pulumi.Input<string>;
  /**
   * The backend's MODEL_ID: a foundation model ID (`amazon.nova-pro-v1:0`), an inference profile
   * ID (`us.amazon.nova-2-lite-v1:0`), or the ARN of a foundation model, an inference profile
   * (system-defined or application) or a provisioned model. Required.
   */
  model: string;
  /** The region the backend calls Bedrock in (its AWS_REGION). Required. */
  region: string;
  /** Name of the inline policy. Default: `BedrockInvokeModelPolicy`. */
  policyName?: string;
}

/**
 * `bedrock:InvokeModelWithResponseStream` (what ConverseStream needs) on the configured model
 * only. An inference profile also needs the foundation models it routes to; those are allowed
 * only through that profile (the `bedrock:InferenceProfileArn` condition), so the role cannot
 * call them directly or through another profile.
 */
export function bedrockInvokePolicy(
  target: ModelTarget,
  routedModelArns: string[] = [],
): aws.iam.PolicyDocument {
  const action = BEDROCK_INVOKE_ACTION;
  const statements: aws.iam.PolicyStatement[] = [
    { Sid: "InvokeTheConfiguredModel", Effect: "Allow", Action: action, Resource: target.arn },
  ];
  if (target.kind === "inference-profile" && routedModelArns.length > 0)
    statements.push({
      Sid: "InvokeItsModelsOnlyThroughTheProfile",
      Effect: "Allow",
      Action: action,
      Resource: [...new Set(routedModelArns)].sort(),
      Condition: { StringEquals: { "bedrock:InferenceProfileArn": target.arn } },
    });
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * The backend's permission to call its Bedrock model: one inline policy on the role it acts as,
 * naming the model (and, for an inference profile, the foundation models that profile routes
 * to, as Bedrock reports them) and nothing else.
 */
export class BedrockAccess extends pulumi.ComponentResource {
  /** The resources the policy allows, the model's ARN first. */
  public readonly resourceArns: pulumi.Output<string[]>;
  public readonly policyName: pulumi.Output<string>;

  constructor(name: string, args: BedrockAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:BedrockAccess", name, {}, opts);
    const policyName = args.policyName ?? "BedrockInvokeModelPolicy";
    const accountId = aws.getCallerIdentityOutput({}, { parent: this }).accountId;
    const policy = accountId.apply((account) => {
      const target = modelTarget(args.model, args.region, account);
      if (target.kind !== "inference-profile") return pulumi.output(bedrockInvokePolicy(target));
      return aws.bedrock
        .getInferenceProfileOutput({ inferenceProfileId: args.model, region: args.region }, { parent: this })
        .apply((profile) =>
          bedrockInvokePolicy(
            // Bedrock's own ARN for the profile (an ID given in MODEL_ID is resolved in this account).
            { ...target, arn: profile.inferenceProfileArn || target.arn },
            profile.models.map((m) => m.modelArn),
          ),
        );
    });
    const rolePolicy = new aws.iam.RolePolicy(
      `${name}-policy`,
      { name: policyName, role: args.roleName, policy: pulumi.jsonStringify(policy) },
      { parent: this },
    );
    this.resourceArns = policy.apply((p) =>
      (p.Statement as aws.iam.PolicyStatement[]).flatMap((s) => [s.Resource ?? []].flat() as string[]),
    );
    this.policyName = rolePolicy.name;
    this.registerOutputs({ resourceArns: this.resourceArns, policyName: this.policyName });
  }
}
