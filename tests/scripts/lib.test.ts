// scripts/lib: the flags, target resolution, error wrapper and check report every ops command shares.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { STSClient } from "@aws-sdk/client-sts";
import {
  CliError,
  SHARED_FLAGS,
  helpText,
  parseFlags,
  readStackOutputs,
  resolveTargets,
  runCommand,
} from "../../scripts/lib/cli";
import {
  Check,
  fail,
  pass,
  renderJson,
  renderJunit,
  renderText,
  runChecks,
  skip,
} from "../../scripts/lib/report";
import {
  INVOKE_ENDPOINT_ENV,
  awsErrorName,
  lambdaInvokeClient,
  makeClient,
  parseArn,
} from "../../scripts/adapters/aws";

const parse = (...argv: string[]) => parseFlags(argv, SHARED_FLAGS, "doctor");

describe("parseFlags", () => {
  it("reads --flag value, --flag=value and switches", () => {
    const flags = parse("--stack", "prod", "--region=eu-west-1", "--json", "--url", "http://x:1");
    expect(flags.values).toEqual({ stack: "prod", region: "eu-west-1", url: "http://x:1" });
    expect([...flags.switches]).toEqual(["json"]);
  });

  it("refuses an unknown flag in one line naming it, with the --help hint and exit code 2", () => {
    expect(() => parse("--stak", "prod")).toThrow("unknown flag --stak (see: npm run doctor -- --help)");
    try {
      parse("--stak");
    } catch (err) {
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
    }
  });

  it("refuses a value flag without its value, whether last or followed by another flag", () => {
    expect(() => parse("--function")).toThrow("--function needs a value: --function NAME");
    expect(() => parse("--since", "--json")).toThrow("--since needs a value");
    expect(() => parse("--url=")).toThrow("--url needs a value");
  });

  it("refuses positionals and values given to switches", () => {
    expect(() => parse("prod")).toThrow('unexpected argument "prod"');
    expect(() => parse("--json=yes")).toThrow("--json takes no value");
  });

  it("treats -h as --help", () => {
    expect(parse("-h").switches.has("help")).toBe(true);
  });
});

