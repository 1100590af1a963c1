/**
 * A provider of each kind wired to its local fake, driven by one protocol-neutral script:
 * `withFake("bedrock", scripted(...))` starts the fake Bedrock and returns the backend's
 * Bedrock provider pointed at it, the fake's requests as neutral turns, and the backend
 * environment that selects the same thing (for tests through the whole backend).
 */
import { createBedrockProvider } from "../../backend/providers/bedrock";
import { createGeminiProvider } from "../../backend/providers/gemini";
import { createOpenAIProvider } from "../../backend/providers/openai";
import type { ModelProvider, ProviderId } from "../../backend/providers/provider";
import { startFakeBedrock, type FakeBedrockOptions } from "../../dev/fakes/bedrock";
import { geminiScript } from "../../dev/fakes/gemini-script";
import { startFakeOpenAI, type FakeOpenAIOptions } from "../../dev/fakes/openai";
import type { FakeModelRequest, FakeScript } from "../../dev/fakes/script";
import { startFakeGemini } from "../../dev/fakes/gemini";

export const PROVIDERS: ProviderId[] = ["gemini", "openai", "bedrock"];

/** The credentials the fake Bedrock checks signatures against, and the backend signs with. */
export const BEDROCK_KEY = { accessKeyId: "AKIDFAKEBEDROCK", secretAccessKey: "fake-secret-for-tests" };
export const OPENAI_KEY = "sk-fake-for-tests";
export const GEMINI_KEY = "fake-gemini-key";
export const MODELS: Record<ProviderId, string> = {
  gemini: "gemini-test-flash",
  openai: "gpt-test",
  bedrock: "us.amazon.nova-2-lite-v1:0",
};

export interface FakeEndpoint {
  url: string;
  /** The requests as neutral turns, in order. */
  requests: FakeModelRequest[];
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  waitForAbort(index: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface FakeOptions {
  openai?: FakeOpenAIOptions;
  bedrock?: FakeBedrockOptions;
}

/** Starts the fake for `id`, running `script`. */
export async function startFake(
  id: ProviderId,
  script: FakeScript,
  options: FakeOptions = {},
): Promise<FakeEndpoint> {
  if (id === "openai") return startFakeOpenAI({ script, apiKey: OPENAI_KEY, ...options.openai });
  if (id === "bedrock") return startFakeBedrock({ script, credentials: [BEDROCK_KEY], ...options.bedrock });
  const requests: FakeModelRequest[] = [];
  const gemini = await startFakeGemini(geminiScript(script, requests));
  return {
    url: gemini.url,
    requests,
    waitForRequests: (count, timeoutMs) => gemini.waitForRequests(count, timeoutMs),
    waitForAbort: (index, timeoutMs) => gemini.waitForAbort(index, timeoutMs),
    close: () => gemini.close(),
  };
}

/** The backend's environment selecting provider `id` at `url` (the fake). */
export function providerEnv(id: ProviderId, url: string): Record<string, string> {
  const common = { MODEL_PROVIDER: id, MODEL_ID: MODELS[id] };
  if (id === "gemini") return { ...common, GEMINI_API_KEY: GEMINI_KEY, GEMINI_BASE_URL: url };
  if (id === "openai") return { ...common, OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: url };
  return {
    ...common,
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: url,
    AWS_ACCESS_KEY_ID: BEDROCK_KEY.accessKeyId,
    AWS_SECRET_ACCESS_KEY: BEDROCK_KEY.secretAccessKey,
    AWS_REGION: "us-east-1",
  };
}

/** The backend's provider `id` pointed at `url`. */
export function providerFor(
  id: ProviderId,
  url: string,
  overrides: { apiKey?: string; region?: string } = {},
): ModelProvider {
  if (id === "gemini")
    return createGeminiProvider({
      model: MODELS.gemini,
      apiKey: overrides.apiKey ?? GEMINI_KEY,
      baseUrl: url,
    });
  if (id === "openai")
    return createOpenAIProvider({
      model: MODELS.openai,
      baseUrl: url,
      apiKey: overrides.apiKey ?? OPENAI_KEY,
    });
  return createBedrockProvider({
    model: MODELS.bedrock,
    region: overrides.region ?? "us-east-1",
    endpoint: url,
    credentials: BEDROCK_KEY,
  });
}

export interface ProviderWithFake {
  provider: ModelProvider;
  fake: FakeEndpoint;
  close(): Promise<void>;
}

export async function withFake(
  id: ProviderId,
  script: FakeScript,
  options: FakeOptions = {},
): Promise<ProviderWithFake> {
  const fake = await startFake(id, script, options);
  const provider = providerFor(id, fake.url);
  return {
    provider,
    fake,
    async close() {
      provider.close?.();
      await fake.close();
    },
  };
}
