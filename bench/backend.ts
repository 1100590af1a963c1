/**
 * `npm run bench:backend`: what the backend itself costs, in figures (not a test).
 *
 *   turn overhead (pure)  = one /api/chat turn (a tool call, its result, an answer) with a
 *                           zero-time model provider and sandbox injected: HTTP, validation, the
 *                           loop, SSE.
 *   turn overhead (wired) = per provider, the same turn through that provider's real SDK and its
 *                           fake server on loopback (Gemini, OpenAI-compatible, Bedrock) and the
 *                           real local sandbox, minus the model and execution time the backend
 *                           itself measured for that turn (its /metrics sums). Target: at most
 *                           2 ms p50 each.
 *   /api/execute          = requests/s and latency at 1, 8 and 32 concurrent clients, next to
 *                           the same load sent straight to the sandbox's Invoke API; the ratio
 *                           is backend throughput / sandbox throughput (1.0 = no cost).
 *
 * Flags: --turns N (default 200), --seconds S per load level (default 3), --workers N sandbox
 * workers (default 4), --json.
 */
import http from "node:http";
import { DEFAULT_NAMES } from "../contract/names";
import { startBackend } from "../backend/server";
import { PROVIDER_IDS, PROVIDER_LABELS, type ProviderId } from "../contract/models";
import type { ModelOutput, ModelProvider, ModelTurn } from "../backend/providers/provider";
import type { SandboxClient, SandboxResult } from "../backend/sandbox-client";
import { startLocalSandbox } from "../dev/local-lambda/server";
import { startLocalFakeModel } from "../dev/fakes/local";
import { reply, type FakeScript } from "../dev/fakes/script";
import { benchFlags } from "./flags";

const FLAGS = benchFlags("bench:backend", "What the backend itself costs, in figures (not a test).", {
  turns: { help: "chat turns measured (default 200)", fallback: 200 },
  seconds: { help: "seconds per load level (default 3)", fallback: 3 },
  workers: { help: "sandbox workers (default 4)", fallback: 4 },
});
const TURNS = FLAGS.numbers.turns;
const SECONDS = FLAGS.numbers.seconds;
const WORKERS = FLAGS.numbers.workers;
const JSON_OUTPUT = FLAGS.json;
const CODE = "print(sum(range(1000)))";
// One load generator is one client: the per-client rate limit stays on (its cost is measured)
// but high enough never to refuse.
const QUIET = { LOG_LEVEL: "silent", RATE_LIMIT_PER_MINUTE: "1000000", RATE_LIMIT_BURST: "1000000" };

const percentile = (samples: number[], p: number) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const progress = (text: string) => process.stderr.write(`bench:backend: ${text}\n`);

// Keep-alive on both sides, as a browser or load balancer would use the backend.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", ...headers } },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () =>
          response.statusCode === 200
            ? resolve(text)
            : reject(new Error(`HTTP ${response.statusCode}: ${text}`)),
        );
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/** The most a turn may cost the backend itself (p50), whichever provider answers. */
const TARGET_OVERHEAD_P50_MS = 2;

const CHAT_BODY = JSON.stringify({ messages: [{ role: "user", content: "What's 25 times 47?" }] });