describe("resolveTargets", () => {
  const outputs = {
    functionName: "fn-from-stack",
    repositoryName: "repo-from-stack",
    invokeRoleName: "role-from-stack",
    namespace: "ns-from-stack",
    deploymentName: "dep-from-stack",
    region: "eu-central-1",
  };

  it("uses the contract defaults when nothing is given", async () => {
    expect(await resolveTargets(parse(), { env: {}, command: "doctor" })).toEqual({
      region: "us-east-1",
      functionName: "co-intelligence-code-executor",
      repositoryName: "co-intelligence-backend",
      invokeRoleName: "co-intelligence-eks-node-role",
      namespace: "co-intelligence",
      deploymentName: "backend",
      sinceMinutes: 15,
      model: { provider: "gemini" },
    });
  });

  it("prefers flag over environment over stack outputs over defaults", async () => {
    const stacks: string[] = [];
    const targets = await resolveTargets(parse("--stack", "prod", "--function", "fn-from-flag"), {
      env: {
        CODE_EXECUTOR_FUNCTION: "fn-from-env",
        BACKEND_NAMESPACE: "ns-from-env",
        AWS_REGION: "us-west-2",
      },
      readStack: (stack) => {
        stacks.push(stack);
        return outputs;
      },
      command: "doctor",
    });
    expect(stacks).toEqual(["prod"]);
    expect(targets).toMatchObject({
      stack: "prod",
      functionName: "fn-from-flag",
      namespace: "ns-from-env",
      region: "us-west-2",
      repositoryName: "repo-from-stack",
      invokeRoleName: "role-from-stack",
      deploymentName: "dep-from-stack",
    });
  });

  it("does not read a stack unless --stack is given", async () => {
    const targets = await resolveTargets(parse(), {
      env: {},
      readStack: () => {
        throw new Error("must not be called");
      },
      command: "doctor",
    });
    expect(targets.functionName).toBe("co-intelligence-code-executor");
  });

  it("takes --url or BACKEND_URL without a trailing slash, and refuses a non-URL", async () => {
    expect(
      (await resolveTargets(parse("--url", "http://localhost:8080/"), { env: {}, command: "doctor" })).url,
    ).toBe("http://localhost:8080");
    expect(
      (await resolveTargets(parse(), { env: { BACKEND_URL: "https://b.example" }, command: "doctor" })).url,
    ).toBe("https://b.example");
    await expect(
      resolveTargets(parse("--url", "localhost:8080"), { env: {}, command: "doctor" }),
    ).rejects.toThrow("--url must be an http(s) URL");
    await expect(
      resolveTargets(parse(), { env: { BACKEND_URL: "chat" }, command: "doctor" }),
    ).rejects.toThrow('--url must be an http(s) URL like http://localhost:8080, got "chat" from BACKEND_URL');
  });

  it("takes the model from MODEL_PROVIDER/MODEL_ID, else the stack's outputs, else Gemini; never mixes the two", async () => {
    const stack = { modelProvider: "bedrock", modelId: "us.amazon.nova-2-lite-v1:0" };
    const resolve = (env: Record<string, string>, withStack = true) =>
      resolveTargets(withStack ? parse("--stack", "prod") : parse(), {
        env,
        readStack: () => stack,
        command: "doctor",
      });
    expect((await resolve({}, false)).model).toEqual({ provider: "gemini" });
    expect((await resolve({})).model).toEqual({ provider: "bedrock", id: "us.amazon.nova-2-lite-v1:0" });
    expect((await resolve({ MODEL_PROVIDER: "openai", MODEL_ID: "gpt-x" })).model).toEqual({
      provider: "openai",
      id: "gpt-x",
    });
    expect((await resolve({ MODEL_PROVIDER: "bedrock" })).model).toEqual({ provider: "bedrock" });
    await expect(resolve({ MODEL_PROVIDER: "vertex" })).rejects.toThrow(
      'MODEL_PROVIDER "vertex" is not a provider; use one of gemini, bedrock, openai',
    );
  });

  it("refuses a --since that is not a positive number of minutes", async () => {
    expect((await resolveTargets(parse("--since", "60"), { env: {}, command: "logs" })).sinceMinutes).toBe(
      60,
    );
    await expect(resolveTargets(parse("--since", "ten"), { env: {}, command: "logs" })).rejects.toThrow(
      '--since must be a positive number of minutes, got "ten"',
    );
  });
});

describe("readStackOutputs", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lib-pulumi-"));
    // A pulumi stub that records its arguments and prints outputs, or fails for stack "missing".
    fs.writeFileSync(
      path.join(dir, "pulumi"),
      `#!/bin/sh\necho "$@" > "${dir}/argv"\nif [ "$5" = missing ]; then echo "error: no stack named 'missing' found" >&2; exit 255; fi\n` +
        `echo '{"functionName":"fn-prod","region":"eu-west-1"}'\n`,
      { mode: 0o755 },
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("runs `pulumi stack output --json --stack NAME` and parses it", async () => {
    expect(await readStackOutputs("prod", { PATH: `${dir}:/usr/bin:/bin` })).toEqual({
      functionName: "fn-prod",
      region: "eu-west-1",
    });
    expect(fs.readFileSync(path.join(dir, "argv"), "utf8").trim()).toBe("stack output --json --stack prod");
  });

  it("says how to install pulumi, or which flags to pass instead, when the CLI is missing", async () => {
    await expect(readStackOutputs("prod", { PATH: "/nonexistent" })).rejects.toThrow(
      /--stack prod needs the Pulumi CLI, which is not on PATH: install it with .*get\.pulumi\.com.*or pass .*--function NAME/,
    );
  });

  it("names the stack and the next command when pulumi fails", async () => {
    await expect(readStackOutputs("missing", { PATH: `${dir}:/usr/bin:/bin` })).rejects.toThrow(
      "pulumi stack output --stack missing failed: error: no stack named 'missing' found (check the stack name with: pulumi stack ls)",
    );
  });
});

