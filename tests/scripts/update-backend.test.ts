// npm run update-backend (scripts/update-backend/): build, push and rollout in one process,
// stopping at the first failure; ECR in moto, docker and kubectl as recording stubs.
import { startMoto, type Moto } from "../helpers/moto";
import { KUBECTL_WRITES, cleanRepo, jsonOf, pulumiStub, runScript, type PulumiStub } from "./deploy-harness";
import { createRepository, ecrClientFor, putImage } from "./ecr-images";

const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const URL = `${REGISTRY}/co-intelligence-backend`;
let moto: Moto;
let repo: ReturnType<typeof cleanRepo>;
/** What the registry holds after the (stubbed) push: the image of this commit, by its digest. */
let DIGEST: string;
beforeAll(async () => {
  moto = await startMoto();
  const ecr = ecrClientFor(moto.endpoint);
  await createRepository(ecr);
  repo = cleanRepo();
  DIGEST = await putImage(ecr, "this-commit", [repo.commit.slice(0, 12)]);
});
afterAll(async () => {
  repo.remove();
  await moto.stop();
});

let pulumi: PulumiStub;
beforeEach(() => (pulumi = pulumiStub()));
afterEach(() => pulumi.remove());

const update = (scenario: string, extra: string[] = []) =>
  runScript(
    "update-backend",
    ["--stack", "prod", "--context", repo.dir, "--namespace", "co-intelligence", ...extra],
    {
      scenario,
      // docker push reports the digest the registry holds for the tag.
      env: { ...moto.env, ...pulumi.env, STUB_DIGEST: DIGEST.replace("sha256:", "") },
      systemPath: pulumi.systemPath,
    },
  );
const acting = (calls: string[][]) => calls.filter((c) => !(c[0] === "pulumi" && c[1] === "stack"));

describe("npm run update-backend", () => {
  it("builds this commit, pushes it and rolls the stack to exactly the pushed tag and digest", async () => {
    const run = await update("healthy", ["--json"]);
    const image = `${URL}:${repo.commit.slice(0, 12)}`;
    expect(acting(run.calls)).toEqual([
      ["docker", "build", "-f", "backend/Dockerfile", "-t", image, "--", "."],
      ["docker", "login", "--username", "AWS", "--password-stdin", "--", REGISTRY],
      ["docker", "push", "--", image],
      ["docker", "logout", "--", REGISTRY],
      ["pulumi", "config", "get", "--stack", "prod", "--", "co-intelligence:image"],
      ["pulumi", "config", "get", "--stack", "prod", "--", "co-intelligence:previousImage"],
      ["pulumi", "config", "set", "--stack", "prod", "--", "co-intelligence:image", `${image}@${DIGEST}`],
      ["pulumi", "config", "rm", "--stack", "prod", "--", "co-intelligence:previousImage"],
      ["pulumi", "up", "--stack", "prod", "--yes", "--non-interactive"],
      ["kubectl", "rollout", "status", "-n", "co-intelligence", "--timeout=5m", "--", "deployment/backend"],
    ]);
    expect(pulumi.config("prod")["co-intelligence:image"]).toBe(`${image}@${DIGEST}`);
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
    expect(acting(run.calls)).toEqual([]);
    expect(run.stdout).toContain("✘ repository  ECR repository no-such-repo does not exist in us-east-1");
    expect(run.stdout).toContain("fix: create it with the stack: npm run deploy -- --stack <stack>");
  });

  it("takes the repository URL from the flag without asking ECR for it", async () => {
    const run = await update("healthy", ["--repository-url", URL, "--repository", "not-asked"]);
    expect(run.status).toBe(0);
    expect(acting(run.calls)[0]).toContain(`${URL}:${repo.commit.slice(0, 12)}`);
  });

  it("stops after a failed build: nothing is pushed or rolled out", async () => {
    const run = await update("build-fail");
    expect(run.status).toBe(1);
    expect(acting(run.calls).map((c) => c[1])).toEqual(["build"]);
    expect(run.stdout).toContain("✘ build  docker build failed");
    expect(run.stdout).not.toContain("push");
  });

  it("stops after a failed push: the deployment is not touched", async () => {
    const run = await update("push-fail");
    expect(run.status).toBe(1);
    expect(run.calls.map((c) => c[0])).not.toContain("kubectl");
    expect(pulumi.runs()).toEqual([]);
    expect(run.stdout).toContain("✔ build");
    expect(run.stdout).toContain("✘ push  docker push");
  });

  it("undoes a failed rollout after a good build and push (config restored, pulumi up), and exits 1", async () => {
    const run = await update("rollout-fail");
    expect(run.status).toBe(1);
    expect(pulumi.runs().map((r) => r.config["co-intelligence:image"])).toEqual([
      `${URL}:${repo.commit.slice(0, 12)}@${DIGEST}`,
      undefined,
    ]);
    expect(pulumi.config("prod")["co-intelligence:image"]).toBeUndefined();
    expect(run.calls.filter((c) => c[0] === "kubectl" && KUBECTL_WRITES.has(c[1]!))).toEqual([]);
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
  ])("is what `npm run %s` runs (the documented commands)", async (npmScript, script) => {
    const run = await runScript(script, ["--help"], { viaNpm: npmScript });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`usage: npm run ${npmScript} -- [flags]`);
    expect(run.stdout).toContain(`example: npm run ${npmScript} -- `);
  });
});
