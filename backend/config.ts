/**
 * The backend's configuration: the environment of CONTRACT section 2 (plus a few tuning
 * knobs), parsed and validated once at start-up into a typed object. A bad value is a
 * start-up error that names the variable and how to fix it; a missing model key or MODEL_ID
 * is not (the sandbox endpoint still works, and /readyz and the chat say what to set).
 */

import { DEFAULT_PORT } from "../contract/http";
import { DEFAULT_NAMES } from "../contract/names";
import { DEFAULT_ALLOWED_MODULES } from "../contract/sandbox-modules";
import { SANDBOX_ENV, SANDBOX_LIMITS } from "../contract/sandbox";
import { missingModelSettings, readModelSettings, type ModelSettings } from "./providers/settings";

export interface BackendConfig {
  /** HTTP port. `PORT`, default 8080. */
  port: number;
  /**
   * Interface to listen on. `HOST`, default `localhost` (loopback only, IPv4 and IPv6); the
   * container image sets `HOST=0.0.0.0`. While bound to loopback, only requests addressed to a
   * loopback name are answered (DNS rebinding).
   */
  host: string;
  /** `TRUST_PROXY`: which proxies' X-Forwarded-For to believe for the client address (rate limit, logs). */
  trustProxy: boolean | string[];
  /**
   * The model: `MODEL_PROVIDER` (gemini, bedrock, openai), `MODEL_ID` and the chosen provider's
   * own variables (providers/settings.ts). Chat answers an error event while one it needs is missing.
   */
  model: ModelSettings;
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
  /** `MAX_EXECUTIONS_PER_TURN`: code executions one chat turn may cause. Default 10. */
  maxExecutionsPerTurn: number;
  /** `MODEL_HISTORY_CHARS`: the newest part of the conversation sent to the model. Default 100000. */
  modelHistoryChars: number;
  /** `MODEL_TURN_INPUT_CHARS`: model input summed over one turn's tool rounds. Default 1000000. */
  modelTurnInputChars: number;
  /** `MAX_OPEN_STREAMS`: concurrent chat streams per replica; more are answered 503. Default 200. */
  maxOpenStreams: number;
  /** `MAX_CONCURRENT_EXECUTIONS`: sandbox invocations in flight per replica. Default 64. */
  maxConcurrentExecutions: number;
  /** `RATE_LIMIT_PER_MINUTE`: /api/* requests per client per minute; 0 turns it off. Default 600. */
  rateLimitPerMinute: number;
  /** `RATE_LIMIT_BURST`: requests a client may send at once before the per-minute rate applies. Default 120. */
  rateLimitBurst: number;
  /** `REQUEST_TIMEOUT_MS`: time to receive a whole request (headers and body). Default 60000. */
  requestTimeoutMs: number;
  /** `HEADERS_TIMEOUT_MS`: time to receive a request's headers. Default 20000. */
  headersTimeoutMs: number;
  /** `KEEP_ALIVE_TIMEOUT_MS`: how long an idle kept-alive connection stays open. Default 65000. */
  keepAliveTimeoutMs: number;
  /** `SHUTDOWN_DRAIN_MS`: after SIGTERM, how long new requests are still served while /readyz says 503. Default 5000. */
  shutdownDrainMs: number;
  /** `SHUTDOWN_GRACE_MS`: after SIGTERM, how long in-flight requests may run before they are ended. Default 20000. */
  shutdownGraceMs: number;
  /** `LOG_LEVEL`: fatal|error|warn|info|debug|trace|silent. Default info. */
  logLevel: string;
  /** `LOG_FORMAT`: `json` (one JSON object per line, for log pipelines) or `pretty` (a person at a terminal). Default json. */
  logFormat: "json" | "pretty";
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
    let parsed: URL;
    try {
      parsed = new URL(raw);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("scheme");
    } catch {
      problems.push(
        `${name}=${JSON.stringify(redactCredentials(raw))} is not an http(s) URL; e.g. ${name}=http://127.0.0.1:9001`,
      );
      return undefined;
    }
    // A URL is shown in logs and error messages; a password in it would be too.
    if (parsed.username !== "" || parsed.password !== "") {
      problems.push(
        `${name} contains a user name or password (${redactCredentials(raw)}); remove it from the URL: ` +
          "credentials belong in their own variables (GEMINI_API_KEY, OPENAI_API_KEY, the AWS credential chain)",
      );
      return undefined;
    }
    return raw.replace(/\/+$/, "");
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
  const modules = value(SANDBOX_ENV.allowedModules);
  if (modules !== undefined) {
    const list = modules
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    const bad = list.filter((m) => !MODULE_NAME.test(m));
    if (list.length === 0 || bad.length > 0)
      problems.push(
        `${SANDBOX_ENV.allowedModules} must be a comma-separated list of Python module names (bad: ${JSON.stringify(bad.join(",") || modules)}); e.g. ${SANDBOX_ENV.allowedModules}=math,json,statistics`,
      );
    else allowedModules = list;
  }