/** A turn with a zero-time model (a call, then an answer) and a zero-time sandbox. */
async function pureTurnOverhead(): Promise<number[]> {
  const instant: SandboxResult = {
    ok: true,
    stdout: "1175\n",
    stderr: "",
    result: null,
    error: null,
    truncated: false,
    durationMs: 0,
  };
  const sandbox: SandboxClient = { execute: async () => ({ result: instant }) };
  // Asks for one call, then answers from its result: no I/O, no SDK.
  const model: ModelProvider = {
    id: "gemini",
    model: "zero-time",
    async *stream({ conversation }): AsyncGenerator<ModelOutput, ModelTurn> {
      if (conversation.at(-1)?.role === "tool") {
        yield { type: "text", text: "The answer is 1175." };
        return { text: "The answer is 1175.", calls: [], native: null, chars: 19 };
      }
      const call = { id: "c1", name: "execute_python", args: { code: "print(25 * 47)" } };
      yield { type: "call", call };
      return { text: "", calls: [call], native: null, chars: 60 };
    },
  };
  const backend = await startBackend({
    port: 0,
    env: { ...QUIET, GEMINI_API_KEY: "x" },
    overrides: { sandbox, model },
  });
  const samples: number[] = [];
  try {
    for (let i = 0; i < TURNS + 20; i++) {
      const started = performance.now();
      const text = await post(`${backend.url}/api/chat`, CHAT_BODY);
      if (!text.includes("event: done") || !text.includes("1175"))
        throw new Error(`unexpected stream: ${text}`);
      if (i >= 20) samples.push(performance.now() - started); // the first 20 warm the JIT
    }
  } finally {
    await backend.close();
  }
  return samples;
}

/** Sum of a Prometheus histogram's `_sum` lines for `name`, in ms. */
function histogramSumMs(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split("\n"))
    if (line.startsWith(`${name}_sum`)) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  return total * 1000;
}

/** A call for the question, then the answer from its result. */
const callThenAnswer: FakeScript = (request) =>
  request.turns.at(-1)?.results.length
    ? reply.text("The answer is ", "1175.")
    : reply.calls({ code: "print(25 * 47)" });

async function wiredTurnOverhead(
  provider: ProviderId,
  sandboxUrl: string,
): Promise<{ overhead: number[]; turn: number[] }> {
  const fake = await startLocalFakeModel(provider, { script: callThenAnswer });
  const backend = await startBackend({
    port: 0,
    env: { ...QUIET, ...fake.env, AWS_ENDPOINT_URL_LAMBDA: sandboxUrl },
  });
  const metrics = async () => {
    const text = await (await fetch(`${backend.url}/metrics`)).text();
    return (
      histogramSumMs(text, "model_request_duration_seconds") +
      histogramSumMs(text, "code_execution_duration_seconds")
    );
  };
  const overhead: number[] = [];
  const turn: number[] = [];
  try {
    for (let i = 0; i < TURNS + 20; i++) {
      const before = await metrics();
      const started = performance.now();
      const text = await post(`${backend.url}/api/chat`, CHAT_BODY);
      const elapsed = performance.now() - started;
      if (!text.includes("1175.")) throw new Error(`unexpected stream: ${text}`);
      const inside = (await metrics()) - before;
      if (i >= 20) {
        turn.push(elapsed);
        overhead.push(elapsed - inside);
      }
    }
  } finally {
    await backend.close();
    await fake.close();
  }
  return { overhead, turn };
}

interface Load {
  clients: number;
  requests: number;
  perSecond: number;
  p50: number;
  p95: number;
}

/** `clients` loops sending `send()` back to back for SECONDS. */
async function load(clients: number, send: () => Promise<void>): Promise<Load> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await send();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    clients,
    requests: latencies.length,
    perSecond: round(latencies.length / seconds, 1),
    p50: round(percentile(latencies, 50)),
    p95: round(percentile(latencies, 95)),
  };
}

