// npm run rollout (scripts/rollout/): the stack config owns the image. With the recording
// pulumi and kubectl stubs and ECR in moto: what is recorded, what runs, the undo on a failed
// rollout, --undo, and names that would be read as flags.
import * as fs from "node:fs";
import { startMoto, type Moto } from "../helpers/moto";
import {
  KUBECTL_WRITES,
  jsonOf,
  pulumiStub,
  runScript,
  type CommandRun,
  type PulumiStub,
} from "./deploy-harness";
import { REPOSITORY_URL as URL, createRepository, ecrClientFor, putImage } from "./ecr-images";

const IMAGE_KEY = "co-intelligence:image";
const PREVIOUS_KEY = "co-intelligence:previousImage";

let moto: Moto;
let v1: string;
let v2: string;
beforeAll(async () => {
  moto = await startMoto();
  const ecr = ecrClientFor(moto.endpoint);
  await createRepository(ecr);
  v1 = `${URL}:1a2b3c4d5e6f@${await putImage(ecr, "one", ["1a2b3c4d5e6f"])}`;
  v2 = `${URL}:6f5e4d3c2b1a@${await putImage(ecr, "two", ["6f5e4d3c2b1a"])}`;
});
afterAll(async () => moto.stop());

let pulumi: PulumiStub;
beforeEach(() => {
  pulumi = pulumiStub({ prod: { "co-intelligence:clusterName": "co-intelligence-eks" } });
});
afterEach(() => pulumi.remove());

const rollout = (args: string[], scenario = "healthy", env: Record<string, string> = {}) =>
  runScript("rollout", args, {
    scenario,
    env: { ...moto.env, ...pulumi.env, ...env },
    systemPath: pulumi.systemPath,
  });

const tagOnly = (ref: string) => ref.split("@")[0]!;
/** The calls that act (reading the stack's outputs for the names is not one of them). */
const acting = (run: CommandRun) => run.calls.filter((c) => !(c[0] === "pulumi" && c[1] === "stack"));
const kubectlWrites = (run: CommandRun) =>
  run.calls.filter((c) => c[0] === "kubectl" && KUBECTL_WRITES.has(c[1]!));

