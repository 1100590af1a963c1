// The README and docs/ say what the program and the operations commands rely on: a README
// that fits on a screen with the two Quick start commands, one page per reader's task, links
// that resolve inside the repository (and nothing outside it), the adoption section doctor's
// fix points to, the deploy path in order, and costs that follow from the prices they quote.
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_ALLOWED_MODULES } from "../../contract/sandbox-modules";
import { DEFAULT_RESERVED_CONCURRENCY, SANDBOX_LIMITS } from "../../contract/sandbox";
import { STACK_OUTPUT_NAMES } from "../../contract/stack";

const ROOT = path.join(__dirname, "..", "..");
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");
const README = read("README.md");

/** Every markdown file of the documentation, as repository paths. */
function docFiles(dir = "docs"): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? docFiles(path.join(dir, entry.name))
        : entry.name.endsWith(".md")
          ? [path.join(dir, entry.name)]
          : [],
    );
}

/** The text of a `## ` section of a page, up to the next `## ` heading. */
function section(text: string, title: string): string {
  const start = text.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`no "## ${title}" section`);
  const end = text.indexOf("\n## ", start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** GitHub's anchor of a heading: lower-case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-");
}

function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) anchors.add(anchorOf(m[1]!));
  for (const m of text.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(m[1]!);
  return anchors;
}

describe("the README", () => {
  it("fits on a screen or two: 60 to 150 lines", () => {
    const lines = README.trimEnd().split("\n").length;
    expect(lines).toBeGreaterThanOrEqual(60);
    expect(lines).toBeLessThanOrEqual(150);
  });

  it("starts Quick start with exactly the two set-up commands", () => {
    const quick = section(README, "Quick start");
    const firstBlock = quick.split("```")[1]!;
    expect(firstBlock.trim().split("\n").slice(1)).toEqual(["npm ci && npm start", "npm ci && npm test"]);
  });

  it("links every page of docs/", () => {
    for (const file of docFiles())
      expect({ file, linked: README.includes(`](${file})`) }).toEqual({ file, linked: true });
  });
});

describe("docs/", () => {
  it("has one page per reader's task and the references", () => {
    for (const page of [
      "deploy",
      "operate",
      "troubleshoot",
      "configuration",
      "security-model",
      "performance",
      "cost",
      "architecture",
      "reference/sandbox",
      "reference/http-api",
      "reference/commands",
    ])
      expect({ page, exists: fs.existsSync(path.join(ROOT, "docs", `${page}.md`)) }).toEqual({
        page,
        exists: true,
      });
  });

  it("starts every page with its title and what a reader came for", () => {
    for (const file of docFiles()) {
      const [title, blank, first] = read(file).split("\n");
      expect({ file, title: /^# \S/.test(title!), blank, first: (first ?? "").length > 20 }).toEqual({
        file,
        title: true,
        blank: "",
        first: true,
      });
    }
  });

  it("links only inside the repository, and every link resolves (file and anchor)", () => {
    const broken: string[] = [];
    for (const file of ["README.md", ...docFiles()]) {
      const text = read(file);
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        const [where, anchor] = target.split("#") as [string, string | undefined];
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
          broken.push(`${file}: ${target} leads outside the repository`);
          continue;
        }
        const resolved = where === "" ? file : path.normalize(path.join(path.dirname(file), where));
        if (resolved.startsWith("..") || path.isAbsolute(resolved)) {
          broken.push(`${file}: ${target} leads outside the repository`);
          continue;
        }
        if (!fs.existsSync(path.join(ROOT, resolved))) {
          broken.push(`${file}: ${target} does not exist`);
          continue;
        }
        if (anchor !== undefined && !anchorsOf(read(resolved)).has(anchor))
          broken.push(`${file}: ${target} names no heading of ${resolved}`);
      }
      if (/<https?:/.test(text)) broken.push(`${file}: an autolink leads outside the repository`);
    }
    expect(broken).toEqual([]);
  });
});

