/**
 * The sandbox commands of docs/development.md and docs/reference/commands.md: `npm run sandbox`
 * and `npm run bench:sandbox` work as shown.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

describe("npm run sandbox (dev/local-lambda/cli.ts)", () => {
  it("prints usage with every flag and its default for --help", () => {
    const out = execFileSync(TSX, ["dev/local-lambda/cli.ts", "--help"], { cwd: ROOT, encoding: "utf8" });
    for (const text of ["--port N", "default 9001", "--workers N", "--python PATH", "example:"])
      expect(out).toContain(text);
  });

  it("refuses an unknown flag with exit code 2 and a pointer to --help", () => {
    let status = 0;
    let stderr = "";
    try {
      execFileSync(TSX, ["dev/local-lambda/cli.ts", "--bogus", "1"], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: "pipe",
      });
    } catch (err) {
      status = (err as { status: number }).status;
      stderr = String((err as { stderr: string }).stderr);
    }
    expect(status).toBe(2);
    expect(stderr).toContain("--help");
  });

  it("serves invocations on the port it prints", async () => {
    const cli: ChildProcess = spawn(TSX, ["dev/local-lambda/cli.ts", "--port", "0", "--workers", "1"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        cli.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const match = /local sandbox: (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        cli.on("exit", (code) => reject(new Error(`cli exited with ${code}`)));
      });
      const res = await fetch(`${url}/2015-03-31/functions/co-intelligence-code-executor/invocations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code: "print(25 * 47)" }),
      });
      expect(await res.json()).toMatchObject({ ok: true, stdout: "1175\n" });
    } finally {
      cli.kill("SIGTERM");
    }
  });
  it("stops quietly on Ctrl-C (SIGINT): exit 0, no Python traceback, no process left behind", async () => {
    const cli: ChildProcess = spawn(TSX, ["dev/local-lambda/cli.ts", "--port", "0", "--workers", "2"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    cli.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      cli.stdout!.on("data", (chunk: Buffer) => /local sandbox: http/.test(chunk.toString()) && resolve());
      cli.on("exit", (code) => reject(new Error(`cli exited with ${code}: ${stderr}`)));
    });
    const pythons = () =>
      execFileSync("sh", ["-c", `pgrep -f "dev/local-lambda/worker.py|sandbox.zygote" || true`], {
        encoding: "utf8",
      })
        .trim()
        .split("\n")
        .filter(Boolean)
        .map(Number);
    const tree = pythons().filter((pid) => isDescendant(pid, cli.pid!));
    expect(tree.length).toBeGreaterThanOrEqual(4); // two workers and their zygotes at least
    // The terminal sends SIGINT to the whole foreground process group; the CLI is its leader here.
    cli.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => cli.on("exit", resolve));
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/Traceback|KeyboardInterrupt|run:/);
    await new Promise((r) => setTimeout(r, 300));
    expect(
      tree.filter(
        (pid) => fs.existsSync(`/proc/${pid}`) && !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8")),
      ),
    ).toEqual([]);
  }, 30000);
});

function isDescendant(pid: number, ancestor: number): boolean {
  for (let current = pid, hops = 0; current > 1 && hops < 20; hops++) {
    if (current === ancestor) return true;
    try {
      const stat = fs.readFileSync(`/proc/${current}/stat`, "utf8");
      current = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return false;
    }
  }
  return false;
}

describe("npm run bench:sandbox (bench/sandbox.ts)", () => {
  it("prints the figures and ratios as JSON with --json", () => {
    const out = JSON.parse(
      execFileSync(TSX, ["bench/sandbox.ts", "--runs", "10", "--json"], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 55000,
      }),
    );
    for (const key of [
      "handlerPrintP50",
      "handlerPrintP95",
      "overheadP50",
      "freshPythonP50",
      "heavyHandlerP50",
      "heavyExecP50",
      "bareForkP50",
      "coldStartP50",
    ])
      expect(out.figures[key]).toBeGreaterThan(0);
    expect(Object.keys(out.ratios)).toEqual([
      "overheadVsFreshPython",
      "overheadVsBareFork",
      "computeHandlerVsExec",
    ]);
    expect(Object.keys(out.targets)).toEqual([
      "overhead p50 <= 1/3 of a fresh python",
      "compute within 10% of plain exec",
    ]);
  }, 60000);
});
