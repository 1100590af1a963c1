/**
 * The checks a deploy must pass (CONTRACT section 3, `smoke` ids, in order): the seed's five
 * questions through the chat (whichever model the backend talks to), every allowed module through the sandbox, and the four things
 * the sandbox must refuse. Each check is one object; the runner in scripts/lib/report.ts
 * times them and renders the report.
 */
import { executeStatus } from "../../contract/http";
import { configKey } from "../../contract/stack";
import { HttpError, type ChatTurn, type SandboxAnswer } from "../adapters/backend-http";
import { fail, pass, skip, type Check, type Outcome } from "../lib/report";

type ChatEvent = ChatTurn["events"][number];
type SandboxResponse = SandboxAnswer;

export interface SmokeContext {
  /** Backend base URL; chat checks skip without it. */
  url?: string;
  /** How smoke reaches the sandbox: "POST <url>/api/execute" or "Lambda <name>". */
  sandboxVia: string;
  /** One question through POST /api/chat: the events, and the model the response named. */
  chat(question: string): Promise<ChatTurn>;
  execute(code: string): Promise<SandboxResponse>;
  /** Where a failing sandbox is diagnosed: npm run doctor -- ... */
  doctorCommand: string;
}

/* ---------------- chat ---------------- */

export interface ChatQuestion {
  question: string;
  /** Human form of the expected answer. */
  expected: string;
  /** True when the answer's numbers contain the right one(s). */
  accepts(numbers: number[]): boolean;
}

/** Numbers in a text: `1,175` and `427.05` as numbers. */
export function numbersIn(text: string): number[] {
  return [...text.matchAll(/-?\d[\d,]*(?:\.\d+)?/g)].map((m) => Number(m[0].replace(/,/g, "")));
}

const containsRun = (numbers: number[], run: number[]): boolean =>
  numbers.some((_, i) => run.every((n, j) => numbers[i + j] === n));

const FIBONACCI_FROM_0 = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34];
const FIBONACCI_FROM_1 = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55];

export const SEED_QUESTIONS: ChatQuestion[] = [
  { question: "What's 25 times 47?", expected: "1175", accepts: (n) => n.includes(1175) },
  {
    question: "Calculate 15% of 2847",
    expected: "427.05",
    accepts: (n) => n.some((x) => Math.abs(x - 427.05) < 1e-9),
  },
  {
    question: "Generate first 10 Fibonacci numbers",
    expected: "0 1 1 2 3 5 8 13 21 34",
    accepts: (n) => containsRun(n, FIBONACCI_FROM_0) || containsRun(n, FIBONACCI_FROM_1),
  },
  { question: "What's the square root of 144?", expected: "12", accepts: (n) => n.includes(12) },
  {
    question: "What's the sum of the first 100 primes?",
    expected: "24133",
    accepts: (n) => n.includes(24133),
  },
];

/** What one chat turn showed, and what it lacked. */
export function judgeChat(
  q: ChatQuestion,
  events: ChatEvent[],
): { ok: boolean; detail: string; kind: string } {
  const codes = events.filter((e) => e.event === "code");
  const results = events.filter((e) => e.event === "code_result");
  const errors = events.filter((e) => e.event === "error");
  const answer = events
    .filter((e) => e.event === "text")
    .map((e) => String(e.data["delta"] ?? ""))
    .join("");
  const shown = JSON.stringify(answer.length > 160 ? `${answer.slice(0, 160)}...` : answer);
  if (errors.length > 0) {
    const e = errors[0]!.data;
    return {
      ok: false,
      kind: "error",
      detail: `the stream reported an error: ${String(e["type"])}: ${String(e["message"])}`,
    };
  }
  if (codes.length === 0)
    return {
      ok: false,
      kind: "no-code",
      detail: `no code event (the model did not run code); answer ${shown}`,
    };
  const okResult = results.find((e) => e.data["ok"] === true);
  if (!okResult) {
    const err = results[0]?.data["error"] as { type?: string; message?: string } | undefined;
    return {
      ok: false,
      kind: "code-failed",
      detail:
        results.length === 0
          ? "a code event but no code_result"
          : `code_result not ok: ${err?.type ?? "?"}: ${err?.message ?? ""}`,
    };
  }
  if (!q.accepts(numbersIn(answer)))
    return { ok: false, kind: "wrong", detail: `expected ${q.expected} in the answer, got ${shown}` };
  return { ok: true, kind: "ok", detail: `code ran, answer has ${q.expected}` };
}

