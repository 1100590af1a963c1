/**
 * The backend's way to the sandbox: every failure of the Lambda call comes back as a
 * contract-shaped result the model and the user can read, in words for people, never as an
 * exception; what only an operator should read (endpoints, AWS accounts and roles, the
 * runtime's wording) comes back beside it as `detail`, for the log. The Lambda API is replaced
 * by a scripted `send` here; the real path is covered by the chat and HTTP tests against the
 * local runtime.
 */
import { loadConfig } from "../../backend/config";
import { createSandboxClient, parseSandboxResponse } from "../../backend/sandbox-client";

const config = loadConfig({ AWS_ENDPOINT_URL_LAMBDA: "http://127.0.0.1:9" });
const okPayload = {
  ok: true,
  stdout: "1\n",
  stderr: "",
  result: null,
  error: null,
  truncated: false,
  durationMs: 1.5,
};

function lambdaAnswering(...steps: (object | Error)[]) {
  const sent: unknown[] = [];
  return {
    sent,
    lambda: {
      send: jest.fn(async (command: { input: unknown }) => {
        sent.push(command.input);
        const step = steps[Math.min(sent.length - 1, steps.length - 1)]!;
        if (step instanceof Error) throw step;
        return step;
      }),
    },
  };
}
const payload = (value: unknown) => ({ Payload: new TextEncoder().encode(JSON.stringify(value)) });
const named = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });
const functionError = (errorType: string, errorMessage: string) => ({
  FunctionError: "Unhandled",
  $metadata: { requestId: "lambda-req-1" },
  ...payload({ errorType, errorMessage }),
});

describe("sandbox client", () => {
  it("invokes the configured function with the code and the timeout, and returns the response", async () => {
    const { lambda, sent } = lambdaAnswering(payload(okPayload));
    const client = createSandboxClient(config, { lambda: lambda as never });
    expect(await client.execute("print(1)")).toEqual({ result: okPayload });
    expect(sent[0]).toMatchObject({
      FunctionName: "co-intelligence-code-executor",
      InvocationType: "RequestResponse",
    });
    expect(JSON.parse(Buffer.from((sent[0] as { Payload: Uint8Array }).Payload).toString())).toEqual({
      code: "print(1)",
      timeoutMs: 30000,
    });
  });

  it("retries throttling with backoff, then succeeds", async () => {
    const { lambda, sent } = lambdaAnswering(
      named("TooManyRequestsException"),
      named("TooManyRequestsException"),
      payload(okPayload),
    );
    const client = createSandboxClient(config, { lambda: lambda as never, retryBaseMs: 1 });
    expect((await client.execute("print(1)")).result).toMatchObject({ ok: true });
    expect(sent).toHaveLength(3);
  });

  it("gives a Throttled result when throttling outlasts the retries", async () => {
    const { lambda, sent } = lambdaAnswering(named("TooManyRequestsException"));
    const client = createSandboxClient(config, { lambda: lambda as never, retryBaseMs: 1, maxAttempts: 3 });
    const { result, detail } = await client.execute("print(1)");
    expect(result).toMatchObject({
      ok: false,
      error: { type: "Throttled", message: expect.stringMatching(/busy/) },
    });
    expect(detail).toMatch(/TooManyRequestsException after 3 attempts/);
    expect(sent).toHaveLength(3);
  });

  it("sends again when a kept-alive connection was reset before the request got through", async () => {
    const { lambda, sent } = lambdaAnswering(
      named("TimeoutError", { code: "ECONNRESET" }),
      payload(okPayload),
    );
    const client = createSandboxClient(config, { lambda: lambda as never });
    expect((await client.execute("print(1)")).result).toMatchObject({ ok: true });
    expect(sent).toHaveLength(2);
  });

  it("stops at once when its signal is aborted, with the abort's reason as the result", async () => {
    const { lambda, sent } = lambdaAnswering(payload(okPayload));
    const controller = new AbortController();
    controller.abort({ type: "ServerShuttingDown", message: "The server is restarting." });
    const { result } = await createSandboxClient(config, { lambda: lambda as never }).execute("x", {
      signal: controller.signal,
    });
    expect(result.error).toEqual({ type: "ServerShuttingDown", message: "The server is restarting." });
    expect(sent).toHaveLength(0);
  });
});

