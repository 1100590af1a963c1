/**
 * How every operations command runs git, docker, kubectl and pulumi (zx underneath): an
 * argument is never parsed by the shell, stdin comes from memory, and a failure, a missing
 * tool or a tool that hangs is a result to read, not a throw.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { runTool } from "../../scripts/lib/run-tool";

describe("runTool", () => {
  it("passes every argument verbatim, shell metacharacters included", async () => {
    const args = ["a b", "$(touch /tmp/run-tool-pwned)", "'quoted'", "`id`", "*", ";", "|", "\\n", ""];
    const result = await runTool("printf", ["%s\\n", ...args]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(args.map((a) => `${a}\n`).join(""));
    expect(existsSync("/tmp/run-tool-pwned")).toBe(false);
  });

  it("feeds stdin from memory", async () => {
    const result = await runTool("wc", ["-c"], { input: "secret-password" });
    expect(result.stdout.trim()).toBe("15");
  });

  it("returns a non-zero exit with the tool's output instead of throwing", async () => {
    const result = await runTool("sh", ["-c", "echo out; echo err >&2; exit 3"]);
    expect(result).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("answers 127 for a tool that is not installed", async () => {
    expect((await runTool("no-such-tool-here", ["x"])).code).toBe(127);
  });

  it("stops a tool at timeoutMs with 124, and whatever it started", async () => {
    const started = Date.now();
    // Unusual durations, so that pgrep finds only these.
    const result = await runTool("sh", ["-c", "sleep 31.25 & sleep 21.25"], { timeoutMs: 300 });
    expect(result.code).toBe(124);
    expect(Date.now() - started).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 200));
    const left = await runTool("pgrep", ["-f", "^sleep (31|21)\\.25$"]);
    expect(left.stdout.trim()).toBe("");
  });

  it("streams output to echo as it comes", async () => {
    const chunks: string[] = [];
    await runTool("sh", ["-c", "echo one; echo two >&2"], { echo: (c) => chunks.push(c) });
    expect(chunks.join("")).toMatch(/one\n/);
    expect(chunks.join("")).toMatch(/two\n/);
  });

  it("does not read the user's shell start-up files, even with a bare environment", async () => {
    const result = await runTool("sh", ["-c", "echo $PATH"], {
      env: { PATH: "/usr/bin:/bin", HOME: "/root" },
    });
    expect(result).toEqual({ code: 0, stdout: "/usr/bin:/bin\n", stderr: "" });
  });
});

describe("a command that is stopped", () => {
  it("takes its running tools' process groups along (a hung tool does not outlive it)", async () => {
    const root = path.join(__dirname, "..", "..");
    // A command whose tool hangs: runTool("sleep 47.25"), then SIGTERM as a CI job gets.
    const script = `require(${JSON.stringify(path.join(root, "scripts/lib/run-tool.ts"))}).runTool("sh", ["-c", "sleep 47.25 & sleep 57.25"]);`;
    const child = spawn(path.join(root, "node_modules/.bin/node"), ["--import", "tsx", "-e", script], {
      cwd: root,
      stdio: "ignore",
    });
    const alive = async () => (await runTool("pgrep", ["-f", "^sleep (47|57)\\.25$"])).stdout.trim() !== "";
    const deadline = Date.now() + 20000;
    while (!(await alive()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await alive()).toBe(true);
    child.kill("SIGTERM");
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_, s) => resolve(s)),
    );
    expect(signal).toBe("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    expect(await alive()).toBe(false);
  });
});
