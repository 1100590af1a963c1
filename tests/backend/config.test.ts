/**
 * The backend's environment (CONTRACT section 2) is parsed once at start-up: defaults are the
 * contract's, and every bad value is refused with a message naming the variable and a fix.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ConfigError, loadConfig, missingConfiguration } from "../../backend/config";
import { DEFAULT_ALLOWED_MODULES } from "../../contract/sandbox-modules";

describe("loadConfig", () => {
  it("uses the contract's defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: "localhost",
      trustProxy: false,
      model: { provider: "gemini", apiKey: undefined, baseUrl: undefined },
      codeExecutionEnabled: true,
      codeExecutorFunction: "co-intelligence-code-executor",
      awsRegion: "us-east-1",
      lambdaEndpoint: undefined,
      apiToken: undefined,
      allowedModules: [...DEFAULT_ALLOWED_MODULES],
      sandboxTimeoutMs: 30000,
      maxExecutionsPerTurn: 10,
      modelHistoryChars: 100000,
      modelTurnInputChars: 1000000,
      maxOpenStreams: 200,
      maxConcurrentExecutions: 64,
      rateLimitPerMinute: 600,
      rateLimitBurst: 120,
      requestTimeoutMs: 60000,
      headersTimeoutMs: 20000,
      keepAliveTimeoutMs: 65000,
      shutdownDrainMs: 5000,
      shutdownGraceMs: 20000,
      logFormat: "json",
    });
    expect(config.model.model).toMatch(/^gemini-.*flash/);
    expect(missingConfiguration(config)).toEqual([expect.stringMatching(/GEMINI_API_KEY/)]);
  });

  it("reads every contract variable", () => {
    const config = loadConfig({
      PORT: "9000",
      GEMINI_API_KEY: "k",
      GEMINI_MODEL: "gemini-x",
      GEMINI_BASE_URL: "http://127.0.0.1:1234/",
      CODE_EXECUTION_ENABLED: "false",
      CODE_EXECUTOR_FUNCTION: "arn:aws:lambda:eu-west-1:123456789012:function:sandbox",
      AWS_REGION: "eu-west-1",
      AWS_ENDPOINT_URL: "http://127.0.0.1:5000",
      API_TOKEN: "t",
    });
    expect(config).toMatchObject({
      port: 9000,
      model: { provider: "gemini", apiKey: "k", model: "gemini-x", baseUrl: "http://127.0.0.1:1234" },
      codeExecutionEnabled: false,
      codeExecutorFunction: "arn:aws:lambda:eu-west-1:123456789012:function:sandbox",
      awsRegion: "eu-west-1",
      lambdaEndpoint: "http://127.0.0.1:5000",
      apiToken: "t",
    });
    expect(missingConfiguration(config)).toEqual([]);
  });

  it("prefers AWS_ENDPOINT_URL_LAMBDA over AWS_ENDPOINT_URL", () => {
    expect(
      loadConfig({ AWS_ENDPOINT_URL: "http://127.0.0.1:1", AWS_ENDPOINT_URL_LAMBDA: "http://127.0.0.1:2" })
        .lambdaEndpoint,
    ).toBe("http://127.0.0.1:2");
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    [
      "PORT not a number",
      { PORT: "eighty" },
      /PORT="eighty" is not an integer from 0 to 65535; e\.g\. PORT=8080/,
    ],
    ["PORT out of range", { PORT: "70000" }, /PORT/],
    [
      "CODE_EXECUTION_ENABLED not a boolean",
      { CODE_EXECUTION_ENABLED: "maybe" },
      /CODE_EXECUTION_ENABLED.*true or false/,
    ],
    ["GEMINI_BASE_URL not a URL", { GEMINI_BASE_URL: "localhost:1234" }, /GEMINI_BASE_URL.*http\(s\) URL/],
    ["AWS_REGION malformed", { AWS_REGION: "Virginia" }, /AWS_REGION.*us-east-1/],
    ["half the AWS key pair", { AWS_ACCESS_KEY_ID: "x" }, /AWS_SECRET_ACCESS_KEY/],
    ["a bad module list", { SANDBOX_ALLOWED_MODULES: "math,os;rm" }, /SANDBOX_ALLOWED_MODULES/],
    ["TRUST_PROXY not an address list", { TRUST_PROXY: "the ingress" }, /TRUST_PROXY.*uniquelocal/],
    ["LOG_FORMAT unknown", { LOG_FORMAT: "fancy" }, /LOG_FORMAT="fancy" must be json or pretty/],
    [
      "headers allowed longer than the whole request",
      { HEADERS_TIMEOUT_MS: "70000" },
      /HEADERS_TIMEOUT_MS=70000 is longer than REQUEST_TIMEOUT_MS=60000/,
    ],
    ["MAX_OPEN_STREAMS zero", { MAX_OPEN_STREAMS: "0" }, /MAX_OPEN_STREAMS="0" is not an integer from 1/],
  ];
  it.each(bad)("refuses %s, naming the variable and the fix", (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each([
    ["GEMINI_BASE_URL", "gemini"],
    ["AWS_ENDPOINT_URL_LAMBDA", "gemini"],
    ["AWS_ENDPOINT_URL", "gemini"],
    ["OPENAI_BASE_URL", "openai"],
    ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "bedrock"],
  ])(
    "refuses credentials in %s (MODEL_PROVIDER=%s), and never repeats them in the message",
    (name, provider) => {
      let message = "";
      try {
        loadConfig({ MODEL_PROVIDER: provider, [name]: "https://alice:hunter2@proxy.example:8443/v1" });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(new RegExp(`${name} contains a user name or password`));
      expect(message).toContain("https://***@proxy.example:8443/v1");
      expect(message).not.toMatch(/alice|hunter2/);
    },
  );

  it("a URL that is not one is refused without echoing anything that looks like credentials", () => {
    expect(() => loadConfig({ GEMINI_BASE_URL: "ftp://bob:pw@host" })).toThrow(/ftp:\/\/\*\*\*@host/);
  });

  it("TRUST_PROXY takes true, false and lists of addresses, CIDRs and proxy-addr's names", () => {
    expect(loadConfig({ TRUST_PROXY: "true" }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "false" }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: "10.0.0.0/8, uniquelocal,::1" }).trustProxy).toEqual([
      "10.0.0.0/8",
      "uniquelocal",
      "::1",
    ]);
  });

  it("lists every problem at once", () => {
    try {
      loadConfig({ PORT: "x", CODE_EXECUTION_ENABLED: "x" });
      throw new Error("no error");
    } catch (err) {
      expect((err as ConfigError).problems).toHaveLength(2);
    }
  });
});

describe("the model provider", () => {
  it("is gemini unless MODEL_PROVIDER says otherwise; a value that is none of them is refused with the valid list", () => {
    expect(loadConfig({}).model.provider).toBe("gemini");
    expect(loadConfig({ MODEL_PROVIDER: " Bedrock " }).model.provider).toBe("bedrock");
    expect(() => loadConfig({ MODEL_PROVIDER: "azure" })).toThrow(
      /MODEL_PROVIDER="azure" is not a provider; use one of gemini, bedrock, openai/,
    );
  });

  it("bedrock: a current Nova model through the region's inference profile by default, MODEL_ID otherwise", () => {
    expect(loadConfig({ MODEL_PROVIDER: "bedrock" }).model).toEqual({
      provider: "bedrock",
      model: "us.amazon.nova-2-lite-v1:0",
      region: "us-east-1",
      endpoint: undefined,
    });
    expect(loadConfig({ MODEL_PROVIDER: "bedrock", AWS_REGION: "eu-central-1" }).model).toMatchObject({
      model: "global.amazon.nova-2-lite-v1:0",
      region: "eu-central-1",
    });
    const config = loadConfig({
      MODEL_PROVIDER: "bedrock",
      MODEL_ID: "anthropic.claude-sonnet-4-5-20250929-v1:0",
      AWS_ENDPOINT_URL: "http://127.0.0.1:1",
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: "http://127.0.0.1:2/",
    });
    expect(config.model).toMatchObject({
      model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
      endpoint: "http://127.0.0.1:2",
    });
    // Credentials come from the pod's role: nothing is missing from the configuration.
    expect(missingConfiguration(config)).toEqual([]);
    expect(
      loadConfig({ MODEL_PROVIDER: "bedrock", AWS_ENDPOINT_URL: "http://127.0.0.1:1" }).model,
    ).toMatchObject({
      endpoint: "http://127.0.0.1:1",
    });
  });

  it("openai: MODEL_ID is required, and a key for OpenAI's own API; a local server needs none", () => {
    const bare = loadConfig({ MODEL_PROVIDER: "openai" });
    expect(bare.model).toEqual({
      provider: "openai",
      model: undefined,
      apiKey: undefined,
      baseUrl: "https://api.openai.com/v1",
    });
    expect(missingConfiguration(bare)).toEqual([
      expect.stringMatching(/^MODEL_ID is not set: with MODEL_PROVIDER=openai/),
      expect.stringMatching(/^OPENAI_API_KEY is not set: api\.openai\.com needs a key/),
    ]);
    const ollama = loadConfig({
      MODEL_PROVIDER: "openai",
      MODEL_ID: "llama3.2",
      OPENAI_BASE_URL: "http://localhost:11434/v1/",
    });
    expect(ollama.model).toMatchObject({ model: "llama3.2", baseUrl: "http://localhost:11434/v1" });
    expect(missingConfiguration(ollama)).toEqual([]);
    expect(() => loadConfig({ MODEL_PROVIDER: "openai", OPENAI_BASE_URL: "localhost:11434" })).toThrow(
      /OPENAI_BASE_URL.*http\(s\) URL/,
    );
  });

  it("gemini: MODEL_ID names the model as GEMINI_MODEL does; the two may not disagree", () => {
    expect(loadConfig({ MODEL_ID: "gemini-y" }).model.model).toBe("gemini-y");
    expect(loadConfig({ MODEL_ID: "gemini-y", GEMINI_MODEL: "gemini-y" }).model.model).toBe("gemini-y");
    expect(() => loadConfig({ MODEL_ID: "gemini-y", GEMINI_MODEL: "gemini-z" })).toThrow(
      /MODEL_ID=gemini-y and GEMINI_MODEL=gemini-z name different models; set only one of them/,
    );
  });

  it.each(["gpt 4", "modèle", "x".repeat(300), "a\u0000b"])(
    "a MODEL_ID that is no model name (%j) is refused",
    (id) => {
      expect(() => loadConfig({ MODEL_PROVIDER: "openai", MODEL_ID: id })).toThrow(
        /MODEL_ID=.* is not a model name/,
      );
    },
  );
});

describe("the entry point with a bad environment", () => {
  it("refuses an unknown MODEL_PROVIDER at start, listing the valid ones", () => {
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const run = spawnSync(tsx, ["backend/server.ts"], {
      cwd: path.join(__dirname, "../.."),
      env: { ...process.env, MODEL_PROVIDER: "groq" },
      encoding: "utf8",
      timeout: 30000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/MODEL_PROVIDER="groq" is not a provider; use one of gemini, bedrock, openai/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("exits 1 with the problems on stderr and no stack trace", () => {
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const run = spawnSync(tsx, ["backend/server.ts"], {
      cwd: path.join(__dirname, "../.."),
      env: { ...process.env, PORT: "eighty", CODE_EXECUTION_ENABLED: "perhaps" },
      encoding: "utf8",
      timeout: 30000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/Invalid backend configuration/);
    expect(run.stderr).toMatch(/PORT="eighty"/);
    expect(run.stderr).toMatch(/CODE_EXECUTION_ENABLED/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
