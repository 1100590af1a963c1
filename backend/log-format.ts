/**
 * A log format for a person at a terminal (`LOG_FORMAT=pretty`, what `npm start` uses): one
 * line per event, time, level, what happened, then the remaining fields as key=value. The
 * backend's JSON lines and the sandbox's JSON lines read the same way; anything that is not
 * a JSON log line (a traceback) is shown as it is, marked with where it came from.
 *
 *   14:02:03.120 INFO  backend  POST /api/chat 200 1234 ms  requestId=3f2a9c1b8e4d messages=1 executions=1 outcome=ok
 *   14:02:03.090 INFO  sandbox  invocation ok 5.8 ms  errorType=-
 */
import { styleText } from "node:util";

const LEVELS: Record<string, string> = {
  "10": "TRACE",
  "20": "DEBUG",
  "30": "INFO",
  "40": "WARN",
  "50": "ERROR",
  "60": "FATAL",
};
const LEVEL_COLOR: Record<string, Parameters<typeof styleText>[0]> = {
  WARN: "yellow",
  ERROR: "red",
  FATAL: "red",
  DEBUG: "gray",
  TRACE: "gray",
};
/** Fields every line has, shown in the fixed part of the line or not at all. */
const OMIT = new Set(["level", "time", "timestamp", "msg", "message", "pid", "hostname", "v"]);

export interface FormatOptions {
  /** Who wrote the line: `backend`, `sandbox`, `local`. */
  source: string;
  color?: boolean;
  /** Defaults to now (lines without a time of their own). */
  now?: Date;
}

function clock(value: unknown, now: Date): string {
  const date =
    typeof value === "number" ? new Date(value) : typeof value === "string" ? new Date(value) : now;
  const d = Number.isNaN(date.getTime()) ? now : date;
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function show(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) || value === "" ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** One log line (JSON or not) as a readable line, without the trailing newline. */
export function formatLogLine(line: string, options: FormatOptions): string {
  const color = options.color ?? false;
  const paint = (style: Parameters<typeof styleText>[0], text: string) =>
    color ? styleText(style, text, { validateStream: false }) : text;
  const now = options.now ?? new Date();
  const source = options.source.padEnd(8);
  let entry: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      entry = parsed as Record<string, unknown>;
  } catch {
    /* not JSON: shown as it is */
  }
  if (!entry) return `${paint("dim", clock(undefined, now))}       ${source} ${paint("dim", "|")} ${line}`;

  const rawLevel = String(entry["level"] ?? "info");
  const level = (LEVELS[rawLevel] ?? rawLevel.toUpperCase()).padEnd(5);
  const levelStyle = LEVEL_COLOR[level.trim()];
  const message = String(entry["msg"] ?? entry["message"] ?? "");
  const rest = { ...entry };
  let head = message;
  if (message === "request" && typeof entry["method"] === "string") {
    const status = entry["statusCode"] ?? entry["clientError"] ?? "-";
    head = `${entry["method"]} ${entry["url"] ?? ""} ${status} ${entry["durationMs"] ?? "?"} ms`;
    for (const key of ["method", "url", "statusCode", "durationMs"]) delete rest[key];
  } else if (message === "invocation" && "ok" in entry) {
    head = `invocation ${entry["ok"] ? "ok" : "failed"} ${entry["durationMs"] ?? "?"} ms`;
    for (const key of ["ok", "durationMs"]) delete rest[key];
  }
  const fields = Object.entries(rest)
    .filter(([key, value]) => !OMIT.has(key) && value !== undefined && value !== null)
    .map(([key, value]) => `${key}=${show(value)}`)
    .join(" ");
  return (
    `${paint("dim", clock(entry["time"] ?? entry["timestamp"], now))} ` +
    `${levelStyle ? paint(levelStyle, level) : level} ${source} ${head}` +
    (fields ? `  ${paint("dim", fields)}` : "")
  );
}

/** A pino destination that writes each JSON line formatted, for `LOG_FORMAT=pretty`. */
export function prettyDestination(
  source: string,
  write: (text: string) => void = (text) => void process.stdout.write(text),
  color = process.stdout.isTTY === true && !process.env["NO_COLOR"],
): { write(chunk: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split("\n"))
        if (line !== "") write(`${formatLogLine(line, { source, color })}\n`);
    },
  };
}
