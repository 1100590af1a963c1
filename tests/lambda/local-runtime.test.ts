import { execSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { LocalSandbox, startLocalSandbox } from "../../dev/local-lambda/server";

const FUNCTION = "co-intelligence-code-executor";
let sandbox: LocalSandbox;
let lambda: LambdaClient;
const logs: string[] = [];

function invokeCode(code: unknown, extra: Record<string, unknown> = {}) {
  return lambda.send(
    new InvokeCommand({ FunctionName: FUNCTION, Payload: Buffer.from(JSON.stringify({ code, ...extra })) }),
  );
}
function decode(payload: Uint8Array | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(payload ?? []).toString("utf8"));
}
function rawPost(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  return fetch(`${sandbox.url}${path}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
  });
}
/** One raw HTTP/1.1 exchange, for what fetch refuses to send (bad targets, foreign Host headers). */
function rawHttp(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let data = "";
    socket.on("data", (chunk) => (data += chunk.toString()));
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
    socket.write(request);
  });
}

beforeAll(async () => {
  sandbox = await startLocalSandbox({
    workers: 2,
    env: { SANDBOX_TIMEOUT_MS: "3000" },
    log: (line) => logs.push(line),
  });
  lambda = new LambdaClient({
    endpoint: sandbox.url,
    region: "us-east-1",
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
});
afterAll(async () => {
  lambda?.destroy();
  await sandbox?.close();
});

describe("local Lambda runtime (real @aws-sdk/client-lambda against startLocalSandbox)", () => {
  it("answers a RequestResponse invoke with the handler's response and $LATEST", async () => {
    const out = await invokeCode("print(25 * 47)");
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBeUndefined();
    expect(out.ExecutedVersion).toBe("$LATEST");
    expect(decode(out.Payload)).toMatchObject({ ok: true, stdout: "1175\n", error: null });
  });

  it("accepts the function's ARN as well as its name", async () => {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION}`,
        Payload: Buffer.from('{"code":"15 / 100 * 2847"}'),
      }),
    );
    expect(decode(out.Payload)).toMatchObject({ ok: true, result: "427.05" });
  });

  it("accepts a $LATEST qualifier and refuses other versions", async () => {
    const latest = await lambda.send(
      new InvokeCommand({ FunctionName: `${FUNCTION}:$LATEST`, Payload: Buffer.from('{"code":"print(7)"}') }),
    );
    expect(decode(latest.Payload)).toMatchObject({ ok: true, stdout: "7\n" });
    await expect(
      lambda.send(new InvokeCommand({ FunctionName: FUNCTION, Qualifier: "3", Payload: Buffer.from("{}") })),
    ).rejects.toMatchObject({ name: "ResourceNotFoundException" });
  });

  it("answers ResourceNotFoundException for any other function", async () => {
    await expect(
      lambda.send(new InvokeCommand({ FunctionName: "other-function", Payload: Buffer.from("{}") })),
    ).rejects.toMatchObject({ name: "ResourceNotFoundException", $metadata: { httpStatusCode: 404 } });
  });

  it("acknowledges Event invocations with 202 and DryRun with 204", async () => {
    const event = await lambda.send(
      new InvokeCommand({
        FunctionName: FUNCTION,
        InvocationType: "Event",
        Payload: Buffer.from('{"code":"1"}'),
      }),
    );
    expect(event.StatusCode).toBe(202);
    const dry = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION, InvocationType: "DryRun" }));
    expect(dry.StatusCode).toBe(204);
  });

  it("refuses a payload that is not JSON with InvalidRequestContentException", async () => {
    const res = await rawPost(`/2015-03-31/functions/${FUNCTION}/invocations`, "{not json");
    expect(res.status).toBe(400);
    expect(res.headers.get("x-amzn-errortype")).toBe("InvalidRequestContentException");
  });

  it("refuses a payload over 6 MB with RequestTooLargeException", async () => {
    const res = await rawPost(
      `/2015-03-31/functions/${FUNCTION}/invocations`,
      Buffer.alloc(6 * 1024 * 1024 + 10, 0x20),
    );
    expect(res.status).toBe(413);
    expect(res.headers.get("x-amzn-errortype")).toBe("RequestTooLargeException");
  });

  it("reports a killed worker as an Unhandled function error, replaces it, and keeps serving", async () => {
    // User code cannot kill its worker, so the crash is made from outside: SIGKILL the workers
    // while one is busy, as Lambda's OOM killer or a runtime bug would.
    const before = await invokeCode("print(1)");
    expect(decode(before.Payload)).toMatchObject({ ok: true });
    const pids = execSync(`pgrep -f "dev/local-lambda/worker.py" -P ${process.pid} || true`, {
      encoding: "utf8",
    })
      .trim()
      .split("\n")
      .filter(Boolean);
    expect(pids.length).toBeGreaterThan(0);
    const slow = invokeCode("n = 0\nfor i in range(10**9): n += i", { timeoutMs: 2500 });
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // pgrep also lists its own short-lived shell, gone by now
      }
    }
    const out = await slow;
    expect(out.FunctionError).toBe("Unhandled");
    expect(decode(out.Payload)).toMatchObject({ errorType: "Runtime.ExitError" });
    await new Promise((r) => setTimeout(r, 1500));
    const after = await invokeCode("print(2 + 2)");
    expect(decode(after.Payload)).toMatchObject({ ok: true, stdout: "4\n" });
  });

  it("answers every invocation sent while a killed worker's replacement is still starting", async () => {
    const single = await startLocalSandbox({ workers: 1, log: () => {} });
    const client = new LambdaClient({
      endpoint: single.url,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    const send = (code: string) =>
      client.send(
        new InvokeCommand({ FunctionName: FUNCTION, Payload: Buffer.from(JSON.stringify({ code })) }),
      );
    try {
      expect(decode((await send("print(0)")).Payload)).toMatchObject({ ok: true });
      const pids = execSync(`pgrep -f "dev/local-lambda/worker.py" -P ${process.pid} || true`, {
        encoding: "utf8",
      })
        .trim()
        .split("\n")
        .filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // not ours any more
        }
      }
      // Sent at once, while the replacement is importing the handler: none may be lost.
      await new Promise((r) => setTimeout(r, 50));
      const outs = await Promise.all([1, 2, 3].map((n) => send(`print(${n})`)));
      expect(outs.map((o) => decode(o.Payload).stdout)).toEqual(["1\n", "2\n", "3\n"]);
    } finally {
      client.destroy();
      await single.close();
    }
  }, 30000);

  it("queues invocations beyond the pool and answers all of them", async () => {
    const outs = await Promise.all([1, 2, 3, 4, 5].map((n) => invokeCode(`print(${n} * 10)`)));
    expect(outs.map((o) => decode(o.Payload).stdout)).toEqual(["10\n", "20\n", "30\n", "40\n", "50\n"]);
  });

  it("forwards the handler's JSON log lines, without code or output", async () => {
    await invokeCode("print('secret-output-' + 'x')");
    const line = logs
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return undefined;
        }
      })
      .filter((l) => l?.message === "invocation")
      .at(-1);
    expect(line).toMatchObject({ ok: true, stdoutBytes: 16 });
    expect(logs.join("\n")).not.toContain("secret-output-x");
  });
});

