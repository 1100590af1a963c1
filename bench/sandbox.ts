/**
 * `npm run bench:sandbox`: what the sandbox costs per invocation, in figures (not a test).
 *
 *   overhead  = handler(print(1)) - exec(print(1)) in a warm process, requests 20 ms apart    target: p50 <= 1/3 of a fresh python
 *   fresh     = python3 -I -S -c "print(1)" as a new process
 *   fork      = a bare fork() + _exit + waitpid in the same process: the floor to aim for
 *   compute   = handler(CPU-heavy) / exec(CPU-heavy), medians           target: <= 1.10
 *   cold      = importing the handler in a fresh process (zygote started, first child ready)
 *
 * Flags: --python PATH (default python3), --runs N (default 200), --json.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { benchFlags } from "./flags";

const FLAGS = benchFlags(
  "bench:sandbox",
  "What the sandbox costs per invocation, in figures (not a test).",
  { runs: { help: "invocations measured (default 200)", fallback: 200 } },
  { python: { help: "the Python to measure (default python3)", fallback: "python3" } },
);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Raw {
  python: string;
  runs: number;
  handlerPrint: number[];
  handlerPrintBackToBack: number[];
  execPrint: number[];
  freshPrint: number[];
  handlerHeavy: number[];
  execHeavy: number[];
  bareFork: number[];
  coldStart: number[];
}

const python = FLAGS.texts.python;
const runs = FLAGS.numbers.runs;
if (!Number.isInteger(runs) || runs < 10) {
  console.error("--runs must be a whole number of at least 10");
  process.exit(2);
}
const raw = JSON.parse(
  execFileSync(python, [path.join(__dirname, "sandbox_bench.py"), String(runs)], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  }),
) as Raw;

const overhead = raw.handlerPrint.map((t, i) => t - (raw.execPrint[i] ?? 0));
const figures = {
  python: raw.python,
  runs: raw.runs,
  handlerPrintP50: percentile(raw.handlerPrint, 50),
  handlerPrintP95: percentile(raw.handlerPrint, 95),
  overheadP50: percentile(overhead, 50),
  overheadP95: percentile(overhead, 95),
  backToBackP50: percentile(raw.handlerPrintBackToBack, 50),
  backToBackP95: percentile(raw.handlerPrintBackToBack, 95),
  execPrintP50: percentile(raw.execPrint, 50),
  freshPythonP50: percentile(raw.freshPrint, 50),
  freshPythonP95: percentile(raw.freshPrint, 95),
  heavyHandlerP50: percentile(raw.handlerHeavy, 50),
  heavyExecP50: percentile(raw.execHeavy, 50),
  bareForkP50: percentile(raw.bareFork, 50),
  coldStartP50: percentile(raw.coldStart, 50),
  coldStartMax: Math.max(...raw.coldStart),
};
const ratios = {
  overheadVsFreshPython: figures.overheadP50 / figures.freshPythonP50,
  overheadVsBareFork: figures.overheadP50 / figures.bareForkP50,
  computeHandlerVsExec: figures.heavyHandlerP50 / figures.heavyExecP50,
};
const targets = {
  "overhead p50 <= 1/3 of a fresh python": ratios.overheadVsFreshPython <= 1 / 3,
  "compute within 10% of plain exec": ratios.computeHandlerVsExec <= 1.1,
};

if (FLAGS.json) {
  console.log(JSON.stringify({ figures, ratios, targets }, null, 2));
} else {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  console.log(`sandbox benchmark (CPython ${figures.python}, ${figures.runs} runs)`);
  console.log(
    `  handler print(1)             p50 ${ms(figures.handlerPrintP50)}  p95 ${ms(figures.handlerPrintP95)}`,
  );
  console.log(
    `  sandbox overhead (vs exec)   p50 ${ms(figures.overheadP50)}  p95 ${ms(figures.overheadP95)}`,
  );
  console.log(
    `  handler, back to back        p50 ${ms(figures.backToBackP50)}  p95 ${ms(figures.backToBackP95)}`,
  );
  console.log(`  exec in a warm process       p50 ${ms(figures.execPrintP50)}`);
  console.log(
    `  fresh python3 -I -S -c       p50 ${ms(figures.freshPythonP50)}  p95 ${ms(figures.freshPythonP95)}`,
  );
  console.log(`  bare fork + _exit + waitpid   p50 ${ms(figures.bareForkP50)}  (the floor)`);
  console.log(`  CPU-heavy: handler ${ms(figures.heavyHandlerP50)} vs exec ${ms(figures.heavyExecP50)}`);
  console.log(
    `  cold start (import handler)   p50 ${ms(figures.coldStartP50)}  max ${ms(figures.coldStartMax)}`,
  );
  console.log(
    `  ratios: overhead/fresh python ${ratios.overheadVsFreshPython.toFixed(3)}, overhead/bare fork ${ratios.overheadVsBareFork.toFixed(2)}, compute handler/exec ${ratios.computeHandlerVsExec.toFixed(3)}`,
  );
  for (const [name, met] of Object.entries(targets)) console.log(`  ${met ? "✓" : "✗"} ${name}`);
}
