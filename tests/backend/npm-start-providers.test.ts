/**
 * Every provider through `npm start`, as docs/choosing-a-model.md runs it: `npm start --
 * --provider X` starts the sandbox, the backend with X's real provider code and SDK, and a
 * local fake of X's API speaking its wire protocol (SigV4 and event-stream frames for Bedrock,
 * SSE with [DONE] and a Bearer key for OpenAI-compatible, Gemini's REST SSE). Then, for each:
 * the five seed questions, parallel calls, a refused import, an endless loop, one 429 then the
 * right answer, repeated 5xx ending in an `error` then `done`, a model that never stops asking
 * for code, and smoke passing against it.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { PROVIDER_LABELS, type ProviderId } from "../../contract/models";
import { answerText, chat, names, type ChatEventRecord } from "./harness";
import { exited, killStartedProcesses, ROOT, startAndWaitFor } from "./processes";

afterAll(killStartedProcesses);

const results = (events: ChatEventRecord[]) =>
  events.filter((e) => e.event === "code_result").map((e) => e.data);

const SEED: [string, string, RegExp][] = [
  ["What's 25 times 47?", "1175", /1175/],
  ["Calculate 15% of 2847", "427.05", /427\.05/],
  ["Generate first 10 Fibonacci numbers", "0 1 1 2 3 5 8 13 21 34", /0 1 1 2 3 5 8 13 21 34/],
  ["What's the square root of 144?", "12", /\b12\b/],
  ["What's the sum of the first 100 primes?", "24133", /24133/],
];

describe.each(["gemini", "openai", "bedrock"] as ProviderId[])("npm start -- --provider %s", (provider) => {
  let child: ChildProcess;
  let url: string;
  let output: () => string;

  beforeAll(async () => {
    const started = await startAndWaitFor(
      "npm",
      ["start", "--silent", "--", "--provider", provider, "--port", "0", "--workers", "2"],
      {
        ...process.env,
        LOG_LEVEL: "info",
        LOG_FORMAT: "json",
        // Nothing of the developer's own model settings may leak in: the fake is the model.
        MODEL_PROVIDER: "",
        MODEL_ID: "",
        GEMINI_API_KEY: "",
        OPENAI_API_KEY: "",
        // A short sandbox limit so the endless loop is stopped quickly; quick model retries.
        SANDBOX_TIMEOUT_MS: "2000",
        MODEL_RETRY_BASE_MS: "50",
      },
      /local stack ready: (http:\/\/localhost:\d+)/,
      60000,
    );
    child = started.child;
    url = started.match[1]!;
    output = started.output;
  });

  afterAll(async () => {
    if (!child) return;
    process.kill(-child.pid!, "SIGINT");
    await exited(child);
  });

  it("names the fake it runs, is ready, and says which model answers", async () => {
    expect(output()).toContain(`model:   fake ${PROVIDER_LABELS[provider]}`);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const response = await fetch(`${url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] }),
    });
    await response.text();
    expect(response.headers.get("x-model-provider")).toBe(provider);
    expect(response.headers.get("x-model")).toBeTruthy();
  });

  it.each(SEED)("%s: code, its output %s, then the answer", async (question, stdout, answer) => {
    const { events } = await chat(url, question);
    expect(names(events)).toEqual(["code", "code_result", "text", "text", "done"]);
    expect(results(events)).toEqual([expect.objectContaining({ ok: true, error: null })]);
    expect(String(results(events)[0]!["stdout"]).trim()).toBe(stdout);
    expect(answerText(events)).toMatch(answer);
  });

  it("runs parallel calls of one model turn, each with its result, then answers from both", async () => {
    const { events } = await chat(url, "What's 25 times 47 and the square root of 144?");
    expect(names(events)).toEqual(["code", "code_result", "code", "code_result", "text", "text", "done"]);
    const [first, second] = results(events);
    expect(first).toMatchObject({ ok: true, stdout: "1175\n" });
    expect(second).toMatchObject({ ok: true, stdout: "12\n" });
    expect(first!["id"]).not.toBe(second!["id"]);
    expect(answerText(events)).toBe("The answer is 1175; 12.");
  });

  it("a refused import is a failed code_result the model is told about, and the turn ends normally", async () => {
    const { events } = await chat(url, "List the files in this directory");
    expect(results(events)).toEqual([
      expect.objectContaining({ ok: false, error: expect.objectContaining({ type: "ModuleNotAllowed" }) }),
    ]);
    expect(answerText(events)).toMatch(/the code failed with ModuleNotAllowed/);
    expect(names(events).at(-1)).toBe("done");
    expect(names(events)).not.toContain("error");
  });

  it("an endless loop is stopped by the sandbox (Timeout) and the model is told", async () => {
    const { events } = await chat(url, "Run an endless loop");
    expect(results(events)).toEqual([
      expect.objectContaining({ ok: false, error: expect.objectContaining({ type: "Timeout" }) }),
    ]);
    expect(answerText(events)).toMatch(/the code failed with Timeout/);
    expect(names(events).at(-1)).toBe("done");
  });

  it("one 429, then the right answer: retried after the server's hint, no error shown", async () => {
    const { events } = await chat(url, "What's 25 times 47? [fake:429]");
    expect(names(events)).toEqual(["code", "code_result", "text", "text", "done"]);
    expect(answerText(events)).toBe("The answer is 1175.");
    expect(output()).toMatch(/"msg":"model call failed; trying again"/);
  });

  it("repeated 5xx: retried, then an error event that says what happened, then done", async () => {
    const { events } = await chat(url, "What's 25 times 47? [fake:500]");
    expect(names(events)).toEqual(["error", "done"]);
    expect(events[0]!.data).toMatchObject({
      type: "ModelUnavailable",
      message: expect.stringMatching(
        /^The model service failed; try again in a moment\. \(request id \w+\)$/,
      ),
    });
  });

  it("a model that asks for code after every result is stopped by the round limit", async () => {
    const { events } = await chat(url, "What's 25 times 47? [fake:loop]");
    expect(names(events).slice(-2)).toEqual(["error", "done"]);
    expect(events.at(-2)!.data).toMatchObject({ type: "ToolRounds" });
    expect(results(events).length).toBeGreaterThan(1);
  });

  it("passes smoke, as CI runs it after a deploy", () => {
    const smoke = spawnSync("npm", ["run", "--silent", "smoke", "--", "--url", url, "--json"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 120000,
    });
    const report = JSON.parse(smoke.stdout) as { ok: boolean; checks: { id: string; status: string }[] };
    expect(report.checks.filter((c) => c.status !== "pass")).toEqual([]);
    expect(report.ok).toBe(true);
    expect(smoke.status).toBe(0);
  });
});

describe("npm start's model flags", () => {
  const start = (...args: string[]) =>
    spawnSync("npm", ["start", "--silent", "--", ...args], { cwd: ROOT, encoding: "utf8", timeout: 30000 });

  it.each([
    [
      ["--provider", "azure"],
      "npm start: --provider azure is not a provider; use one of gemini, bedrock, openai",
    ],
    [["--real"], "npm start: --real needs --provider NAME (the real API of which provider?)"],
    [
      ["--fake-gemini", "--provider", "bedrock"],
      "npm start: --fake-gemini is --provider gemini; leave out the other provider flags",
    ],
  ])("refuses %j in one line that says what to do", (args, message) => {
    const run = start(...args);
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe(`${message} (see: npm start -- --help)`);
  });

  it("--help lists --provider, --model and --real with an example of each kind", () => {
    const run = start("--help");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/--provider NAME/);
    expect(run.stdout).toMatch(/--model ID/);
    expect(run.stdout).toMatch(/--real/);
    expect(run.stdout).toMatch(/npm start -- --provider bedrock/);
  });
});
