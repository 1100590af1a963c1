// BedrockAccess under Pulumi's mocks: the backend's role may call exactly the configured
// Bedrock model, whichever way MODEL_ID names it; an inference profile brings the foundation
// models it routes to (as Bedrock reports them), usable only through that profile.
import { ACCOUNT_ID, oneOf, policyOf, runPulumi } from "./pulumi-harness";

type AccessModule = typeof import("../../components/bedrock-access");
type AccessArgs = import("../../components/bedrock-access").BedrockAccessArgs;

const ACTION = "bedrock:InvokeModelWithResponseStream";
const US_PROFILE = `arn:aws:bedrock:us-east-1:${ACCOUNT_ID}:inference-profile/us.amazon.nova-2-lite-v1:0`;
const ROUTED = ["us-east-1", "us-east-2", "us-west-2"].map(
  (region) => `arn:aws:bedrock:${region}::foundation-model/amazon.nova-2-lite-v1:0`,
);

function bedrockAccess(args: Partial<AccessArgs>, profile?: { arn: string; models: string[] }) {
  return runPulumi({
    invokeAnswers: profile
      ? {
          "aws:bedrock/getInferenceProfile:getInferenceProfile": {
            inferenceProfileArn: profile.arn,
            inferenceProfileId: profile.arn.split("/").pop(),
            models: profile.models.map((modelArn) => ({ modelArn })),
            status: "ACTIVE",
            type: "SYSTEM_DEFINED",
          },
        }
      : {},
    program: () => {
      const { BedrockAccess } = require("../../components/bedrock-access") as AccessModule; // eslint-disable-line @typescript-eslint/no-require-imports
      return new BedrockAccess("bedrock", {
        roleName: "backend-role",
        model: "amazon.nova-pro-v1:0",
        region: "us-east-1",
        ...args,
      });
    },
  });
}

describe("BedrockAccess", () => {
  it("a foundation model ID: the one model's ARN in the region, nothing else", async () => {
    const { resources, invokes } = await bedrockAccess({
      model: "amazon.nova-pro-v1:0",
      region: "eu-west-1",
    });
    const policy = oneOf(resources, "aws:iam/rolePolicy:RolePolicy").inputs;
    expect(policy).toMatchObject({ name: "BedrockInvokeModelPolicy", role: "backend-role" });
    expect(policyOf(policy.policy).Statement).toEqual([
      {
        Sid: "InvokeTheConfiguredModel",
        Effect: "Allow",
        Action: ACTION,
        Resource: "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0",
      },
    ]);
    expect(invokes.map((i) => i.token)).not.toContain("aws:bedrock/getInferenceProfile:getInferenceProfile");
  });

  it("an inference profile ID: the profile, and the models it routes to only through it", async () => {
    const { resources, invokes } = await bedrockAccess(
      { model: "us.amazon.nova-2-lite-v1:0" },
      { arn: US_PROFILE, models: ROUTED },
    );
    expect(
      invokes.find((i) => i.token === "aws:bedrock/getInferenceProfile:getInferenceProfile")?.inputs,
    ).toMatchObject({
      inferenceProfileId: "us.amazon.nova-2-lite-v1:0",
      region: "us-east-1",
    });
    const statements = policyOf(oneOf(resources, "aws:iam/rolePolicy:RolePolicy").inputs.policy).Statement;
    expect(statements).toEqual([
      { Sid: "InvokeTheConfiguredModel", Effect: "Allow", Action: ACTION, Resource: US_PROFILE },
      {
        Sid: "InvokeItsModelsOnlyThroughTheProfile",
        Effect: "Allow",
        Action: ACTION,
        Resource: [...ROUTED].sort(),
        Condition: { StringEquals: { "bedrock:InferenceProfileArn": US_PROFILE } },
      },
    ]);
    expect(JSON.stringify(statements)).not.toContain("*");
  });

  it("an application inference profile ARN: looked up by its ARN, its models behind the same condition", async () => {
    const arn = `arn:aws:bedrock:us-east-1:${ACCOUNT_ID}:application-inference-profile/abc123`;
    const { resources } = await bedrockAccess({ model: arn }, { arn, models: [ROUTED[0]!] });
    const statements = policyOf(oneOf(resources, "aws:iam/rolePolicy:RolePolicy").inputs.policy).Statement;
    expect(statements[0]!.Resource).toBe(arn);
    expect(statements[1]).toMatchObject({
      Resource: [ROUTED[0]],
      Condition: { StringEquals: { "bedrock:InferenceProfileArn": arn } },
    });
  });

  it("a provisioned model ARN: that ARN only", async () => {
    const arn = `arn:aws:bedrock:us-east-1:${ACCOUNT_ID}:provisioned-model/xyz`;
    const { resources } = await bedrockAccess({ model: arn });
    const statements = policyOf(oneOf(resources, "aws:iam/rolePolicy:RolePolicy").inputs.policy).Statement;
    expect(statements).toEqual([
      { Sid: "InvokeTheConfiguredModel", Effect: "Allow", Action: ACTION, Resource: arn },
    ]);
  });
});
