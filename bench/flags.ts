/**
 * The benchmarks' flags, on the shared flag parser (scripts/lib/flags.ts): positive numbers and
 * texts with their defaults, `--json`, and `--help`. A bad flag prints one line and exits 2.
 */
import { UsageError } from "../scripts/lib/cli-error";
import { helpText, parseFlags, type FlagSpecs } from "../scripts/lib/flags";

interface Option<T> {
  help: string;
  fallback: T;
}

export function benchFlags<N extends string, S extends string = never>(
  command: string,
  summary: string,
  numbers: Record<N, Option<number>>,
  texts: Record<S, Option<string>> = {} as Record<S, Option<string>>,
  argv: string[] = process.argv.slice(2),
): { numbers: Record<N, number>; texts: Record<S, string>; json: boolean } {
  const specs: FlagSpecs = {
    ...Object.fromEntries(
      Object.entries<Option<number>>(numbers).map(([name, o]) => [
        name,
        { kind: "value", arg: "N", help: o.help },
      ]),
    ),
    ...Object.fromEntries(
      Object.entries<Option<string>>(texts).map(([name, o]) => [
        name,
        { kind: "value", arg: "VALUE", help: o.help },
      ]),
    ),
    json: { kind: "switch", help: "the figures as one JSON object" },
    help: { kind: "switch", help: "this text" },
  };
  try {
    const flags = parseFlags(argv, specs, command);
    if (flags.switches.has("help")) {
      console.log(helpText({ command, summary, specs, examples: [`npm run ${command} -- --json`] }));
      process.exit(0);
    }
    const parsedNumbers = {} as Record<N, number>;
    for (const [name, o] of Object.entries<Option<number>>(numbers)) {
      const text = flags.values[name];
      const value = text === undefined ? o.fallback : Number(text);
      if (!Number.isFinite(value) || value <= 0)
        throw new UsageError(`--${name} needs a positive number, e.g. --${name} ${o.fallback}`, command);
      parsedNumbers[name as N] = value;
    }
    const parsedTexts = {} as Record<S, string>;
    for (const [name, o] of Object.entries<Option<string>>(texts))
      parsedTexts[name as S] = flags.values[name] ?? o.fallback;
    return { numbers: parsedNumbers, texts: parsedTexts, json: flags.switches.has("json") };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}`);
    process.exit(2);
  }
}