async function main(): Promise<void> {
  progress(`pure turn overhead (${TURNS} turns)...`);
  const pure = await pureTurnOverhead();

  const sandbox = await startLocalSandbox({ port: 0, workers: WORKERS, log: () => {}, maxQueue: 1024 });
  const backend = await startBackend({ port: 0, env: { ...QUIET, AWS_ENDPOINT_URL_LAMBDA: sandbox.url } });
  try {
    const wired: Partial<Record<ProviderId, { overhead: number[]; turn: number[] }>> = {};
    for (const provider of PROVIDER_IDS) {
      progress(`wired turn overhead, ${provider} (${TURNS} turns, its SDK + its fake + local sandbox)...`);
      wired[provider] = await wiredTurnOverhead(provider, sandbox.url);
    }

    const executeBody = JSON.stringify({ code: CODE });
    const invokeBody = JSON.stringify({ code: CODE, timeoutMs: 30000 });
    const invokeUrl = `${sandbox.url}/2015-03-31/functions/${DEFAULT_NAMES.functionName}/invocations`;
    const levels = [];
    for (const clients of [1, 8, 32]) {
      progress(`/api/execute and direct invoke at ${clients} concurrent client(s), ${SECONDS} s each...`);
      await load(clients, async () => void (await post(invokeUrl, invokeBody))); // warm-up at this level
      const direct = await load(clients, async () => void (await post(invokeUrl, invokeBody)));
      const viaBackend = await load(
        clients,
        async () => void (await post(`${backend.url}/api/execute`, executeBody)),
      );
      levels.push({
        clients,
        backend: viaBackend,
        sandbox: direct,
        throughputRatio: round(viaBackend.perSecond / direct.perSecond),
        addedLatencyP50Ms: round(viaBackend.p50 - direct.p50),
      });
    }

    const figures = {
      turns: TURNS,
      pureTurnP50Ms: round(percentile(pure, 50)),
      pureTurnP95Ms: round(percentile(pure, 95)),
      targetOverheadP50Ms: TARGET_OVERHEAD_P50_MS,
      wired: Object.fromEntries(
        PROVIDER_IDS.map((provider) => {
          const { overhead, turn } = wired[provider]!;
          const p50 = round(percentile(overhead, 50));
          return [
            provider,
            {
              overheadP50Ms: p50,
              overheadP95Ms: round(percentile(overhead, 95)),
              turnP50Ms: round(percentile(turn, 50)),
              withinTarget: p50 <= TARGET_OVERHEAD_P50_MS,
            },
          ];
        }),
      ) as Record<
        ProviderId,
        { overheadP50Ms: number; overheadP95Ms: number; turnP50Ms: number; withinTarget: boolean }
      >,
      sandboxWorkers: WORKERS,
      secondsPerLevel: SECONDS,
      execute: levels,
    };
    if (JSON_OUTPUT) {
      console.log(JSON.stringify(figures, null, 2));
      return;
    }
    console.log(
      `backend benchmark (${TURNS} chat turns; /api/execute ${SECONDS} s per level, ${WORKERS} sandbox workers)`,
    );
    console.log("  chat turn overhead, excluding model and sandbox time:");
    console.log(
      `    ${"pure (zero-time model and sandbox)".padEnd(54)}p50 ${figures.pureTurnP50Ms} ms  p95 ${figures.pureTurnP95Ms} ms`,
    );
    for (const provider of PROVIDER_IDS) {
      const w = figures.wired[provider];
      console.log(
        `    ${`wired, ${PROVIDER_LABELS[provider]} (SDK + fake + sandbox)`.padEnd(54)}p50 ${w.overheadP50Ms} ms  p95 ${w.overheadP95Ms} ms  (whole turn p50 ${w.turnP50Ms} ms; target p50 <= ${TARGET_OVERHEAD_P50_MS} ms: ${w.withinTarget ? "met" : "MISSED"})`,
      );
    }
    console.log(`  /api/execute of ${JSON.stringify(CODE)} vs the same load on the sandbox's Invoke API:`);
    for (const level of levels)
      console.log(
        `    ${String(level.clients).padStart(2)} clients: backend ${level.backend.perSecond} req/s (p50 ${level.backend.p50} ms, p95 ${level.backend.p95} ms)` +
          `  sandbox ${level.sandbox.perSecond} req/s (p50 ${level.sandbox.p50} ms)  ratio ${level.throughputRatio}  added p50 ${level.addedLatencyP50Ms} ms`,
      );
  } finally {
    await backend.close();
    await sandbox.close();
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(`bench:backend failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
