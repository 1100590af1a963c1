// npm run rollout (scripts/rollout.ts) with the recording kubectl stub: the exact commands,
// the undo on a failed rollout, and what on-call is shown.
import * as fs from "node:fs";
import * as path from "node:path";
import { CreateRepositoryCommand, ECRClient, PutImageCommand } from "@aws-sdk/client-ecr";
import { startMoto, type Moto } from "../helpers/moto";
import { jsonOf, pulumiWithOutputs, runScript, scratchDir } from "./deploy-harness";

const URL = "123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const IMAGE = `${URL}@${DIGEST}`;
const OLD_IMAGE = `${URL}@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945`;

const rollout = (args: string[], scenario = "healthy", env: Record<string, string> = {}) =>
  runScript("rollout", args, { scenario, env });

describe("npm run rollout", () => {
  it("sets the container's image by digest and waits for the rollout with the timeout", async () => {
    const run = await rollout([
      "--image",
      IMAGE,
      "--namespace",
      "co-intelligence",
      "--timeout",
      "90s",
      "--json",
    ]);
    expect(run.calls).toEqual([
      ["kubectl", "get", "deployment", "backend", "-n", "co-intelligence", "-o", "json"],
      ["kubectl", "set", "image", "deployment/backend", `backend=${IMAGE}`, "-n", "co-intelligence"],
      ["kubectl", "rollout", "status", "deployment/backend", "-n", "co-intelligence", "--timeout=90s"],
    ]);
    expect(run.status).toBe(0);
    expect(jsonOf(run)).toEqual({
      ok: true,
      steps: [
        {
          ok: true,
          step: "rollout",
          result: {
            deployment: "backend",
            namespace: "co-intelligence",
            image: IMAGE,
            previousImage: OLD_IMAGE,
          },
        },
      ],
    });
  });

  it("takes the names from the environment and the defaults of the contract (default namespace, 5m)", async () => {
    const run = await rollout(["--image", IMAGE], "healthy", { BACKEND_DEPLOYMENT: "chat" });
    expect(run.status).toBe(0);
    expect(run.calls.slice(1)).toEqual([
      ["kubectl", "set", "image", "deployment/chat", `backend=${IMAGE}`, "-n", "default"],
      ["kubectl", "rollout", "status", "deployment/chat", "-n", "default", "--timeout=5m"],
    ]);
    expect(run.stdout).toContain("✔ rollout");
    expect(run.stdout).toContain(`image: ${IMAGE}`);
  });

  it("takes the namespace and deployment from the stack's outputs with --stack", async () => {
    const pulumi = pulumiWithOutputs({ namespace: "co-intelligence", deploymentName: "chat-backend" });
    try {
      const run = await runScript("rollout", ["--stack", "prod", "--image", IMAGE], {
        systemPath: pulumi.systemPath,
      });
      expect(run.status).toBe(0);
      expect(run.calls[1]).toEqual([
        "kubectl",
        "set",
        "image",
        "deployment/chat-backend",
        `backend=${IMAGE}`,
        "-n",
        "co-intelligence",
      ]);
    } finally {
      pulumi.remove();
    }
  });

  it("undoes a rollout that times out and shows the failing pod's events and last log lines", async () => {
    const run = await rollout(["--image", IMAGE, "--namespace", "co-intelligence"], "rollout-fail");
    const pod = "backend-5c8d7f9b4-qwrtz";
    expect(run.calls).toEqual([
      ["kubectl", "get", "deployment", "backend", "-n", "co-intelligence", "-o", "json"],
      ["kubectl", "set", "image", "deployment/backend", `backend=${IMAGE}`, "-n", "co-intelligence"],
      ["kubectl", "rollout", "status", "deployment/backend", "-n", "co-intelligence", "--timeout=5m"],
      [
        "kubectl",
        "get",
        "pods",
        "-n",
        "co-intelligence",
        "-l",
        "app.kubernetes.io/name=backend,app.kubernetes.io/part-of=co-intelligence",
        "-o",
        "json",
      ],
      ["kubectl", "get", "events", "-n", "co-intelligence", "--field-selector", `involvedObject.name=${pod}`],
      ["kubectl", "logs", pod, "-n", "co-intelligence", "--tail=50"],
      ["kubectl", "rollout", "undo", "deployment/backend", "-n", "co-intelligence"],
    ]);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(
      `✘ rollout  rollout of ${IMAGE} did not complete (error: timed out waiting for the condition); rolled back to ${OLD_IMAGE}`,
    );
    expect(run.stdout).toContain(`pod ${pod}: CrashLoopBackOff, 7 restarts`);
    expect(run.stdout).toContain("Back-off restarting failed container backend");
    expect(run.stdout).toContain("configuration error: GEMINI_API_KEY is required");
    expect(run.stdout).toContain("fix: fix what the pods' events and logs above show");
    // The healthy old pod is not diagnosed.
    expect(run.stdout).not.toContain("backend-7d9f8b6c5d-x2x7k");
  });

  it("reports the undo in --json with the diagnosis as details", async () => {
    const run = await rollout(["--image", IMAGE, "--json"], "rollout-fail");
    expect(run.status).toBe(1);
    const report = jsonOf<{
      ok: boolean;
      steps: { ok: boolean; error: { message: string; fix: string; details: string[] } }[];
    }>(run);
    expect(report.ok).toBe(false);
    expect(report.steps[0]!.error.message).toContain("rolled back to");
    expect(report.steps[0]!.error.details.join("\n")).toContain("CrashLoopBackOff");
    expect(run.calls[run.calls.length - 1]).toEqual([
      "kubectl",
      "rollout",
      "undo",
      "deployment/backend",
      "-n",
      "default",
    ]);
  });

  it("changes nothing when the deployment does not exist, and says how to find it", async () => {
    const run = await rollout(["--image", IMAGE, "--deployment", "backnd"], "not-found");
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([["kubectl", "get", "deployment", "backnd", "-n", "default", "-o", "json"]]);
    expect(run.stdout).toContain('Error from server (NotFound): deployments.apps "backnd" not found');
    expect(run.stdout).toContain("fix: check the names (kubectl get deployments -n default)");
  });

  it("stops when kubectl may read but not patch the deployment, naming the permission", async () => {
    const stubDir = scratchDir("kubectl-answers-");
    try {
      fs.writeFileSync(
        path.join(stubDir.dir, "kubectl-set-image.err"),
        'Error from server (Forbidden): deployments.apps "backend" is forbidden: User "ci" cannot patch resource "deployments" in API group "apps" in the namespace "default"\n',
      );
      fs.writeFileSync(path.join(stubDir.dir, "kubectl-set-image.exit"), "1");
      const run = await rollout(["--image", IMAGE], "healthy", { STUB_DIR: stubDir.dir });
      expect(run.status).toBe(1);
      expect(run.calls.map((c) => c[1])).toEqual(["get", "set"]);
      expect(run.stdout).toContain("kubectl set image failed: Error from server (Forbidden)");
      expect(run.stdout).toContain(
        "fix: use a kubeconfig allowed to get and patch deployments in default (kubectl auth can-i patch deployment/backend -n default)",
      );
    } finally {
      stubDir.remove();
    }
  });

  it("says how to point kubectl at the cluster when it cannot reach it", async () => {
    const run = await rollout(["--image", IMAGE], "unreachable");
    expect(run.status).toBe(1);
    expect(run.calls).toHaveLength(1);
    expect(run.stdout).toContain(
      "fix: point kubectl at the cluster: aws eks update-kubeconfig --name <cluster>",
    );
  });

  it("refuses a container name the deployment does not have, listing the ones it has", async () => {
    const run = await rollout(["--image", IMAGE, "--container", "api"]);
    expect(run.status).toBe(1);
    expect(run.calls).toHaveLength(1);
    expect(run.stdout).toContain("has no container named api (it has: backend)");
    expect(run.stdout).toContain("fix: name the container: npm run rollout -- --container backend");
  });

  it("refuses a malformed --timeout with a one-line usage error", async () => {
    const run = await rollout(["--image", IMAGE, "--timeout", "five"]);
    expect(run.status).toBe(2);
    expect(run.calls).toEqual([]);
    expect(run.stderr.trim()).toBe(
      'error: --timeout must be a duration like 90s, 5m or 1h, got "five" (see: npm run rollout -- --help)',
    );
  });

  describe("an image named by tag", () => {
    let moto: Moto;
    beforeAll(async () => {
      moto = await startMoto();
      const ecr = new ECRClient({
        region: "us-east-1",
        endpoint: moto.endpoint,
        credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
      });
      await ecr.send(new CreateRepositoryCommand({ repositoryName: "co-intelligence-backend" }));
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        config: { mediaType: "application/vnd.docker.container.image.v1+json", size: 7023, digest: DIGEST },
        layers: [],
      });
      await ecr.send(
        new PutImageCommand({
          repositoryName: "co-intelligence-backend",
          imageManifest: manifest,
          imageTag: "v1",
        }),
      );
    });
    afterAll(async () => moto.stop());

    it("is deployed by the digest ECR holds for the tag (a tag can move; the deployment must not)", async () => {
      const run = await rollout(["--image", `${URL}:v1`], "healthy", moto.env);
      expect(run.status).toBe(0);
      const setImage = run.calls.find((c) => c[1] === "set")!;
      expect(setImage[4]).toMatch(new RegExp(`^backend=${URL.replace(/\./g, "\\.")}@sha256:[0-9a-f]{64}$`));
    });

    it("is refused when the tag is not in the repository, with the command that pushes it", async () => {
      const run = await rollout(["--image", `${URL}:nope`], "healthy", moto.env);
      expect(run.status).toBe(1);
      expect(run.calls).toEqual([]);
      expect(run.stdout).toContain(`${URL}:nope is not in the repository`);
      expect(run.stdout).toContain("fix: push it first: npm run push");
    });
  });
});
