// `npm run logs`, run for real (tsx) against moto's CloudWatch Logs, and with --backend
// against the recording kubectl stub.
import { ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CreateLogGroupCommand } from "@aws-sdk/client-cloudwatch-logs";
import { CreateFunctionCommand } from "@aws-sdk/client-lambda";
import { CreateRoleCommand } from "@aws-sdk/client-iam";
import { Moto, startMoto } from "../helpers/moto";
import { Clients, NAMES, clientsFor, putLogEvents } from "./doctor-fixture";

const ROOT = path.join(__dirname, "..", "..");
const NODE_BIN = path.join(ROOT, "node_modules", ".bin");
const STUB_BIN = path.join(ROOT, "tests", "fixtures", "bin");

let moto: Moto;
let aws: Clients;
let tmp: string;
let stream = 0;

/** Puts events `minutesAgo` old into the function's default log group. */
function putEvents(events: { minutesAgo: number; message: string }[]): Promise<void> {
  return putLogEvents(
    aws,
    events.map((e) => ({ ageMs: e.minutesAgo * 60000, message: e.message })),
  );
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "logs-test-"));
  moto = await startMoto();
  aws = clientsFor(moto.endpoint);
  const role = await aws.iam.send(
    new CreateRoleCommand({
      RoleName: "sandbox-execution",
      AssumeRolePolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
        ],
      }),
    }),
  );
  await aws.lambda.send(
    new CreateFunctionCommand({
      FunctionName: NAMES.functionName,
      Runtime: "python3.13",
      Role: role.Role!.Arn!,
      Handler: "handler.handler",
      Code: { ZipFile: Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]) },
    }),
  );
  await aws.logs.send(new CreateLogGroupCommand({ logGroupName: NAMES.logGroup }));
  await putEvents([
    { minutesAgo: 120, message: '{"level": "INFO", "message": "two hours ago"}' },
    { minutesAgo: 10, message: "START RequestId: 5f1c Version: $LATEST" },
    { minutesAgo: 9, message: '{"level": "ERROR", "message": "sandbox configuration error"}\n' },
    { minutesAgo: 8, message: "END RequestId: 5f1c" },
  ]);
});

