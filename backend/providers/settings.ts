/**
 * Which model the backend talks to, read from the environment (CONTRACT section 2:
 * MODEL_PROVIDER, MODEL_ID, GEMINI_*, OPENAI_BASE_URL, OPENAI_API_KEY,
 * AWS_ENDPOINT_URL_BEDROCK_RUNTIME). A bad value is a start-up problem naming the variable and
 * the valid values; a missing key or model is not (the sandbox endpoint still works): /readyz
 * and the chat name it.
 */
import { defaultBedrockModel, DEFAULT_OPENAI_BASE_URL } from "../../contract/models";
import { DEFAULT_GEMINI_MODEL } from "../../contract/names";
import { PROVIDER_IDS, providerLabel, type ProviderId } from "./provider";

export type ModelSettings =
  | { provider: "gemini"; model: string; apiKey: string | undefined; baseUrl: string | undefined }
  | { provider: "openai"; model: string | undefined; apiKey: string | undefined; baseUrl: string }
  | { provider: "bedrock"; model: string; region: string; endpoint: string | undefined };

export interface SettingsReader {
  /** The trimmed value, undefined when unset or blank. */
  value(name: string): string | undefined;
  /** A validated http(s) URL without credentials (a problem is recorded otherwise). */
  url(name: string): string | undefined;
}

/** Reads the model settings; pushes a problem (naming the fix) for each bad value. */
export function readModelSettings(read: SettingsReader, region: string, problems: string[]): ModelSettings {
  const raw = read.value("MODEL_PROVIDER");
  let provider: ProviderId = "gemini";
  if (raw !== undefined) {
    const wanted = raw.toLowerCase();
    if ((PROVIDER_IDS as readonly string[]).includes(wanted)) provider = wanted as ProviderId;
    else
      problems.push(
        `MODEL_PROVIDER=${JSON.stringify(raw)} is not a provider; use one of ${PROVIDER_IDS.join(", ")} ` +
          "(e.g. MODEL_PROVIDER=bedrock; docs/choosing-a-model.md says what each needs)",
      );
  }
  // A model name is shown in a response header and in logs: printable ASCII without spaces,
  // as every provider's names are.
  const modelName = (name: string): string | undefined => {
    const raw = read.value(name);
    if (raw !== undefined && !/^[\x21-\x7e]{1,256}$/.test(raw)) {
      problems.push(
        `${name}=${JSON.stringify(raw.slice(0, 300))} is not a model name (printable ASCII without spaces, ` +
          `at most 256 characters); e.g. ${name}=us.amazon.nova-2-lite-v1:0`,
      );
      return undefined;
    }
    return raw;
  };
  const modelId = modelName("MODEL_ID");
  if (provider === "gemini") {
    const geminiModel = modelName("GEMINI_MODEL");
    if (modelId && geminiModel && modelId !== geminiModel)
      problems.push(
        `MODEL_ID=${modelId} and GEMINI_MODEL=${geminiModel} name different models; set only one of them ` +
          "(MODEL_ID for every provider, GEMINI_MODEL still works for Gemini)",
      );
    return {
      provider,
      model: modelId ?? geminiModel ?? DEFAULT_GEMINI_MODEL,
      apiKey: read.value("GEMINI_API_KEY"),
      baseUrl: read.url("GEMINI_BASE_URL"),
    };
  }
  if (provider === "openai")
    return {
      provider,
      model: modelId,
      apiKey: read.value("OPENAI_API_KEY"),
      baseUrl: read.url("OPENAI_BASE_URL") ?? DEFAULT_OPENAI_BASE_URL,
    };
  return {
    provider,
    model: modelId ?? defaultBedrockModel(region),
    region,
    endpoint: read.url("AWS_ENDPOINT_URL_BEDROCK_RUNTIME") ?? read.url("AWS_ENDPOINT_URL"),
  };
}

/** What the chosen provider still needs before chat can answer, each with how to set it. */
export function missingModelSettings(settings: ModelSettings): string[] {
  const missing: string[] = [];
  if (settings.provider === "gemini" && !settings.apiKey)
    missing.push(
      "GEMINI_API_KEY is not set: set it to a Gemini API key (https://aistudio.google.com/apikey)",
    );
  if (settings.provider === "openai") {
    if (!settings.model)
      missing.push(
        "MODEL_ID is not set: with MODEL_PROVIDER=openai it names the model at OPENAI_BASE_URL " +
          "(e.g. MODEL_ID=gpt-4.1-mini for OpenAI, MODEL_ID=llama3.2 for Ollama)",
      );
    if (!settings.apiKey && new URL(settings.baseUrl).hostname === "api.openai.com")
      missing.push(
        "OPENAI_API_KEY is not set: api.openai.com needs a key (https://platform.openai.com/api-keys); " +
          "a local server such as Ollama needs none, set OPENAI_BASE_URL to it",
      );
  }
  return missing;
}

/** What a chat turn answers while the chosen provider lacks configuration; undefined when it lacks nothing. */
export function missingModelError(settings: ModelSettings): { type: string; message: string } | undefined {
  const missing = missingModelSettings(settings);
  if (missing.length === 0) return undefined;
  return {
    type: "ConfigurationError",
    message:
      `The chat model is not configured: ${missing.join("; ")}. Set it in the backend's environment (or the ` +
      "stack config, docs/choosing-a-model.md) and restart the backend; to try the stack locally without a key, " +
      `run \`npm start -- --provider ${settings.provider}\`.`,
  };
}

/** The model as people see it: `gpt-4.1-mini (OpenAI-compatible API)`. */
export function describeModel(settings: ModelSettings): {
  provider: ProviderId;
  model: string;
  label: string;
} {
  const model = settings.model ?? "(MODEL_ID not set)";
  return { provider: settings.provider, model, label: `${model} (${providerLabel(settings.provider)})` };
}
