/**
 * Which Python modules sandboxed code may import (CONTRACT section 1): the default allow-list
 * and the vetted list every configured allow-list must stay within, each with why it is safe.
 *
 * A module is vetted when it computes on values with no file, network, process, environment or
 * interpreter access of its own, needs no file once imported (a sandbox child can open none), and
 * hands out no raw memory access. The Python copy the function uses is
 * lambda/sandbox/modules.py; tests/infra/sandbox-env-contract.test.ts compares the two.
 */

export const DEFAULT_ALLOWED_MODULES: readonly string[] = [
  "math",
  "json",
  "datetime",
  "random",
  "statistics",
  "re",
  "collections",
  "itertools",
  "string",
  "decimal",
  "fractions",
  "uuid",
  "hashlib",
  "base64",
  "textwrap",
];

/** name -> why it is safe to allow. */
export const VETTED_MODULES: Readonly<Record<string, string>> = {
  base64: "encodes bytes to text and back",
  binascii: "C codecs between bytes and ASCII (hex, base64, crc32)",
  bisect: "binary search on lists the code owns",
  calendar: "calendar arithmetic and text calendars from values",
  cmath: "complex-number math functions",
  collections: "container types (Counter, deque, namedtuple, OrderedDict)",
  colorsys: "colour-space conversions of numbers",
  copy: "shallow and deep copies of the code's own objects",
  csv: "parses and writes CSV through objects the code passes in; opens nothing itself",
  datetime: "date and time values; the time zone is the zygote's, read before any child runs",
  decimal: "decimal floating-point arithmetic",
  difflib: "differences between sequences the code owns",
  fractions: "rational-number arithmetic",
  functools: "higher-order functions and caches over the code's own callables",
  graphlib: "topological sorting of a graph the code builds",
  hashlib: "hash functions over bytes (the algorithms are loaded by the zygote)",
  heapq: "heap operations on lists the code owns",
  hmac: "keyed hashes over bytes",
  html: "escapes and unescapes HTML entities in strings",
  itertools: "iterator building blocks",
  json: "JSON text to values and back (load/dump need a file object the code cannot open)",
  math: "floating-point and integer math functions",
  operator: "the operators as functions",
  pprint: "pretty-printing of values to text",
  random: "pseudo-random numbers, reseeded from the kernel in each child",
  re: "regular expressions (CPU and memory are bounded by the child's limits)",
  reprlib: "size-limited repr() of values",
  secrets: "random tokens from the kernel's random source (getrandom)",
  statistics: "descriptive statistics and the normal distribution",
  string: "string constants, Template and Formatter",
  struct: "packs values into bytes and back, within Python objects",
  textwrap: "wraps and indents text",
  time: "clocks and sleep (bounded by the wall-clock limit); no process or file access",
  unicodedata: "the Unicode character database, compiled into the module",
  uuid: "UUID values (the node id is computed by the zygote; no process is started)",
  zlib: "compression of bytes (memory is bounded by the child's limits)",
};

/** The names in `modules` that are not vetted, in the order given. */
export function unvettedModules(modules: readonly string[]): string[] {
  return modules.filter((name) => !Object.hasOwn(VETTED_MODULES, name));
}

/** An allow-list entry: a top-level module name (no dots: a package's parts come with it). */
export const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An allow-list, split by comma as SANDBOX_ALLOWED_MODULES is, blanks dropped. */
export function splitModuleList(text: string): string[] {
  return text
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
}

/**
 * What is wrong with an allow-list, by the one rule the stack config, the function's own
 * parser and doctor apply: it names at least one module, every entry is a top-level module
 * name, and every module is vetted. Each caller words it for its reader.
 */
export function allowListIssues(names: readonly string[]): {
  empty: boolean;
  /** Entries that are not module names, in the order given. */
  malformed: string[];
  /** Well-formed names that are not vetted, in the order given. */
  unvetted: string[];
} {
  const malformed = names.filter((name) => !MODULE_NAME.test(name));
  return {
    empty: names.length === 0,
    malformed,
    unvetted: unvettedModules(names.filter((name) => MODULE_NAME.test(name))),
  };
}
