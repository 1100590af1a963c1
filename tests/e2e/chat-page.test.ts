/**
 * The chat page in a real browser (Debian's chromium, driven by playwright-core), at desktop
 * and phone (390 px) widths, light and dark: ask a seed question and see "Executing code...",
 * the code block, its output and the answer; a long conversation keeps working; one turn at a
 * time with Stop; long and truncated output stays inside its block; answers are Markdown,
 * sanitised (script and event-handler injection does nothing); and what a person notices
 * (examples, token field, thinking indicator, errors in view, dark mode, focus, favicon,
 * alignment). The backend, the fake Gemini and the sandbox are real local processes.
 * Screenshots of each look are written to $TMPDIR/co-intelligence-page/ for a person to check.
 */
import { existsSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { LocalSandbox } from "../../dev/local-lambda/server";
import {
  reply,
  seedBrain,
  type FakeGeminiRequest,
  type FakeReply,
  type FakeScript,
  type WirePart,
} from "../../dev/fakes/gemini";
import { startFakeOpenAI } from "../../dev/fakes/openai";
import { seedBrain as neutralSeedBrain } from "../../dev/fakes/script";
import { startSandbox, startStack, type Stack } from "../backend/harness";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
export const SCREENSHOTS = path.join(os.tmpdir(), "co-intelligence-page");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let sandbox: LocalSandbox;
let stack: Stack;
let browser: Browser;
let page: Page;
const contexts: BrowserContext[] = [];
const extraStacks: Stack[] = [];

interface Watch {
  dialogs: string[];
  failed: string[];
  errors: string[];
}
let watch: Watch;

beforeAll(async () => {
  if (!CHROMIUM)
    throw new Error("chromium is not installed: sudo apt-get install -y chromium (npm test does it as root)");
  mkdirSync(SCREENSHOTS, { recursive: true });
  sandbox = await startSandbox();
  stack = await startStack(seedBrain(), sandbox);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await Promise.all(extraStacks.map((s) => s.close()));
  await stack?.close();
  await sandbox?.close();
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});

/** A fresh page (own context: own sessionStorage) at `viewport`, light or dark. */
async function open(
  options: { viewport?: { width: number; height: number }; dark?: boolean; url?: string } = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: options.viewport ?? DESKTOP,
    colorScheme: options.dark ? "dark" : "light",
  });
  contexts.push(context);
  const p = await context.newPage();
  watch = { dialogs: [], failed: [], errors: [] };
  p.on("dialog", (dialog) => {
    watch.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  p.on("response", (response) => {
    if (response.status() >= 400) watch.failed.push(`${response.status()} ${response.url()}`);
  });
  p.on("pageerror", (err) => watch.errors.push(err.message));
  await p.goto(options.url ?? stack.backend.url);
  page = p;
  return p;
}

/** A script for this test only: the fake's own request index counts across tests. */
function inOrder(...steps: (FakeReply | FakeScript)[]): FakeScript {
  let n = 0;
  return (request, index) => {
    const step = steps[Math.min(n++, steps.length - 1)]!;
    return typeof step === "function" ? step(request, index) : step;
  };
}

async function ask(question: string, p: Page = page) {
  await p.fill("#question", question);
  await p.press("#question", "Enter");
}

/** Resolves when no turn is running (the page marks <body data-busy> while one is). */
async function turnDone(p: Page = page) {
  await p.waitForSelector("body:not([data-busy])", { state: "attached", timeout: 30000 });
}

const text = async (selector: string, p: Page = page) =>
  ((await p.locator(selector).textContent()) ?? "").trim();

/** Horizontal overflow of the page and of every block in the conversation (0 = none). */
async function overflow(p: Page = page): Promise<{ page: number; blocks: string[] }> {
  return (await p.evaluate(`(() => {
    const blocks = [];
    for (const el of document.querySelectorAll(".message, .answer, pre.output, .notice"))
      if (getComputedStyle(el).overflowX === "visible" && el.scrollWidth > el.clientWidth + 1)
        blocks.push(el.className + ": " + el.scrollWidth + " > " + el.clientWidth);
    return { page: document.documentElement.scrollWidth - window.innerWidth, blocks };
  })()`)) as { page: number; blocks: string[] };
}

async function shot(name: string, p: Page = page, fullPage = true) {
  await p.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
}

describe("the chat page", () => {
  beforeEach(() => open());

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
    await turnDone();
    const execution = page.locator(".message.assistant .execution").first();
    expect(await execution.locator("pre.code").textContent()).toBe("print(2847 * 15 / 100)");
    expect(await text(".message.user")).toBe("Calculate 15% of 2847");
    expect(await execution.locator("pre.output").textContent()).toBe("427.05\n");
    expect(await execution.locator(".status").textContent()).toMatch(/^Ran in \d+ ms$/);
    expect(await text(".answer")).toBe("The answer is 427.05.");
    expect(await page.locator("#send").isVisible()).toBe(true);
    expect(await page.locator(".thinking").count()).toBe(0);
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
    await turnDone();
    const seen = (await page.evaluate("window.seen")) as string[];
    expect(seen[0]).toBe("Executing code...");
    expect(seen.at(-1)).toMatch(/^Ran in \d+ ms$/);
    expect(await page.locator("pre.output").textContent()).toBe(`${(10 ** 7 * (10 ** 7 - 1)) / 2}\n`);
  });

  it("shows a refused import as a failed output and keeps the conversation going", async () => {
    stack.gemini.setScript(inOrder(reply.calls({ id: "os", code: "import os" }), reply.text("Not allowed.")));
    await ask("list my files");
    await turnDone();
    expect(await page.locator("pre.output.failed").textContent()).toMatch(/^ModuleNotAllowed: /);
    stack.gemini.setScript(seedBrain());
    await ask("What's 25 times 47?");
    await turnDone();
    expect(await text(".message.assistant >> nth=1 >> .answer")).toBe("The answer is 1175.");
  });

  it("renders a model error as a message for people, and code output as text (never as HTML)", async () => {
    stack.gemini.setScript(
      inOrder(reply.calls({ id: "h", code: "print('<img src=x onerror=alert(1)>')" }), reply.error(500)),
    );
    await ask("html please");
    await turnDone();
    expect(await text(".message.assistant .error")).toMatch(
      /^The model service failed; try again in a moment\. \(request id [0-9a-f]+\)$/,
    );
    expect(await page.locator("pre.output").textContent()).toBe("<img src=x onerror=alert(1)>\n");
    expect(await page.locator(".message.assistant img").count()).toBe(0);
    expect(watch.dialogs).toEqual([]);
  });
});

