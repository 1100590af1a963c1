// npm run build:image (scripts/build-image/), run for real with the recording docker stub.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cleanRepo, jsonOf, onlyGitOnPath, pulumiWithOutputs, runScript } from "./deploy-harness";

const URL = "123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend";

describe("npm run build:image", () => {
  let repo: ReturnType<typeof cleanRepo>;
  beforeEach(() => (repo = cleanRepo()));
  afterEach(() => repo.remove());

  it("builds backend/Dockerfile from the repository root, tagged <repository URL>:<short commit>", async () => {
    const run = await runScript("build-image", ["--context", repo.dir, "--repository-url", URL, "--json"]);
    const tag = repo.commit.slice(0, 12);
    expect(run.calls).toEqual([
      ["docker", "build", "-f", "backend/Dockerfile", "-t", `${URL}:${tag}`, "--", "."],
    ]);
    expect(run.status).toBe(0);
    expect(jsonOf(run)).toEqual({
      ok: true,
      steps: [
        {
          ok: true,
          step: "build",
          result: { image: `${URL}:${tag}`, tag, commit: repo.commit, dirty: false },
        },
      ],
    });
  });

  it("tags with the repository name when no repository URL is known, and prints the image ref", async () => {
    const run = await runScript("build-image", ["--context", repo.dir, "--repository", "my-backend"]);
    expect(run.status).toBe(0);
    expect(run.calls[0]).toContain(`my-backend:${repo.commit.slice(0, 12)}`);
    expect(run.stdout).toContain(`image: my-backend:${repo.commit.slice(0, 12)}`);
  });

  it("tags with the stack's repositoryUrl output with --stack", async () => {
    const pulumi = pulumiWithOutputs({ repositoryUrl: URL, repositoryName: "co-intelligence-backend" });
    try {
      const run = await runScript("build-image", ["--stack", "prod", "--context", repo.dir], {
        systemPath: pulumi.systemPath,
      });
      expect(run.status).toBe(0);
      expect(run.calls[0]).toContain(`${URL}:${repo.commit.slice(0, 12)}`);
    } finally {
      pulumi.remove();
    }
  });

  it("refuses a dirty tree without running docker, naming the changes and --allow-dirty", async () => {
    fs.writeFileSync(path.join(repo.dir, "uncommitted.ts"), "export {};\n");
    const run = await runScript("build-image", ["--context", repo.dir]);
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([]);
    expect(run.stdout).toContain("1 uncommitted change(s)");
    expect(run.stdout).toContain("?? uncommitted.ts");
    expect(run.stdout).toContain("fix: commit (or remove) the changes");
    expect(run.stdout).toContain("npm run build:image -- --allow-dirty");
  });

  it("builds a dirty tree with --allow-dirty under a tag that says so (unique per build: ECR tags are immutable)", async () => {
    fs.appendFileSync(path.join(repo.dir, "backend", "Dockerfile"), "RUN true\n");
    const run = await runScript("build-image", ["--context", repo.dir, "--allow-dirty", "--json"]);
    expect(run.status).toBe(0);
    const result = jsonOf<{ steps: { result: { tag: string; dirty: boolean } }[] }>(run).steps[0]!.result;
    expect(result.dirty).toBe(true);
    expect(result.tag).toMatch(new RegExp(`^${repo.commit.slice(0, 12)}-dirty-\\d{14}$`));
    expect(run.calls[0]).toEqual([
      "docker",
      "build",
      "-f",
      "backend/Dockerfile",
      "-t",
      `co-intelligence-backend:${result.tag}`,
      "--",
      ".",
    ]);
  });

  it("fails with docker's error and the reproducing command when the build fails", async () => {
    const run = await runScript("build-image", ["--context", repo.dir], { scenario: "build-fail" });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(
      'docker build failed: ERROR: failed to solve: process "/bin/sh -c npm ci --omit=dev" did not complete successfully: exit code: 1',
    );
    expect(run.stdout).toContain("fix: fix the build error above, then: npm run build:image");
    expect(run.stdout).toContain("reproduce with: docker build -f backend/Dockerfile -t");
  });

  it("refuses a directory that is not a git checkout with a one-line reason and fix", async () => {
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), "not-git-"));
    try {
      const bad = await runScript("build-image", ["--context", plain]);
      expect(bad.status).toBe(1);
      expect(bad.calls).toEqual([]);
      expect(bad.stdout).toContain("is not a git checkout with a commit");
      expect(bad.stdout).toContain("fix: build from a clone of the repository");
      expect(bad.stderr).not.toMatch(/\n\s+at /);
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });

  it("says to start the daemon when docker cannot reach it", async () => {
    const stubDir = fs.mkdtempSync(path.join(os.tmpdir(), "stub-dir-"));
    try {
      fs.writeFileSync(
        path.join(stubDir, "docker-build.err"),
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
      );
      fs.writeFileSync(path.join(stubDir, "docker-build.exit"), "1\n");
      const run = await runScript("build-image", ["--context", repo.dir], { env: { STUB_DIR: stubDir } });
      expect(run.status).toBe(1);
      expect(run.stdout).toContain("Is the docker daemon running?");
      expect(run.stdout).toContain("fix: start the Docker daemon (sudo systemctl start docker");
    } finally {
      fs.rmSync(stubDir, { recursive: true, force: true });
    }
  });

  it("says in one line how to install docker when it is missing", async () => {
    const gitOnly = onlyGitOnPath();
    try {
      const run = await runScript("build-image", ["--context", repo.dir], {
        noStubs: true,
        systemPath: [gitOnly.dir],
      });
      expect(run.status).toBe(1);
      expect(run.stdout).toContain(
        "docker not found on PATH: install Docker (https://docs.docker.com/engine/install/) and start its daemon",
      );
    } finally {
      gitOnly.remove();
    }
  });

  it("answers --help with the flags and an example, and a bad flag with a one-line usage error", async () => {
    const help = await runScript("build-image", ["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--allow-dirty");
    expect(help.stdout).toContain("example: npm run build:image");
    const bad = await runScript("build-image", ["--allow-dirt"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("error: unknown flag --allow-dirt (see: npm run build:image -- --help)");
  });
});
