// config.ts: every key's default, and every wrong value's message naming the fix.
import * as pulumi from "@pulumi/pulumi";
import { ConfigSource, loadConfig } from "../../config";

const REQUIRED = {
  "aws:region": "us-east-1",
  "co-intelligence:clusterName": "co-intelligence-eks",
};

/** A config source over plain maps, as the Pulumi CLI would hand the values over. */
function source(
  values: Record<string, string>,
  secrets: Record<string, string> = { geminiApiKey: "k" },
): ConfigSource {
  return {
    project: "co-intelligence",
    stack: "test",
    get: (key) => values[key],
    getSecret: (key) => {
      const name = key.replace("co-intelligence:", "");
      return secrets[name] === undefined ? undefined : pulumi.secret(secrets[name]);
    },
    isSecret: (key) => secrets[key.replace("co-intelligence:", "")] !== undefined,
  };
}

function configWith(extra: Record<string, string>) {
  return loadConfig(source({ ...REQUIRED, ...extra }));
}

function errorOf(values: Record<string, string>, secrets?: Record<string, string>): string {
  try {
    loadConfig(source(values, secrets));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected a configuration error");
}

describe("stack configuration defaults", () => {
  it("needs only the region, the cluster name and the Gemini key", () => {
    const config = configWith({});
    expect(config.sandbox).toMatchObject({
      name: "co-intelligence-code-executor",
      memoryMb: 512,
      timeoutSeconds: 35,
      sandboxTimeoutMs: 30000,
      maxOutputBytes: 65536,
      sandboxMemoryMb: 416,
      reservedConcurrency: 20,
      logRetentionDays: 30,
      subnetIds: undefined,
      availabilityZoneCount: 2,
    });
    expect(config.sandbox.allowedModules).toHaveLength(15);
    expect(config.access).toEqual({ mode: "pod-identity", nodeRoleName: "co-intelligence-eks-node-role" });
    expect(config.repository).toMatchObject({
      name: "co-intelligence-backend",
      keepImages: 20,
      protectedTags: [],
    });
    expect(config.backend).toMatchObject({
      clusterName: "co-intelligence-eks",
      namespace: "co-intelligence",
      serviceAccountName: "backend",
      codeExecutionEnabled: true,
      minReplicas: 2,
      maxReplicas: 4,
      apiToken: undefined,
      kubeconfig: undefined,
    });
    expect(config.requireApiToken).toBe(false);
    expect(config.tags).toEqual({ project: "co-intelligence", stack: "test" });
  });

  it("reads lists as YAML lists (JSON from the CLI) or comma-separated strings", () => {
    expect(
      configWith({ "co-intelligence:allowedModules": '["math","json"]' }).sandbox.allowedModules,
    ).toEqual(["math", "json"]);
    expect(configWith({ "co-intelligence:allowedModules": "math, re" }).sandbox.allowedModules).toEqual([
      "math",
      "re",
    ]);
  });

  it("keeps the user-code memory 96 MB under a larger function memory (the handler's process and the zygote)", () => {
    expect(configWith({ "co-intelligence:functionMemoryMb": "1024" }).sandbox.sandboxMemoryMb).toBe(928);
  });

  it("derives the function timeout from a configured sandbox limit", () => {
    expect(configWith({ "co-intelligence:sandboxTimeoutMs": "10000" }).sandbox.timeoutSeconds).toBe(15);
  });
});

describe("the model the backend talks to", () => {
  it("is Gemini by default, with the Gemini key and the default Gemini model", () => {
    expect(configWith({}).backend).toMatchObject({ modelProvider: "gemini", modelId: "gemini-3.8-flash" });
    expect(configWith({ "co-intelligence:geminiModel": "gemini-x" }).backend.modelId).toBe("gemini-x");
  });

  it("bedrock needs no key; its model defaults to the region's Nova inference profile, written out for IAM and the pods alike", () => {
    const config = loadConfig(source({ ...REQUIRED, "co-intelligence:modelProvider": "bedrock" }, {}));
    expect(config.backend).toMatchObject({ modelProvider: "bedrock", modelId: "us.amazon.nova-2-lite-v1:0" });
    expect(config.backend.geminiApiKey).toBeUndefined();
    const eu = loadConfig(
      source(
        {
          "aws:region": "eu-west-1",
          "co-intelligence:clusterName": "c",
          "co-intelligence:modelProvider": "bedrock",
          "co-intelligence:modelId": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        },
        {},
      ),
    );
    expect(eu.backend.modelId).toBe("eu.anthropic.claude-sonnet-4-5-20250929-v1:0");
  });

  it("openai needs a model, and a key only for OpenAI's own API", () => {
    const openai = { ...REQUIRED, "co-intelligence:modelProvider": "openai" };
    expect(errorOf(openai, {})).toContain(
      "co-intelligence:modelId is required with co-intelligence:modelProvider openai (the model's name at the API); set it with: pulumi config set co-intelligence:modelId gpt-4.1-mini",
    );
    expect(errorOf({ ...openai, "co-intelligence:modelId": "gpt-4.1-mini" }, {})).toContain(
      "pulumi config set --secret co-intelligence:openaiApiKey <key>",
    );
    const ollama = loadConfig(
      source(
        {
          ...openai,
          "co-intelligence:modelId": "llama3.2",
          "co-intelligence:openaiBaseUrl": "http://ollama.ollama.svc:11434/v1",
        },
        {},
      ),
    );
    expect(ollama.backend).toMatchObject({
      modelProvider: "openai",
      modelId: "llama3.2",
      openaiBaseUrl: "http://ollama.ollama.svc:11434/v1",
    });
    expect(ollama.backend.openaiApiKey).toBeUndefined();
    const groq = loadConfig(
      source(
        {
          ...openai,
          "co-intelligence:modelId": "llama-3.3-70b-versatile",
          "co-intelligence:openaiBaseUrl": "https://api.groq.com/openai/v1",
        },
        { openaiApiKey: "gsk" },
      ),
    );
    expect(groq.backend.openaiApiKey).toBeDefined();
  });

  it("a provider that is none of them is refused with the valid ones and the fix", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:modelProvider": "vertex" })).toContain(
      'co-intelligence:modelProvider must be one of gemini, bedrock, openai, got "vertex"; set it with: pulumi config set co-intelligence:modelProvider bedrock',
    );
  });

  it("modelId and geminiModel naming two models is refused", () => {
    expect(
      errorOf({
        ...REQUIRED,
        "co-intelligence:modelId": "gemini-a",
        "co-intelligence:geminiModel": "gemini-b",
      }),
    ).toContain("name different models; keep one; remove it: pulumi config rm co-intelligence:geminiModel");
  });
});

