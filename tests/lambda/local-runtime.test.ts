import { execSync } from "node:child_process";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { LocalSandbox, startLocalSandbox } from "../../lambda/local/server";

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
  return fetch(`${sandbox.url}${path}`, { method: "POST", body, headers });
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
    const pids = execSync(`pgrep -f "lambda/local/worker.py" -P ${process.pid} || true`, { encoding: "utf8" })
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
      const pids = execSync(`pgrep -f "lambda/local/worker.py" -P ${process.pid} || true`, {
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
