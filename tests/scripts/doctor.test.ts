// `npm run doctor`, run for real (tsx) against moto for AWS, the real local sandbox for
// Lambda Invoke, the recording kubectl stub and a real /readyz server: a healthy deployment
// passes every check, and each fault fails exactly its check (dependents skip) with the fix.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { UpdateFunctionConfigurationCommand } from "@aws-sdk/client-lambda";
import { bedrockInvokePolicy } from "../../components/bedrock-access";
import { LocalSandbox, startLocalSandbox } from "../../dev/local-lambda/server";
import { main as doctorMain } from "../../scripts/doctor/main";
import { Moto, startMoto } from "../helpers/moto";
import {
  Clients,
  Deployment,
  NAMES,
  SANDBOX_ENV,
  clientsFor,
  faults,
  healthyDeployment,
} from "./doctor-fixture";

const ROOT = path.join(__dirname, "..", "..");
const NODE_BIN = path.join(ROOT, "node_modules", ".bin");
const STUB_BIN = path.join(ROOT, "tests", "fixtures", "bin");

const IDS = [
  "aws-identity",
  "function-exists",
  "function-state",
  "function-config",
  "function-network",
  "function-invoke",
  "function-sandbox",
  "function-logs",
  "invoke-permission",
  "ecr-repository",
  "ecr-image",
  "deployment-ready",
  "deployment-image",
  "backend-ready",
];

interface CheckJson {
  id: string;
  title: string;
  status: "pass" | "fail" | "skip";
  detail: string;
  fix: string;
  durationMs: number;
}
interface DoctorRun {
  code: number | null;
  stdout: string;
  stderr: string;
  report: { ok: boolean; checks: CheckJson[] };
  check(id: string): CheckJson;
  kubectlCalls: string[][];
}

let moto: Moto;
let sandbox: LocalSandbox;
let readyz: http.Server;
let readyzStatus = 200;
let backendUrl: string;
let aws: Clients;
let deployment: Deployment;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-test-"));
  // `pulumi stack output --json --stack prod` answers the stack's names, as index.ts exports them.
  fs.mkdirSync(path.join(tmp, "pulumi-bin"));
  fs.writeFileSync(
    path.join(tmp, "pulumi-bin", "pulumi"),
    `#!/bin/sh\ncat <<'EOF'\n${JSON.stringify({
      functionName: NAMES.functionName,
      repositoryName: NAMES.repositoryName,
      invokeRoleName: NAMES.invokeRoleName,
      namespace: "default",
      deploymentName: "backend",
      region: "us-east-1",
    })}\nEOF\n`,
    { mode: 0o755 },
  );
  const started = await Promise.all([
    startMoto(),
    startLocalSandbox({
      port: 0,
      functionName: NAMES.functionName,
      env: SANDBOX_ENV,
      workers: 1,
      log: () => {},
    }),
  ]);
  [moto, sandbox] = started;
  readyz = http.createServer((req, res) => {
    res.writeHead(req.url === "/readyz" ? readyzStatus : 404, { "content-type": "application/json" });
    res.end(
      JSON.stringify(readyzStatus === 200 ? { ready: true } : { ready: false, missing: ["GEMINI_API_KEY"] }),
    );
  });
  await new Promise<void>((resolve) => readyz.listen(0, "127.0.0.1", resolve));
  backendUrl = `http://127.0.0.1:${(readyz.address() as { port: number }).port}`;
  aws = clientsFor(moto.endpoint);
  // In-process runs: the SDK reads endpoint and credentials from process.env (jest gives
  // each test file its own copy).
  Object.assign(process.env, moto.env);
});