describe("npm run rollout", () => {
  it("records the image by tag and digest in the stack config, runs pulumi up, and waits for the rollout", async () => {
    const run = await rollout(["--stack", "prod", "--image", tagOnly(v1), "--timeout", "90s", "--json"]);
    expect(run.status).toBe(0);
    expect(acting(run)).toEqual([
      ["pulumi", "config", "get", "--stack", "prod", "--", IMAGE_KEY],
      ["pulumi", "config", "get", "--stack", "prod", "--", PREVIOUS_KEY],
      ["pulumi", "config", "set", "--stack", "prod", "--", IMAGE_KEY, v1],
      ["pulumi", "config", "rm", "--stack", "prod", "--", PREVIOUS_KEY],
      ["pulumi", "up", "--stack", "prod", "--yes", "--non-interactive"],
      ["kubectl", "rollout", "status", "-n", "co-intelligence", "--timeout=90s", "--", "deployment/backend"],
    ]);
    expect(pulumi.config("prod")[IMAGE_KEY]).toBe(v1);
    expect(pulumi.runs().map((r) => r.config[IMAGE_KEY])).toEqual([v1]);
    expect(jsonOf(run)).toEqual({
      ok: true,
      steps: [
        {
          ok: true,
          step: "rollout",
          result: {
            stack: "prod",
            deployment: "backend",
            namespace: "co-intelligence",
            image: v1,
            previousImage: "",
          },
        },
      ],
    });
  });

  it("keeps the image it replaces as the undo target, and --undo goes back to it", async () => {
    expect((await rollout(["--stack", "prod", "--image", tagOnly(v1)])).status).toBe(0);
    const second = await rollout(["--stack", "prod", "--image", tagOnly(v2)]);
    expect(second.status).toBe(0);
    expect(pulumi.config("prod")).toMatchObject({ [IMAGE_KEY]: v2, [PREVIOUS_KEY]: v1 });
    const undo = await rollout(["--stack", "prod", "--undo"]);
    expect(undo.status).toBe(0);
    expect(pulumi.config("prod")).toMatchObject({ [IMAGE_KEY]: v1, [PREVIOUS_KEY]: v2 });
    expect(pulumi.runs().map((r) => r.config[IMAGE_KEY])).toEqual([v1, v2, v1]);
    expect(undo.stdout).toContain(`image: ${v1}`);
  });

  it("never writes the image with kubectl: the stack config is its only owner", async () => {
    const runs = [
      await rollout(["--stack", "prod", "--image", tagOnly(v1)]),
      await rollout(["--stack", "prod", "--image", tagOnly(v2)], "rollout-fail"),
      await rollout(["--stack", "prod", "--undo"]),
    ];
    for (const run of runs) expect(kubectlWrites(run)).toEqual([]);
  });

  it("undoes a rollout that does not complete through the config, after showing the failing pod's events and logs", async () => {
    pulumi.setConfig("prod", { [IMAGE_KEY]: v1 });
    const run = await rollout(["--stack", "prod", "--image", tagOnly(v2)], "rollout-fail");
    const pod = "backend-5c8d7f9b4-qwrtz";
    expect(run.status).toBe(1);
    expect(pulumi.runs().map((r) => r.config[IMAGE_KEY])).toEqual([v2, v1]);
    expect(pulumi.config("prod")[IMAGE_KEY]).toBe(v1);
    expect(pulumi.config("prod")[PREVIOUS_KEY]).toBeUndefined();
    const kubectl = acting(run).filter((c) => c[0] === "kubectl");
    expect(kubectl).toEqual([
      ["kubectl", "rollout", "status", "-n", "co-intelligence", "--timeout=5m", "--", "deployment/backend"],
      [
        "kubectl",
        "get",
        "--request-timeout=15s",
        "deployment",
        "-n",
        "co-intelligence",
        "-o",
        "json",
        "--",
        "backend",
      ],
      [
        "kubectl",
        "get",
        "--request-timeout=15s",
        "pods",
        "-n",
        "co-intelligence",
        "-l",
        "app.kubernetes.io/name=backend,app.kubernetes.io/part-of=co-intelligence",
        "-o",
        "json",
      ],
      ["kubectl", "get", "events", "-n", "co-intelligence", "--field-selector", `involvedObject.name=${pod}`],
      ["kubectl", "logs", "-n", "co-intelligence", "--tail=50", "--", pod],
    ]);
    expect(run.stdout).toContain(
      `rollout of ${v2} did not complete (error: timed out waiting for the condition); rolled back to ${v1}`,
    );
    expect(run.stdout).toContain(
      `pod ${pod} container backend: CrashLoopBackOff (7 restarts, last exit: Error code 1)`,
    );
    expect(run.stdout).toContain("configuration error: GEMINI_API_KEY is required");
    expect(run.stdout).toContain("fix: fix what the pods' events and logs above show");
  });

  it("restores the config when pulumi up itself fails", async () => {
    pulumi.setConfig("prod", { [IMAGE_KEY]: v1 });
    const run = await rollout(["--stack", "prod", "--image", tagOnly(v2)], "healthy", {
      STUB_PULUMI_FAIL: "up-once",
    });
    expect(run.status).toBe(1);
    expect(pulumi.config("prod")[IMAGE_KEY]).toBe(v1);
    expect(run.stdout).toContain("pulumi up --stack prod failed");
    expect(run.calls.some((c) => c[0] === "kubectl")).toBe(false);
  });

  it("refuses --undo when the stack records no earlier image", async () => {
    const run = await rollout(["--stack", "prod", "--undo"]);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("records no earlier image");
    expect(pulumi.runs()).toEqual([]);
  });

  it("needs --stack: the image lives in a stack's config", async () => {
    const run = await rollout(["--image", tagOnly(v1)]);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("fix: name it: npm run rollout -- --stack <stack>");
    expect(acting(run)).toEqual([]);
  });

  // (moto 5.2 gives every pushed manifest the digest of an empty body, so a test of a tag and
  // digest that name two different images cannot be written against it.)
  it("resolves a digest to its commit tag (the tag the lifecycle policy protects)", async () => {
    const byDigest = await rollout(["--stack", "prod", "--image", `${URL}@${v1.split("@")[1]}`]);
    expect(byDigest.status).toBe(0);
    expect(pulumi.config("prod")[IMAGE_KEY]).toBe(v1);
  });

  it("refuses an image the repository does not hold, with the command that pushes it", async () => {
    const run = await rollout(["--stack", "prod", "--image", `${URL}:nope`]);
    expect(run.status).toBe(1);
    expect(acting(run)).toEqual([]);
    expect(run.stdout).toContain(`${URL}:nope is not in the repository`);
    expect(run.stdout).toContain("fix: push it first: npm run push");
  });

  it("refuses a malformed --timeout with a one-line usage error", async () => {
    const run = await rollout(["--stack", "prod", "--image", tagOnly(v1), "--timeout", "five"]);
    expect(run.status).toBe(2);
    expect(acting(run)).toEqual([]);
    expect(run.stderr.trim()).toBe(
      'error: --timeout must be a duration like 90s, 5m or 1h, got "five" (see: npm run rollout -- --help)',
    );
  });
});

describe("names that a tool would read as flags", () => {
  it.each([
    ["a --deployment flag", ["--deployment=--kubeconfig=/tmp/evil"], {}, "deployment (from --deployment)"],
    [
      "BACKEND_NAMESPACE",
      [],
      { BACKEND_NAMESPACE: "--server=http://127.0.0.1:1" },
      "namespace (from BACKEND_NAMESPACE)",
    ],
    ["a repository", ["--repository", "-x"], {}, "repository (from --repository)"],
  ])("are refused before any tool runs: %s", async (_, extra, env, source) => {
    const run = await rollout(["--stack", "prod", "--image", tagOnly(v1), ...extra], "healthy", env);
    expect(run.status).toBe(2);
    expect(acting(run)).toEqual([]);
    expect(run.stderr).toContain(source);
    expect(run.stderr).toMatch(/must be (a Kubernetes|an ECR)/);
  });

  it("are refused when a stack output carries them", async () => {
    const stub = pulumiStub();
    try {
      fs.writeFileSync(
        `${stub.env.STUB_PULUMI_STATE}/outputs.json`,
        JSON.stringify({ deploymentName: "--kubeconfig=/tmp/evil", namespace: "co-intelligence" }),
      );
      const run = await runScript("rollout", ["--stack", "prod", "--image", tagOnly(v1)], {
        env: { ...moto.env, ...stub.env },
        systemPath: stub.systemPath,
      });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(
        "deployment (from stack output deploymentName) must be a Kubernetes object name",
      );
      expect(acting(run)).toEqual([]);
    } finally {
      stub.remove();
    }
  });
});