function chatFix(kind: string, ctx: SmokeContext): string {
  switch (kind) {
    case "no-code":
      return `the model was not offered or did not use execute_python: check CODE_EXECUTION_ENABLED (pulumi config get ${configKey("codeExecutionEnabled")}) and the backend's logs: npm run logs -- --backend`;
    case "code-failed":
      return `the sandbox did not run the model's code: ${ctx.doctorCommand}`;
    case "wrong":
      return `the answer was wrong twice: check the backend's model (pulumi config get ${configKey("modelId")}; docs/choosing-a-model.md) and the code_result in the backend's logs (npm run logs -- --backend), then run smoke again`;
    case "error":
      return "the backend's model failed: the error's message says what to change (docs/choosing-a-model.md, What the errors mean); the provider's own words are in npm run logs -- --backend";
    case "http-401":
      return "the backend requires a token: set API_TOKEN to its token (the backend-secrets Secret) and run smoke again";
    default:
      return `is the backend up and reachable at ${ctx.url ?? "--url"}? ${ctx.doctorCommand}  (kubectl port-forward svc/backend 8080:80 for a local URL)`;
  }
}

/** chat-<n>: the question through /api/chat, with one retry for model variability. */
export function chatCheck(n: number, q: ChatQuestion): Check<SmokeContext> {
  return {
    id: `chat-${n}`,
    title: `Chat answers "${q.question}" with ${q.expected} by running code`,
    async run(ctx): Promise<Outcome> {
      if (ctx.url === undefined) return skip("needs --url");
      const attempts: string[] = [];
      let last = { ok: false, detail: "", kind: "" };
      /** Which model answered, as the backend named it. */
      let model = "";
      for (let attempt = 1; attempt <= 2; attempt++) {
        try {
          const turn = await ctx.chat(q.question);
          last = judgeChat(q, turn.events);
          if (turn.model) model = ` (model ${turn.model})`;
        } catch (err) {
          const status = err instanceof HttpError ? err.status : 0;
          last = {
            ok: false,
            kind: status === 401 ? "http-401" : "transport",
            detail: err instanceof Error ? err.message : String(err),
          };
          // An unreachable or unauthorised backend will not change on a retry.
          if (last.kind === "http-401" || status === 0) return fail(last.detail, chatFix(last.kind, ctx));
        }
        if (last.ok)
          return pass(`${last.detail}${attempt > 1 ? ` (on the retry; first: ${attempts[0]})` : ""}${model}`);
        attempts.push(last.detail);
      }
      return fail(`${attempts.join("; retry: ")}${model}`, chatFix(last.kind, ctx));
    },
  };
}

/* ---------------- sandbox ---------------- */

/** A snippet per module that really uses it and prints a value known in advance. */
export const MODULE_PROBES: Record<string, { code: string; stdout: string }> = {
  math: { code: "import math\nprint(math.factorial(10), math.gcd(84, 36))", stdout: "3628800 12" },
  json: {
    code: "import json\nprint(json.dumps({'b': [1, 2], 'a': None}, sort_keys=True))",
    stdout: '{"a": null, "b": [1, 2]}',
  },
  datetime: {
    code: "import datetime\nprint(datetime.date(2024, 2, 28) + datetime.timedelta(days=1))",
    stdout: "2024-02-29",
  },
  random: { code: "import random\nprint(round(random.Random(42).random(), 6))", stdout: "0.639427" },
  statistics: {
    code: "import statistics\nprint(statistics.median([3, 1, 4, 1, 5]), statistics.mean([2, 4, 9]))",
    stdout: "3 5",
  },
  re: { code: "import re\nprint(re.findall(r'\\d+', 'a1b22c333'))", stdout: "['1', '22', '333']" },
  collections: {
    code: "import collections\nprint(collections.Counter('banana').most_common(1))",
    stdout: "[('a', 3)]",
  },
  itertools: {
    code: "import itertools\nprint(len(list(itertools.permutations(range(4)))), list(itertools.accumulate([1, 2, 3])))",
    stdout: "24 [1, 3, 6]",
  },
  string: {
    code: "import string\nprint(string.ascii_lowercase[:5], string.Template('$x!').substitute(x='hi'))",
    stdout: "abcde hi!",
  },
  decimal: { code: "import decimal\nprint(decimal.Decimal('0.1') + decimal.Decimal('0.2'))", stdout: "0.3" },
  fractions: {
    code: "import fractions\nprint(fractions.Fraction(1, 3) + fractions.Fraction(1, 6))",
    stdout: "1/2",
  },
  uuid: {
    code: "import uuid\nprint(uuid.uuid5(uuid.NAMESPACE_DNS, 'example.com'))",
    stdout: "cfbff0d1-9375-5685-968c-48ce8b15ae17",
  },
  hashlib: {
    code: "import hashlib\nprint(hashlib.sha256(b'abc').hexdigest())",
    stdout: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  },
  base64: {
    code: "import base64\nprint(base64.b64encode(b'co-intelligence').decode())",
    stdout: "Y28taW50ZWxsaWdlbmNl",
  },
  textwrap: {
    code: "import textwrap\nprint(textwrap.wrap('one two three four', 9))",
    stdout: "['one two', 'three', 'four']",
  },
};

/** A module without a probe of its own: importing it and printing its name proves it loads. */
export function probeFor(module: string): { code: string; stdout: string } {
  return MODULE_PROBES[module] ?? { code: `import ${module}\nprint(${module}.__name__)`, stdout: module };
}