describe("helpText", () => {
  it("lists every flag with its placeholder and the example", () => {
    const text = helpText({
      command: "doctor",
      summary: "Runs the checks.",
      specs: SHARED_FLAGS,
      examples: ["npm run doctor -- --stack prod"],
    });
    expect(text).toContain("usage: npm run doctor -- [flags]");
    expect(text).toMatch(/--function NAME\s+sandbox function name or ARN/);
    expect(text).toMatch(/--json\s+machine-readable/);
    expect(text).toContain("example: npm run doctor -- --stack prod");
  });
});

describe("runCommand", () => {
  let stderr: jest.SpyInstance;
  const saved = process.exitCode;
  beforeEach(() => {
    stderr = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
  });
  afterEach(() => {
    stderr.mockRestore();
    process.exitCode = saved;
  });

  it("sets the exit code main returns", async () => {
    await runCommand(async () => 3, []);
    expect(process.exitCode).toBe(3);
  });

  it("turns a thrown error into one line on stderr without a stack trace, exit 1", async () => {
    await runCommand(async () => {
      const err = new Error("Function not found: arn:aws:lambda:...\n    at somewhere (x.ts:1:1)");
      err.name = "ResourceNotFoundException";
      throw err;
    }, []);
    expect(process.exitCode).toBe(1);
    const written = stderr.mock.calls.map((c) => String(c[0])).join("");
    expect(written).toBe("error: ResourceNotFoundException: Function not found: arn:aws:lambda:...\n");
  });

  it("uses a CliError's own exit code", async () => {
    await runCommand(async () => parse("--nope") && 0, []);
    expect(process.exitCode).toBe(2);
    expect(stderr.mock.calls.map((c) => String(c[0])).join("")).toBe(
      "error: unknown flag --nope (see: npm run doctor -- --help)\n",
    );
  });
});

interface Ctx {
  ran: string[];
}
const check = (
  id: string,
  outcome: () => Promise<ReturnType<typeof pass>>,
  needs?: string[],
): Check<Ctx> => ({
  id,
  title: `Title of ${id}`,
  ...(needs ? { needs } : {}),
  run: async (ctx) => {
    ctx.ran.push(id);
    return outcome();
  },
});

describe("runChecks", () => {
  it("runs checks in order and is ok when none failed (skips do not fail a report)", async () => {
    const ctx: Ctx = { ran: [] };
    const report = await runChecks(
      [check("a", async () => pass("fine")), check("b", async () => skip("no kubectl on PATH"))],
      ctx,
    );
    expect(ctx.ran).toEqual(["a", "b"]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.id, c.status, c.detail, c.fix])).toEqual([
      ["a", "pass", "fine", ""],
      ["b", "skip", "no kubectl on PATH", ""],
    ]);
  });

  it("skips, without running, a check whose prerequisite failed or was skipped", async () => {
    const ctx: Ctx = { ran: [] };
    const report = await runChecks(
      [
        check("a", async () => fail("gone", "pulumi up --stack prod")),
        check("b", async () => pass("never"), ["a"]),
        check("c", async () => skip("no kubectl")),
        check("d", async () => pass("never"), ["c"]),
        check("e", async () => pass("independent")),
      ],
      ctx,
    );
    expect(ctx.ran).toEqual(["a", "c", "e"]);
    expect(report.ok).toBe(false);
    expect(report.checks.map((c) => [c.id, c.status, c.detail])).toEqual([
      ["a", "fail", "gone"],
      ["b", "skip", "needs a (failed)"],
      ["c", "skip", "no kubectl"],
      ["d", "skip", "needs c (skipped)"],
      ["e", "pass", "independent"],
    ]);
    expect(report.checks[0]!.fix).toBe("pulumi up --stack prod");
  });

  it("turns a thrown error into a fail with the error as detail and a fix", async () => {
    const report = await runChecks(
      [
        {
          id: "boom",
          title: "Explodes",
          run: async () => {
            throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
          },
          fixOnError: () => "retry in a minute",
        },
        { id: "boom2", title: "Explodes too", run: async () => Promise.reject(new Error("x")) },
      ],
      {},
      { defaultFix: "see docs/troubleshoot.md" },
    );
    expect(report.checks[0]).toMatchObject({
      status: "fail",
      detail: "ThrottlingException: Rate exceeded",
      fix: "retry in a minute",
    });
    expect(report.checks[1]).toMatchObject({ status: "fail", detail: "x", fix: "see docs/troubleshoot.md" });
  });

  it("times each check that ran and reports progress to the callback only", async () => {
    let t = 0;
    const lines: string[] = [];
    const report = await runChecks(
      [check("slow", async () => pass("ok"))],
      { ran: [] },
      {
        now: () => (t += 250),
        progress: (line) => lines.push(line),
      },
    );
    expect(report.checks[0]!.durationMs).toBe(250);
    expect(lines).toEqual(["… slow"]);
  });
});

