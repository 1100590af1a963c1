// npm run push (scripts/push/): ECR against a real moto_server, docker through the recording stub.
import { createHash } from "node:crypto";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { startMoto, type Moto } from "../helpers/moto";
import { cleanRepo, jsonOf, runScript } from "./deploy-harness";

const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const URL = `${REGISTRY}/co-intelligence-backend`;
// moto's GetAuthorizationToken answers base64("AWS:<account>-auth-token").
const PASSWORD = "123456789012-auth-token";
const DIGEST = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

let moto: Moto;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => moto.stop());
beforeEach(async () => {
  await moto.reset();
  const ecr = new ECRClient({
    region: "us-east-1",
    endpoint: moto.endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
  await ecr.send(
    new CreateRepositoryCommand({
      repositoryName: "co-intelligence-backend",
      imageTagMutability: "IMMUTABLE",
    }),
  );
});

const push = (args: string[], scenario?: string) =>
  runScript("push", args, { env: moto.env, ...(scenario ? { scenario } : {}) });

describe("npm run push", () => {
  it("logs in with the ECR token's password on stdin (never argv), pushes, and prints the digest", async () => {
    const run = await push(["--image", `${URL}:1a2b3c4d5e6f`, "--json"]);
    expect(run.calls).toEqual([
      ["docker", "login", "--username", "AWS", "--password-stdin", "--", REGISTRY],
      ["docker", "push", "--", `${URL}:1a2b3c4d5e6f`],
      ["docker", "logout", "--", REGISTRY],
    ]);
    expect(run.stdin).toEqual([
      {
        argv: ["docker", "login", "--username", "AWS", "--password-stdin", "--", REGISTRY],
        bytes: PASSWORD.length,
        sha256: createHash("sha256").update(PASSWORD).digest("hex"),
      },
    ]);
    expect(JSON.stringify(run.calls)).not.toContain(PASSWORD);
    expect(run.stderr).not.toContain(PASSWORD);
    expect(run.stdout).not.toContain(PASSWORD);
    expect(run.status).toBe(0);
    expect(jsonOf(run)).toEqual({
      ok: true,
      steps: [
        {
          ok: true,
          step: "push",
          result: { image: `${URL}:1a2b3c4d5e6f`, digest: DIGEST, imageByDigest: `${URL}@${DIGEST}` },
        },
      ],
    });
  });

  it("finds the repository URL by name (DescribeRepositories) and tags a local image into it", async () => {
    const run = await push([
      "--repository",
      "co-intelligence-backend",
      "--image",
      "co-intelligence-backend:abc",
    ]);
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([
      ["docker", "login", "--username", "AWS", "--password-stdin", "--", REGISTRY],
      ["docker", "tag", "--", "co-intelligence-backend:abc", `${URL}:abc`],
      ["docker", "push", "--", `${URL}:abc`],
      ["docker", "logout", "--", REGISTRY],
    ]);
    expect(run.stdout).toContain(`digest: ${DIGEST}`);
    expect(run.stdout).toContain(`imageByDigest: ${URL}@${DIGEST}`);
  });

  it("pushes this commit's image when no --image is given", async () => {
    const repo = cleanRepo();
    try {
      const run = await push(["--context", repo.dir]);
      expect(run.status).toBe(0);
      expect(run.calls[1]).toEqual(["docker", "push", "--", `${URL}:${repo.commit.slice(0, 12)}`]);
    } finally {
      repo.remove();
    }
  });

  it("fails before docker when the repository does not exist, with the command that creates it", async () => {
    const run = await push(["--repository", "no-such-repo", "--image", "x:1"]);
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([]);
    expect(run.stdout).toContain("ECR repository no-such-repo does not exist in us-east-1");
    expect(run.stdout).toContain("fix: create it with the stack: npm run deploy -- --stack <stack>");
  });

  it("refuses an image named by digest (a push needs a tag), before logging in", async () => {
    const run = await push(["--image", `${URL}@${DIGEST}`]);
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([]);
    expect(run.stdout).toContain(`image ${URL}@${DIGEST} has no tag`);
    expect(run.stdout).toContain("fix: push what build:image printed");
  });

  it("reports docker's push error and its fix, exit 1", async () => {
    const run = await push(["--image", `${URL}:abc`, "--json"], "push-fail");
    expect(run.status).toBe(1);
    const report = jsonOf<{ ok: boolean; steps: { error: { message: string; fix: string } }[] }>(run);
    expect(report.ok).toBe(false);
    expect(report.steps[0]!.error.message).toContain(
      "name unknown: The repository with name 'co-intelligence-backend' does not exist",
    );
    expect(report.steps[0]!.error.fix).toContain("npm run deploy -- --stack <stack>");
  });

  it("logs docker out of the registry even when the push fails (no ECR password left in ~/.docker)", async () => {
    const run = await push(["--image", `${URL}:abc`], "push-fail");
    expect(run.status).toBe(1);
    expect(run.calls.map((c) => c[1])).toEqual(["login", "push", "logout"]);
    expect(run.calls[2]).toEqual(["docker", "logout", "--", REGISTRY]);
  });

  it("stops when docker login is refused, without pushing", async () => {
    const run = await push(["--image", `${URL}:abc`], "login-fail");
    expect(run.status).toBe(1);
    // Nothing pushed; and whatever docker kept of the attempt is logged out.
    expect(run.calls.map((c) => c[1])).toEqual(["login", "logout"]);
    expect(run.stdout).toContain("docker login to 123456789012.dkr.ecr.us-east-1.amazonaws.com failed");
    expect(run.stdout).toContain("fix: ");
  });

  it("names the unreachable endpoint when ECR cannot be reached, in one line", async () => {
    const run = await runScript("push", ["--repository-url", URL, "--image", `${URL}:abc`], {
      env: { ...moto.env, AWS_ENDPOINT_URL: "http://127.0.0.1:9" },
    });
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([]);
    expect(run.stdout).toContain("✘ push  could not get an ECR authorization token: ");
    expect(run.stdout).toContain("ECONNREFUSED 127.0.0.1:9");
    expect(run.stdout).not.toMatch(/\n\s+at /);
  });

  it("says how to configure AWS credentials when there are none", async () => {
    const run = await runScript("push", ["--repository-url", URL, "--image", `${URL}:abc`], {
      env: { ...moto.env, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "" },
    });
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([]);
    expect(run.stdout).toContain(
      "fix: configure AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
    );
  });
});
