// npm run smoke (scripts/smoke/main.ts) against the real local stack: the local sandbox runtime,
// the backend, and the fake Gemini's seed brain. It must pass there, and fail (the right
// check, exit 1) when the sandbox lets `import os` through or the model answers wrongly.
import * as fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { DEFAULT_ALLOWED_MODULES } from "../../contract/sandbox-modules";
import type { LocalSandbox } from "../../dev/local-lambda/server";
import { startSandbox, startStack, type Stack } from "../backend/harness";
import { seedBrain, type FakeScript } from "../../dev/fakes/gemini";
import { jsonOf, runScript, scratchDir } from "./deploy-harness";
import { startMoto, type Moto } from "../helpers/moto";
import { NAMES, SANDBOX_ENV, clientsFor, healthyDeployment } from "./doctor-fixture";
import { UpdateFunctionConfigurationCommand } from "@aws-sdk/client-lambda";

interface SmokeReport {
  ok: boolean;
  checks: { id: string; title: string; status: string; detail: string; fix: string; durationMs: number }[];
}

/** The contract's default allow-list: what smoke checks without --modules. */
const MODULES = DEFAULT_ALLOWED_MODULES;
const ALL_IDS = [
  "chat-1",
  "chat-2",
  "chat-3",
  "chat-4",
  "chat-5",
  ...MODULES.map((m) => `execute-${m}`),
  "refuse-os",
  "refuse-sys",
  "refuse-subprocess",
  "refuse-file",
];

/**
 * A sandbox that lets `import os` through: the Lambda Invoke API in front of the real local
 * sandbox, answering `ok` itself for any code that imports os and forwarding the rest.
 */
async function osLeakingSandbox(real: LocalSandbox): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    let code = "";
    try {
      code = String((JSON.parse(body.toString("utf8")) as { code?: unknown }).code ?? "");
    } catch {
      // not an event: forward it
    }
    if (/^\s*import os\b/m.test(code)) {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          ok: true,
          stdout: "/var/task\n",
          stderr: "",
          result: null,
          error: null,
          truncated: false,
          durationMs: 1,
        }),
      );
      return;
    }
    const upstream = await fetch(`${real.url}${req.url ?? "/"}`, {
      method: req.method,
      headers: { "content-type": "application/json" },
      body,
    });
    const headers: Record<string, string> = {};
    upstream.headers.forEach((value, key) => {
      if (key.startsWith("x-amz") || key === "content-type") headers[key] = value;
    });
    res.writeHead(upstream.status, headers).end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The seed brain, but the first final answer it gives is wrong (model variability). */
