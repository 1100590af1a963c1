/**
 * What the components' pure validators return, and the small rules several of them apply.
 * Each component owns its defaults and its rules; the stack config (config.ts) parses the
 * stack's values, calls the validators, and adds to each problem the `pulumi config` command
 * that fixes it; a component constructor calls the same validator and refuses bad arguments.
 */
import { NAME_PATTERNS } from "../contract/names";

/** One problem with one argument. */
export interface ArgProblem {
  /** The argument the fix sets (a field of the component's args; `ingress.host` for a nested one). */
  arg: string;
  /** The whole problem, naming arguments through the caller's `nameOf`: "x must be ..., got ...". */
  message: string;
  /** A value the fix may set. Absent when the fix is to remove the argument (`remove`). */
  suggestion?: string;
  /** The fix is to remove the argument. */
  remove?: boolean;
}

/** How a caller names an argument in messages: the component's own field name by default. */
export type NameOf = (arg: string) => string;
export const ARG_NAME: NameOf = (arg) => arg;

/**
 * Arguments as a caller may hold them before parsing: a number may still be the text it was
 * given (a stack config value that is not a number), which the validators report as such.
 */
export type Unparsed<T> = {
  [K in keyof T]?: [Extract<T[K], number>] extends [never] ? T[K] : T[K] | string;
};

/** `value` when it is a number, else undefined: what defaults apply to. */
export function numberOrUnset(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

/** An inclusive range of whole numbers. */
export interface Range {
  min: number;
  max: number;
}

/** `value` outside `range` (or not a whole number), as the problem it is. */
export function rangeProblem(
  nameOf: NameOf,
  arg: string,
  value: number | string | undefined,
  range: Range,
  suggestion: number,
): ArgProblem[] {
  if (
    value === undefined ||
    (typeof value === "number" && Number.isSafeInteger(value) && value >= range.min && value <= range.max)
  )
    return [];
  return [
    {
      arg,
      message: `${nameOf(arg)} must be a whole number from ${range.min} to ${range.max}, got ${JSON.stringify(String(value))}`,
      suggestion: String(suggestion),
    },
  ];
}

/** Throws the problems as one error naming the component: what a constructor does with them. */
export function refuseProblems(component: string, name: string, problems: ArgProblem[]): void {
  if (problems.length > 0)
    throw new Error(`${component} ${name}: ${problems.map((p) => p.message).join("; ")}`);
}

/** A Kubernetes DNS-1123 label: namespaces, service accounts. */
export const DNS_LABEL = NAME_PATTERNS.dnsLabel;

/** An IPv4 block `a.b.c.d/n` with every part in range. */
export function isCidr(text: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  return match !== null && match.slice(1, 5).every((part) => Number(part) <= 255) && Number(match[5]) <= 32;
}

/** Retention values CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;