  const logLevel = value("LOG_LEVEL")?.toLowerCase() ?? "info";
  if (!LOG_LEVELS.includes(logLevel))
    problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)} must be one of ${LOG_LEVELS.join(", ")}`);
  const logFormatRaw = value("LOG_FORMAT")?.toLowerCase() ?? "json";
  const logFormat = logFormatRaw === "pretty" ? "pretty" : "json";
  if (logFormatRaw !== "json" && logFormatRaw !== "pretty")
    problems.push(
      `LOG_FORMAT=${JSON.stringify(logFormatRaw)} must be json or pretty; e.g. LOG_FORMAT=pretty`,
    );

  const accessKeyId = value("AWS_ACCESS_KEY_ID");
  const secretAccessKey = value("AWS_SECRET_ACCESS_KEY");
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
    problems.push("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither)");
  const sessionToken = value("AWS_SESSION_TOKEN");

  const region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? DEFAULT_NAMES.region;
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
    problems.push(`AWS_REGION=${JSON.stringify(region)} is not an AWS region; e.g. AWS_REGION=us-east-1`);

  const config: BackendConfig = {
    port: integer("PORT", DEFAULT_PORT, 0, 65535),
    host: value("HOST") ?? "localhost",
    trustProxy: parseTrustProxy(value("TRUST_PROXY"), problems),
    model: readModelSettings({ value, url }, region, problems),
    codeExecutionEnabled,
    codeExecutorFunction: value("CODE_EXECUTOR_FUNCTION") ?? DEFAULT_NAMES.functionName,
    awsRegion: region,
    lambdaEndpoint: url("AWS_ENDPOINT_URL_LAMBDA") ?? url("AWS_ENDPOINT_URL"),
    awsCredentials:
      accessKeyId && secretAccessKey
        ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
        : undefined,
    apiToken: value("API_TOKEN"),
    allowedModules,
    sandboxTimeoutMs: integer(
      SANDBOX_ENV.timeoutMs,
      SANDBOX_LIMITS.timeoutMs.default,
      100,
      SANDBOX_LIMITS.timeoutMs.max,
    ),
    maxToolRounds: integer("MAX_TOOL_ROUNDS", 5, 1, 50),
    modelMaxRetries: integer("MODEL_MAX_RETRIES", 3, 0, 10),
    modelRetryBaseMs: integer("MODEL_RETRY_BASE_MS", 1000, 0, 60000),
    maxExecutionsPerTurn: integer("MAX_EXECUTIONS_PER_TURN", 10, 1, 100),
    modelHistoryChars: integer("MODEL_HISTORY_CHARS", 100000, 1000, 2000000),
    modelTurnInputChars: integer("MODEL_TURN_INPUT_CHARS", 1000000, 10000, 20000000),
    maxOpenStreams: integer("MAX_OPEN_STREAMS", 200, 1, 100000),
    maxConcurrentExecutions: integer("MAX_CONCURRENT_EXECUTIONS", 64, 1, 10000),
    rateLimitPerMinute: integer("RATE_LIMIT_PER_MINUTE", 600, 0, 1000000),
    rateLimitBurst: integer("RATE_LIMIT_BURST", 120, 1, 1000000),
    requestTimeoutMs: integer("REQUEST_TIMEOUT_MS", 60000, 100, 3600000),
    headersTimeoutMs: integer("HEADERS_TIMEOUT_MS", 20000, 100, 3600000),
    keepAliveTimeoutMs: integer("KEEP_ALIVE_TIMEOUT_MS", 65000, 100, 3600000),
    shutdownDrainMs: integer("SHUTDOWN_DRAIN_MS", 5000, 0, 600000),
    shutdownGraceMs: integer("SHUTDOWN_GRACE_MS", 20000, 0, 600000),
    logLevel,
    logFormat,
  };
  if (config.headersTimeoutMs > config.requestTimeoutMs)
    problems.push(
      `HEADERS_TIMEOUT_MS=${config.headersTimeoutMs} is longer than REQUEST_TIMEOUT_MS=${config.requestTimeoutMs}; ` +
        "the headers are part of the request: make HEADERS_TIMEOUT_MS the smaller one",
    );
  // One message per problem, also when two settings read the same variable (AWS_ENDPOINT_URL).
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return config;
}

/**
 * `TRUST_PROXY`: unset or `false` (the TCP peer is the client), `true` (believe every
 * X-Forwarded-For hop: only when nothing reaches the backend except through proxies you run),
 * or the proxies to believe: comma-separated addresses, CIDRs or the names `loopback`,
 * `linklocal`, `uniquelocal` (private ranges, e.g. an ingress controller's pods).
 */
function parseTrustProxy(raw: string | undefined, problems: string[]): boolean | string[] {
  if (raw === undefined || raw.toLowerCase() === "false") return false;
  if (raw.toLowerCase() === "true") return true;
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const named = ["loopback", "linklocal", "uniquelocal"];
  const bad = list.filter((s) => !named.includes(s) && !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(s));
  if (list.length === 0 || bad.length > 0) {
    problems.push(
      `TRUST_PROXY=${JSON.stringify(raw)} must be true, false, or comma-separated proxy addresses, CIDRs or loopback/linklocal/uniquelocal; e.g. TRUST_PROXY=uniquelocal behind an in-cluster ingress`,
    );
    return false;
  }
  return list;
}

/** `scheme://user:password@host` -> `scheme://***@host`, wherever it appears in `text`. */
export function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/"'<>]*@/gi, "$1***@");
}

/** Whether `host` (the HOST setting) binds loopback interfaces only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** What /readyz reports missing: the configuration chat needs to answer. */
export function missingConfiguration(config: BackendConfig): string[] {
  return missingModelSettings(config.model);
}
