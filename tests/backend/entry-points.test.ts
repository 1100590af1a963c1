/**
 * The ways the backend is started for real: the container image's entry point (compiled
 * `node dist/backend/server.js`, as backend/Dockerfile runs it) and `npm start` (the local
 * stack: sandbox runtime + backend). Both are started as child processes and talked to
 * over HTTP.
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { answerText, chat } from "./harness";
import { exited, killStartedProcesses, ROOT, startAndWaitFor } from "./processes";

afterAll(killStartedProcesses);

describe("backend/Dockerfile", () => {
  const dockerfile = readFileSync(path.join(ROOT, "backend/Dockerfile"), "utf8");
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;

  it("is multi-stage on Node 24, and the runtime stage installs production dependencies only", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage).toMatch(/^node:24[-\w.]*slim/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(final).not.toMatch(/npm (ci|install)(?!.*--omit=dev)/);
  });

  it("runs as a numeric non-root user with the compiled entry point", () => {
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(final);
    expect(user).not.toBeNull();
    expect(Number(user![1])).toBeGreaterThan(0);
    expect(final).toMatch(/^CMD \["node", "dist\/backend\/server\.js"\]$/m);
  });

  it("everything the compiled backend requires is a production dependency", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const imports = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (file.endsWith(".ts"))
          for (const m of readFileSync(file, "utf8").matchAll(/(?:from |require\()"([^".][^"]*)"/g))
            imports.add(m[1]!);
      }
    };
    walk(path.join(ROOT, "backend"));
    const packages = [...imports]
      .filter((name) => !name.startsWith("node:"))
      .map((name) => (name.startsWith("@") ? name.split("/").slice(0, 2).join("/") : name.split("/")[0]!));
    expect(packages.length).toBeGreaterThan(0);
    for (const name of packages) expect(Object.keys(pkg.dependencies)).toContain(name);
  });
});

/**
 * Whether Docker leaves `file` out of the build context under these .dockerignore rules: each
 * pattern (a `!` one re-includes) matches the path or one of its parent directories, `**` any
 * number of directories, `*` and `?` within one; the last matching rule wins.
 */
function dockerignored(rules: string[], file: string): boolean {
  let excluded = false;
  for (const rule of rules) {
    const negate = rule.startsWith("!");
    const pattern = path.posix.normalize(negate ? rule.slice(1) : rule).replace(/\/$/, "");
    const segments = pattern.split("/");
    const body = segments
      .map((seg, i) => {
        const last = i === segments.length - 1;
        if (seg === "**") return last ? ".*" : "(?:.*/)?";
        const glob = seg
          .replace(/[.+^${}()|[\]\\]/g, "\\$&")
          .replace(/\*/g, "[^/]*")
          .replace(/\?/g, "[^/]");
        return last ? glob : `${glob}/`;
      })
      .join("");
    const re = new RegExp(`^${body}$`);
    const parts = file.split("/");
    const matches = parts.some((_, i) => re.test(parts.slice(0, i + 1).join("/")));
    if (matches) excluded = !negate;
  }
  return excluded;
}

describe("the image's build context (.dockerignore)", () => {
  const rules = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));

  it("sends what backend/Dockerfile copies", () => {
    for (const file of [
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "backend/server.ts",
      "backend/public/index.html",
      "contract/http.ts",
    ])
      expect([file, dockerignored(rules, file)]).toEqual([file, false]);
  });

  it("sends no secret and no local install, even inside the directories it sends", () => {
    for (const file of [
      ".env",
      "backend/.env",
      "backend/.env.local",
      "contract/.env",
      "backend/tls/server.key",
      "backend/tls/server.pem",
      "node_modules/fastify/package.json",
      "backend/node_modules/x/index.js",
      "backend/dist/server.js",
      "lambda/handler.py",
      "stacks/Pulumi.prod.yaml",
      ".git/config",
    ])
      expect([file, dockerignored(rules, file)]).toEqual([file, true]);
  });
});