/**
 * A sandbox answer that says the sandbox was not reached, broke or was busy (the error types
 * `/api/execute` answers with a 5xx, contract/http.ts): the same fix for every check.
 */
function unreachableSandbox(r: SandboxResponse, ctx: SmokeContext): Outcome | undefined {
  if (!r.error || executeStatus(r.error.type).status < 500) return undefined;
  return fail(
    `the backend could not use the sandbox: ${r.error.type}: ${r.error.message}`,
    `check the function and the backend's invoke permission: ${ctx.doctorCommand}`,
  );
}

const describeResponse = (r: SandboxResponse): string =>
  r.error
    ? `${r.error.type}: ${r.error.message}`
    : `ok=${r.ok}, stdout ${JSON.stringify(r.stdout.trim().slice(0, 120))}`;

function transportFailure(err: unknown, ctx: SmokeContext): Outcome {
  const status = err instanceof HttpError ? err.status : 0;
  const detail = err instanceof Error ? err.message : String(err);
  return fail(
    detail,
    status === 401
      ? "the backend requires a token: set API_TOKEN to its token and run smoke again"
      : `the sandbox could not be reached through ${ctx.sandboxVia}: ${ctx.doctorCommand}`,
  );
}

/** execute-<module>: the module imports and works in the sandbox. */
export function moduleCheck(module: string): Check<SmokeContext> {
  const probe = probeFor(module);
  return {
    id: `execute-${module}`,
    title: `Sandbox runs code using ${module}`,
    async run(ctx) {
      let r: SandboxResponse;
      try {
        r = await ctx.execute(probe.code);
      } catch (err) {
        return transportFailure(err, ctx);
      }
      const down = unreachableSandbox(r, ctx);
      if (down) return down;
      if (r.ok && r.stdout.trim() === probe.stdout)
        return pass(`printed ${probe.stdout.length > 40 ? `${probe.stdout.slice(0, 40)}...` : probe.stdout}`);
      const fix =
        r.error?.type === "ModuleNotAllowed"
          ? `add ${module} to the allow-list (${configKey("allowedModules")} in stacks/Pulumi.<stack>.yaml, SANDBOX_ALLOWED_MODULES on the function), then: npm run deploy -- --stack <stack>`
          : `the sandbox broke code using ${module}: ${ctx.doctorCommand}`;
      return fail(`expected ${JSON.stringify(probe.stdout)}, got ${describeResponse(r)}`, fix);
    },
  };
}

/** refuse-<what>: the sandbox answers the right error type, and did not run the code. */
export function refusalCheck(
  id: string,
  title: string,
  code: string,
  errorType: "ModuleNotAllowed" | "OperationNotAllowed",
  fix: string,
): Check<SmokeContext> {
  return {
    id,
    title,
    async run(ctx) {
      let r: SandboxResponse;
      try {
        r = await ctx.execute(code);
      } catch (err) {
        return transportFailure(err, ctx);
      }
      if (!r.ok && r.error?.type === errorType) return pass(`refused: ${errorType}`);
      const down = unreachableSandbox(r, ctx);
      if (down) return down;
      return fail(
        `expected error ${errorType}, got ${describeResponse(r)}`,
        `${fix}; then: ${ctx.doctorCommand}`,
      );
    },
  };
}

const ALLOW_LIST_FIX = (module: string) =>
  `the sandbox let ${module} through: remove ${module} from ${configKey("allowedModules")} / SANDBOX_ALLOWED_MODULES and redeploy (npm run deploy -- --stack <stack>)`;

/** Every smoke check, in the contract's order. */
export function smokeChecks(modules: readonly string[]): Check<SmokeContext>[] {
  return [
    ...SEED_QUESTIONS.map((q, i) => chatCheck(i + 1, q)),
    ...modules.map(moduleCheck),
    refusalCheck(
      "refuse-os",
      "Sandbox refuses import os",
      "import os\nprint(os.getcwd())",
      "ModuleNotAllowed",
      ALLOW_LIST_FIX("os"),
    ),
    refusalCheck(
      "refuse-sys",
      "Sandbox refuses import sys",
      "import sys\nprint(sys.version)",
      "ModuleNotAllowed",
      ALLOW_LIST_FIX("sys"),
    ),
    refusalCheck(
      "refuse-subprocess",
      "Sandbox refuses import subprocess",
      "import subprocess\nprint(subprocess.run(['id'], capture_output=True).stdout)",
      "ModuleNotAllowed",
      ALLOW_LIST_FIX("subprocess"),
    ),
    refusalCheck(
      "refuse-file",
      "Sandbox refuses reading /etc/passwd",
      "print(open('/etc/passwd').read())",
      "OperationNotAllowed",
      "the sandbox let user code read a file: deploy the current lambda/ (npm run deploy -- --stack <stack>); its audit hook must be installed",
    ),
  ];
}