/** Fibonacci numbers separated by spaces, at least `chars` characters of them. */
function fibonacciText(chars: number): string {
  let [a, b] = [0n, 1n];
  const out: string[] = [];
  let length = 0;
  while (length < chars) {
    out.push(a.toString());
    length += a.toString().length + 1;
    [a, b] = [b, a + b];
  }
  return out.join(" ");
}

describe("a long conversation never bricks the page", () => {
  it("after the ~65 KB answer to 'Generate first 3000 Fibonacci numbers' the next question is answered", async () => {
    await open({ viewport: PHONE });
    // The model repeats the numbers in its answer, as models do: ~65 KB of text, its last
    // numbers hundreds of digits long without a break.
    const brain = seedBrain();
    stack.gemini.setScript(
      inOrder(brain, reply.text(`Here they are: ${fibonacciText(65000)}`), brain, brain),
    );
    const before = stack.gemini.requests.length;
    await ask("Generate first 3000 Fibonacci numbers");
    await turnDone();
    expect((await text(".answer")).length).toBeGreaterThan(65000);
    // The output was cut by the sandbox: the page says so, and long lines stay in their block.
    expect(await text(".truncated")).toMatch(/Output truncated/);
    expect(await overflow()).toEqual({ page: 0, blocks: [] });
    await page.evaluate(`document.querySelector(".truncated").scrollIntoView({ block: "center" })`);
    await shot("fibonacci-3000-phone-light", page, false);

    await ask("What's 25 times 47?");
    await turnDone();
    expect(await text(".message.assistant >> nth=1 >> .answer")).toBe("The answer is 1175.");
    expect(await page.locator(".error, .notice:not([hidden])").count()).toBe(0);
    // What the page re-sent fit the server's limits: every message at most 32,768 characters.
    const asked = stack.gemini.requests
      .slice(before)
      .find((r) => /25 times 47/.test(JSON.stringify(r.body.contents.at(-1))));
    for (const content of asked!.body.contents)
      for (const part of content.parts) expect((part.text ?? "").length).toBeLessThanOrEqual(32768 + 200);
  });

  it("keeps working for 100 turns and more than 1 MiB of history", async () => {
    await open();
    const paragraph = "word ".repeat(2400); // 12,000 characters per answer
    let n = 0;
    stack.gemini.setScript(() => reply.text(`Answer ${++n}. ${paragraph}`));
    const before = stack.gemini.requests.length;
    for (let i = 1; i <= 100; i++) {
      await ask(`question ${i}`);
      await turnDone();
    }
    expect(await page.locator(".message.assistant").count()).toBe(100);
    expect(await page.locator(".message.assistant .error").count()).toBe(0);
    expect(await text(".message.assistant >> nth=99 >> .answer")).toMatch(/^Answer \d+\. word word/);
    const requests: FakeGeminiRequest[] = stack.gemini.requests.slice(before);
    expect(requests).toHaveLength(100);
    const sizes = requests.map((r) => JSON.stringify(r.body.contents).length);
    expect(Math.max(...sizes)).toBeLessThan(160000);
    expect(requests.at(-1)!.body.contents.at(-1)!.parts[0]!.text).toBe("question 100");
  }, 120000);
});

