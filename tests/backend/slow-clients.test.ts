/**
 * Slow clients cannot hold sockets forever: headers must arrive within HEADERS_TIMEOUT_MS,
 * the whole request (a stalled body included) within REQUEST_TIMEOUT_MS, and an idle kept-
 * alive connection is closed after KEEP_ALIVE_TIMEOUT_MS. The timeouts are answered with a
 * 408 in the contract's shape and logged; a slow but steady client still gets through. The
 * limits are shortened here so the test is quick; the defaults are checked on a real server.
 */
import net from "node:net";
import { startBackend, type RunningBackend } from "../../backend/server";
import { reply } from "../../dev/fakes/gemini";
import {
  backendEnv,
  chat,
  eventually,
  logCollector,
  names,
  parseRawResponse,
  startStack,
  type LogRecord,
} from "./harness";

let backend: RunningBackend;
let logs: LogRecord[];

beforeAll(async () => {
  const collector = logCollector();
  logs = collector.lines;
  backend = await startBackend({
    port: 0,
    env: backendEnv(undefined, undefined, {
      LOG_LEVEL: "info",
      HEADERS_TIMEOUT_MS: "800",
      REQUEST_TIMEOUT_MS: "1500",
      KEEP_ALIVE_TIMEOUT_MS: "1000",
    }),
    overrides: { logStream: collector.stream },
  });
});
afterAll(() => backend?.close());

interface Connection {
  socket: net.Socket;
  /** Resolves with everything received, once the server closes the connection. */
  closed: Promise<{ text: string; afterMs: number }>;
}

function connect(): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(backend.port, "127.0.0.1");
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString()));
    socket.on("error", reject);
    const closed = new Promise<{ text: string; afterMs: number }>((done) =>
      socket.on("close", () => done({ text, afterMs: Date.now() - started })),
    );
    socket.on("connect", () => resolve({ socket, closed }));
  });
}

const host = () => `Host: 127.0.0.1:${backend.port}\r\n`;

function expectTimeoutAnswer(text: string) {
  const response = parseRawResponse(text);
  expect(response.status).toBe(408);
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  expect(JSON.parse(response.body)).toEqual({
    error: { type: "RequestTimeout", message: expect.stringMatching(/not received in time/) },
  });
}

