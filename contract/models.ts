/**
 * The model providers (CONTRACT section 2: MODEL_PROVIDER, MODEL_ID and the variables of each
 * provider) and what the backend, the Pulumi program and `doctor` all need to agree on: the
 * valid providers, the default models, and which IAM resource a Bedrock MODEL_ID is.
 */

export const PROVIDER_IDS = ["gemini", "bedrock", "openai"] as const;

export type ProviderId = (typeof PROVIDER_IDS)[number];

export const DEFAULT_PROVIDER: ProviderId = "gemini";

/** People's names for the providers (logs, the page, messages). */
export const PROVIDER_LABELS: Record<ProviderId, string> = {
  gemini: "Google Gemini",
  bedrock: "Amazon Bedrock",
  openai: "OpenAI-compatible API",
};

/**
 * The response headers of `POST /api/chat` that name the model answering (the chat page shows
 * it under each answer; smoke reports it).
 */
export const MODEL_HEADERS = { provider: "x-model-provider", model: "x-model" } as const;

/** OpenAI's own API; any OpenAI-compatible server is one OPENAI_BASE_URL away. */
export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1";

/** Amazon Nova 2 Lite: current, supports tool use with ConverseStream, no access form to fill in. */
export const DEFAULT_BEDROCK_FOUNDATION_MODEL = "amazon.nova-2-lite-v1:0";

/** The default Bedrock model for a region: the US inference profile in US regions, else the global one. */
export function defaultBedrockModel(region: string): string {
  return `${region.startsWith("us-") ? "us" : "global"}.${DEFAULT_BEDROCK_FOUNDATION_MODEL}`;
}

/** The one action ConverseStream needs, and the only Bedrock permission the backend gets. */
export const BEDROCK_INVOKE_ACTION = "bedrock:InvokeModelWithResponseStream";

/** What a Bedrock MODEL_ID names, as far as IAM cares. */
export type ModelTarget =
  | { kind: "foundation-model"; arn: string }
  | { kind: "inference-profile"; arn: string; id: string }
  | { kind: "other"; arn: string };

/** Geography prefixes of system-defined (cross-region) inference profile IDs. */
const PROFILE_PREFIXES = ["us", "us-gov", "eu", "apac", "global", "jp", "au", "ca"];

/** Whether a Bedrock MODEL_ID is an inference profile ID (`us.amazon.nova-2-lite-v1:0`). */
export function isInferenceProfileId(model: string): boolean {
  const parts = model.split(".");
  return !model.startsWith("arn:") && parts.length >= 3 && PROFILE_PREFIXES.includes(parts[0]!);
}

/** The partition a region is in. */
export function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/**
 * Where a Bedrock MODEL_ID points: its ARN (a model ID in the backend's region; an inference
 * profile ID in that region and account), and whether it is an inference profile, which
 * routes each request on to a foundation model.
 */
export function modelTarget(model: string, region: string, accountId: string): ModelTarget {
  const partition = partitionOf(region);
  if (model.startsWith("arn:")) {
    const resource = model.split(":").slice(5).join(":");
    const [type, ...rest] = resource.split("/");
    if (type === "inference-profile" || type === "application-inference-profile")
      return { kind: "inference-profile", arn: model, id: rest.join("/") };
    if (type === "foundation-model") return { kind: "foundation-model", arn: model };
    return { kind: "other", arn: model };
  }
  if (isInferenceProfileId(model))
    return {
      kind: "inference-profile",
      arn: `arn:${partition}:bedrock:${region}:${accountId}:inference-profile/${model}`,
      id: model,
    };
  return { kind: "foundation-model", arn: `arn:${partition}:bedrock:${region}::foundation-model/${model}` };
}
