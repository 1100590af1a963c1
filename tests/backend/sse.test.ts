/**
 * The SSE writer on a real HTTP connection: one `event:` + JSON `data:` block per event, a
 * heartbeat comment on an idle stream (so proxies and load balancers keep it open), and no
 * throw when the client has gone.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { openSse, type SseWriter } from "../../backend/sse";

async function serve(handler: (writer: SseWriter) => void) {
  const server = http.createServer((_req, res) => handler(openSse(res, {}, 100)));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("openSse", () => {
  it("sends events as event/data blocks and heartbeats while idle", async () => {
    const { server, url } = await serve((sse) => {
      sse.send("text", { delta: "a\nb" });
      setTimeout(() => {
        sse.send("done", {});
        sse.close();
      }, 350);
    });
    try {
      const response = await fetch(url);
      expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      expect(response.headers.get("x-accel-buffering")).toBe("no");
      const body = await response.text();
      expect(body.startsWith('event: text\ndata: {"delta":"a\\nb"}\n\n')).toBe(true);
      expect(body.match(/^: heartbeat\n\n/gm)?.length).toBeGreaterThanOrEqual(2);
      expect(body.endsWith("event: done\ndata: {}\n\n")).toBe(true);
    } finally {
      server.close();
    }
  });

  it("drops writes after the client left instead of throwing", async () => {
    let writer: SseWriter | undefined;
    const closed = new Promise<void>((resolve) => {
      void serve((sse) => {
        writer = sse;
        sse.send("text", { delta: "x" });
      }).then(async ({ server, url }) => {
        const controller = new AbortController();
        const response = await fetch(url, { signal: controller.signal });
        await response.body!.getReader().read();
        controller.abort();
        await new Promise((r) => setTimeout(r, 100));
        server.close();
        resolve();
      });
    });
    await closed;
    expect(writer!.closed).toBe(true);
    expect(() => writer!.send("text", { delta: "late" })).not.toThrow();
    expect(() => writer!.close()).not.toThrow();
  });
});
