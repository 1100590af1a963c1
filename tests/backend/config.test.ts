/**
 * The backend's environment (CONTRACT section 2) is parsed once at start-up: defaults are the
 * contract's, and every bad value is refused with a message naming the variable and a fix.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ConfigError, DEFAULT_ALLOWED_MODULES, loadConfig, missingConfiguration } from "../../backend/config";

describe("loadConfig", () => {
  it("uses the contract's defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      geminiApiKey: undefined,
      geminiBaseUrl: undefined,
      codeExecutionEnabled: true,
      codeExecutorFunction: "co-intelligence-code-executor",
      awsRegion: "us-east-1",
      lambdaEndpoint: undefined,
      apiToken: undefined,
      allowedModules: [...DEFAULT_ALLOWED_MODULES],
      sandboxTimeoutMs: 30000,
    });
    expect(config.geminiModel).toMatch(/^gemini-.*flash/);
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
      geminiApiKey: "k",
      geminiModel: "gemini-x",
      geminiBaseUrl: "http://127.0.0.1:1234",
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
  ];
  it.each(bad)("refuses %s, naming the variable and the fix", (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
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

describe("the entry point with a bad environment", () => {
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
