/**
 * The provider the configuration chose, built once at start-up; undefined while the
 * configuration still lacks what it needs (missingModelSettings says what).
 */
import { createBedrockProvider } from "./bedrock";
import { createGeminiProvider } from "./gemini";
import { createOpenAIProvider } from "./openai";
import type { ModelProvider } from "./provider";
import { missingModelSettings, type ModelSettings } from "./settings";

export interface ProviderEnvironment {
  /** Static AWS credentials given in the backend's environment (else the SDK's chain, for Bedrock). */
  awsCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export function createProvider(
  settings: ModelSettings,
  environment: ProviderEnvironment = {},
): ModelProvider | undefined {
  if (missingModelSettings(settings).length > 0) return undefined;
  switch (settings.provider) {
    case "gemini":
      return createGeminiProvider({
        model: settings.model,
        apiKey: settings.apiKey!,
        baseUrl: settings.baseUrl,
      });
    case "openai":
      return createOpenAIProvider({
        model: settings.model!,
        baseUrl: settings.baseUrl,
        apiKey: settings.apiKey,
      });
    case "bedrock":
      return createBedrockProvider({
        model: settings.model,
        region: settings.region,
        endpoint: settings.endpoint,
        ...(environment.awsCredentials ? { credentials: environment.awsCredentials } : {}),
      });
  }
}