describe("one turn at a time, and Stop", () => {
  it("Enter while a turn streams sends nothing; Stop cancels the turn; the next question's history alternates", async () => {
    await open();
    stack.gemini.setScript(inOrder(reply.hang({ text: "Thinking about it" }), reply.text("Fine.")));
    const before = stack.gemini.requests.length;
    await ask("first");
    await stack.gemini.waitForRequests(before + 1);
    await page.locator(".answer").waitFor();
    expect(await page.locator("#stop").isVisible()).toBe(true);
    expect(await page.locator("#send").isVisible()).toBe(false);
    await shot("running-desktop-light");

    await page.fill("#question", "second");
    await page.press("#question", "Enter");
    await page
      .locator(".example")
      .first()
      .click({ force: true })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(stack.gemini.requests.length).toBe(before + 1);
    expect(await page.inputValue("#question")).toBe("second");

    await page.click("#stop");
    await stack.gemini.waitForAbort(before);
    await turnDone();
    expect(await text(".stopped")).toBe("Stopped.");
    await shot("stopped-desktop-light");

    await page.press("#question", "Enter");
    await turnDone();
    expect(await text(".message.assistant >> nth=1 >> .answer")).toBe("Fine.");
    const roles = stack.gemini.requests.at(-1)!.body.contents.map((c) => c.role);
    expect(roles).toEqual(["user", "model", "user"]);
    expect(stack.gemini.requests.at(-1)!.body.contents[1]!.parts[0]!.text).toBe("Thinking about it");
  });
});

describe("long output stays in its block", () => {
  it.each([
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ])(
    "at %s width: a 5,000-character line wraps, an unbroken word in an answer breaks",
    async (_name, viewport) => {
      await open({ viewport });
      stack.gemini.setScript(
        inOrder(
          reply.calls({ id: "w", code: "print('ab' * 2500)" }),
          reply.text(`Here: ${"9".repeat(700)} done.`),
        ),
      );
      await ask("print a long line");
      await turnDone();
      expect(await overflow()).toEqual({ page: 0, blocks: [] });
      const box = await page.locator("pre.output").boundingBox();
      expect(box!.x + box!.width).toBeLessThanOrEqual(viewport.width);
    },
  );
});