afterAll(async () => {
  await moto?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function start(
  args: string[],
  opts: { kubectl?: boolean; env?: Record<string, string> } = {},
): ChildProcessWithoutNullStreams & { record: string } {
  const record = path.join(tmp, `kubectl-${++stream}.jsonl`);
  const child = spawn(path.join(NODE_BIN, "tsx"), ["scripts/logs/main.ts", ...args], {
    cwd: ROOT,
    env: {
      PATH: [
        ...(opts.kubectl === false ? [] : [STUB_BIN]),
        NODE_BIN,
        ...(opts.kubectl === false ? [] : ["/usr/bin", "/bin"]),
      ].join(path.delimiter),
      HOME: tmp,
      ...moto.env,
      STUB_RECORD: record,
      ...opts.env,
    },
  });
  return Object.assign(child, { record });
}

async function logs(args: string[], opts: { kubectl?: boolean; env?: Record<string, string> } = {}) {
  const child = start(args, opts);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const calls = fs.existsSync(child.record)
    ? fs
        .readFileSync(child.record, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as string[])
    : [];
  return { code, stdout, stderr, lines: stdout.trimEnd().split("\n").filter(Boolean), calls };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z /;

describe("npm run logs", () => {
  it("--once prints the last --since minutes of the function's log group, oldest first, timestamp then message", async () => {
    const run = await logs(["--once"]);
    expect(run.code).toBe(0);
    expect(run.lines).toHaveLength(3);
    expect(run.lines.every((l) => ISO.test(l))).toBe(true);
    expect(run.lines.map((l) => l.replace(ISO, ""))).toEqual([
      "START RequestId: 5f1c Version: $LATEST",
      '{"level": "ERROR", "message": "sandbox configuration error"}',
      "END RequestId: 5f1c",
    ]);
  });

  it("--since reaches further back, and --filter keeps only matching events", async () => {
    const all = await logs(["--no-follow", "--since", "180"]);
    expect(all.lines[0]).toContain("two hours ago");
    expect(all.lines).toHaveLength(4);
    const errors = await logs(["--once", "--since", "180", "--filter", "ERROR"]);
    expect(errors.lines).toHaveLength(1);
    expect(errors.lines[0]).toContain("sandbox configuration error");
  });

  it("--json prints one object per event", async () => {
    const run = await logs(["--once", "--json", "--filter", '"RequestId: 5f1c"']);
    const events = run.lines.map(
      (l) => JSON.parse(l) as { timestamp: string; logStream: string; message: string },
    );
    expect(events.map((e) => e.message)).toEqual([
      "START RequestId: 5f1c Version: $LATEST",
      "END RequestId: 5f1c",
    ]);
    expect(events[0]!.logStream).toMatch(/^2026\/11\/30\/\[\$LATEST\]s\d+$/);
  });

  it("follows: new events appear as they are written, and Ctrl-C exits cleanly with 0", async () => {
    const child = start(["--since", "1"]);
    let stdout = "";
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`never printed ${text}; got:\n${stdout}`)), 20000);
        const check = () => {
          if (stdout.includes(text)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on("data", (c: Buffer) => {
          stdout += c.toString();
          check();
        });
        check();
      });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    await new Promise((r) => setTimeout(r, 1500)); // one poll with nothing new
    await putEvents([{ minutesAgo: 0, message: "fresh event 1" }]);
    await seen("fresh event 1");
    await putEvents([{ minutesAgo: 0, message: "fresh event 2" }]);
    await seen("fresh event 2");
    child.kill("SIGINT");
    expect(await closed).toBe(0);
    expect(stdout.match(/fresh event 1/g)).toHaveLength(1); // overlapping polls print each event once
    expect(stderr).toContain("following /aws/lambda/co-intelligence-code-executor");
  });

  it("says which function is missing, in one line", async () => {
    const run = await logs(["--once", "--function", "no-such-function"]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("error: no function no-such-function in us-east-1");
  });

  it("--backend runs kubectl logs for the deployment, all containers, from --since minutes ago", async () => {
    const run = await logs(["--backend", "--once", "--namespace", "chat", "--since", "30"]);
    expect(run.code).toBe(0);
    expect(run.calls).toEqual([
      ["kubectl", "logs", "-n", "chat", "--all-containers", "--since=30m", "--", "deployment/backend"],
    ]);
    expect(run.stdout).toContain("Server listening");
    const follow = start(["--backend", "--deployment", "web"]);
    const code = await new Promise<number | null>((resolve) => follow.on("close", resolve));
    expect(code).toBe(0);
    expect(JSON.parse(fs.readFileSync(follow.record, "utf8").trim())).toEqual([
      "kubectl",
      "logs",
      "-f",
      "-n",
      "co-intelligence",
      "--all-containers",
      "--since=15m",
      "--",
      "deployment/web",
    ]);
  });

  it("--backend prints the pods' output with escape codes and workflow commands made inert", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, "hostile-"));
    fs.writeFileSync(
      path.join(dir, "kubectl-logs.out"),
      "ok line\n\u001b]52;c;cm0gLXJmIH4=\u0007\u001b[2J title\n::add-mask::secret\n  ::error file=x::owned\nfine ##[group]x\n",
    );
    const run = await logs(["--backend", "--once"], { env: { STUB_DIR: dir } });
    expect(run.code).toBe(0);
    // eslint-disable-next-line no-control-regex
    expect(run.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(run.lines).toEqual([
      "ok line",
      "\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J title",
      "\\::add-mask::secret",
      "  \\::error file=x::owned",
      "fine #\\#[group]x",
    ]);
    expect(run.lines.some((l) => /^\s*::/.test(l))).toBe(false);
  });

  it("--backend without kubectl says how to get it", async () => {
    const run = await logs(["--backend"], { kubectl: false });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      "error: kubectl is not on PATH: install it, then: aws eks update-kubeconfig --name <cluster>",
    );
  });

  it("--help shows the flags and an example", async () => {
    const run = await logs(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("--once");
    expect(run.stdout).toContain("example: npm run logs -- --stack prod --since 60 --filter ERROR");
  });
});
