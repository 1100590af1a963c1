/**
 * The one flag parser of every entry point (the operations commands, `npm start`,
 * `npm run sandbox`, the pulumi wrappers) and the `--help` text they print. It knows no
 * command: each passes the flags it takes.
 */
import { npmCommand, UsageError } from "./cli-error";

export { npmCommand };

export interface FlagSpec {
  /** Takes a value (`--flag value` / `--flag=value`) or is a switch. */
  kind: "value" | "switch";
  /** Placeholder in --help, e.g. NAME. */
  arg?: string;
  /** One line for --help; say the default. */
  help: string;
  /** A one-letter spelling, e.g. `-s` for `--stack` (`-h` is always `--help`). */
  short?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedFlags {
  /** Values of value flags that were given, by flag name without dashes. */
  values: Record<string, string>;
  /** Switches that were given. */
  switches: Set<string>;
  /** With `passThrough`: every other argument, in order and untouched. */
  rest: string[];
}

export interface ParseOptions {
  /**
   * Hand arguments that are not ours on, untouched (the pulumi wrappers pass `--yes`, `--diff`
   * ... to pulumi) instead of refusing them.
   */
  passThrough?: boolean;
}

/**
 * Parses `--flag value`, `--flag=value` and `--switch` (and a flag's short spelling). Anything
 * else (unknown flag, positional, missing value, value on a switch) is a UsageError naming the
 * argument, unless `passThrough` hands the unknown ones on.
 */
export function parseFlags(
  argv: readonly string[],
  specs: FlagSpecs,
  command: string,
  options: ParseOptions = {},
): ParsedFlags {
  const values: Record<string, string> = {};
  const switches = new Set<string>();
  const rest: string[] = [];
  const shorts = new Map(
    Object.entries(specs).flatMap(([name, spec]) => (spec.short ? [[spec.short, name] as const] : [])),
  );
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    if (arg === "-h") {
      switches.add("help");
      continue;
    }
    const short = shorts.get(arg);
    if (short !== undefined) arg = `--${short}`;
    if (!arg.startsWith("--") || arg === "--") {
      if (options.passThrough) {
        rest.push(arg);
        continue;
      }
      throw new UsageError(
        `unexpected argument ${JSON.stringify(arg)}: flags look like --name value`,
        command,
      );
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined && options.passThrough) {
      rest.push(arg);
      continue;
    }
    if (spec === undefined) throw new UsageError(`unknown flag --${name}`, command);
    if (spec.kind === "switch") {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`, command);
      switches.add(name);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith("--")) {
        value = next;
        i++;
      }
    }
    if (value === undefined || value === "") {
      throw new UsageError(`--${name} needs a value: --${name} ${spec.arg ?? "VALUE"}`, command);
    }
    values[name] = value;
  }
  return { values, switches, rest };
}

/** `--help` text: usage line, one line per flag, env notes, examples. */
export function helpText(opts: {
  command: string;
  summary: string;
  specs: FlagSpecs;
  examples: string[];
  notes?: string[];
}): string {
  const rows = Object.entries(opts.specs).map(([name, spec]) => [
    `--${name}${spec.kind === "value" ? ` ${spec.arg ?? "VALUE"}` : ""}`,
    spec.help,
  ]);
  const width = Math.max(...rows.map(([left]) => left!.length));
  return [
    `usage: ${npmCommand(opts.command)} -- [flags]`,
    "",
    opts.summary,
    "",
    ...rows.map(([left, right]) => `  ${left!.padEnd(width)}  ${right}`),
    ...(opts.notes && opts.notes.length > 0 ? ["", ...opts.notes] : []),
    "",
    ...opts.examples.map((example, i) => `${i === 0 ? "example: " : "         "}${example}`),
  ].join("\n");
}