/** The local addresses the process listens on for `port`, from the kernel's own tables. */
function listeningAddresses(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const found: string[] = [];
  for (const [file, v6] of [
    ["/proc/net/tcp", false],
    ["/proc/net/tcp6", true],
  ] as const) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== "0A" || !local?.endsWith(`:${hex}`)) continue; // 0A: LISTEN
      const address = local.split(":")[0]!;
      if (!v6)
        found.push(
          address
            .match(/../g)!
            .reverse()
            .map((b) => parseInt(b, 16))
            .join("."),
        );
      else
        found.push(
          address === "00000000000000000000000001000000"
            ? "::1"
            : address === "0".repeat(32)
              ? "::"
              : address,
        );
    }
  }
  return found;
}

describe("npm run backend (the backend alone, for local use)", () => {
  it("listens on loopback only by default, and its log says exactly that", async () => {
    const { child, match, output } = await startAndWaitFor(
      "npm",
      ["run", "--silent", "backend"],
      {
        ...process.env,
        PORT: "0",
        HOST: "",
        LOG_LEVEL: "info",
        GEMINI_API_KEY: "k",
        AWS_ENDPOINT_URL_LAMBDA: "http://127.0.0.1:9",
      },
      /^\{.*"msg":"backend listening.*\}$/m,
    );
    const line = JSON.parse(match[0]) as {
      url: string;
      listening: string[];
      interfaces: string;
      msg: string;
    };
    const port = Number(new URL(line.url).port);
    const bound = listeningAddresses(port);
    expect(bound.length).toBeGreaterThan(0);
    expect(bound.every((a) => a.startsWith("127.") || a === "::1")).toBe(true);
    expect(line.interfaces).toBe("loopback only");
    expect(line.listening.sort()).toEqual(
      bound.map((a) => (a.includes(":") ? `[${a}]:${port}` : `${a}:${port}`)).sort(),
    );
    expect(line.msg).toMatch(/loopback only/);
    expect((await fetch(`${line.url}/healthz`)).status).toBe(200);
    process.kill(-child.pid!, "SIGINT"); // Ctrl-C: stops without the drain a load balancer needs
    await exited(child);
    expect(output()).toMatch(/"msg":"stopped"/);
    await expect(fetch(`${line.url}/healthz`)).rejects.toThrow();
    expect(output()).not.toMatch(/0\.0\.0\.0/);
  });
});

describe("the container entry point: node dist/backend/server.js", () => {
  it("compiles, listens on PORT, answers the probes; on SIGTERM drains (readyz 503), then exits 0", async () => {
    const build = spawnSync("npm", ["run", "build"], { cwd: ROOT, encoding: "utf8", timeout: 120000 });
    expect(build.status).toBe(0);
    const { child, match, output } = await startAndWaitFor(
      process.execPath,
      ["dist/backend/server.js"],
      {
        ...process.env,
        PORT: "0",
        HOST: "127.0.0.1",
        GEMINI_API_KEY: "k",
        LOG_LEVEL: "info",
        AWS_ENDPOINT_URL_LAMBDA: "http://127.0.0.1:9",
        SHUTDOWN_DRAIN_MS: "1500",
      },
      /"url":"(http:\/\/127\.0\.0\.1:\d+)"/,
    );
    const url = match[1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${url}/`)).text()).toMatch(/Co-Intelligence/);
    // No sandbox behind it: the execution is still answered, and logged once, without the code.
    const execute = await fetch(`${url}/api/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "print('canary-7f3a')" }),
    });
    expect(execute.status).toBe(502);
    child.kill("SIGTERM");
    // Draining: still answering, but no longer ready (the load balancer takes it out).
    await new Promise((r) => setTimeout(r, 300));
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ error: { type: "NotReady" } });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await exited(child)).toBe(0);

    const lines = output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const executions = lines.filter((l) => l["msg"] === "code execution");
    expect(executions).toEqual([
      expect.objectContaining({
        level: "info",
        route: "execute",
        outcome: "SandboxUnavailable",
        codeBytes: 20,
      }),
    ]);
    const requests = lines.filter((l) => l["msg"] === "request" && l["url"] === "/api/execute");
    expect(requests).toEqual([expect.objectContaining({ method: "POST", statusCode: 502 })]);
    expect(output()).not.toMatch(/canary-7f3a/);
    expect(lines.some((l) => l["msg"] === "shutting down")).toBe(true);
  });
});

