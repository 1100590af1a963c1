/**
 * The chat page in a real browser (Debian's chromium, driven by playwright-core): ask a seed
 * question and see "Executing code...", the code block, its output and the answer, the way
 * the feature is meant to look. The backend, the fake Gemini and the sandbox are real local
 * processes.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import type { LocalSandbox } from "../../lambda/local/server";
import { reply, seedBrain, type FakeReply, type FakeScript } from "../helpers/fake-gemini";
import { startSandbox, startStack, type Stack } from "../backend/harness";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

let sandbox: LocalSandbox;
let stack: Stack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!CHROMIUM)
    throw new Error("chromium is not installed: sudo apt-get install -y chromium (npm test does it as root)");
  sandbox = await startSandbox();
  stack = await startStack(seedBrain(), sandbox);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await sandbox?.close();
});
beforeEach(async () => {
  page = await browser.newPage();
  await page.goto(stack.backend.url);
});
afterEach(() => page?.close());

/** A script for this test only: the fake's own request index counts across tests. */
function inOrder(...steps: (FakeReply | FakeScript)[]): FakeScript {
  let n = 0;
  return (request, index) => {
    const step = steps[Math.min(n++, steps.length - 1)]!;
    return typeof step === "function" ? step(request, index) : step;
  };
}

async function ask(question: string) {
  await page.fill("#question", question);
  await page.click("#send");
}

describe("the chat page", () => {
  it("shows Executing code..., the code block, its output and the answer", async () => {
    // Slow the model's second answer down so the in-progress state can be seen.
    const brain = seedBrain();
    stack.gemini.setScript(
      inOrder(
        brain,
        async (request, index) => ({ ...(await brain(request, index)), delayMs: 400 }) as FakeReply,
      ),
    );
    await ask("Calculate 15% of 2847");

    const execution = page.locator(".message.assistant .execution").first();
    await execution.locator("pre.code").waitFor();
    expect(await execution.locator("pre.code").textContent()).toBe("print(2847 * 15 / 100)");
    await page.locator(".message.assistant .answer").waitFor();
    // The answer is complete when it ends with its full stop (a locator: the page's CSP forbids eval).
    await page.locator(".answer", { hasText: /\.$/ }).waitFor();

    expect(await page.locator(".message.user").textContent()).toBe("Calculate 15% of 2847");
    expect(await execution.locator("pre.output").textContent()).toBe("427.05\n");
    expect(await execution.locator(".status").textContent()).toMatch(/^Ran in \d+ ms$/);
    expect(await page.locator(".answer").textContent()).toBe("The answer is 427.05.");
    await expect(page.locator("#send").isDisabled()).resolves.toBe(false);
  });

  it("says Executing code... while the code runs, then how long it took", async () => {
    stack.gemini.setScript(
      inOrder(
        reply.calls({ id: "slow", code: "total = sum(range(10**7))\nprint(total)" }),
        reply.text("Done."),
      ),
    );
    // Record every status text the page ever shows (no race with how fast the code runs).
    // (Browser-side code as strings: the project compiles without DOM types.)
    await page.evaluate(`
      window.seen = [];
      new MutationObserver(() =>
        document.querySelectorAll(".status").forEach((s) => {
          if (window.seen.at(-1) !== s.textContent) window.seen.push(s.textContent);
        }),
      ).observe(document.body, { subtree: true, childList: true, characterData: true });
    `);
    await ask("Sum a lot of numbers");
    await page.locator(".answer").waitFor();
    const seen = (await page.evaluate("window.seen")) as string[];
    expect(seen[0]).toBe("Executing code...");
    expect(seen.at(-1)).toMatch(/^Ran in \d+ ms$/);
    expect(await page.locator("pre.output").textContent()).toBe(`${(10 ** 7 * (10 ** 7 - 1)) / 2}\n`);
  });

  it("shows a refused import as a failed output and keeps the conversation going", async () => {
    stack.gemini.setScript(inOrder(reply.calls({ id: "os", code: "import os" }), reply.text("Not allowed.")));
    await ask("list my files");
    await page.locator("pre.output.failed").waitFor();
    expect(await page.locator("pre.output.failed").textContent()).toMatch(/^ModuleNotAllowed: /);
    stack.gemini.setScript(seedBrain());
    await ask("What's 25 times 47?");
    await page.locator(".message.assistant >> nth=1 >> .answer").waitFor();
    await page.locator(".message.assistant >> nth=1 >> .answer", { hasText: /\.$/ }).waitFor();
    expect(await page.locator(".message.assistant >> nth=1 >> .answer").textContent()).toBe(
      "The answer is 1175.",
    );
  });

  it("renders a model error as an error line, and code as text (never as HTML)", async () => {
    stack.gemini.setScript(
      inOrder(reply.calls({ id: "h", code: "print('<img src=x onerror=alert(1)>')" }), reply.error(500)),
    );
    await ask("html please");
    await page.locator(".message.assistant .error").waitFor();
    expect(await page.locator(".message.assistant .error").textContent()).toMatch(/^ModelUnavailable: /);
    expect(await page.locator("pre.output").textContent()).toBe("<img src=x onerror=alert(1)>\n");
    expect(await page.locator(".message.assistant img").count()).toBe(0);
  });
});
