// scripts/pulumi/main.ts, run for real through npm's tsx with a recording `pulumi` stub on PATH
// (or none, for the install hint).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const NODE_BIN = path.join(ROOT, "node_modules", ".bin");

let stubDir: string;
let recordFile: string;

beforeAll(() => {
  stubDir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-stub-"));
  recordFile = path.join(stubDir, "calls.txt");
  // Records its working directory and arguments, one per line, and exits with PULUMI_STUB_EXIT.
  fs.writeFileSync(
    path.join(stubDir, "pulumi"),
    `#!/bin/sh\npwd > "${recordFile}"\nfor a in "$@"; do echo "$a" >> "${recordFile}"; done\nexit "\${PULUMI_STUB_EXIT:-0}"\n`,
    { mode: 0o755 },
  );
});

afterAll(() => fs.rmSync(stubDir, { recursive: true, force: true }));

function wrapper(args: string[], opts: { withPulumi: boolean; exit?: number; viaNpm?: string }) {
  const PATH = [...(opts.withPulumi ? [stubDir] : []), NODE_BIN, "/usr/bin", "/bin"].join(path.delimiter);
  fs.rmSync(recordFile, { force: true });
  const [command, commandArgs] = opts.viaNpm
    ? ["npm", ["run", "--silent", opts.viaNpm, "--", ...args]]
    : [path.join(NODE_BIN, "tsx"), ["scripts/pulumi/main.ts", ...args]];
  const result = spawnSync(command, commandArgs, {
    cwd: ROOT,
    env: { PATH, HOME: os.tmpdir(), PULUMI_STUB_EXIT: String(opts.exit ?? 0) },
    encoding: "utf8",
    timeout: 30000,
  });
  const calls = fs.existsSync(recordFile)
    ? fs.readFileSync(recordFile, "utf8").trim().split("\n")
    : undefined;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
}

describe("npm run preview|deploy|destroy (scripts/pulumi/main.ts)", () => {
  it("refuses to run without --stack and says how to name one", () => {
    const run = wrapper(["up"], { withPulumi: true });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("--stack NAME is required");
    expect(run.stderr).toContain("npm run deploy -- --stack dev");
    expect(run.calls).toBeUndefined();
  });

  it("says in one line how to install the Pulumi CLI when it is missing", () => {
    const run = wrapper(["preview", "--stack", "dev"], { withPulumi: false });
    expect(run.status).not.toBe(0);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("curl -fsSL https://get.pulumi.com | sh");
  });

  it("is what `npm run preview -- --stack dev`, `npm run deploy -- --stack prod` and `npm run destroy -- --stack dev` run", () => {
    expect(wrapper(["--stack", "dev"], { withPulumi: true, viaNpm: "preview" }).calls?.slice(1)).toEqual([
      "preview",
      "--stack",
      "dev",
    ]);
    expect(wrapper(["--stack", "prod"], { withPulumi: true, viaNpm: "deploy" }).calls?.slice(1)).toEqual([
      "up",
      "--stack",
      "prod",
    ]);
    expect(wrapper(["--stack", "dev"], { withPulumi: true, viaNpm: "destroy" }).calls?.slice(1)).toEqual([
      "destroy",
      "--stack",
      "dev",
    ]);
  });

  it("runs `pulumi up --stack prod` from the repository root, passing other flags through", () => {
    const run = wrapper(["up", "--stack", "prod", "--yes", "--diff"], { withPulumi: true });
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([ROOT, "up", "--stack", "prod", "--yes", "--diff"]);
  });

  it("maps preview and destroy the same way and accepts --stack=NAME", () => {
    expect(wrapper(["preview", "--stack=dev"], { withPulumi: true }).calls?.slice(1)).toEqual([
      "preview",
      "--stack",
      "dev",
    ]);
    expect(wrapper(["destroy", "--stack", "dev"], { withPulumi: true }).calls?.slice(1)).toEqual([
      "destroy",
      "--stack",
      "dev",
    ]);
  });

  it("exits with pulumi's own exit code", () => {
    expect(wrapper(["preview", "--stack", "dev"], { withPulumi: true, exit: 3 }).status).toBe(3);
  });

  it("prints usage with an example for --help", () => {
    const run = wrapper(["preview", "--help"], { withPulumi: true });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("example: npm run preview -- --stack dev");
  });
});
