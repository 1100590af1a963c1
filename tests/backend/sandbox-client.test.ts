/**
 * The backend's way to the sandbox: every failure of the Lambda call comes back as a
 * contract-shaped result the model and the user can read, never as an exception. The Lambda
 * API is replaced by a scripted `send` here; the real path is covered by the chat and HTTP
 * tests against the local runtime.
 */
import { loadConfig } from "../../backend/config";
import { createSandboxClient } from "../../backend/sandbox-client";

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

describe("sandbox client", () => {
  it("invokes the configured function with the code and the timeout, and returns the response", async () => {
    const { lambda, sent } = lambdaAnswering(payload(okPayload));
    const client = createSandboxClient(config, { lambda: lambda as never });
    expect(await client.execute("print(1)")).toEqual(okPayload);
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
    expect(await client.execute("print(1)")).toMatchObject({ ok: true });
    expect(sent).toHaveLength(3);
  });

  it("gives a Throttled result when throttling outlasts the retries", async () => {
    const { lambda, sent } = lambdaAnswering(named("TooManyRequestsException"));
    const client = createSandboxClient(config, { lambda: lambda as never, retryBaseMs: 1, maxAttempts: 3 });
    expect(await client.execute("print(1)")).toMatchObject({ ok: false, error: { type: "Throttled" } });
    expect(sent).toHaveLength(3);
  });

  it("sends again when a kept-alive connection was reset before the request got through", async () => {
    const { lambda, sent } = lambdaAnswering(
      named("TimeoutError", { code: "ECONNRESET" }),
      payload(okPayload),
    );
    const client = createSandboxClient(config, { lambda: lambda as never });
    expect(await client.execute("print(1)")).toMatchObject({ ok: true });
    expect(sent).toHaveLength(2);
  });

  it("a function error (a broken sandbox) is SandboxError with what the function said", async () => {
    const { lambda } = lambdaAnswering({
      FunctionError: "Unhandled",
      ...payload({ errorType: "ConfigError", errorMessage: "SANDBOX_TIMEOUT_MS=abc is not a number" }),
    });
    const result = await createSandboxClient(config, { lambda: lambda as never }).execute("print(1)");
    expect(result).toMatchObject({
      ok: false,
      error: { type: "SandboxError", message: expect.stringMatching(/ConfigError: SANDBOX_TIMEOUT_MS=abc/) },
    });
  });

  it.each([
    ["not JSON", { Payload: new TextEncoder().encode("<html>") }],
    ["JSON of another shape", payload({ hello: "world" })],
  ])("an answer that is %s is SandboxError", async (_name, answer) => {
    const { lambda } = lambdaAnswering(answer);
    expect(await createSandboxClient(config, { lambda: lambda as never }).execute("x")).toMatchObject({
      ok: false,
      error: { type: "SandboxError" },
    });
  });

  it("no permission or no function is SandboxUnavailable naming the function, without retries", async () => {
    const { lambda, sent } = lambdaAnswering(
      named("AccessDeniedException", { message: "not authorized to perform lambda:InvokeFunction" }),
    );
    const result = await createSandboxClient(loadConfig({}), { lambda: lambda as never }).execute("x");
    expect(result).toMatchObject({
      ok: false,
      error: {
        type: "SandboxUnavailable",
        message: expect.stringMatching(/co-intelligence-code-executor in us-east-1.*AccessDenied/),
      },
    });
    expect(sent).toHaveLength(1);
  });
});
