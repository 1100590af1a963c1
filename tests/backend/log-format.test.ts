/**
 * The local log format (LOG_FORMAT=pretty, what `npm start` uses): the backend's and the
 * sandbox's JSON lines read the same way, one line each; anything else is shown as it is.
 */
import { formatLogLine } from "../../backend/log-format";

const at = new Date(2026, 0, 2, 14, 2, 3, 120).getTime();

describe("formatLogLine", () => {
  it("a request line: time, level, source, method, path, status, duration, then the other fields", () => {
    const line = JSON.stringify({
      level: "info",
      time: at,
      pid: 1,
      hostname: "h",
      requestId: "3f2a9c1b8e4d",
      method: "POST",
      url: "/api/chat",
      statusCode: 200,
      durationMs: 1234,
      outcome: "ok",
      msg: "request",
    });
    expect(formatLogLine(line, { source: "backend" })).toBe(
      "14:02:03.120 INFO  backend  POST /api/chat 200 1234 ms  requestId=3f2a9c1b8e4d outcome=ok",
    );
  });

  it("the sandbox's invocation line, with pino's numeric levels and Python's level names alike", () => {
    const line = JSON.stringify({
      level: "INFO",
      message: "invocation",
      ok: false,
      durationMs: 5.8,
      errorType: "Timeout",
    });
    expect(formatLogLine(line, { source: "sandbox", now: new Date(at) })).toBe(
      "14:02:03.120 INFO  sandbox  invocation failed 5.8 ms  errorType=Timeout",
    );
    expect(
      formatLogLine(JSON.stringify({ level: 40, time: at, msg: "careful", n: 1 }), { source: "backend" }),
    ).toBe("14:02:03.120 WARN  backend  careful  n=1");
  });

  it("a line that is not JSON is shown as it is, marked with its source", () => {
    expect(
      formatLogLine("Traceback (most recent call last):", { source: "sandbox", now: new Date(at) }),
    ).toBe("14:02:03.120       sandbox  | Traceback (most recent call last):");
  });

  it("strings with spaces are quoted; nothing spans two lines", () => {
    const out = formatLogLine(JSON.stringify({ level: "info", time: at, msg: "x", detail: "a b\nc" }), {
      source: "backend",
    });
    expect(out).toBe('14:02:03.120 INFO  backend  x  detail="a b\\nc"');
  });
});