describe("Markdown answers, sanitised", () => {
  beforeEach(() => open());

  it("renders lists, code, tables, bold and links", async () => {
    stack.gemini.setScript(
      inOrder(
        reply.text(
          "## Result\n\n- **bold** item\n- `inline`\n\n| n | square |\n|---|---|\n| 3 | 9 |\n\n```python\nprint(9)\n```\n\n[docs](https://example.com/x)",
        ),
      ),
    );
    await ask("markdown");
    await turnDone();
    const answer = page.locator(".answer");
    expect(await answer.locator("h2").textContent()).toBe("Result");
    expect(await answer.locator("li strong").textContent()).toBe("bold");
    expect(await answer.locator("li code").textContent()).toBe("inline");
    expect(await answer.locator("table td").allTextContents()).toEqual(["3", "9"]);
    expect(await answer.locator("pre code").textContent()).toBe("print(9)\n");
    const link = answer.locator("a");
    expect(await link.getAttribute("href")).toBe("https://example.com/x");
    expect(await link.getAttribute("rel")).toBe("noopener noreferrer nofollow");
  });

  const PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"><circle r=5></circle></svg>",
    "<iframe srcdoc=\"<script>parent.__pwned = 'iframe'</script>\"></iframe>",
    "<a href=\"javascript:window.__pwned='href'\">click</a>",
    "[click](javascript:window.__pwned='md-link')",
    "<div onmouseover=\"window.__pwned = 'div'\">hover me</div>",
    "<details open ontoggle=\"window.__pwned = 'details'\">x</details>",
    "<body onload=\"window.__pwned = 'body'\">",
    "<style>body{display:none}</style>",
    "<form action=\"javascript:window.__pwned='form'\"><button>go</button></form>",
    "<object data=\"javascript:window.__pwned='object'\"></object>",
    "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned='mxss'\">",
    "<a href=\"&#106;avascript:window.__pwned='entity'\">x</a>",
  ];

  it("script and event-handler injection in an answer does nothing", async () => {
    stack.gemini.setScript(inOrder(reply.text(PAYLOADS.join("\n\n"))));
    await ask("inject");
    await turnDone();
    await page.hover(".answer");
    await page
      .locator(".answer details")
      .click()
      .catch(() => undefined);
    await page
      .locator(".answer a")
      .first()
      .click()
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    expect(await page.evaluate("window.__pwned")).toBeUndefined();
    expect(watch.dialogs).toEqual([]);
    const found = (await page.evaluate(`(() => {
      const answer = document.querySelector(".answer");
      const bad = [];
      for (const el of answer.querySelectorAll("*")) {
        for (const attr of el.attributes)
          if (/^on/i.test(attr.name) || /^\\s*javascript:/i.test(attr.value)) bad.push(el.tagName + " " + attr.name);
        if (/^(SCRIPT|IFRAME|OBJECT|EMBED|SVG|IMG|STYLE|FORM|MATH|BUTTON)$/i.test(el.tagName)) bad.push(el.tagName);
      }
      return bad;
    })()`)) as string[];
    expect(found).toEqual([]);
    expect(await page.locator("body").isVisible()).toBe(true);
  });

  it("a question with HTML in it is shown as the text it is", async () => {
    stack.gemini.setScript(inOrder(reply.text("ok")));
    await ask("<img src=x onerror=\"window.__pwned='question'\"> **not bold**");
    await turnDone();
    expect(await text(".message.user")).toBe(
      "<img src=x onerror=\"window.__pwned='question'\"> **not bold**",
    );
    expect(await page.locator(".message.user img, .message.user strong").count()).toBe(0);
    expect(await page.evaluate("window.__pwned")).toBeUndefined();
  });
});

