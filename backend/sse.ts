/**
 * Server-sent events on a raw Node response: `event:` + one JSON `data:` line per event, and
 * a comment line every ~15 s so proxies and load balancers do not close an idle stream while
 * the model thinks or code runs. Writes after the client left are dropped, not thrown; a
 * client that stops reading while more than MAX_BUFFERED_BYTES wait for it is disconnected,
 * so a stalled reader cannot make the server hold a whole answer in memory per stream. Nor
 * can it hold the stream (and its stream slot) open with less: once the answer is complete,
 * a response whose unsent bytes do not go down for `stallMs` is closed.
 */
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";

export const HEARTBEAT_MS = 15000;
export const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;
/** After the last event, how long the unsent rest may go without moving before the stream is closed. */
export const STALL_MS = 65000;

export interface SseWriter {
  send(event: string, data: unknown): void;
  /** Ends the stream (idempotent). */
  close(): void;
  readonly closed: boolean;
}

export function openSse(
  res: ServerResponse,
  headers: OutgoingHttpHeaders = {},
  heartbeatMs = HEARTBEAT_MS,
  stallMs = STALL_MS,
): SseWriter {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    // nginx (and ingress-nginx) buffer responses unless told otherwise.
    "x-accel-buffering": "no",
    ...headers,
  });
  res.flushHeaders();
  let closed = false;
  const write = (text: string) => {
    if (closed || res.destroyed || !res.writable) return;
    res.write(text);
    if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
  };
  const heartbeat = setInterval(() => write(": heartbeat\n\n"), heartbeatMs);
  heartbeat.unref();
  const stop = () => {
    closed = true;
    clearInterval(heartbeat);
  };
  res.on("close", stop);
  return {
    send(event, data) {
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close() {
      if (closed) return;
      stop();
      if (res.destroyed) return;
      res.end();
      if (!res.writableFinished) dropWhenStalled(res, stallMs);
    },
    get closed() {
      return closed;
    },
  };
}

/**
 * A response that is complete but not yet sent: closed when its unsent bytes have not gone
 * down for `stallMs` (the client stopped reading), else left to finish, however slowly.
 */
function dropWhenStalled(res: ServerResponse, stallMs: number): void {
  let unsent = res.writableLength;
  const check = setInterval(() => {
    if (res.writableLength >= unsent) res.destroy();
    unsent = res.writableLength;
  }, stallMs);
  check.unref();
  res.once("close", () => clearInterval(check));
}