function wrongOnce(): FakeScript {
  const right = seedBrain();
  const wrong = seedBrain({ wrong: true });
  let finals = 0;
  return (request, index) => {
    const last = request.body.contents[request.body.contents.length - 1];
    const isFinal = (last?.parts ?? []).some((p) => p.functionResponse);
    if (isFinal) finals++;
    return (isFinal && finals === 1 ? wrong : right)(request, index);
  };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const byId = (report: SmokeReport) => new Map(report.checks.map((c) => [c.id, c]));

let sandbox: LocalSandbox;
let junitDir: ReturnType<typeof scratchDir>;
beforeAll(async () => {
  sandbox = await startSandbox();
  junitDir = scratchDir("smoke-junit-");
});
afterAll(async () => {
  junitDir.remove();
  await sandbox.close();
});

describe("npm run smoke against the local stack", () => {
  let stack: Stack;
  afterEach(async () => stack?.close());

  it("passes every check, in the contract's order, and writes a JUnit report", async () => {
    stack = await startStack(seedBrain(), sandbox);
    const junit = path.join(junitDir.dir, "reports", "smoke.xml");
    const run = await runScript("smoke", ["--url", stack.backend.url, "--junit", junit, "--json"]);
    const report = jsonOf<SmokeReport>(run);
    expect(report.checks.map((c) => c.id)).toEqual(ALL_IDS);
    expect(report.checks.filter((c) => c.status !== "pass")).toEqual([]);
    expect(report.ok).toBe(true);
    expect(run.status).toBe(0);
    for (const check of report.checks) expect(check.durationMs).toBeGreaterThanOrEqual(0);
    expect(byId(report).get("chat-1")!.detail).toBe(
      "code ran, answer has 1175 (model gemini-3.8-flash (gemini))",
    );

    const xml = fs.readFileSync(junit, "utf8");
    expect(xml).toContain('<testsuite name="smoke" tests="24" failures="0" skipped="0"');
    expect(xml.match(/<testcase /g)).toHaveLength(24);
    expect(xml).toContain('name="refuse-file"');
    expect(xml).not.toContain("<failure");
  });

  it("fails refuse-os, and only it, when the sandbox lets import os through", async () => {
    const leaky = await osLeakingSandbox(sandbox);
    try {
      stack = await startStack(seedBrain(), undefined, { AWS_ENDPOINT_URL_LAMBDA: leaky.url });
      const junit = path.join(junitDir.dir, "leaky.xml");
      const run = await runScript("smoke", ["--url", stack.backend.url, "--junit", junit, "--json"]);
      expect(run.status).toBe(1);
      const report = jsonOf<SmokeReport>(run);
      expect(report.ok).toBe(false);
      const failed = report.checks.filter((c) => c.status === "fail");
      expect(failed.map((c) => c.id)).toEqual(["refuse-os"]);
      expect(failed[0]!.detail).toBe('expected error ModuleNotAllowed, got ok=true, stdout "/var/task"');
      expect(failed[0]!.fix).toContain(
        "the sandbox let os through: remove os from co-intelligence:allowedModules",
      );
      expect(failed[0]!.fix).toContain(`npm run doctor -- --url ${stack.backend.url}`);

      const xml = fs.readFileSync(junit, "utf8");
      expect(xml).toContain('failures="1"');
      expect(xml).toMatch(
        /name="refuse-os" time="[\d.]+">\n\s+<failure message="expected error ModuleNotAllowed/,
      );
    } finally {
      await leaky.close();
    }
  });

  it("fails every chat check when the model answers wrongly, after one retry each, and says so in text", async () => {
    stack = await startStack(seedBrain({ wrong: true }), sandbox);
    const run = await runScript("smoke", ["--url", stack.backend.url, "--modules", "math"]);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(
      /✘ chat-1 .*expected 1175 in the answer, got "The answer is 1176\."; retry: expected 1175 in the answer, got "The answer is 1176\."/,
    );
    expect(run.stdout).toMatch(/✘ chat-2 .*expected 427\.05 in the answer/);
    expect(run.stdout).toMatch(/✘ chat-3 .*expected 0 1 1 2 3 5 8 13 21 34 in the answer/);
    expect(run.stdout).toMatch(/✘ chat-4 .*expected 12 in the answer/);
    expect(run.stdout).toMatch(
      /✘ chat-5 .*expected 24133 in the answer, got "The answer is 24134\.".* \(model gemini-3\.8-flash \(gemini\)\)/,
    );
    expect(run.stdout).toContain("fix: the answer was wrong twice");
    expect(run.stdout).toMatch(/✔ execute-math/);
    expect(run.stdout).toContain("FAILED: 5 passed, 5 failed, 0 skipped");
    // Each question was asked twice: a tool call and a final answer per attempt.
    expect(stack.gemini.requests).toHaveLength(5 * 2 * 2);
  });

  it("passes a question whose first answer is wrong and whose retry is right, saying it needed the retry", async () => {
    stack = await startStack(wrongOnce(), sandbox);
    const run = await runScript("smoke", ["--url", stack.backend.url, "--modules", "math", "--json"]);
    expect(run.status).toBe(0);
    expect(byId(jsonOf<SmokeReport>(run)).get("chat-1")!.detail).toBe(
      'code ran, answer has 1175 (on the retry; first: expected 1175 in the answer, got "The answer is 1176.") (model gemini-3.8-flash (gemini))',
    );
  });

  it("fails the chat checks with the kill-switch fix when code execution is switched off", async () => {
    stack = await startStack(seedBrain(), sandbox, { CODE_EXECUTION_ENABLED: "false" });
    const run = await runScript("smoke", ["--url", stack.backend.url, "--modules", "math", "--json"]);
    expect(run.status).toBe(1);
    const chat1 = byId(jsonOf<SmokeReport>(run)).get("chat-1")!;
    expect(chat1.status).toBe("fail");
    expect(chat1.detail).toMatch(/^no code event \(the model did not run code\)/);
    expect(chat1.fix).toContain("check CODE_EXECUTION_ENABLED");
  });

  it("fails every check with the doctor fix when the backend cannot reach the sandbox", async () => {
    stack = await startStack(seedBrain(), undefined);
    const run = await runScript("smoke", ["--url", stack.backend.url, "--modules", "math", "--json"]);
    expect(run.status).toBe(1);
    const report = jsonOf<SmokeReport>(run);
    expect(report.checks.map((c) => c.status)).toEqual(Array(10).fill("fail"));
    const math = byId(report).get("execute-math")!;
    expect(math.detail).toMatch(/^the backend could not use the sandbox: SandboxUnavailable: /);
    expect(math.fix).toBe(
      `check the function and the backend's invoke permission: npm run doctor -- --url ${stack.backend.url}`,
    );
    expect(byId(report).get("refuse-os")!.detail).toMatch(
      /^the backend could not use the sandbox: SandboxUnavailable/,
    );
    expect(byId(report).get("chat-1")!.detail).toMatch(/code_result not ok: SandboxUnavailable/);
  });

  it("sends API_TOKEN as a bearer token, and without it fails with the fix", async () => {
    stack = await startStack(seedBrain(), sandbox, { API_TOKEN: "s3cret-token" });
    const withToken = await runScript("smoke", ["--url", stack.backend.url, "--modules", "math", "--json"], {
      env: { API_TOKEN: "s3cret-token" },
    });
    expect(jsonOf<SmokeReport>(withToken).ok).toBe(true);

    const without = await runScript("smoke", ["--url", stack.backend.url, "--modules", "math", "--json"]);
    expect(without.status).toBe(1);
    const chat1 = byId(jsonOf<SmokeReport>(without)).get("chat-1")!;
    expect(chat1.detail).toMatch(/^POST \/api\/chat answered 401/);
    expect(chat1.fix).toContain("set API_TOKEN");
  });
});

describe("npm run smoke, other ways in", () => {
  it("runs the sandbox checks by invoking the function directly with --function (chat skipped without --url)", async () => {
    const run = await runScript("smoke", ["--function", "co-intelligence-code-executor", "--json"], {
      env: { AWS_ENDPOINT_URL_LAMBDA: sandbox.url },
    });
    const report = jsonOf<SmokeReport>(run);
    expect(run.status).toBe(0);
    expect(report.checks.filter((c) => c.status === "skip").map((c) => [c.id, c.detail])).toEqual([
      ["chat-1", "needs --url"],
      ["chat-2", "needs --url"],
      ["chat-3", "needs --url"],
      ["chat-4", "needs --url"],
      ["chat-5", "needs --url"],
    ]);
    expect(report.checks.filter((c) => c.status === "pass")).toHaveLength(19);
  });

  it("fails every check with a fix naming doctor when the backend is unreachable, without a stack trace", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const run = await runScript("smoke", ["--url", url, "--modules", "math"]);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(`POST ${url}/api/chat failed: ECONNREFUSED`);
    expect(run.stdout).toContain(
      `fix: is the backend up and reachable at ${url}? npm run doctor -- --url ${url}`,
    );
    expect(run.stdout).toContain("FAILED: 0 passed, 10 failed, 0 skipped");
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/\n\s+at /);
  });

  it("needs --url (or --function) and says so in one line", async () => {
    const run = await runScript("smoke", []);
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("--url URL is required");
    expect(run.stdout).toBe("");
  });

  it("answers --help with the flags and a CI example", async () => {
    const run = await runScript("smoke", ["--help"]);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("--junit FILE");
    expect(run.stdout).toContain(
      "example: npm run smoke -- --url https://chat.example.com --junit smoke-junit.xml",
    );
  });
});