describe("slow clients", () => {
  it("headers that never finish: 408 in the contract's shape, then the socket is closed", async () => {
    const { socket, closed } = await connect();
    socket.write(`POST /api/execute HTTP/1.1\r\n${host()}Content-Type: application/json\r\n`);
    const { text, afterMs } = await closed;
    expectTimeoutAnswer(text);
    expect(afterMs).toBeGreaterThanOrEqual(700);
    expect(afterMs).toBeLessThan(4000);
  });

  it("headers, then a body that stalls (Content-Length: 100, nothing sent): 408 and closed, logged once", async () => {
    const before = logs.length;
    const { socket, closed } = await connect();
    socket.write(
      `POST /api/execute HTTP/1.1\r\n${host()}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n`,
    );
    const { text, afterMs } = await closed;
    expectTimeoutAnswer(text);
    expect(afterMs).toBeGreaterThanOrEqual(1400);
    expect(afterMs).toBeLessThan(5000);
    await eventually(
      () => logs.slice(before).some((l) => l.msg === "request"),
      2000,
      "the request's log line",
    );
    const lines = logs.slice(before).filter((l) => l.msg === "request");
    expect(lines).toEqual([
      expect.objectContaining({ method: "POST", url: "/api/execute", statusCode: 408 }),
    ]);
  });

  it("a slow but steady client (a body trickling in over about 1 s) gets its answer", async () => {
    const { socket, closed } = await connect();
    const body = JSON.stringify({ code: `print(1)  # ${"x".repeat(400)}` });
    socket.write(
      `POST /api/execute HTTP/1.1\r\n${host()}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    for (let i = 0; i < body.length; i += 50) {
      socket.write(body.slice(i, i + 50));
      await new Promise((r) => setTimeout(r, 100));
    }
    const { text } = await closed;
    // No sandbox behind this server: the request itself was taken and answered.
    expect(parseRawResponse(text).status).toBe(502);
  });

  it("an idle kept-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS", async () => {
    const { socket, closed } = await connect();
    socket.write(`GET /healthz HTTP/1.1\r\n${host()}\r\n`);
    const started = Date.now();
    const { text } = await closed;
    expect(parseRawResponse(text).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});

describe("slow answers are not slow clients", () => {
  it("a chat stream that lasts longer than REQUEST_TIMEOUT_MS and KEEP_ALIVE_TIMEOUT_MS is answered whole", async () => {
    const s = await startStack(() => ({ ...reply.text("a", "b", "c"), delayMs: 900 }), undefined, {
      REQUEST_TIMEOUT_MS: "1000",
      HEADERS_TIMEOUT_MS: "500",
      KEEP_ALIVE_TIMEOUT_MS: "500",
    });
    try {
      const started = Date.now();
      const { status, events } = await chat(s.backend.url, "take your time");
      expect(Date.now() - started).toBeGreaterThan(2500);
      expect(status).toBe(200);
      expect(names(events)).toEqual(["text", "text", "text", "done"]);
    } finally {
      await s.close();
    }
  });
});

/** How many bytes loopback TCP takes from a writer whose reader has stopped reading (kernel buffers). */
async function loopbackAbsorbs(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const reader = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  reader.pause();
  const [writer] = (await new Promise((r) => server.once("connection", (c) => r([c])))) as [net.Socket];
  const chunk = Buffer.alloc(16384);
  let written = 0;
  for (let settled = 0; settled < 5;) {
    while (writer.write(chunk)) written += chunk.length;
    written += chunk.length;
    const pending = writer.writableLength;
    await new Promise((r) => setTimeout(r, 100));
    settled = writer.writableLength === pending ? settled + 1 : 0;
  }
  const absorbed = written - writer.writableLength;
  reader.destroy();
  writer.destroy();
  server.close();
  return absorbed;
}

describe("a client that stops reading", () => {
  it("cannot keep its chat's stream slot: an answer it never takes is dropped once nothing moves for KEEP_ALIVE_TIMEOUT_MS", async () => {
    // An answer larger than what the kernel takes for the reader, but with less than the
    // 2 MiB the stream may buffer left over: the turn ends with bytes no one will read.
    const total = (await loopbackAbsorbs()) + 1024 * 1024;
    const delta = "x".repeat(16384);
    const s = await startStack(
      () => reply.text(...Array<string>(Math.ceil(total / delta.length)).fill(delta)),
      undefined,
      {
        MAX_OPEN_STREAMS: "1",
        KEEP_ALIVE_TIMEOUT_MS: "1000",
      },
    );
    const stalled = net.connect(s.backend.port, "127.0.0.1");
    try {
      const body = JSON.stringify({ messages: [{ role: "user", content: "a long answer, please" }] });
      stalled.write(
        `POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      stalled.pause();
      stalled.on("error", () => undefined);
      // The turn ends within a few seconds; about a second after it, nothing having moved, the
      // server closes the response (its log line is written then). Before, it stayed open, and
      // the replica's only stream slot taken, for as long as the client kept the socket.
      const chatLine = () => s.logs.find((l) => l.msg === "request" && l["url"] === "/api/chat");
      await eventually(() => chatLine() !== undefined, 20000, "the stalled chat to be closed");
      expect(chatLine()).toMatchObject({ statusCode: 200, aborted: true });
      const next = await chat(s.backend.url, "my turn");
      expect(next.status).toBe(200);
    } finally {
      stalled.destroy();
      await s.close();
    }
  });
});

describe("the defaults, on a real server", () => {
  it("headers 20 s, the whole request 60 s, idle keep-alive 65 s (longer than a load balancer's 60 s)", async () => {
    const plain = await startBackend({ port: 0, env: { LOG_LEVEL: "silent" } });
    try {
      expect(plain.app.server.headersTimeout).toBe(20000);
      expect(plain.app.server.requestTimeout).toBe(60000);
      expect(plain.app.server.keepAliveTimeout).toBe(65000);
    } finally {
      await plain.close();
    }
  });
});
