/**
 * Server-sent events on a raw Node response: `event:` + one JSON `data:` line per event, and
 * a comment line every ~15 s so proxies and load balancers do not close an idle stream while
 * the model thinks or code runs. Writes after the client left are dropped, not thrown; a
 * client that stops reading while more than MAX_BUFFERED_BYTES wait for it is disconnected,
 * so a stalled reader cannot make the server hold a whole answer in memory per stream.
 */
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";

export const HEARTBEAT_MS = 15000;
export const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;

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
      if (!res.destroyed) res.end();
    },
    get closed() {
      return closed;
    },
  };
}
