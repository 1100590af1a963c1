/**
 * Server-sent events on a raw Node response: `event:` + one JSON `data:` line per event, and
 * a comment line every ~15 s so proxies and load balancers do not close an idle stream while
 * the model thinks or code runs. Writes after the client left are dropped, not thrown.
 */
import type { ServerResponse } from "node:http";

export const HEARTBEAT_MS = 15000;

export interface SseWriter {
  send(event: string, data: unknown): void;
  /** Ends the stream (idempotent). */
  close(): void;
  readonly closed: boolean;
}

export function openSse(res: ServerResponse, heartbeatMs = HEARTBEAT_MS): SseWriter {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    // nginx (and ingress-nginx) buffer responses unless told otherwise.
    "x-accel-buffering": "no",
  });
  res.flushHeaders();
  let closed = false;
  const write = (text: string) => {
    if (!closed && !res.destroyed && res.writable) res.write(text);
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