describe("npm start (the local stack)", () => {
  it("runs the sandbox and the backend wired together; a seed question is answered, smoke passes; Ctrl-C stops it quietly", async () => {
    const { child, match, output } = await startAndWaitFor(
      "npm",
      ["start", "--silent", "--", "--fake-gemini", "--port", "0", "--workers", "2"],
      { ...process.env, LOG_LEVEL: "info", LOG_FORMAT: "", GEMINI_API_KEY: "" },
      /local stack ready: (http:\/\/localhost:\d+)/,
    );
    const url = match[1]!;
    const { events } = await chat(url, "What's 25 times 47?");
    expect(events.find((e) => e.event === "code_result")?.data).toMatchObject({ ok: true, stdout: "1175\n" });
    expect(answerText(events)).toMatch(/1175/);
    const execute = await fetch(`${url}/api/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "import os" }),
    });
    expect(await execute.json()).toMatchObject({ ok: false, error: { type: "ModuleNotAllowed" } });

    // What CI runs after a deploy, against this stack: every smoke check passes.
    const smoke = spawnSync("npm", ["run", "--silent", "smoke", "--", "--url", url, "--json"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60000,
    });
    expect(smoke.status).toBe(0);
    const report = JSON.parse(smoke.stdout) as { ok: boolean; checks: { id: string; status: string }[] };
    expect(report.ok).toBe(true);
    expect(report.checks.filter((c) => c.status === "pass")).toHaveLength(24);

    process.kill(-child.pid!, "SIGINT"); // Ctrl-C: the whole foreground group
    await exited(child);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    // One readable format for the backend's and the sandbox's lines, no JSON, and a quiet stop:
    // no worker tracebacks, no advice about workers that were never meant to start.
    const text = output();
    expect(text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}backend {2}POST \/api\/chat 200 \d+ ms/m);
    expect(text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}sandbox {2}invocation ok /m);
    expect(text).not.toMatch(/^\{"level"/m);
    expect(text).not.toMatch(/Traceback|KeyboardInterrupt|run: /);
    expect(text).toMatch(/local stack stopped\n$/);
  });

  it("SIGTERM to npm alone (a supervisor, `docker stop` with npm as PID 1) stops the whole stack, leaving no process", async () => {
    const { child, match } = await startAndWaitFor(
      "npm",
      ["start", "--silent", "--", "--fake-gemini", "--port", "0", "--workers", "2"],
      { ...process.env, LOG_LEVEL: "info", LOG_FORMAT: "", GEMINI_API_KEY: "" },
      /local stack ready: (http:\/\/localhost:\d+)/,
    );
    const url = match[1]!;
    const stack = descendants(child.pid!);
    // npm, the shell it may run, tsx, node, two workers and their zygotes.
    expect(stack.length).toBeGreaterThanOrEqual(6);
    child.kill("SIGTERM"); // npm's pid only, not its group: npm passes it on to its script
    await exited(child);
    const deadline = Date.now() + 15000;
    while (stack.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const left = stack.filter(alive);
    const commands = left.map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
    for (const pid of left) process.kill(pid, "SIGKILL"); // a failing run leaves nothing either
    expect(commands).toEqual([]);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it("a bad option is one line that says what to do", () => {
    const run = spawnSync("npm", ["start", "--silent", "--", "--prot", "8080"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 30000,
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr.trim()).toBe("npm start: unknown flag --prot (see: npm start -- --help)");
  });

  it("a busy port names the fix", async () => {
    const server = http.createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    try {
      const run = spawnSync("npm", ["start", "--silent", "--", "--fake-gemini", "--port", String(port)], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60000,
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/port is already in use.*npm start -- --port/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      server.close();
    }
  });
});

/** Every process below `root` (children, grandchildren...), from /proc. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* gone meanwhile */
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents)
      if (parent === pid) {
        found.push(child);
        walk(child);
      }
  };
  walk(root);
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
