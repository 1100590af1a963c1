// .github/workflows read as GitHub reads them: both maintained validators (GitHub's own
// workflow parser and the SchemaStore schema) accept every file, and every command a step
// runs exists in this repository and takes the flags it is given (each `npm run X -- flags`
// is run with --help added: the command's own flag parser must accept them all).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

const ROOT = path.join(__dirname, "..", "..");
const DIR = path.join(ROOT, ".github", "workflows");
const NODE = path.join(ROOT, "node_modules", ".bin", "node");
const files = fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
const scripts = (
  JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

interface Finding {
  name: string;
  github: string[];
  schemaStore: string[];
}

function validate(entries: { name: string; content: string }[]): Finding[] {
  const result = spawnSync(NODE, ["--import", "tsx", path.join(__dirname, "workflow-validate.mjs")], {
    cwd: ROOT,
    input: JSON.stringify(entries),
    encoding: "utf8",
    timeout: 50000,
  });
  if (result.status !== 0) throw new Error(`workflow-validate.mjs failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Finding[];
}

type Workflow = { jobs: Record<string, { steps?: { run?: string; uses?: string }[]; container?: string }> };
const workflow = (file: string) => parse(fs.readFileSync(path.join(DIR, file), "utf8")) as Workflow;
const runSteps = (file: string): string[] =>
  Object.values(workflow(file).jobs).flatMap((job) =>
    (job.steps ?? []).flatMap((s) => (s.run ? [s.run] : [])),
  );

/** Shell words of a command line, with variables and expressions replaced by sample values. */
function words(line: string): string[] {
  const substituted = line
    .replace(/\$\{\{[^}]*\}\}/g, "x")
    .replace(/"\$url"/g, "http://127.0.0.1:8080")
    .replace(/"\$STACK"|\$STACK/g, "prod");
  return [...substituted.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** Every `npm run <script> [-- args]` in the workflow's run steps. */
function npmRuns(file: string): { script: string; args: string[]; line: string }[] {
  const found: { script: string; args: string[]; line: string }[] = [];
  for (const step of runSteps(file)) {
    for (const line of step.split("\n")) {
      for (const part of line.split(/&&|;|\|\|/)) {
        const w = words(part.trim());
        const at = w.indexOf("npm");
        if (at === -1 || w[at + 1] !== "run") continue;
        const script = w[at + 2]!;
        const dashes = w.indexOf("--", at);
        found.push({ script, args: dashes === -1 ? [] : w.slice(dashes + 1), line: part.trim() });
      }
    }
  }
  return found;
}

describe("the validators themselves", () => {
  it("refuse a workflow GitHub would refuse (a job with an unknown key and no runs-on)", () => {
    const [bad] = validate([
      { name: "bad.yml", content: "on: push\njobs:\n  a:\n    steps:\n      - run: echo\n    bogus: 1\n" },
    ]);
    expect(bad!.github.join(" ")).toContain("Unexpected value 'bogus'");
    expect(bad!.schemaStore.length).toBeGreaterThan(0);
  });
});

describe.each(files)(".github/workflows/%s", (file) => {
  it("is accepted by GitHub's workflow parser and by the SchemaStore schema", () => {
    const [finding] = validate([{ name: file, content: fs.readFileSync(path.join(DIR, file), "utf8") }]);
    expect(finding).toEqual({ name: file, github: [], schemaStore: [] });
  });

  it("runs only npm scripts that exist, with flags their commands accept", () => {
    for (const { script, args, line } of npmRuns(file)) {
      expect({ line, exists: script in scripts }).toEqual({ line, exists: true });
      if (script === "test") continue;
      const result = spawnSync("npm", ["run", "--silent", script, "--", ...args, "--help"], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 50000,
        env: { ...process.env, PATH: `${path.dirname(NODE)}:/usr/bin:/bin` },
      });
      expect({ line, status: result.status, stderr: result.stderr.trim() }).toEqual({
        line,
        status: 0,
        stderr: "",
      });
      expect(result.stdout).toContain(`npm run ${script} -- `);
    }
  });
});

describe("the pipeline users adopt", () => {
  it("the test workflow runs exactly the README's test command", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    expect(readme).toContain("npm ci && npm test");
    expect(runSteps("test.yml")).toContain("npm ci && npm test");
  });

  it("the deploy workflow previews pull requests and on main deploys, rolls out, smoke-tests with JUnit and uploads it", () => {
    const deploy = workflow("deploy.yml") as Workflow & { on: Record<string, unknown> };
    expect(Object.keys(deploy.on)).toEqual(expect.arrayContaining(["pull_request", "push"]));
    const previews = npmRuns("deploy.yml").map((r) => r.script);
    expect(previews).toEqual(["preview", "deploy", "update-backend", "smoke"]);
    const smoke = npmRuns("deploy.yml").find((r) => r.script === "smoke")!;
    expect(smoke.args).toEqual(expect.arrayContaining(["--junit", "reports/smoke-junit.xml"]));
    const steps = Object.values(deploy.jobs).flatMap((j) => j.steps ?? []);
    const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact@")) as
      { with?: { path?: string }; if?: string } | undefined;
    expect(upload?.with?.path).toBe("reports/smoke-junit.xml");
    expect(upload?.if).toBe("always()");
    expect(steps.some((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))).toBe(true);
  });
});