describe("renderers", () => {
  const report = {
    ok: false,
    checks: [
      {
        id: "aws-identity",
        title: "AWS credentials work",
        status: "pass" as const,
        detail: "arn:aws:iam::1:user/x",
        fix: "",
        durationMs: 12,
      },
      {
        id: "function-exists",
        title: "Sandbox function exists",
        status: "fail" as const,
        detail: "not found",
        fix: "pulumi up --stack prod",
        durationMs: 41,
      },
      {
        id: "function-state",
        title: "Active",
        status: "skip" as const,
        detail: "needs function-exists (failed)",
        fix: "",
        durationMs: 0,
      },
    ],
  };

  it("text: one line per check with its mark, the fix under a failure, and a summary", () => {
    const lines = renderText(report).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^✔ aws-identity\s+AWS credentials work: arn:aws:iam::1:user\/x\s+\(12 ms\)$/);
    expect(lines[1]).toMatch(/^✘ function-exists\s+Sandbox function exists: not found/);
    expect(lines[2]).toMatch(/^\s+fix: pulumi up --stack prod$/);
    expect(lines[3]).toMatch(/^– function-state/);
    expect(lines.at(-1)).toBe("FAILED: 1 passed, 1 failed, 1 skipped");
  });

  it("json: exactly the contract's object", () => {
    expect(JSON.parse(renderJson(report))).toEqual(report);
  });

  it("junit: a testcase per check, failures and skips marked and escaped", () => {
    const xml = renderJunit(
      {
        ...report,
        checks: [...report.checks, { ...report.checks[1]!, id: "x<&>", detail: 'a "quoted" <tag>' }],
      },
      "doctor",
    );
    expect(xml).toContain('<testsuite name="doctor" tests="4" failures="2" skipped="1"');
    expect(xml).toContain('<testcase classname="doctor" name="function-exists" time="0.041">');
    expect(xml).toContain(
      '<failure message="not found">Sandbox function exists\nnot found\nfix: pulumi up --stack prod</failure>',
    );
    expect(xml).toContain('<skipped message="needs function-exists (failed)"/>');
    expect(xml).toContain('name="x&lt;&amp;&gt;"');
    expect(xml).toContain('message="a &quot;quoted&quot; &lt;tag&gt;"');
  });
});

describe("aws clients", () => {
  it("use the targets' region", async () => {
    const sts = makeClient(STSClient, { region: "eu-west-1" });
    expect(await sts.config.region()).toBe("eu-west-1");
  });

  it(`send Lambda Invoke to ${INVOKE_ENDPOINT_ENV} when it is set`, async () => {
    const client = lambdaInvokeClient("us-east-1", { [INVOKE_ENDPOINT_ENV]: "http://127.0.0.1:9999" });
    const endpoint = await client.config.endpoint?.();
    expect(endpoint?.hostname).toBe("127.0.0.1");
    expect(endpoint?.port).toBe(9999);
  });

  it("name AWS errors and split ARNs", () => {
    expect(awsErrorName(Object.assign(new Error("x"), { name: "ResourceNotFoundException" }))).toBe(
      "ResourceNotFoundException",
    );
    expect(parseArn("arn:aws:lambda:us-east-1:123456789012:function:fn")).toEqual({
      partition: "aws",
      service: "lambda",
      region: "us-east-1",
      account: "123456789012",
      resource: "function:fn",
    });
  });
});