describe("stack configuration errors name the fix", () => {
  it("a missing cluster name", () => {
    expect(errorOf({ "aws:region": "us-east-1" })).toContain(
      "pulumi config set co-intelligence:clusterName <name>",
    );
  });

  it("a missing Gemini key (it must be a secret)", () => {
    expect(errorOf(REQUIRED, {})).toContain("pulumi config set --secret co-intelligence:geminiApiKey <key>");
  });

  it("a missing region", () => {
    expect(errorOf({ "co-intelligence:clusterName": "c" })).toContain(
      "pulumi config set aws:region us-east-1",
    );
  });

  it("an unknown access mode", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:accessMode": "admin" })).toContain(
      'co-intelligence:accessMode must be one of pod-identity, irsa, node-role, got "admin"; set it with: pulumi config set co-intelligence:accessMode irsa',
    );
  });

  it("reserved concurrency 0, which would disable the function", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:reservedConcurrency": "0" })).toMatch(
      /reservedConcurrency 0 would disable the function.*pulumi config set co-intelligence:reservedConcurrency 20/,
    );
  });

  it("a number that is not one", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:functionMemoryMb": "lots" })).toContain(
      'co-intelligence:functionMemoryMb must be a whole number from 512 to 3008, got "lots"; set it with: pulumi config set co-intelligence:functionMemoryMb 512',
    );
  });

  it("a function timeout that does not outlast the sandbox", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:functionTimeoutSeconds": "30" })).toContain(
      "co-intelligence:functionTimeoutSeconds must be more than the sandbox limit",
    );
  });

  it.each([
    ["functionMemoryMb", "10240", "512 to 3008"],
    ["sandboxTimeoutMs", "900000", "1000 to 120000"],
    ["functionTimeoutSeconds", "900", "1 to 90"],
    ["sandboxMaxOutputBytes", "6291456", "1024 to 1048576"],
    ["reservedConcurrency", "5000", "0 to 1000"],
    ["maxReplicas", "100", "1 to 50"],
    ["keepImages", "1", "5 to 200"],
  ])("%s at a platform maximum the product does not need (%s)", (key, value, range) => {
    expect(errorOf({ ...REQUIRED, [`co-intelligence:${key}`]: value })).toContain(
      `co-intelligence:${key} must be a whole number from ${range}`,
    );
  });

  it("reserves 20 by default and nothing only when the stack says none", () => {
    expect(configWith({}).sandbox.reservedConcurrency).toBe(20);
    expect(configWith({ "co-intelligence:reservedConcurrency": "none" }).sandbox.reservedConcurrency).toBe(
      "none",
    );
    expect(configWith({ "co-intelligence:reservedConcurrency": "50" }).sandbox.reservedConcurrency).toBe(50);
  });

  it.each(["geminiApiKey", "openaiApiKey", "apiToken", "kubeconfig"])(
    "a %s in plain text in the stack file",
    (key) => {
      // As the CLI hands it over: the value, and no mark that it was decrypted.
      const message = errorOf({ ...REQUIRED, [`co-intelligence:${key}`]: "AIzaSyPLAINTEXT" }, {});
      expect(message).toContain(`co-intelligence:${key} is stored in plain text in the stack file`);
      expect(message).toContain(`pulumi config set --secret co-intelligence:${key} <value>`);
    },
  );

  it("a stack that requires an API token and has none", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:requireApiToken": "true" })).toContain(
      "co-intelligence:apiToken is required on this stack",
    );
    const config = loadConfig(
      source(
        { ...REQUIRED, "co-intelligence:requireApiToken": "true" },
        { geminiApiKey: "k", apiToken: "t" },
      ),
    );
    expect(config.requireApiToken).toBe(true);
  });

  it.each(["default", "kube-system", "kube-public", "kube-node-lease"])("the shared namespace %s", (ns) => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:namespace": ns })).toContain(
      "pulumi config set co-intelligence:namespace co-intelligence",
    );
  });

  it.each([
    ["a tag alone", "123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:v1"],
    [
      "a digest alone",
      `123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend@sha256:${"a".repeat(64)}`,
    ],
    ["a flag", `--kubeconfig=/tmp/x:v1@sha256:${"a".repeat(64)}`],
  ])("an image given as %s (rollout records tag and digest)", (_, image) => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:image": image })).toContain(
      "co-intelligence:image must be an image by tag and digest",
    );
  });

  it("an Ingress without a host, or with a certificate from another region", () => {
    const message = errorOf({
      ...REQUIRED,
      "co-intelligence:ingress": "internet-facing",
      "co-intelligence:certificateArn":
        "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
    });
    expect(message).toContain("pulumi config set co-intelligence:ingressHost chat.example.com");
    expect(message).toContain("certificateArn is in eu-west-1, but a load balancer in us-east-1");
    expect(errorOf({ ...REQUIRED, "co-intelligence:ingress": "public" })).toContain(
      "co-intelligence:ingress must be none, internal or internet-facing",
    );
  });

  it("reads an Ingress and the NetworkPolicy sources", () => {
    const config = configWith({
      "co-intelligence:ingress": "internal",
      "co-intelligence:ingressHost": "chat.example.com",
      "co-intelligence:certificateArn":
        "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
      "co-intelligence:allowFromNamespaces": '["monitoring"]',
      "co-intelligence:allowFromCidrs": "10.1.0.0/16",
    });
    expect(config.backend.ingress).toEqual({
      scheme: "internal",
      host: "chat.example.com",
      certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
      inboundCidrs: [],
    });
    expect(config.backend.allowFromNamespaces).toEqual(["monitoring"]);
    expect(config.backend.allowFromCidrs).toEqual(["10.1.0.0/16"]);
    expect(errorOf({ ...REQUIRED, "co-intelligence:allowFromCidrs": "10.1.0.0/33" })).toContain(
      "co-intelligence:allowFromCidrs must hold address blocks",
    );
  });

  it("user-code memory not below the function's", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:sandboxMemoryMb": "512" })).toContain(
      "pulumi config set co-intelligence:sandboxMemoryMb 416",
    );
  });

  it("a module outside the vetted list, or a malformed one, in the allow-list", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:allowedModules": "math,os,subprocess" })).toContain(
      "co-intelligence:allowedModules may only name vetted modules (they compute without files, network, processes or interpreter internals), got os, subprocess",
    );
    for (const unvetted of ["_imp", "pwd", "grp", "posixpath", "ctypes", "zoneinfo"])
      expect(errorOf({ ...REQUIRED, "co-intelligence:allowedModules": `math,${unvetted}` })).toContain(
        `got ${unvetted};`,
      );
    expect(errorOf({ ...REQUIRED, "co-intelligence:allowedModules": "math,os.path" })).toContain(
      'must hold top-level module names, got "os.path"',
    );
  });

  it("a boolean that is not true or false", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:codeExecutionEnabled": "yes" })).toContain(
      "pulumi config set co-intelligence:codeExecutionEnabled true",
    );
  });

  it("existing subnets without a VPC or security groups", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:subnetIds": '["subnet-1"]' })).toContain(
      "pulumi config set co-intelligence:vpcId vpc-...",
    );
  });

  it("a log retention CloudWatch does not offer", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:logRetentionDays": "10" })).toContain(
      "pulumi config set co-intelligence:logRetentionDays 30",
    );
  });

  it("an autoscaler maximum below its minimum", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:maxReplicas": "1" })).toContain(
      "pulumi config set co-intelligence:maxReplicas 2",
    );
  });

  it("a namespace that is not a Kubernetes name", () => {
    expect(errorOf({ ...REQUIRED, "co-intelligence:namespace": "Chat_App" })).toContain(
      "co-intelligence:namespace must be a Kubernetes name",
    );
  });

  it.each([
    ["a region that is not one", { "aws:region": "US East" }, "pulumi config set aws:region us-east-1"],
    [
      "an empty subnet list",
      { "co-intelligence:subnetIds": "[]" },
      "pulumi config rm co-intelligence:subnetIds",
    ],
    [
      "security groups without existing subnets",
      { "co-intelligence:securityGroupIds": "sg-1" },
      "pulumi config set --path 'co-intelligence:subnetIds[0]' subnet-...",
    ],
    [
      "a VPC block that is not a /16",
      { "co-intelligence:vpcCidr": "10.0.0.0/8" },
      "pulumi config set co-intelligence:vpcCidr 10.42.0.0/16",
    ],
    [
      "an empty allow-list",
      { "co-intelligence:allowedModules": "[]" },
      "pulumi config set co-intelligence:allowedModules math,json,re",
    ],
    [
      "a list of something else than names",
      { "co-intelligence:subnetIds": "[1,2]" },
      "pulumi config set --path 'co-intelligence:subnetIds[0]' <value>",
    ],
    [
      "a service account that is not a Kubernetes name",
      { "co-intelligence:serviceAccountName": "Backend!" },
      "pulumi config set co-intelligence:serviceAccountName backend",
    ],
    [
      "a reserved concurrency out of range",
      { "co-intelligence:reservedConcurrency": "-3" },
      "pulumi config set co-intelligence:reservedConcurrency 20",
    ],
    [
      "fewer than two zones",
      { "co-intelligence:availabilityZoneCount": "1" },
      "pulumi config set co-intelligence:availabilityZoneCount 2",
    ],
    [
      "a single replica",
      { "co-intelligence:minReplicas": "1" },
      "pulumi config set co-intelligence:minReplicas 2",
    ],
  ])("%s", (_, values, fix) => {
    const message = errorOf({ ...REQUIRED, ...values });
    expect(message).toContain(fix);
  });

  it("every problem line names the pulumi config command that fixes it", () => {
    const message = errorOf(
      {
        "aws:region": "nowhere",
        "co-intelligence:accessMode": "admin",
        "co-intelligence:functionMemoryMb": "lots",
        "co-intelligence:sandboxMemoryMb": "9000",
        "co-intelligence:reservedConcurrency": "0",
        "co-intelligence:vpcCidr": "x",
        "co-intelligence:logRetentionDays": "10",
        "co-intelligence:namespace": "Chat_App",
        "co-intelligence:allowedModules": "os",
        "co-intelligence:codeExecutionEnabled": "yes",
        "co-intelligence:maxReplicas": "1",
        "co-intelligence:securityGroupIds": "sg-1",
      },
      {},
    );
    const problems = message.split("\n").slice(1);
    expect(problems.length).toBeGreaterThanOrEqual(13);
    for (const problem of problems)
      expect({ problem, namesFix: /pulumi config (set|rm) /.test(problem) }).toEqual({
        problem,
        namesFix: true,
      });
  });

  it("is a Pulumi RunError, printed without a stack trace", () => {
    try {
      loadConfig(source({}, {}));
    } catch (err) {
      expect(pulumi.RunError.isInstance(err)).toBe(true);
      return;
    }
    throw new Error("expected a configuration error");
  });

  it("lists every problem at once", () => {
    const message = errorOf({}, {});
    expect(message).toContain("aws:region");
    expect(message).toContain("co-intelligence:clusterName");
    expect(message).toContain("co-intelligence:geminiApiKey");
  });
});

describe("the stack configuration table of the docs", () => {
  it("lists every key config.ts reads", () => {
    const fs = jest.requireActual<typeof import("node:fs")>("node:fs");
    const path = jest.requireActual<typeof import("node:path")>("node:path");
    const doc = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "configuration.md"), "utf8");
    // Every key the program asks for, recorded as it reads an otherwise empty stack.
    const read = new Set<string>();
    const recording: ConfigSource = {
      project: "co-intelligence",
      stack: "test",
      get: (key) => void read.add(key),
      getSecret: (key) => void read.add(key),
      isSecret: () => false,
    };
    expect(() => loadConfig(recording)).toThrow();
    const keys = [...read].filter((key) => key.startsWith("co-intelligence:"));
    expect(keys.length).toBeGreaterThan(30);
    expect(keys.filter((key) => !doc.includes(`| \`${key}\` |`))).toEqual([]);
  });
});