afterAll(async () => {
  await Promise.all([moto?.stop(), sandbox?.close(), new Promise((r) => readyz?.close(r))]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  readyzStatus = 200;
  await moto.reset();
  deployment = await healthyDeployment(aws);
});

/**
 * Runs doctor with --json unless told otherwise. By default in this process (its `main`,
 * with this test's environment: fast); `process: "tsx" | "npm"` runs the real command as
 * on-call would. Always async: the sandbox and /readyz live in this process.
 */
async function doctor(
  args: string[],
  opts: {
    kubectl?: "stub" | "none";
    scenario?: string;
    json?: boolean;
    pulumi?: boolean;
    invokeUrl?: string;
    process?: "tsx" | "npm";
    /** Environment variables to leave out. */
    unset?: string[];
    /** Environment variables to add. */
    env?: Record<string, string>;
  } = {},
): Promise<DoctorRun> {
  const record = path.join(tmp, `kubectl-${Date.now()}-${Math.random()}.jsonl`);
  const PATH = [
    ...(opts.pulumi ? [path.join(tmp, "pulumi-bin")] : []),
    ...(opts.kubectl === "none" ? [] : [STUB_BIN]),
    NODE_BIN,
    // The machine may have a real kubectl in /usr/bin: keep it out when there must be none.
    ...(opts.kubectl === "none" ? [] : ["/usr/bin", "/bin"]),
  ].join(path.delimiter);
  const env = {
    PATH,
    HOME: tmp,
    ...moto.env,
    AWS_ENDPOINT_URL_LAMBDA_INVOKE: opts.invokeUrl ?? sandbox.url,
    STUB_RECORD: record,
    STUB_SCENARIO: opts.scenario ?? "healthy",
    STUB_IMAGE: deployment.image,
    ...opts.env,
  };
  for (const name of opts.unset ?? []) delete (env as Record<string, string>)[name];
  const doctorArgs = [...(opts.json === false ? [] : ["--json"]), ...args];
  let stdout = "";
  let stderr = "";
  let code: number | null;
  if (opts.process === undefined) {
    code = await doctorMain(doctorArgs, { env, stdout: (text) => void (stdout += text) });
  } else {
    const child = spawn(
      opts.process === "npm" ? "npm" : path.join(NODE_BIN, "tsx"),
      opts.process === "npm"
        ? ["run", "--silent", "doctor", "--", ...doctorArgs]
        : ["scripts/doctor/main.ts", ...doctorArgs],
      { cwd: ROOT, env },
    );
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  }
  let report: DoctorRun["report"] = { ok: false, checks: [] };
  if (opts.json !== false) {
    try {
      report = JSON.parse(stdout) as DoctorRun["report"];
    } catch {
      throw new Error(`doctor --json printed no JSON (exit ${code}):\n${stdout}\n${stderr}`);
    }
  }
  const kubectlCalls = fs.existsSync(record)
    ? fs
        .readFileSync(record, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as string[])
    : [];
  return {
    code,
    stdout,
    stderr,
    report,
    kubectlCalls,
    check(id) {
      const found = report.checks.find((c) => c.id === id);
      if (!found) throw new Error(`no check ${id} in ${stdout}`);
      return found;
    },
  };
}

/** Every check passes except `failed`, and exactly `skipped` are skipped. */
function expectOnly(run: DoctorRun, failed: string | undefined, skipped: string[] = []): void {
  const statuses = Object.fromEntries(run.report.checks.map((c) => [c.id, c.status]));
  const expected = Object.fromEntries(
    IDS.map((id) => [id, id === failed ? "fail" : skipped.includes(id) ? "skip" : "pass"]),
  );
  if (JSON.stringify(statuses) !== JSON.stringify(expected)) {
    // Show the details of the unexpected ones: that is what explains a failing test.
    const odd = run.report.checks.filter((c) => c.status !== expected[c.id]);
    expect({ statuses, odd }).toEqual({ statuses: expected, odd: [] });
  }
  expect(run.report.ok).toBe(failed === undefined);
  expect(run.code).toBe(failed === undefined ? 0 : 1);
}

const FULL = () => ["--url", backendUrl];

describe("npm run doctor", () => {
  it("passes every check, in the contract's order, on a healthy deployment (names from the Pulumi stack)", async () => {
    const run = await doctor(["--stack", "prod", ...FULL()], { pulumi: true, process: "npm" });
    expect(run.report.checks.map((c) => c.id)).toEqual(IDS);
    expectOnly(run, undefined);
    for (const c of run.report.checks) {
      expect(Object.keys(c).sort()).toEqual(["detail", "durationMs", "fix", "id", "status", "title"]);
      expect(c.title).not.toBe("");
      expect(typeof c.durationMs).toBe("number");
    }
    expect(run.check("function-invoke").detail).toContain("1175");
    expect(run.check("ecr-image").detail).toContain(deployment.image);
    expect(run.kubectlCalls).toContainEqual(
      expect.arrayContaining(["kubectl", "get", "deployment", "backend", "-n", "default", "-o", "json"]),
    );
    expect(run.kubectlCalls.some((argv) => argv.includes("pods") && argv.includes("-l"))).toBe(true);
  });

  it("prints one readable line per check and a summary without --json", async () => {
    const run = await doctor(FULL(), { json: false, process: "tsx" });
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 14).map((l) => l.split(/\s+/)[1])).toEqual(IDS);
    expect(lines.slice(0, 14).every((l) => l.startsWith("✔"))).toBe(true);
    expect(lines.at(-1)).toBe("OK: 14 passed, 0 failed, 0 skipped");
  });

  it("fails aws-identity without credentials, says how to get them, and skips every AWS check", async () => {
    const run = await doctor(FULL(), {
      process: "tsx",
      unset: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    });
    expectOnly(
      run,
      "aws-identity",
      IDS.filter((id) => !["aws-identity", "deployment-ready", "backend-ready"].includes(id)),
    );
    expect(run.check("aws-identity").detail).toMatch(/^STS GetCallerIdentity failed: /);
    expect(run.check("aws-identity").fix).toContain("aws configure");
    expect(run.check("aws-identity").fix).toContain("AWS_PROFILE");
  });

  it("fails aws-identity with the endpoint to check, not 'give this shell credentials', when AWS does not answer", async () => {
    const run = await doctor(FULL(), { process: "tsx", env: { AWS_ENDPOINT_URL: "http://127.0.0.1:9" } });
    expectOnly(
      run,
      "aws-identity",
      IDS.filter((id) => !["aws-identity", "deployment-ready", "backend-ready"].includes(id)),
    );
    expect(run.check("aws-identity").detail).toContain("ECONNREFUSED 127.0.0.1:9");
    expect(run.check("aws-identity").fix).toMatch(
      /^AWS does not answer from this shell at http:\/\/127\.0\.0\.1:9 \(AWS_ENDPOINT_URL\): /,
    );
    expect(run.check("aws-identity").fix).not.toContain("aws configure");
  });

  it("fails function-exists when the function is missing, skips what needs it, and says pulumi up --stack", async () => {
    await faults.functionMissing(aws);
    const run = await doctor(["--stack", "prod", ...FULL()], { pulumi: true });
    expectOnly(run, "function-exists", [
      "function-state",
      "function-config",
      "function-network",
      "function-invoke",
      "function-sandbox",
      "function-logs",
      "invoke-permission",
    ]);
    expect(run.check("function-exists").detail).toContain("ResourceNotFoundException");
    expect(run.check("function-exists").fix).toContain("pulumi up --stack prod");
    expect(run.check("function-invoke").detail).toBe("needs function-state (skipped)");
    expect(run.check("function-state").detail).toBe("needs function-exists (failed)");
  });

  it("fails function-config when the timeout is below the sandbox limit, with the update command", async () => {
    await faults.wrongTimeout(aws);
    const run = await doctor(FULL());
    expectOnly(run, "function-config");
    expect(run.check("function-config").detail).toContain("timeout must be at least the sandbox limit 30 s");
    expect(run.check("function-config").detail).toContain("found 10 s");
    expect(run.check("function-config").fix).toContain(
      "aws lambda update-function-configuration --function-name co-intelligence-code-executor --region us-east-1 --timeout 35",
    );
  });

  it("fails function-network when the security group allows egress, naming the rule to revoke", async () => {
    await faults.egressRule(aws, deployment);
    const run = await doctor(FULL());
    expectOnly(run, "function-network");
    expect(run.check("function-network").detail).toContain(
      `security group ${deployment.securityGroupId} allows egress: tcp 443 to 0.0.0.0/0`,
    );
    expect(run.check("function-network").fix).toContain(
      `aws ec2 revoke-security-group-egress --group-id ${deployment.securityGroupId}`,
    );
  });

  it("fails function-network when a subnet's route table has a route to an internet gateway", async () => {
    const igw = await faults.internetRoute(aws, deployment);
    const run = await doctor(FULL());
    expectOnly(run, "function-network");
    expect(run.check("function-network").detail).toContain(`0.0.0.0/0 -> internet gateway ${igw}`);
    expect(run.check("function-network").fix).toContain(
      `aws ec2 delete-route --route-table-id ${deployment.routeTableId} --destination-cidr-block 0.0.0.0/0`,
    );
  });

  it("fails function-network, not with a bare error, when the function's security group was deleted: pulumi up --refresh", async () => {
    await faults.securityGroupDeleted(aws, deployment);
    const run = await doctor(["--stack", "prod", ...FULL()], { pulumi: true });
    expectOnly(run, "function-network");
    expect(run.check("function-network").detail).toMatch(
      /^expected the function's subnets and security groups to exist, found one deleted: InvalidGroup\.NotFound/,
    );
    expect(run.check("function-network").detail).toContain(deployment.securityGroupId);
    // Without --refresh Pulumi still believes the group exists and recreates nothing.
    expect(run.check("function-network").fix).toMatch(/^pulumi up --refresh --stack prod /);
  });

  it("fails function-network when the function names a subnet that no longer exists", async () => {
    await aws.lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: NAMES.functionName,
        VpcConfig: {
          SubnetIds: ["subnet-0123456789abcdef0"],
          SecurityGroupIds: [deployment.securityGroupId],
        },
      }),
    );
    const run = await doctor(FULL());
    expectOnly(run, "function-network");
    expect(run.check("function-network").detail).toContain("InvalidSubnetID.NotFound");
    expect(run.check("function-network").fix).toMatch(/^pulumi up --refresh --stack <stack> /);
  });

  it("fails function-logs when the log group is missing though the function just ran (its logs are lost)", async () => {
    await faults.logGroupMissing(aws);
    const run = await doctor(FULL());
    expectOnly(run, "function-logs");
    expect(run.check("function-logs").detail).toBe(
      `log group ${NAMES.logGroup} does not exist, though the function just ran: its logs are lost`,
    );
    expect(run.check("function-logs").fix).toContain("pulumi up --refresh --stack <stack>");
    expect(run.check("function-logs").fix).toContain(
      `aws logs create-log-group --log-group-name ${NAMES.logGroup} --region us-east-1`,
    );
  });

  it("skips function-logs when the log group is missing and doctor could not invoke the function", async () => {
    await faults.logGroupMissing(aws);
    // A Lambda Invoke endpoint that refuses: no permission to invoke, so the function may never have run.
    const denied = http.createServer((req, res) => {
      req.resume().on("end", () => {
        res.writeHead(403, {
          "content-type": "application/json",
          "x-amzn-errortype": "AccessDeniedException",
        });
        res.end(JSON.stringify({ Message: "not authorized to perform: lambda:InvokeFunction" }));
      });
    });
    await new Promise<void>((resolve) => denied.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = denied.address() as { port: number };
      const run = await doctor(FULL(), { invokeUrl: `http://127.0.0.1:${port}` });
      expectOnly(run, undefined, ["function-invoke", "function-sandbox", "function-logs"]);
      expect(run.check("function-logs").detail).toContain(`log group ${NAMES.logGroup} does not exist`);
    } finally {
      await new Promise((r) => denied.close(r));
    }
  });

  it("fails function-network when the subnets' route table sends the default route to a NAT gateway", async () => {
    const nat = await faults.natRoute(aws, deployment);
    const run = await doctor(FULL());
    expectOnly(run, "function-network");
    expect(run.check("function-network").detail).toContain(
      `route table ${deployment.routeTableId} routes 0.0.0.0/0 -> NAT gateway ${nat}`,
    );
    expect(run.check("function-network").fix).toContain(
      `aws ec2 delete-route --route-table-id ${deployment.routeTableId} --destination-cidr-block 0.0.0.0/0`,
    );
  });

  it("fails function-network when the function is given a public subnet (no table of its own: the VPC's main table routes to the internet)", async () => {
    const { mainRouteTableId, igw } = await faults.publicSubnet(aws, deployment);
    const run = await doctor(FULL());
    expectOnly(run, "function-network");
    expect(run.check("function-network").detail).toContain(
      `route table ${mainRouteTableId} routes 0.0.0.0/0 -> internet gateway ${igw}`,
    );
    expect(run.check("function-network").fix).toMatch(/^pulumi up --stack <stack> /);
  });

  it("fails invoke-permission when the invoke role has no invoke policy", async () => {
    await faults.invokePolicyMissing(aws);
    const run = await doctor(FULL());
    expectOnly(run, "invoke-permission");
    expect(run.check("invoke-permission").detail).toContain(
      "no policy of the role allows lambda:InvokeFunction",
    );
    expect(run.check("invoke-permission").fix).toContain(
      `aws iam put-role-policy --role-name ${NAMES.invokeRoleName}`,
    );
    expect(run.check("invoke-permission").fix).toContain(deployment.functionArn);
  });

  describe("with Amazon Bedrock as the model, invoke-permission also checks the role may call it", () => {
    const putBedrockPolicy = (document: object) =>
      aws.iam.send(
        new PutRolePolicyCommand({
          RoleName: NAMES.invokeRoleName,
          PolicyName: "BedrockInvokeModelPolicy",
          PolicyDocument: JSON.stringify(document),
        }),
      );
    const BEDROCK = { MODEL_PROVIDER: "bedrock", MODEL_ID: "amazon.nova-pro-v1:0" };
    const MODEL_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0";

    it("fails when the role may invoke the function but not call the model, with the fix", async () => {
      const run = await doctor(FULL(), { env: BEDROCK });
      expectOnly(run, "invoke-permission");
      const check = run.check("invoke-permission");
      expect(check.detail).toContain(`may lambda:InvokeFunction on ${deployment.functionArn}`);
      expect(check.detail).toContain(
        `Amazon Bedrock: role ${NAMES.invokeRoleName} may not bedrock:InvokeModelWithResponseStream on ${MODEL_ARN}`,
      );
      expect(check.fix).toContain("pulumi config set co-intelligence:modelProvider bedrock");
      expect(check.fix).toContain("--policy-name BedrockInvokeModelPolicy");
      expect(check.fix).toContain(MODEL_ARN);
    });

    it("passes with the policy the stack writes, for a model ID", async () => {
      await putBedrockPolicy(bedrockInvokePolicy({ kind: "foundation-model", arn: MODEL_ARN }));
      const run = await doctor(FULL(), { env: BEDROCK });
      expectOnly(run, undefined);
      expect(run.check("invoke-permission").detail).toContain(
        `Amazon Bedrock: ${NAMES.invokeRoleName} may bedrock:InvokeModelWithResponseStream on ${MODEL_ARN}`,
      );
    });

    it("passes for an inference profile when the role may call the profile; fails when it names another model", async () => {
      const account = deployment.functionArn.split(":")[4]!;
      const profile = `arn:aws:bedrock:us-east-1:${account}:inference-profile/us.amazon.nova-2-lite-v1:0`;
      const profileEnv = { MODEL_PROVIDER: "bedrock", MODEL_ID: "us.amazon.nova-2-lite-v1:0" };
      await putBedrockPolicy(bedrockInvokePolicy({ kind: "foundation-model", arn: MODEL_ARN }));
      const wrong = await doctor(FULL(), { env: profileEnv });
      expectOnly(wrong, "invoke-permission");
      expect(wrong.check("invoke-permission").detail).toContain(
        `BedrockInvokeModelPolicy allows it on ${MODEL_ARN}`,
      );
      await putBedrockPolicy(
        bedrockInvokePolicy({ kind: "inference-profile", arn: profile, id: "us.amazon.nova-2-lite-v1:0" }, [
          "arn:aws:bedrock:us-east-2::foundation-model/amazon.nova-2-lite-v1:0",
        ]),
      );
      const right = await doctor(FULL(), { env: profileEnv });
      expectOnly(right, undefined);
      expect(right.check("invoke-permission").detail).toContain(`on ${profile}`);
    });

    it("with Gemini (the default) no Bedrock permission is looked for", async () => {
      const run = await doctor(FULL());
      expect(run.check("invoke-permission").detail).not.toContain("Bedrock");
    });
  });

  it("fails invoke-permission when the invoke policy names another function's ARN, showing that ARN", async () => {
    await faults.invokePolicyOnWrongArn(aws, deployment);
    const run = await doctor(FULL());
    expectOnly(run, "invoke-permission");
    expect(run.check("invoke-permission").detail).toMatch(
      /inline:invoke-code-executor allows it on arn:aws:lambda:us-east-1:123456789012:function:old-executor/,
    );
    expect(run.check("invoke-permission").fix).toContain("pulumi up --stack");
  });

  it("fails function-logs on errors and timeouts in the last --since minutes, pointing at npm run logs", async () => {
    await faults.logErrors(aws);
    const run = await doctor([...FULL(), "--since", "30"]);
    expectOnly(run, "function-logs");
    expect(run.check("function-logs").detail).toContain(
      "2 log event(s) in /aws/lambda/co-intelligence-code-executor",
    );
    expect(run.check("function-logs").detail).toContain('1 x "Task timed out"');
    expect(run.check("function-logs").fix).toContain(
      "npm run logs -- --function co-intelligence-code-executor --region us-east-1 --since 30",
    );
  });

  it("fails function-invoke when the function errors on every call (a bad SANDBOX_* value), naming it", async () => {
    const broken = await startLocalSandbox({
      port: 0,
      functionName: NAMES.functionName,
      env: { ...SANDBOX_ENV, SANDBOX_TIMEOUT_MS: "soon" },
      workers: 1,
      log: () => {},
    });
    try {
      const run = await doctor(FULL(), { invokeUrl: broken.url });
      expectOnly(run, "function-invoke", ["function-sandbox"]);
      expect(run.check("function-invoke").detail).toContain("the function itself failed");
      expect(run.check("function-invoke").detail).toContain("SANDBOX_TIMEOUT_MS");
      expect(run.check("function-invoke").fix).toContain(
        "npm run logs -- --function co-intelligence-code-executor",
      );
    } finally {
      await broken.close();
    }
  });

  it("fails function-sandbox when the function runs `import os` (a handler without the sandbox)", async () => {
    // A Lambda Invoke endpoint whose "handler" runs anything: prints 1175 for every request.
    const unsandboxed = http.createServer((req, res) => {
      req.resume().on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            ok: true,
            stdout: "1175\n",
            stderr: "",
            result: null,
            error: null,
            truncated: false,
            durationMs: 1,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => unsandboxed.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = unsandboxed.address() as { port: number };
      const run = await doctor(FULL(), { invokeUrl: `http://127.0.0.1:${port}` });
      expectOnly(run, "function-sandbox");
      expect(run.check("function-sandbox").detail).toContain(
        "`import os` must answer ModuleNotAllowed, found ok=true",
      );
      expect(run.check("function-sandbox").detail).toContain("must answer OperationNotAllowed");
      expect(run.check("function-sandbox").fix).toContain("pulumi up --stack <stack>");
    } finally {
      await new Promise((r) => unsandboxed.close(r));
    }
  });

  it("fails ecr-image when the deployed image has critical scan findings", async () => {
    await faults.criticalFindings(moto.endpoint, deployment);
    const run = await doctor(FULL());
    expectOnly(run, "ecr-image");
    expect(run.check("ecr-image").detail).toContain("2 critical finding(s)");
    expect(run.check("ecr-image").fix).toContain(
      "aws ecr describe-image-scan-findings --repository-name co-intelligence-backend",
    );
    expect(run.check("ecr-image").fix).toContain("npm run update-backend -- --stack <stack>");
  });

  it("fails deployment-ready when the deployment does not exist", async () => {
    const run = await doctor(FULL(), { scenario: "not-found" });
    expectOnly(run, "deployment-ready", ["ecr-image", "deployment-image"]);
    expect(run.check("deployment-ready").detail).toContain(
      "no deployment backend in namespace co-intelligence",
    );
    expect(run.check("deployment-ready").fix).toContain("--namespace NS --deployment NAME");
    expect(run.check("deployment-ready").fix).toContain(
      "before the first rollout there is no Deployment: npm run update-backend -- --stack <stack>",
    );
  });

  it("fails ecr-repository when the repository is missing and skips the image checks that need it", async () => {
    await faults.repositoryMissing(aws);
    const run = await doctor(FULL());
    expectOnly(run, "ecr-repository", ["ecr-image", "deployment-image"]);
    expect(run.check("ecr-repository").detail).toContain("RepositoryNotFoundException");
    expect(run.check("ecr-repository").fix).toContain("pulumi up --stack <stack>");
  });

  it("fails deployment-ready when a pod crash-loops, with the logs and undo commands", async () => {
    const run = await doctor(FULL(), { scenario: "crashloop" });
    expectOnly(run, "deployment-ready");
    expect(run.check("deployment-ready").detail).toContain("1/2 replicas ready");
    expect(run.check("deployment-ready").detail).toContain("CrashLoopBackOff");
    expect(run.check("deployment-ready").fix).toContain(
      "kubectl logs deployment/backend -n co-intelligence --previous",
    );
    // Undo through the stack config, the image's one owner (never kubectl rollout undo).
    expect(run.check("deployment-ready").fix).toContain("npm run rollout -- --stack <stack> --undo");
    expect(run.check("deployment-ready").fix).not.toContain("kubectl rollout undo");
  });

  it("fails deployment-ready when a pod cannot pull its image, pointing at describe (there are no --previous logs)", async () => {
    const dir = path.join(tmp, `kubectl-pull-${Date.now()}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, "kubectl-get-pods.out"),
      JSON.stringify({
        items: [
          {
            metadata: { name: "backend-5c8d7f9b4-qwrtz" },
            status: {
              phase: "Pending",
              containerStatuses: [
                {
                  name: "backend",
                  ready: false,
                  restartCount: 0,
                  state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } },
                },
              ],
            },
          },
        ],
      }),
    );
    const run = await doctor(FULL(), { env: { STUB_DIR: dir } });
    expectOnly(run, "deployment-ready");
    const check = run.check("deployment-ready");
    expect(check.detail).toContain("pod backend-5c8d7f9b4-qwrtz container backend: ImagePullBackOff");
    expect(check.fix).toMatch(/^see why: kubectl describe pods -n co-intelligence -l /);
    expect(check.fix).toContain("npm run rollout -- --stack <stack> --undo");
    expect(check.fix).not.toContain("--previous");
  });

  it("fails deployment-ready when the deployment is scaled to 0 (0/0 ready, nothing serves), with kubectl scale", async () => {
    const dir = path.join(tmp, `kubectl-zero-${Date.now()}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, "kubectl-get-deployment.out"),
      JSON.stringify({
        metadata: { name: "backend", namespace: "co-intelligence" },
        spec: {
          replicas: 0,
          selector: { matchLabels: { "app.kubernetes.io/name": "backend" } },
          template: { spec: { containers: [{ name: "backend", image: deployment.image }] } },
        },
        status: { observedGeneration: 4 },
      }),
    );
    fs.writeFileSync(
      path.join(dir, "kubectl-get-pods.out"),
      JSON.stringify({ apiVersion: "v1", kind: "List", items: [] }),
    );
    const run = await doctor(FULL(), { env: { STUB_DIR: dir } });
    expectOnly(run, "deployment-ready");
    expect(run.check("deployment-ready").detail).toContain("co-intelligence/backend scaled to 0");
    expect(run.check("deployment-ready").fix).toMatch(
      /^kubectl scale deployment\/backend -n co-intelligence --replicas=2 /,
    );
  });

  it("fails deployment-image when the deployment runs an image from elsewhere", async () => {
    const original = deployment.image;
    deployment.image = "docker.io/library/backend:latest";
    try {
      const run = await doctor(FULL());
      expectOnly(run, "deployment-image", ["ecr-image"]);
      expect(run.check("deployment-image").fix).toContain("npm run rollout -- --stack <stack>");
    } finally {
      deployment.image = original;
    }
  });

  it("skips the deployment checks, with the reason, when kubectl is not on PATH", async () => {
    const run = await doctor(FULL(), { kubectl: "none" });
    expectOnly(run, undefined, ["ecr-image", "deployment-ready", "deployment-image"]);
    expect(run.check("deployment-ready").detail).toContain("kubectl is not on PATH");
    expect(run.check("ecr-image").detail).toContain("kubectl is not on PATH");
  });

  it("passes function-config on a function without SANDBOX_* variables: unset means the default (CONTRACT section 1)", async () => {
    await aws.lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: NAMES.functionName,
        Environment: { Variables: { SANDBOX_TIMEOUT_MS: "30000" } },
      }),
    );
    const run = await doctor(FULL());
    expect(run.check("function-config").status).toBe("pass");
    expect(run.check("function-config").detail).toContain(
      "defaults for SANDBOX_ALLOWED_MODULES, SANDBOX_MAX_OUTPUT_BYTES, SANDBOX_MEMORY_MB",
    );
  });

  it("reads the image as rollout records it (tag and digest) in ecr-image and deployment-image", async () => {
    const [uri, digest] = deployment.image.split("@");
    const run = await doctor(FULL(), { env: { STUB_IMAGE: `${uri}:3f2c1ab@${digest}` } });
    expectOnly(run, undefined);
    expect(run.check("ecr-image").detail).toContain(`${uri}:3f2c1ab@${digest}: no critical findings`);
  });

  it("says no cluster is configured (not 'no deployment') when kubectl has no context and would ask localhost:8080", async () => {
    const run = await doctor(FULL(), { scenario: "no-kubeconfig" });
    expectOnly(run, undefined, ["ecr-image", "deployment-ready", "deployment-image"]);
    const detail = run.check("deployment-ready").detail;
    expect(detail).toMatch(/^no cluster configured: kubectl has no current context/);
    expect(detail).toContain("aws eks update-kubeconfig --name <cluster>");
    expect(detail).not.toContain("no deployment");
    // It asked kubectl for its context and nothing else: no question went to localhost:8080.
    expect(run.kubectlCalls).toEqual([["kubectl", "config", "current-context"]]);
  });

  it("notes in deployment-ready's detail that the autoscaler cannot scale without metrics-server", async () => {
    const healthy = await doctor(FULL());
    expect(healthy.check("deployment-ready").detail).not.toContain("metrics");
    const run = await doctor(FULL(), { env: { STUB_METRICS: "missing" } });
    expect(run.check("deployment-ready").status).toBe("pass");
    expect(run.check("deployment-ready").detail).toContain(
      "the autoscaler cannot scale: the metrics API (v1beta1.metrics.k8s.io) is missing; install metrics-server",
    );
  });

  it("skips the deployment checks, never a TypeError, when kubectl prints JSON that is not an object", async () => {
    const dir = path.join(tmp, `kubectl-null-${Date.now()}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "kubectl-get-deployment.out"), "null\n");
    const run = await doctor(FULL(), { env: { STUB_DIR: dir } });
    expectOnly(run, undefined, ["ecr-image", "deployment-ready", "deployment-image"]);
    expect(run.check("deployment-ready").detail).toContain("did not print JSON");
    expect(run.stdout).not.toContain("TypeError");
  });

  it("skips the deployment checks when kubectl may not read the cluster", async () => {
    const run = await doctor(FULL(), { scenario: "forbidden" });
    expectOnly(run, undefined, ["ecr-image", "deployment-ready", "deployment-image"]);
    expect(run.check("deployment-ready").detail).toMatch(
      /^kubectl cannot read the cluster: Error from server \(Forbidden\)/,
    );
  });

  it("skips backend-ready without --url, and fails it when /readyz is not 200", async () => {
    const noUrl = await doctor([]);
    expectOnly(noUrl, undefined, ["backend-ready"]);
    expect(noUrl.check("backend-ready").detail).toContain("no --url given");

    readyzStatus = 503;
    const notReady = await doctor(FULL());
    expectOnly(notReady, "backend-ready");
    expect(notReady.check("backend-ready").detail).toContain("-> 503");
    expect(notReady.check("backend-ready").detail).toContain("GEMINI_API_KEY");
  });

  it("refuses an unknown flag in one line with exit code 2, and --help shows an example", async () => {
    const bad = await doctor(["--fucntion", "x"], { json: false, process: "tsx" });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr.trim()).toBe("error: unknown flag --fucntion (see: npm run doctor -- --help)");
    const help = await doctor(["--help"], { json: false, process: "tsx" });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("example: npm run doctor -- --stack prod");
    expect(help.stdout).toContain("AWS_ENDPOINT_URL_LAMBDA_INVOKE");
  });

  it("says how to install pulumi when --stack is given without the CLI", async () => {
    const run = await doctor(["--stack", "prod"], { json: false, kubectl: "none", process: "tsx" });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("--stack prod needs the Pulumi CLI");
  });
});