describe("local runtime with a bad SANDBOX_* value", () => {
  it("reports a function error naming the variable on every call", async () => {
    const bad = await startLocalSandbox({
      workers: 1,
      env: { SANDBOX_TIMEOUT_MS: "soon" },
      log: () => undefined,
    });
    const client = new LambdaClient({
      endpoint: bad.url,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    try {
      for (let i = 0; i < 2; i++) {
        const out = await client.send(
          new InvokeCommand({ FunctionName: FUNCTION, Payload: Buffer.from('{"code":"print(1)"}') }),
        );
        expect(out.FunctionError).toBe("Unhandled");
        expect(decode(out.Payload)).toMatchObject({
          errorType: "ConfigError",
          errorMessage: expect.stringContaining("SANDBOX_TIMEOUT_MS"),
        });
      }
    } finally {
      client.destroy();
      await bad.close();
    }
  });
});

describe("local runtime limits and start-up errors", () => {
  it("throttles with TooManyRequestsException once its bounded queue is full", async () => {
    const small = await startLocalSandbox({ workers: 1, maxQueue: 1, log: () => undefined });
    const client = new LambdaClient({
      endpoint: small.url,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
      maxAttempts: 1,
    });
    try {
      const calls = [1, 2, 3, 4].map((n) =>
        client
          .send(
            new InvokeCommand({
              FunctionName: FUNCTION,
              Payload: Buffer.from(JSON.stringify({ code: `import time\ntime.sleep(0.3)\nprint(${n})` })),
            }),
          )
          .then(
            (out) => decode(out.Payload).stdout,
            (err: Error) => err.name,
          ),
      );
      const outcomes = await Promise.all(calls);
      expect(outcomes.filter((o) => o === "TooManyRequestsException")).toHaveLength(2);
      expect(outcomes.filter((o) => typeof o === "string" && o.endsWith("\n"))).toHaveLength(2);
    } finally {
      client.destroy();
      await small.close();
    }
  });

  it("rejects with the interpreter it could not start and how to fix it", async () => {
    await expect(startLocalSandbox({ python: "/nonexistent/python3", log: () => undefined })).rejects.toThrow(
      /--python/,
    );
  });
});

/** Every process below `roots` (by parent pid), read from /proc. */
function descendants(roots: number[]): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found = new Set<number>(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of parents)
      if (found.has(parent) && !found.has(pid)) {
        found.add(pid);
        grew = true;
      }
  }
  return [...found].filter((pid) => !roots.includes(pid));
}
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("local runtime against hostile and careless requests", () => {
  const invokePath = `/2015-03-31/functions/${FUNCTION}/invocations`;
  const invocations = () => logs.filter((l) => l.includes('"message":"invocation"')).length;

  it("refuses what any web page can send cross-origin: a text/plain POST without a signature runs nothing", async () => {
    const before = invocations();
    const res = await fetch(`${sandbox.url}${invokePath}`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ code: "print('ran')" }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ message: expect.stringContaining("SigV4") });
    await new Promise((r) => setTimeout(r, 200));
    expect(invocations()).toBe(before);
  });

  it("refuses a request that carries a browser's Origin header", async () => {
    const res = await rawPost(invokePath, '{"code":"print(1)"}', { origin: "https://evil.example" });
    expect(res.status).toBe(403);
  });

  it("refuses a foreign Host name (DNS rebinding to 127.0.0.1)", async () => {
    const body = '{"code":"print(1)"}';
    const reply = await rawHttp(
      sandbox.url,
      `POST ${invokePath} HTTP/1.1\r\nHost: rebind.evil.example:${sandbox.port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 403/);
  });

  it.each([
    ["a broken percent-encoding", "/2015-03-31/functions/%ZZ/invocations"],
    ["the request target //", "//"],
    ["an absolute-form target with a foreign path", "http://x/other"],
    ["a path with NUL", "/2015-03-31/functions/a%00b/invocations"],
  ])("answers %s with a 4xx and keeps serving", async (_name, target) => {
    const reply = await rawHttp(
      sandbox.url,
      `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 4\d\d/);
    expect(decode((await invokeCode("print(6 * 7)")).Payload)).toMatchObject({ stdout: "42\n" });
  });

  it("refuses a payload nested too deeply to re-serialise with a 400, and every worker stays in service", async () => {
    // JSON.parse takes it; handing it to a worker (JSON.stringify) overflows the stack. This
    // once left the worker marked busy forever: one request per worker stopped the runtime.
    const deep = `{"code":"print(1)","x":${"[".repeat(200000)}${"]".repeat(200000)}}`;
    for (let i = 0; i < 3; i++) {
      const res = await rawPost(invokePath, deep);
      expect(res.status).toBe(400);
      expect(res.headers.get("x-amzn-errortype")).toBe("InvalidRequestContentException");
    }
    const answers = await Promise.all([1, 2, 3, 4].map((n) => invokeCode(`print(${n} * 7)`)));
    expect(answers.map((a) => decode(a.Payload)["stdout"])).toEqual(["7\n", "14\n", "21\n", "28\n"]);
  });

  it("answers a garbage request line with 400 and keeps serving", async () => {
    const reply = await rawHttp(sandbox.url, "\x00\x01 garbage\r\n\r\n");
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(decode((await invokeCode("print(6 * 7)")).Payload)).toMatchObject({ stdout: "42\n" });
  });

  (process.getuid?.() === 0 ? it : it.skip)(
    "starts its workers with PATH, the locale and the function's variables only, never this process's keys",
    async () => {
      const planted = {
        GEMINI_API_KEY: "canary-gemini",
        API_TOKEN: "canary-token",
        AWS_SECRET_ACCESS_KEY: "canary-aws",
      };
      Object.assign(process.env, planted);
      const own = await startLocalSandbox({
        workers: 1,
        env: { SANDBOX_TIMEOUT_MS: "4000" },
        log: () => undefined,
      });
      try {
        const newest = own.workerPids()[0]!;
        const environ = fs.readFileSync(`/proc/${newest}/environ`, "utf8").split("\0").filter(Boolean);
        const names = environ.map((e) => e.split("=")[0]!).sort();
        // What a pyenv shim or a shell adds on its way to Python is not from this process.
        const addedOnTheWay = /^(PWD|SHLVL|_|OLDPWD|PYENV_\w+|_PYENV_\w+)$/;
        const given = [
          "PATH",
          "LANG",
          "LC_ALL",
          "TZ",
          "PYTHONDONTWRITEBYTECODE",
          "PYTHONUNBUFFERED",
          "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        ];
        expect(
          names.filter((n) => !given.includes(n) && !n.startsWith("SANDBOX_") && !addedOnTheWay.test(n)),
        ).toEqual([]);
        expect(environ.join("\n")).not.toMatch(/canary-/);
      } finally {
        for (const name of Object.keys(planted)) delete process.env[name];
        await own.close();
      }
    },
  );

  it("stops a running execution when its client goes away, so the next call does not wait for it", async () => {
    const single = await startLocalSandbox({
      workers: 1,
      env: { SANDBOX_TIMEOUT_MS: "30000" },
      log: () => undefined,
    });
    const client = new LambdaClient({
      endpoint: single.url,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
      maxAttempts: 1,
    });
    try {
      const abort = new AbortController();
      const slow = client
        .send(
          new InvokeCommand({
            FunctionName: FUNCTION,
            Payload: Buffer.from('{"code":"import time\\ntime.sleep(30)"}'),
          }),
          { abortSignal: abort.signal },
        )
        .catch((err: Error) => err.name);
      await new Promise((r) => setTimeout(r, 500));
      const sleeping = [...single.workerPids(), ...descendants(single.workerPids())].filter(alive);
      abort.abort();
      expect(await slow).toBe("AbortError");
      const started = Date.now();
      const next = await client.send(
        new InvokeCommand({ FunctionName: FUNCTION, Payload: Buffer.from('{"code":"print(1)"}') }),
      );
      expect(decode(next.Payload)).toMatchObject({ ok: true, stdout: "1\n" });
      expect(Date.now() - started).toBeLessThan(20000);
      await new Promise((r) => setTimeout(r, 300));
      expect(sleeping.length).toBeGreaterThan(0);
      expect(sleeping.filter(alive)).toEqual([]);
    } finally {
      client.destroy();
      await single.close();
    }
  }, 40000);

  it("leaves no process behind when it stops, not even a child sleeping for an hour", async () => {
    const own = await startLocalSandbox({
      workers: 2,
      env: { SANDBOX_TIMEOUT_MS: "900000" },
      log: () => undefined,
    });
    const client = new LambdaClient({
      endpoint: own.url,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
      maxAttempts: 1,
    });
    const before = new Set(own.workerPids());
    void client
      .send(
        new InvokeCommand({
          FunctionName: FUNCTION,
          Payload: Buffer.from('{"code":"import time\\ntime.sleep(3600)"}'),
        }),
      )
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 800));
    const tree = [...before, ...descendants([...before])];
    expect(tree.length).toBeGreaterThanOrEqual(6); // 2 workers, 2 zygotes, standbys and the sleeper
    await own.close();
    client.destroy();
    await new Promise((r) => setTimeout(r, 500));
    expect(tree.filter(alive)).toEqual([]);
  }, 30000);
});
