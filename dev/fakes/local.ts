/**
 * The fake model `npm start -- --provider X` runs beside the local stack: the fake server for
 * that provider's protocol, answering with the seed brain, and the backend environment that
 * points the real provider code at it (the same SDK and wire protocol as in production, with
 * a key or signature the fake checks).
 */
import { PROVIDER_LABELS, type ProviderId } from "../../contract/models";
import { startFakeGemini } from "./gemini";
import { startFakeBedrock } from "./bedrock";
import { geminiScript } from "./gemini-script";
import { startFakeOpenAI } from "./openai";
import { seedBrain, type FakeScript } from "./script";

/** What the local fakes check and the backend sends: not secrets, and good for nothing else. */
export const LOCAL_FAKE_CREDENTIALS = {
  geminiApiKey: "local-fake-gemini-key",
  openaiApiKey: "sk-local-fake-openai-key",
  aws: { accessKeyId: "AKIDLOCALFAKEBEDROCK", secretAccessKey: "local-fake-bedrock-secret" },
};

/** The model each fake says it is, unless `--model` names another. */
export const LOCAL_FAKE_MODELS: Record<ProviderId, string> = {
  gemini: "gemini-3.8-flash",
  openai: "local-fake-model",
  bedrock: "us.amazon.nova-2-lite-v1:0",
};

export interface LocalFakeModel {
  /** Variables to give the backend. */
  env: Record<string, string>;
  /** One line for the start-up banner. */
  description: string;
  close(): Promise<void>;
}

export interface LocalFakeOptions {
  /** The model the backend asks for. Default LOCAL_FAKE_MODELS[provider]. */
  model?: string;
  /** The region requests are signed for (Bedrock). Default us-east-1. */
  region?: string;
  /** What the fake answers. Default the seed brain. */
  script?: FakeScript;
}

export async function startLocalFakeModel(
  provider: ProviderId,
  options: LocalFakeOptions = {},
): Promise<LocalFakeModel> {
  const model = options.model ?? LOCAL_FAKE_MODELS[provider];
  const script = options.script ?? seedBrain();
  const common = { MODEL_PROVIDER: provider, MODEL_ID: model };
  if (provider === "openai") {
    const fake = await startFakeOpenAI({ script, apiKey: LOCAL_FAKE_CREDENTIALS.openaiApiKey });
    return {
      env: { ...common, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: LOCAL_FAKE_CREDENTIALS.openaiApiKey },
      description: `fake ${PROVIDER_LABELS.openai} at ${fake.url} (model ${model}; seed questions only)`,
      close: () => fake.close(),
    };
  }
  if (provider === "bedrock") {
    const region = options.region ?? "us-east-1";
    const fake = await startFakeBedrock({
      script: seedBrain(),
      region,
      credentials: [LOCAL_FAKE_CREDENTIALS.aws],
    });
    return {
      env: {
        ...common,
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME: fake.url,
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: LOCAL_FAKE_CREDENTIALS.aws.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_FAKE_CREDENTIALS.aws.secretAccessKey,
      },
      description: `fake ${PROVIDER_LABELS.bedrock} runtime at ${fake.url} (model ${model}, ${region}; seed questions only)`,
      close: () => fake.close(),
    };
  }
  const fake = await startFakeGemini(geminiScript(script));
  return {
    env: { ...common, GEMINI_BASE_URL: fake.url, GEMINI_API_KEY: LOCAL_FAKE_CREDENTIALS.geminiApiKey },
    description: `fake ${PROVIDER_LABELS.gemini} at ${fake.url} (model ${model}; seed questions only)`,
    close: () => fake.close(),
  };
}
