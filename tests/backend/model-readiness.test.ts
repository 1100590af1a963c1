/**
 * /readyz names what the chosen model provider lacks: a key or MODEL_ID from the
 * configuration at once, and for Amazon Bedrock (which needs no key) a backend with no AWS
 * credentials anywhere, found in the background so the probe itself never waits on the
 * credential chain.
 */
import { startBackend, type RunningBackend } from "../../backend/server";

const backends: RunningBackend[] = [];
const saved = { ...process.env };

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  process.env = { ...saved };
});

async function backend(env: Record<string, string>): Promise<RunningBackend> {
  const b = await startBackend({
    port: 0,
    env: { LOG_LEVEL: "silent", AWS_ENDPOINT_URL_LAMBDA: "http://127.0.0.1:9", ...env },
  });
  backends.push(b);
  return b;
}

async function readyz(b: RunningBackend): Promise<{ status: number; missing: string[] }> {
  const response = await fetch(`${b.url}/readyz`);
  const body = (await response.json()) as { missing?: string[] };
  return { status: response.status, missing: body.missing ?? [] };
}

/** No AWS credentials anywhere the SDK looks (this process's environment is the SDK's). */
function withoutAwsCredentials(): void {
  for (const name of Object.keys(process.env)) if (/^AWS_/.test(name)) delete process.env[name];
  process.env.AWS_EC2_METADATA_DISABLED = "true";
  process.env.AWS_CONFIG_FILE = "/nonexistent/aws-config";
  process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/aws-credentials";
}

describe("/readyz for each provider", () => {
  it("openai without MODEL_ID, or without a key for api.openai.com: 503 naming each", async () => {
    const b = await backend({ MODEL_PROVIDER: "openai" });
    const { status, missing } = await readyz(b);
    expect(status).toBe(503);
    expect(missing).toEqual([
      expect.stringMatching(/^MODEL_ID is not set/),
      expect.stringMatching(/^OPENAI_API_KEY/),
    ]);
  });

  it("bedrock with no AWS credentials anywhere: 503 once the background check has found none", async () => {
    withoutAwsCredentials();
    const b = await backend({
      MODEL_PROVIDER: "bedrock",
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: "http://127.0.0.1:9",
    });
    const started = Date.now();
    // The first probe answers at once, from what is known so far.
    expect((await readyz(b)).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    // One probe at a time, each awaited: none may still be in flight when the backend closes.
    let last = await readyz(b);
    for (const deadline = Date.now() + 10000; last.status !== 503 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 50));
      last = await readyz(b);
    }
    expect(last.status).toBe(503);
    expect(last.missing).toEqual([
      expect.stringMatching(/^no AWS credentials for Amazon Bedrock were found/),
    ]);
  });

  it("bedrock with credentials: ready", async () => {
    withoutAwsCredentials();
    const b = await backend({
      MODEL_PROVIDER: "bedrock",
      AWS_ACCESS_KEY_ID: "AKIDTEST",
      AWS_SECRET_ACCESS_KEY: "secret",
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: "http://127.0.0.1:9",
    });
    await readyz(b);
    await new Promise((r) => setTimeout(r, 200));
    expect(await readyz(b)).toEqual({ status: 200, missing: [] });
  });
});
