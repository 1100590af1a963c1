// npm run smoke against hostile and hung backends (real HTTP servers on loopback): it reads a
// bounded number of bytes, gives every check and the whole run a deadline, writes the JUnit
// report of what ran when it is stopped (deadline, SIGTERM), and prints remote text inert.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { ROOT, runScript, scratchDir } from "./deploy-harness";

const NODE = path.join(ROOT, "node_modules", ".bin", "node");

interface Backend {
  url: string;
  /** Bytes the server managed to write before the client went away. */
  written: () => number;
  close(): Promise<void>;
}

async function backend(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, count: (n: number) => void) => void,
): Promise<Backend> {
  let written = 0;
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer((req, res) => handler(req, res, (n) => (written += n)));
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    written: () => written,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Never answers (the request is read, then nothing). */
const hung = () => backend(() => undefined);

function junitCases(
  file: string,
): { name: string; outcome: "failure" | "skipped" | "passed"; message: string }[] {
  const xml = fs.readFileSync(file, "utf8");
  return [
    ...xml.matchAll(
      /<testcase [^>]*name="([^"]+)"[^>]*>\s*<(failure|skipped|system-out)(?: message="([^"]*)")?/g,
    ),
  ].map((m) => ({
    name: m[1]!,
    outcome: m[2] === "system-out" ? "passed" : (m[2] as "failure" | "skipped"),
    message: m[3] ?? "",
  }));
}

describe("npm run smoke, bounded", () => {
  it("stops a run against a hung backend at its --deadline and writes the JUnit report of what ran", async () => {
    const server = await hung();
    const out = scratchDir("smoke-junit-");
    try {
      const junit = path.join(out.dir, "reports", "smoke-junit.xml");
      const started = Date.now();
      const run = await runScript("smoke", [
        "--url",
        server.url,
        "--deadline",
        "2s",
        "--junit",
        junit,
        "--json",
      ]);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(run.status).toBe(1);
      const cases = junitCases(junit);
      expect(cases).toHaveLength(24);
      expect(cases[0]).toEqual({
        name: "chat-1",
        outcome: "failure",
        message: "stopped: the run's --deadline of 2s passed",
      });
      for (const c of cases.slice(1))
        expect(c).toEqual({
          name: c.name,
          outcome: "skipped",
          message: "not run: the run's --deadline of 2s passed",
        });
      expect(JSON.parse(run.stdout).ok).toBe(false);
    } finally {
      out.remove();
      await server.close();
    }
  });

  it("writes the JUnit report when the CI job sends SIGTERM, and exits non-zero", async () => {
    const server = await hung();
    const out = scratchDir("smoke-term-");
    try {
      const junit = path.join(out.dir, "smoke.xml");
      const child = spawn(
        NODE,
        ["--import", "tsx", "scripts/smoke/main.ts", "--url", server.url, "--junit", junit],
        {
          cwd: ROOT,
          env: { ...process.env, PATH: `${path.dirname(NODE)}:/usr/bin:/bin` },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      // Wait until the first check is under way, then stop the run as a cancelled CI job would.
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (stderr.includes("chat-1")) {
            clearInterval(poll);
            resolve();
          }
        }, 50);
      });
      child.kill("SIGTERM");
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(code).not.toBe(0);
      const cases = junitCases(junit);
      expect(cases[0]).toEqual({
        name: "chat-1",
        outcome: "failure",
        message: "stopped: interrupted by SIGTERM",
      });
      expect(cases.slice(1).every((c) => c.outcome === "skipped")).toBe(true);
    } finally {
      out.remove();
      await server.close();
    }
  });

  it("reads no more than 8 MiB of an answer, however much the backend sends", async () => {
    const chunk = Buffer.alloc(1024 * 1024, "x");
    const server = await backend((req, res, count) => {
      res.writeHead(200, { "content-type": "application/json" });
      let sent = 0;
      const pump = () => {
        while (sent < 512) {
          sent++;
          count(chunk.length);
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => (sent = 512));
      pump();
    });
    try {
      const run = await runScript("smoke", ["--url", server.url, "--modules", "math", "--json"]);
      expect(run.status).toBe(1);
      const check = (JSON.parse(run.stdout) as { checks: { id: string; detail: string }[] }).checks.find(
        (c) => c.id === "execute-math",
      )!;
      expect(check.detail).toContain("answered more than 8388608 bytes; stopped reading");
      // It hung up long before the backend's 512 MiB were written.
      expect(server.written()).toBeLessThan(200 * 1024 * 1024);
    } finally {
      await server.close();
    }
  });

  it("prints what the backend sends with escape codes and workflow commands made inert", async () => {
    const server = await backend((req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          ok: false,
          stdout: "",
          stderr: "",
          result: null,
          error: { type: "Evil\u001b]0;pwned\u0007", message: "x\n::add-mask::hunter2\n\u009b2J" },
        }),
      );
    });
    try {
      const run = await runScript("smoke", ["--url", server.url, "--modules", "math"]);
      expect(run.status).toBe(1);
      // eslint-disable-next-line no-control-regex
      expect(run.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      expect(run.stdout.split("\n").some((line) => /^\s*::/.test(line))).toBe(false);
      expect(run.stdout).toContain("Evil\\x1b]0;pwned\\x07");
    } finally {
      await server.close();
    }
  });
});