describe("docs/deploy.md", () => {
  const deploy = read("docs/deploy.md");

  it("has the section doctor's function-exists fix names: Adopting an existing deployment", () => {
    const doctor = read("scripts/doctor/function.ts");
    expect(doctor).toContain("see docs/deploy.md: Adopting an existing deployment");
    expect(deploy).toMatch(/\n## Adopting an existing deployment\b/);
    expect(anchorsOf(deploy)).toContain("adopting-an-existing-deployment");
    expect(deploy).toContain("pulumi import --file stacks/adopt-original.json");
  });

  it("gives prerequisites, the npm wrappers and tear-down", () => {
    for (const text of [
      "Pulumi CLI",
      "AWS credentials",
      "EKS cluster",
      "npm run preview -- --stack",
      "npm run deploy -- --stack",
      "npm run destroy -- --stack",
      "## Tearing down",
    ])
      expect({ text, present: deploy.includes(text) }).toEqual({ text, present: true });
  });

  it("says the stack config is the image's one owner, and never to write it with kubectl", () => {
    expect(deploy).toContain("**One owner for the running image: the stack config.**");
    expect(deploy).toContain("`co-intelligence:image`");
    const operate = read("docs/operate.md");
    expect(operate).toContain("npm run rollout -- --stack prod --undo");
    expect(operate).toContain("Never `kubectl set image` or `kubectl rollout undo`");
  });

  it("names the cluster prerequisites that otherwise fail silently: metrics-server and a NetworkPolicy CNI", () => {
    for (const text of [
      "**metrics-server**",
      "**a CNI that enforces NetworkPolicy**",
      "enableNetworkPolicy",
      "eks-pod-identity-agent",
    ])
      expect({ text, present: deploy.includes(text) }).toEqual({ text, present: true });
  });

  it("walks from an empty account to a working chat in order, naming the stack in every command", () => {
    const walk = deploy.slice(deploy.indexOf("## From an empty account to a working chat"));
    const steps = [
      "pulumi stack init dev",
      "pulumi config set co-intelligence:clusterName",
      "pulumi config set --secret co-intelligence:geminiApiKey",
      "npm run preview -- --stack dev",
      "npm run deploy -- --stack dev",
      "aws eks update-kubeconfig",
      "npm run update-backend -- --stack dev",
      "git add stacks/Pulumi.dev.yaml",
      "kubectl port-forward -n co-intelligence svc/backend 8080:80",
      "npm run smoke -- --stack dev",
      "npm run doctor -- --stack dev",
    ];
    const at = steps.map((step) => walk.indexOf(step));
    expect(steps.filter((_, i) => at[i]! < 0)).toEqual([]);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    for (const m of walk.slice(0, walk.indexOf("A worked first")).matchAll(/npm run (\S+)( -- [^\n]*)?/g))
      expect({ command: m[0], names: /--stack \w+/.test(m[2] ?? "") }).toEqual({
        command: m[0],
        names: true,
      });
  });

  it("documents both ways in (port-forward, an ALB Ingress with ACM TLS) and the CI pipeline", () => {
    expect(deploy).toContain("## How users reach the chat");
    expect(deploy).toContain("co-intelligence:certificateArn");
    expect(deploy).toContain("internet-facing");
    expect(deploy).toContain("## Deploy from CI");
    expect(deploy).toContain(".github/workflows/deploy.yml");
    expect(deploy).toContain("--junit");
  });

  it("lists exactly the stack outputs the program exports", () => {
    const outputs = deploy.slice(deploy.indexOf("Stack outputs ("));
    const paragraph = outputs.slice(0, outputs.indexOf("\n\n"));
    const named = [...paragraph.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
    expect([...new Set(named)].sort()).toEqual([...STACK_OUTPUT_NAMES].sort());
  });
});

describe("docs/configuration.md", () => {
  const config = read("docs/configuration.md");

  it("states the contract's defaults of the function's environment", () => {
    const env = section(config, "Sandbox function environment");
    expect(env).toContain(`\`${DEFAULT_ALLOWED_MODULES.join(",")}\``);
    expect(env).toContain(`| \`${SANDBOX_LIMITS.timeoutMs.default}\` |`);
    expect(env).toContain(`| \`${SANDBOX_LIMITS.maxOutputBytes.default}\` |`);
    expect(env).toContain(
      `minus ${SANDBOX_LIMITS.parentReserveMb}, at least ${SANDBOX_LIMITS.minSandboxMemoryMb}`,
    );
    expect(section(config, "Stack configuration")).toContain(`| \`co-intelligence:reservedConcurrency\` |`);
    expect(section(config, "Stack configuration")).toMatch(
      new RegExp(`reservedConcurrency\` \\|[^\\n]*\\| \`${DEFAULT_RESERVED_CONCURRENCY}\` \\|`),
    );
  });
});

describe("docs/development.md set-up facts", () => {
  const facts = section(read("docs/development.md"), "Set-up facts");

  it("says how moto_server gets installed where pip into the system Python is refused, and what EBADENGINE means", () => {
    expect(facts).toContain("python3 -m venv .venv && .venv/bin/pip install 'moto[server]'");
    expect(facts).toContain("pipx install 'moto[server]'");
    expect(facts).toContain("externally-managed-environment");
    expect(facts).toContain("npm warn EBADENGINE");
    expect(facts).toMatch(/`npm ci` about \d+ s; `npm test` about \d+ min/);
  });
});

describe("docs/cost.md", () => {
  const cost = read("docs/cost.md");
  const price = (label: RegExp): number => Number(label.exec(cost)?.[1]);
  const x86 = price(/x86 \$([\d.]+) per GB-s/);
  const arm = price(/arm64 \$([\d.]+) per GB-s/);
  const request = price(/\$([\d.]+) per request/);

  it("quotes Lambda's published us-east-1 prices", () => {
    expect({ x86, arm, request }).toEqual({ x86: 0.0000166667, arm: 0.0000133334, request: 0.0000002 });
  });

  it.each([
    ["100 ms", 0.1],
    ["1 s", 1],
    ["35 s", 35],
  ])("computes a %s execution at the default 512 MB from them, x86 and arm64", (label, seconds) => {
    const row = cost.split("\n").find((line) => line.startsWith(`| ${label}`));
    expect(row).toBeDefined();
    const perMillion = [...row!.matchAll(/\| \$([\d.]+) /g)].map((m) => Number(m[1]));
    const gbSeconds = (SANDBOX_LIMITS.functionMemoryMb.default / 1024) * seconds;
    const expected = [x86, arm].map((p) => Math.round((gbSeconds * p + request) * 1e6 * 100) / 100);
    expect(perMillion).toEqual(expected);
  });
});
