// npm run update-backend (scripts/update-backend.ts): build, push and rollout in one process,
// stopping at the first failure; ECR in moto, docker and kubectl as recording stubs.
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { startMoto, type Moto } from "../helpers/moto";
import { cleanRepo, jsonOf, runScript } from "./deploy-harness";

const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const URL = `${REGISTRY}/co-intelligence-backend`;
const DIGEST = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

let moto: Moto;
let repo: ReturnType<typeof cleanRepo>;
beforeAll(async () => {
  moto = await startMoto();
  const ecr = new ECRClient({
    region: "us-east-1",
    endpoint: moto.endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
  await ecr.send(new CreateRepositoryCommand({ repositoryName: "co-intelligence-backend" }));
  repo = cleanRepo();
});
afterAll(async () => {
  repo.remove();
  await moto.stop();
});

const update = (scenario: string, extra: string[] = []) =>
  runScript("update-backend", ["--context", repo.dir, "--namespace", "co-intelligence", ...extra], {
    scenario,
    env: moto.env,
  });

describe("npm run update-backend", () => {
  it("builds this commit, pushes it and rolls the deployment to exactly the pushed digest", async () => {
    const run = await update("healthy", ["--json"]);
    const image = `${URL}:${repo.commit.slice(0, 12)}`;
    expect(run.calls).toEqual([
      ["docker", "build", "-f", "backend/Dockerfile", "-t", image, "."],
      ["docker", "login", "--username", "AWS", "--password-stdin", REGISTRY],
      ["docker", "push", image],
      ["kubectl", "get", "deployment", "backend", "-n", "co-intelligence", "-o", "json"],
      ["kubectl", "set", "image", "deployment/backend", `backend=${URL}@${DIGEST}`, "-n", "co-intelligence"],
      ["kubectl", "rollout", "status", "deployment/backend", "-n", "co-intelligence", "--timeout=5m"],
    ]);
    expect(run.status).toBe(0);
    const report = jsonOf<{ ok: boolean; steps: { step: string; ok: boolean }[] }>(run);
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
      ["repository", true],
      ["build", true],
      ["push", true],
      ["rollout", true],
    ]);
  });

  it("fails before building when the repository does not exist", async () => {
    const run = await update("healthy", ["--repository", "no-such-repo"]);
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([]);
    expect(run.stdout).toContain("✘ repository  ECR repository no-such-repo does not exist in us-east-1");
    expect(run.stdout).toContain("fix: create it with the stack: npm run deploy -- --stack <stack>");
  });

  it("takes the repository URL from the flag without asking ECR for it", async () => {
    const run = await update("healthy", ["--repository-url", URL, "--repository", "not-asked"]);
    expect(run.status).toBe(0);
    expect(run.calls[0]).toContain(`${URL}:${repo.commit.slice(0, 12)}`);
  });

  it("stops after a failed build: nothing is pushed or rolled out", async () => {
    const run = await update("build-fail");
    expect(run.status).toBe(1);
    expect(run.calls.map((c) => c[1])).toEqual(["build"]);
    expect(run.stdout).toContain("✘ build  docker build failed");
    expect(run.stdout).not.toContain("push");
  });

  it("stops after a failed push: the deployment is not touched", async () => {
    const run = await update("push-fail");
    expect(run.status).toBe(1);
    expect(run.calls.map((c) => c[0])).not.toContain("kubectl");
    expect(run.stdout).toContain("✔ build");
    expect(run.stdout).toContain("✘ push  docker push");
  });

  it("undoes a failed rollout after a good build and push, and exits 1", async () => {
    const run = await update("rollout-fail");
    expect(run.status).toBe(1);
    expect(run.calls[run.calls.length - 1]).toEqual([
      "kubectl",
      "rollout",
      "undo",
      "deployment/backend",
      "-n",
      "co-intelligence",
    ]);
    expect(run.stdout).toContain("✔ build");
    expect(run.stdout).toContain("✔ push");
    expect(run.stdout).toContain("✘ rollout");
  });

  it("answers --help with every step's flags and an example", async () => {
    const run = await runScript("update-backend", ["--help"]);
    expect(run.status).toBe(0);
    for (const flag of [
      "--stack",
      "--repository",
      "--namespace",
      "--deployment",
      "--timeout",
      "--allow-dirty",
    ])
      expect(run.stdout).toContain(flag);
    expect(run.stdout).toContain("example: npm run update-backend -- --stack prod");
  });

  it.each([
    ["build:image", "build-image"],
    ["push", "push"],
    ["rollout", "rollout"],
    ["update-backend", "update-backend"],
    ["smoke", "smoke"],
  ])("is what `npm run %s` runs (the README's commands)", async (npmScript, script) => {
    const run = await runScript(script, ["--help"], { viaNpm: npmScript });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`usage: npm run ${npmScript} -- [flags]`);
    expect(run.stdout).toContain(`example: npm run ${npmScript} -- `);
  });
});