describe("a sandbox failure in words a user can act on; the runtime's wording in the detail", () => {
  const cases: [string, object, string, RegExp][] = [
    [
      "a killed worker (Runtime.ExitError, SIGKILL)",
      functionError("Runtime.ExitError", "RequestId: 1f2e Error: Runtime exited with error: signal: SIGKILL"),
      "SandboxError",
      /process stopped while running this code.*Run it again/,
    ],
    [
      "the function's own timeout (Sandbox.Timedout)",
      functionError("Sandbox.Timedout", "2026-01-01T00:00:00Z 1f2e Task timed out after 40.00 seconds"),
      "Timeout",
      /longer than the sandbox allows/,
    ],
    [
      "out of memory (Runtime.OutOfMemory)",
      functionError(
        "Runtime.OutOfMemory",
        "RequestId: 1f2e Error: Runtime exited with error: signal: killed",
      ),
      "MemoryLimit",
      /more memory than the sandbox allows/,
    ],
    [
      "a broken handler (Runtime.ImportModuleError)",
      functionError(
        "Runtime.ImportModuleError",
        "Unable to import module 'handler': No module named 'sandbox'",
      ),
      "SandboxError",
      /failed to run this code; try again.*request id req-42/,
    ],
  ];
  it.each(cases)("%s", async (_name, answer, type, message) => {
    const { lambda } = lambdaAnswering(answer);
    const { result, detail } = await createSandboxClient(config, { lambda: lambda as never }).execute("x", {
      requestId: "req-42",
    });
    expect(result).toMatchObject({ ok: false, error: { type, message: expect.stringMatching(message) } });
    expect(result.error!.message).not.toMatch(/RequestId|Runtime\.|signal|Task timed out|No module/);
    expect(detail).toMatch(/lambda-req-1/);
    expect(detail).toContain(
      (
        JSON.parse(Buffer.from((answer as { Payload: Uint8Array }).Payload).toString()) as {
          errorMessage: string;
        }
      ).errorMessage,
    );
  });

  it.each([
    ["not JSON", { Payload: new TextEncoder().encode("<html>") }],
    ["JSON of another shape", payload({ hello: "world" })],
  ])("an answer that is %s is SandboxError", async (_name, answer) => {
    const { lambda } = lambdaAnswering(answer);
    expect(
      (await createSandboxClient(config, { lambda: lambda as never }).execute("x")).result,
    ).toMatchObject({
      ok: false,
      error: { type: "SandboxError" },
    });
  });

  it("no permission is SandboxUnavailable: the account, role and function stay in the detail", async () => {
    const denied =
      "User: arn:aws:sts::123456789012:assumed-role/co-intelligence-eks-node-role/i-0abc is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:co-intelligence-code-executor";
    const { lambda, sent } = lambdaAnswering(named("AccessDeniedException", { message: denied }));
    const { result, detail } = await createSandboxClient(loadConfig({}), { lambda: lambda as never }).execute(
      "x",
      { requestId: "req-7" },
    );
    expect(result).toEqual(
      expect.objectContaining({
        ok: false,
        error: {
          type: "SandboxUnavailable",
          message: "The code sandbox could not be reached; try again in a moment. (request id req-7)",
        },
      }),
    );
    expect(JSON.stringify(result)).not.toMatch(/123456789012|assumed-role|node-role/);
    expect(detail).toMatch(/co-intelligence-code-executor in us-east-1.*AccessDenied.*123456789012/);
    expect(sent).toHaveLength(1);
  });

  it("an unreachable endpoint keeps its URL (and any credentials in it) out of the result; the detail has it redacted", async () => {
    const err = named("Error", {
      code: "ECONNREFUSED",
      message: "connect ECONNREFUSED via proxy http://proxyuser:proxypass@10.0.0.1:3128",
    });
    const { lambda } = lambdaAnswering(err);
    const { result, detail } = await createSandboxClient(config, { lambda: lambda as never }).execute("x");
    expect(JSON.stringify(result)).not.toMatch(/127\.0\.0\.1|10\.0\.0\.1|proxy/);
    expect(detail).toMatch(/http:\/\/\*\*\*@10\.0\.0\.1:3128/);
    expect(detail).not.toMatch(/proxypass|proxyuser/);
  });
});

describe("parseSandboxResponse: what user code chose is cleaned and capped on the way in", () => {
  it("an exception class name of 300 kB becomes a short identifier", () => {
    const type = `${"A".repeat(300000)}<script>\n`;
    const result = parseSandboxResponse(
      JSON.stringify({
        ok: false,
        stdout: "",
        stderr: "",
        error: { type, message: "m".repeat(100000), traceback: "t".repeat(100000) },
      }),
      1,
    );
    expect(result.error!.type).toBe("A".repeat(100));
    expect(result.error!.message.length).toBeLessThan(9000);
    expect(String(result.error!.traceback).length).toBeLessThan(17000);
  });
});
