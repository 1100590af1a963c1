// The README's Deploy and Cost sections say what the program and the operations commands rely
// on: the adoption subsection the doctor's fix text points to, the npm wrappers, who owns the
// image, and per-execution costs that follow from the published prices they quote.
import * as fs from "node:fs";
import * as path from "node:path";

const README = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");

/** The text of a `## ` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no "## ${title}" section`);
  const end = README.indexOf("\n## ", start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** GitHub's anchor of a heading: lower-case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-");
}

describe("README Deploy", () => {
  const deploy = section("Deploy");

  it("has the subsection the contract's doctor fix names: Adopting an existing deployment", () => {
    // CONTRACT.md, doctor's function-exists fix: "(or see README: Adopting an existing deployment)".
    const phrase = "Adopting an existing deployment";
    expect(deploy).toMatch(new RegExp(`\\n### ${phrase}\\b`));
    expect(deploy).toContain("pulumi import --file stacks/adopt-original.json");
  });

  it("resolves every in-page link to the adoption subsection (old and new names)", () => {
    const anchors = new Set<string>();
    for (const m of README.matchAll(/^#{1,6} (.+)$/gm)) anchors.add(anchorOf(m[1]!));
    for (const m of README.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(m[1]!);
    const links = [...README.matchAll(/\]\(#(adopting[^)]*)\)/g)].map((m) => m[1]!);
    expect(anchors).toContain("adopting-an-existing-deployment");
    for (const link of links) expect({ link, resolves: anchors.has(link) }).toEqual({ link, resolves: true });
  });

  it("gives prerequisites, the npm wrappers and tear-down", () => {
    for (const text of [
      "Pulumi CLI",
      "AWS credentials",
      "EKS cluster",
      "npm run preview -- --stack",
      "npm run deploy -- --stack",
      "npm run destroy -- --stack",
      "### Tearing down",
    ])
      expect({ text, present: deploy.includes(text) }).toEqual({ text, present: true });
  });

  it("says the stack config is the image's one owner, and never to write it with kubectl", () => {
    expect(deploy).toContain("**One owner for the running image: the stack config.**");
    expect(deploy).toContain("`co-intelligence:image`");
    expect(deploy).not.toMatch(/ignoreChanges` on `spec\.template\.spec\.containers/);
    const operate = section("Operate");
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
    const path = deploy.slice(deploy.indexOf("### From an empty account to a working chat"));
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
    const at = steps.map((step) => path.indexOf(step));
    expect(steps.filter((_, i) => at[i]! < 0)).toEqual([]);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    for (const m of path.slice(0, path.indexOf("A worked first")).matchAll(/npm run (\S+)( -- [^\n]*)?/g))
      expect({ command: m[0], names: /--stack \w+/.test(m[2] ?? "") }).toEqual({
        command: m[0],
        names: true,
      });
  });

  it("documents both ways in (port-forward, an ALB Ingress with ACM TLS) and the CI pipeline", () => {
    expect(deploy).toContain("### How users reach the chat");
    expect(deploy).toContain("co-intelligence:certificateArn");
    expect(deploy).toContain("internet-facing");
    expect(deploy).toContain("### Deploy from CI");
    expect(deploy).toContain(".github/workflows/deploy.yml");
    expect(deploy).toContain("--junit");
  });
});

describe("README set-up facts", () => {
  const quick = section("Quick start");

  it("says how moto_server gets installed where pip into the system Python is refused, and what EBADENGINE means", () => {
    expect(quick).toContain("python3 -m venv .venv && .venv/bin/pip install 'moto[server]'");
    expect(quick).toContain("pipx install 'moto[server]'");
    expect(quick).toContain("externally-managed-environment");
    expect(quick).toContain("npm warn EBADENGINE");
    expect(quick).toMatch(/`npm ci` about \d+ s; `npm test` about \d+ min/);
  });
});

describe("README Cost", () => {
  const cost = section("Cost");
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
    const gbSeconds = 0.5 * seconds;
    const expected = [x86, arm].map((p) => Math.round((gbSeconds * p + request) * 1e6 * 100) / 100);
    expect(perMillion).toEqual(expected);
  });
});