describe("npm run smoke checks the modules the function itself allows", () => {
  let moto: Moto;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(() => moto?.stop());

  // The function's configuration from moto (AWS_ENDPOINT_URL), its invokes to the real local sandbox.
  const smoke = (args: string[]) =>
    runScript("smoke", [...args, "--json"], {
      env: { ...moto.env, AWS_ENDPOINT_URL_LAMBDA_INVOKE: sandbox.url },
    });
  const executeIds = (report: SmokeReport) =>
    report.checks.map((c) => c.id).filter((id) => id.startsWith("execute-"));

  it("reads SANDBOX_ALLOWED_MODULES of the function it names: a stack's shorter allow-list is not a failure", async () => {
    await moto.reset();
    const aws = clientsFor(moto.endpoint);
    await healthyDeployment(aws);
    await aws.lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: NAMES.functionName,
        Environment: { Variables: { ...SANDBOX_ENV, SANDBOX_ALLOWED_MODULES: "math,json,statistics" } },
      }),
    );
    const run = await smoke(["--function", NAMES.functionName]);
    const report = jsonOf<SmokeReport>(run);
    expect(executeIds(report)).toEqual(["execute-math", "execute-json", "execute-statistics"]);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(
      `smoke: modules from ${NAMES.functionName}'s SANDBOX_ALLOWED_MODULES: math,json,statistics`,
    );
  });

  it("checks the contract's 15 when the function leaves SANDBOX_ALLOWED_MODULES unset (its default)", async () => {
    await moto.reset();
    const aws = clientsFor(moto.endpoint);
    await healthyDeployment(aws);
    await aws.lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: NAMES.functionName,
        Environment: { Variables: { SANDBOX_TIMEOUT_MS: "30000" } },
      }),
    );
    const run = await smoke(["--function", NAMES.functionName]);
    expect(executeIds(jsonOf<SmokeReport>(run))).toEqual(MODULES.map((m) => `execute-${m}`));
    expect(run.status).toBe(0);
  });

  it("--modules still wins over the function's list", async () => {
    await moto.reset();
    await healthyDeployment(clientsFor(moto.endpoint));
    const run = await smoke(["--function", NAMES.functionName, "--modules", "math"]);
    expect(executeIds(jsonOf<SmokeReport>(run))).toEqual(["execute-math"]);
  });
});
