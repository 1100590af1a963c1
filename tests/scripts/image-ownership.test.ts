// The sequence that broke under `kubectl set image` + ignoreChanges: deploy, roll out a new
// image, flip the kill switch, preview. Run with the real commands (npm's deploy/preview
// wrapper, rollout) against the recording pulumi and kubectl stubs and ECR in moto; at every
// `pulumi up`/`preview` the real program runs under Pulumi's mocks with the config the stub
// holds at that moment. The image must have exactly one writer, the program, and every update
// must send the image the config records: never an older one, never another manager's.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { startMoto, type Moto } from "../helpers/moto";
import { runPulumi, stackConfigWithSecrets, type RegisteredResource } from "../infra/pulumi-harness";
import { KUBECTL_WRITES, PULUMI_STUB_BIN, pulumiStub, runScript, type PulumiStub } from "./deploy-harness";
import { REPOSITORY_URL as URL, createRepository, ecrClientFor, putImage } from "./ecr-images";

let moto: Moto;
let pulumi: PulumiStub;
const TAG_V1 = "1a2b3c4d5e6f";
let v1: string;
const { config: stackConfig, secretKeys } = stackConfigWithSecrets("dev");

beforeAll(async () => {
  moto = await startMoto();
  const ecr = ecrClientFor(moto.endpoint);
  await createRepository(ecr);
  v1 = `${URL}:${TAG_V1}@${await putImage(ecr, "v1", [TAG_V1])}`;
  pulumi = pulumiStub({ dev: stackConfig });
});
afterAll(async () => {
  pulumi.remove();
  await moto.stop();
});

/** The program, as `pulumi up`/`preview` would run it with this config. */
async function program(config: Record<string, string>): Promise<RegisteredResource[]> {
  const { resources } = await runPulumi({
    stack: "dev",
    config,
    secretKeys,
    program: () => require("../../index"), // eslint-disable-line @typescript-eslint/no-require-imports
  });
  return resources;
}

const deploymentOf = (resources: RegisteredResource[]) =>
  resources.find((r) => r.type === "kubernetes:apps/v1:Deployment");
const containerOf = (resources: RegisteredResource[]) =>
  deploymentOf(resources)?.inputs.spec.template.spec.containers[0] as
    { image: string; env: { name: string; value?: string }[] } | undefined;

const env = () => ({ ...moto.env, ...pulumi.env });
/** `pulumi config set ... --stack dev`, as docs/deploy.md tells the operator to type it. */
function pulumiConfigSet(key: string, value: string): void {
  const result = spawnSync(
    path.join(PULUMI_STUB_BIN, "pulumi"),
    ["config", "set", key, value, "--stack", "dev"],
    {
      env: { ...process.env, ...env() },
      encoding: "utf8",
    },
  );
  expect(result.status).toBe(0);
}

describe("deploy, roll out, kill switch, preview: the image has one owner", () => {
  const writers: string[][] = [];

  it("1. npm run deploy: the first up creates everything but the Deployment (no image yet)", async () => {
    const run = await runScript("pulumi", ["up", "--stack", "dev", "--yes"], {
      env: env(),
      systemPath: pulumi.systemPath,
    });
    expect(run.status).toBe(0);
    const up = pulumi.runs().at(-1)!;
    expect(up).toMatchObject({ command: "up", stack: "dev" });
    const resources = await program(up.config);
    expect(deploymentOf(resources)).toBeUndefined();
    expect(resources.some((r) => r.type === "kubernetes:core/v1:Namespace")).toBe(true);
  });

  it("2. npm run rollout: the config records the image, and the up that follows runs it", async () => {
    const run = await runScript("rollout", ["--stack", "dev", "--image", `${URL}:${TAG_V1}`], {
      env: env(),
      systemPath: pulumi.systemPath,
    });
    expect(run.status).toBe(0);
    writers.push(...run.calls.filter((c) => c[0] === "kubectl" && KUBECTL_WRITES.has(c[1]!)));
    const up = pulumi.runs().at(-1)!;
    expect(up.config["co-intelligence:image"]).toBe(v1);
    const resources = await program(up.config);
    expect(containerOf(resources)?.image).toBe(v1);
    // The program owns every field of the Deployment but the autoscaler's replica count.
    expect(deploymentOf(resources)!.ignoreChanges).toEqual(["spec.replicas"]);
  });

  it("3. the kill switch (pulumi config set + npm run deploy) keeps the rolled-out image", async () => {
    pulumiConfigSet("co-intelligence:codeExecutionEnabled", "false");
    const run = await runScript("pulumi", ["up", "--stack", "dev", "--yes"], {
      env: env(),
      systemPath: pulumi.systemPath,
    });
    expect(run.status).toBe(0);
    const resources = await program(pulumi.runs().at(-1)!.config);
    const container = containerOf(resources)!;
    expect(container.image).toBe(v1);
    expect(container.env).toContainEqual({ name: "CODE_EXECUTION_ENABLED", value: "false" });
  });

  it("4. npm run preview shows the same image: nothing to roll back, nothing to fight over", async () => {
    const run = await runScript("pulumi", ["preview", "--stack", "dev"], {
      env: env(),
      systemPath: pulumi.systemPath,
    });
    expect(run.status).toBe(0);
    const preview = pulumi.runs().at(-1)!;
    expect(preview.command).toBe("preview");
    expect(containerOf(await program(preview.config))?.image).toBe(v1);
  });

  it("never had another writer of the image: no kubectl set image, patch, apply or rollout undo", () => {
    expect(writers).toEqual([]);
    // Every update the program made sent exactly the image the config recorded at that moment.
    expect(pulumi.runs().map((r) => [r.command, r.config["co-intelligence:image"] ?? null])).toEqual([
      ["up", null],
      ["up", v1],
      ["up", v1],
      ["preview", v1],
    ]);
  });
});
