/**
 * The backend's configuration: the environment of CONTRACT section 2 (plus a few tuning
 * knobs), parsed and validated once at start-up into a typed object. A bad value is a
 * start-up error that names the variable and how to fix it; a missing GEMINI_API_KEY is not
 * (the sandbox endpoint still works, and /readyz reports it).
 */

/** The sandbox's default allow-list (CONTRACT section 1). */
export const DEFAULT_ALLOWED_MODULES = [
  "math",
  "json",
  "datetime",
  "random",
  "statistics",
  "re",
  "collections",
  "itertools",
  "string",
  "decimal",
  "fractions",
  "uuid",
  "hashlib",
  "base64",
  "textwrap",
] as const;

/** A current Gemini Flash model (the name used throughout the installed @google/genai 3 docs). */
export const DEFAULT_GEMINI_MODEL = "gemini-3.8-flash";
export const DEFAULT_FUNCTION_NAME = "co-intelligence-code-executor";

export interface BackendConfig {
  /** HTTP port. `PORT`, default 8080. */
  port: number;
  /** Interface to listen on. `HOST`, default 0.0.0.0 (a container). */
  host: string;
  /** `GEMINI_API_KEY`; chat answers an error event without it. */
  geminiApiKey: string | undefined;
  /** `GEMINI_MODEL`. */
  geminiModel: string;
  /** `GEMINI_BASE_URL`: the Gemini API endpoint override (proxies, tests). */
  geminiBaseUrl: string | undefined;
  /** `CODE_EXECUTION_ENABLED`: false means no tool is offered to the model. */
  codeExecutionEnabled: boolean;
  /** `CODE_EXECUTOR_FUNCTION`: Lambda name or ARN. */
  codeExecutorFunction: string;
  /** `AWS_REGION`, default us-east-1. */
  awsRegion: string;
  /** `AWS_ENDPOINT_URL_LAMBDA`, else `AWS_ENDPOINT_URL`: local sandbox or an emulator. */
  lambdaEndpoint: string | undefined;
  /** Static credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` when given in this env. */
  awsCredentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** `API_TOKEN`: when set, every /api/* call needs `Authorization: Bearer <token>`. */
  apiToken: string | undefined;
  /** `SANDBOX_ALLOWED_MODULES`: what the tool description tells the model it may import. */
  allowedModules: string[];
  /** `SANDBOX_TIMEOUT_MS`: the `timeoutMs` sent with each execution. Default 30000. */
  sandboxTimeoutMs: number;
  /** `MAX_TOOL_ROUNDS`: model turns with function calls allowed in one chat turn. Default 5. */
  maxToolRounds: number;
  /** `MODEL_MAX_RETRIES`: retries of a rate-limited (429) model call. Default 3. */
  modelMaxRetries: number;
  /** `MODEL_RETRY_BASE_MS`: first backoff delay, doubled per retry. Default 1000. */
  modelRetryBaseMs: number;
  /** `SHUTDOWN_GRACE_MS`: how long open streams may run after SIGTERM. Default 20000. */
  shutdownGraceMs: number;
  /** `LOG_LEVEL`: fatal|error|warn|info|debug|trace|silent. Default info. */
  logLevel: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid backend configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Parses and validates `env` (default: process.env); throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): BackendConfig {
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const raw = env[name];
    return raw === undefined || raw.trim() === "" ? undefined : raw.trim();
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(
        `${name}=${JSON.stringify(raw)} is not an integer from ${min} to ${max}; e.g. ${name}=${fallback}`,
      );
      return fallback;
    }
    return n;
  };
  const url = (name: string): string | undefined => {
    const raw = value(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("scheme");
      return raw.replace(/\/+$/, "");
    } catch {
      problems.push(
        `${name}=${JSON.stringify(raw)} is not an http(s) URL; e.g. ${name}=http://127.0.0.1:9001`,
      );
      return undefined;
    }
  };

  let codeExecutionEnabled = true;
  const enabled = value("CODE_EXECUTION_ENABLED")?.toLowerCase();
  if (enabled !== undefined) {
    if (["true", "1", "yes", "on"].includes(enabled)) codeExecutionEnabled = true;
    else if (["false", "0", "no", "off"].includes(enabled)) codeExecutionEnabled = false;
    else
      problems.push(
        `CODE_EXECUTION_ENABLED=${JSON.stringify(enabled)} must be true or false; set CODE_EXECUTION_ENABLED=false to turn the tool off`,
      );
  }

  let allowedModules: string[] = [...DEFAULT_ALLOWED_MODULES];
  const modules = value("SANDBOX_ALLOWED_MODULES");
  if (modules !== undefined) {
    const list = modules
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    const bad = list.filter((m) => !MODULE_NAME.test(m));
    if (list.length === 0 || bad.length > 0)
      problems.push(
        `SANDBOX_ALLOWED_MODULES must be a comma-separated list of Python module names (bad: ${JSON.stringify(bad.join(",") || modules)}); e.g. SANDBOX_ALLOWED_MODULES=math,json,statistics`,
      );
    else allowedModules = list;
  }

  const logLevel = value("LOG_LEVEL")?.toLowerCase() ?? "info";
  if (!LOG_LEVELS.includes(logLevel))
    problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)} must be one of ${LOG_LEVELS.join(", ")}`);

  const accessKeyId = value("AWS_ACCESS_KEY_ID");
  const secretAccessKey = value("AWS_SECRET_ACCESS_KEY");
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
    problems.push("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither)");
  const sessionToken = value("AWS_SESSION_TOKEN");

  const region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1";
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
    problems.push(`AWS_REGION=${JSON.stringify(region)} is not an AWS region; e.g. AWS_REGION=us-east-1`);

  const config: BackendConfig = {
    port: integer("PORT", 8080, 0, 65535),
    host: value("HOST") ?? "0.0.0.0",
    geminiApiKey: value("GEMINI_API_KEY"),
    geminiModel: value("GEMINI_MODEL") ?? DEFAULT_GEMINI_MODEL,
    geminiBaseUrl: url("GEMINI_BASE_URL"),
    codeExecutionEnabled,
    codeExecutorFunction: value("CODE_EXECUTOR_FUNCTION") ?? DEFAULT_FUNCTION_NAME,
    awsRegion: region,
    lambdaEndpoint: url("AWS_ENDPOINT_URL_LAMBDA") ?? url("AWS_ENDPOINT_URL"),
    awsCredentials:
      accessKeyId && secretAccessKey
        ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
        : undefined,
    apiToken: value("API_TOKEN"),
    allowedModules,
    sandboxTimeoutMs: integer("SANDBOX_TIMEOUT_MS", 30000, 100, 900000),
    maxToolRounds: integer("MAX_TOOL_ROUNDS", 5, 1, 50),
    modelMaxRetries: integer("MODEL_MAX_RETRIES", 3, 0, 10),
    modelRetryBaseMs: integer("MODEL_RETRY_BASE_MS", 1000, 0, 60000),
    shutdownGraceMs: integer("SHUTDOWN_GRACE_MS", 20000, 0, 600000),
    logLevel,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** What /readyz reports missing: the configuration chat needs to answer. */
export function missingConfiguration(config: BackendConfig): string[] {
  const missing: string[] = [];
  if (!config.geminiApiKey)
    missing.push(
      "GEMINI_API_KEY is not set: set it to a Gemini API key (https://aistudio.google.com/apikey)",
    );
  return missing;
}