describe("what a person notices", () => {
  it("the empty page: the five seed questions as examples, the model in the header, the cursor in the question box, no token field", async () => {
    await open();
    expect(await page.locator("button.example").allTextContents()).toEqual([
      "What's 25 times 47?",
      "Calculate 15% of 2847",
      "Generate first 10 Fibonacci numbers",
      "What's the square root of 144?",
      "What's the sum of the first 100 primes?",
    ]);
    expect(await text(".model-line")).toBe("Model: gemini-3.8-flash (Google Gemini)");
    expect(await page.evaluate("document.activeElement.id")).toBe("question");
    expect(await page.locator("#token-row").isVisible()).toBe(false);
    stack.gemini.setScript(seedBrain());
    await page.click("button.example >> nth=0");
    await turnDone();
    expect(await text(".message.user")).toBe("What's 25 times 47?");
    expect(await text(".answer")).toBe("The answer is 1175.");
    expect(await text(".answered-by")).toBe("Answered by gemini-3.8-flash (Google Gemini)");
    expect(await page.locator("#examples").isVisible()).toBe(false);
  });

  it("each answer names the model that gave it, as its response said, shown as text (never as markup)", async () => {
    // An OpenAI-compatible server takes any model name (it travels in the JSON body).
    const openai = await startFakeOpenAI({ script: neutralSeedBrain() });
    const odd = await startStack(seedBrain(), sandbox, {
      MODEL_PROVIDER: "openai",
      MODEL_ID: `<b>odd&"x'`,
      OPENAI_BASE_URL: openai.url,
    });
    extraStacks.push(odd, { close: () => openai.close() } as Stack);
    await open({ url: odd.backend.url });
    expect(await text(".model-line")).toBe(`Model: <b>odd&"x' (OpenAI-compatible API)`);
    await ask("What's the sum of the first 100 primes?");
    await turnDone();
    expect(await text(".answer")).toBe("The answer is 24133.");
    expect(await text(".answered-by")).toBe(`Answered by <b>odd&"x' (OpenAI-compatible API)`);
    expect(openai.requests[0]!.model).toBe(`<b>odd&"x'`);
    expect(await page.locator("header b, .answered-by b").count()).toBe(0);
  });

  it("a 401 shows the token field and keeps the question; with the token it is answered", async () => {
    const secured = await startStack(seedBrain(), sandbox, { API_TOKEN: "page-token" });
    extraStacks.push(secured);
    await open({ url: secured.backend.url });
    await ask("What's 25 times 47?");
    await turnDone();
    expect(await page.locator("#token-row").isVisible()).toBe(true);
    expect(await text("#notice")).toMatch(/needs an API token/);
    expect(await page.inputValue("#question")).toBe("What's 25 times 47?");
    expect(await page.evaluate("document.activeElement.id")).toBe("token");
    expect(await page.locator(".message").count()).toBe(0);
    await shot("401-desktop-light");
    await page.fill("#token", "page-token");
    await page.press("#question", "Enter");
    await turnDone();
    expect(await text(".answer")).toBe("The answer is 1175.");
    expect(await page.locator("#notice").isVisible()).toBe(false);
  });

  it("a question over the server's limit is not sent: the page says the limit and keeps the text", async () => {
    await open();
    const before = stack.gemini.requests.length;
    const long = "x".repeat(40000);
    await page.fill("#question", long);
    await page.press("#question", "Enter");
    expect(await text("#notice")).toMatch(/40,000 characters long; the limit is 32,768/);
    expect(await page.inputValue("#question")).toBe(long);
    expect(await page.locator(".message").count()).toBe(0);
    expect(stack.gemini.requests.length).toBe(before);
  });

  it("a busy server (503) gives the question back with when to ask again", async () => {
    const busy = await startStack(() => reply.hang({ text: "..." }), sandbox, { MAX_OPEN_STREAMS: "1" });
    extraStacks.push(busy);
    const holder = new AbortController();
    await fetch(`${busy.backend.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hold" }] }),
      signal: holder.signal,
    });
    await open({ url: busy.backend.url });
    await ask("What's 25 times 47?");
    await turnDone();
    expect(await text("#notice")).toBe("The server is busy or restarting; ask again in 5 s.");
    expect(await page.inputValue("#question")).toBe("What's 25 times 47?");
    expect(await page.locator(".message").count()).toBe(0);
    holder.abort();
  });

  it("shows a thinking indicator from Enter to the first event, and again while the model reads the output", async () => {
    await open();
    const brain = seedBrain();
    stack.gemini.setScript(
      inOrder(
        async (r, i) => ({ ...(await brain(r, i)), delayMs: 700 }) as FakeReply,
        async (r, i) => ({ ...(await brain(r, i)), delayMs: 700 }) as FakeReply,
      ),
    );
    await ask("What's 25 times 47?");
    await page.locator(".thinking").waitFor({ timeout: 500 });
    await page.locator("pre.output").waitFor();
    expect(await page.locator(".thinking").isVisible()).toBe(true);
    await turnDone();
    expect(await page.locator(".thinking").count()).toBe(0);
  });

  it("an error that ends a long answer is scrolled into view", async () => {
    await open();
    const long = Array.from({ length: 80 }, (_, i) => `Paragraph ${i}.`).join("\n\n");
    stack.gemini.setScript(
      inOrder({
        kind: "stream",
        delayMs: 700,
        chunks: [
          { candidates: [{ content: { role: "model", parts: [{ text: long }] } }] },
          { candidates: [{ content: { role: "model", parts: [] as WirePart[] }, finishReason: "SAFETY" }] },
        ],
      }),
    );
    await ask("a long answer");
    await page.locator(".answer").waitFor();
    await page.evaluate("window.scrollTo(0, 0)"); // the reader scrolled up to read
    await turnDone();
    const box = await page.locator(".message.assistant .error").boundingBox();
    expect(box).not.toBeNull();
    expect(box!.y).toBeGreaterThanOrEqual(0);
    expect(box!.y + box!.height).toBeLessThanOrEqual(DESKTOP.height);
  });

  it("dark mode follows prefers-color-scheme", async () => {
    const luminance = async () => {
      const [bg, fg] = (await page.evaluate(
        `[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]`,
      )) as string[];
      const sum = (c: string) =>
        (c.match(/\d+/g) ?? [])
          .slice(0, 3)
          .map(Number)
          .reduce((a, b) => a + b, 0);
      return { bg: sum(bg!), fg: sum(fg!) };
    };
    await open({ dark: true });
    const dark = await luminance();
    expect(dark.bg).toBeLessThan(150);
    expect(dark.fg).toBeGreaterThan(600);
    await open({ dark: false });
    const light = await luminance();
    expect(light.bg).toBeGreaterThan(600);
    expect(light.fg).toBeLessThan(150);
  });

  it("has a favicon, and nothing the page loads fails", async () => {
    await open();
    await page.waitForLoadState("networkidle");
    expect(watch.failed).toEqual([]);
    expect(watch.errors).toEqual([]);
    const icon = await page.locator("link[rel=icon]").getAttribute("href");
    const response = await fetch(`${stack.backend.url}${icon}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/svg+xml");
    expect((await fetch(`${stack.backend.url}/favicon.ico`)).status).toBe(200);
  });

  it.each([
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ])(
    "at %s width the header lines up with the conversation and the question box",
    async (_name, viewport) => {
      await open({ viewport });
      const left = async (selector: string) => (await page.locator(selector).boundingBox())!.x;
      const header = await left("header h1");
      expect(Math.abs(header - (await left("#examples")))).toBeLessThanOrEqual(1);
      expect(Math.abs(header - (await left("#question")))).toBeLessThanOrEqual(1);
    },
  );

  it("'Executing code...' does not stay on screen when a shutdown ends the stream", async () => {
    const closing = await startStack(inOrder(reply.calls({ id: "spin", code: "while True: pass" })), sandbox);
    await open({ url: closing.backend.url });
    await ask("spin forever");
    await page.locator(".status", { hasText: "Executing code..." }).waitFor();
    await closing.backend.close({ graceMs: 300 });
    await closing.gemini.close();
    await turnDone();
    expect(await text(".status")).not.toBe("Executing code...");
    expect(await text(".message.assistant .error")).toMatch(/restarting/);
  });
});

describe("how it looks (screenshots for a person to check)", () => {
  const combos: [string, { width: number; height: number }, boolean][] = [
    ["desktop-light", DESKTOP, false],
    ["desktop-dark", DESKTOP, true],
    ["phone-light", PHONE, false],
    ["phone-dark", PHONE, true],
  ];
  it.each(combos)(
    "%s: empty page and a conversation with code, long output, Markdown and an error",
    async (name, viewport, dark) => {
      await open({ viewport, dark });
      await shot(`${name}-empty`);
      const brain = seedBrain();
      stack.gemini.setScript(
        inOrder(
          brain,
          brain,
          reply.calls({
            id: "long",
            code: "print(' '.join(str(2**i) for i in range(400)))\nprint('x' * 70000)",
          }),
          reply.text(
            "The powers of two are above. A few facts:\n\n- **2^10** is `1024`\n- the output was *truncated*\n\n| n | 2^n |\n|---|---|\n| 8 | 256 |\n| 16 | 65536 |",
          ),
          reply.error(503),
        ),
      );
      await ask("Calculate 15% of 2847");
      await turnDone();
      await ask("print powers of two");
      await turnDone();
      await ask("and now fail");
      await turnDone();
      expect(await overflow()).toEqual({ page: 0, blocks: [] });
      await shot(`${name}-conversation`);
    },
  );
});
