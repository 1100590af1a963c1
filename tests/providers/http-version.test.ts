/**
 * The backend does not depend on one HTTP version: it asks each endpoint which it speaks
 * (ALPN over TLS; the HTTP/2 preface in cleartext) and the Bedrock client then uses HTTP/2 or
 * HTTP/1.1 accordingly, so a cleartext HTTP/2 endpoint, an HTTP/1.1-only one (a proxy, an
 * emulator) and the real service all work.
 */
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import type { AddressInfo, Server } from "node:net";
import path from "node:path";
import { AnyHttpVersionHandler, probeHttpVersion } from "../../backend/providers/http-version";
import { startFakeBedrock, type FakeBedrock } from "../../dev/fakes/bedrock";
import { reply } from "../../dev/fakes/script";
import { BEDROCK_KEY, providerFor } from "./harness";

const TLS = {
  cert: fs.readFileSync(path.join(__dirname, "../fixtures/tls/localhost.crt")),
  key: fs.readFileSync(path.join(__dirname, "../fixtures/tls/localhost.key")),
};
const servers: Server[] = [];
const fakes: FakeBedrock[] = [];
afterAll(async () => {
  for (const s of servers) s.close();
  await Promise.all(fakes.map((f) => f.close()));
});

async function listen(server: Server, scheme: "http" | "https"): Promise<URL> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return new URL(`${scheme}://localhost:${(server.address() as AddressInfo).port}`);
}

describe("finding out which HTTP version an endpoint speaks", () => {
  it("cleartext HTTP/2 with prior knowledge: h2", async () => {
    const url = await listen(http2.createServer(), "http");
    expect(await probeHttpVersion(url)).toBe("h2");
  });

  it("cleartext HTTP/1.1 only: http/1.1", async () => {
    const url = await listen(http.createServer(), "http");
    expect(await probeHttpVersion(url)).toBe("http/1.1");
  });

  it("a cleartext server that answers the preface with silence (waiting for more of a request): http/1.1", async () => {
    const url = await listen(
      net.createServer((socket) => socket.resume()),
      "http",
    );
    const started = Date.now();
    expect(await probeHttpVersion(url)).toBe("http/1.1");
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("TLS offering h2 by ALPN (as AWS endpoints do): h2", async () => {
    const url = await listen(http2.createSecureServer({ ...TLS, allowHTTP1: true }), "https");
    expect(await probeHttpVersion(url, { tls: { ca: TLS.cert } })).toBe("h2");
  });

  it("TLS with HTTP/1.1 only: http/1.1", async () => {
    const url = await listen(https.createServer(TLS), "https");
    expect(await probeHttpVersion(url, { tls: { ca: TLS.cert } })).toBe("http/1.1");
  });

  it("a certificate nobody vouches for is refused, not downgraded", async () => {
    const url = await listen(https.createServer(TLS), "https");
    await expect(probeHttpVersion(url)).rejects.toMatchObject({
      code: expect.stringMatching(/CERT|SELF_SIGNED/),
    });
  });

  it("a closed port is a connection error with its code, and is asked again next time", async () => {
    const server = http.createServer();
    const url = await listen(server, "http");
    server.close();
    await expect(probeHttpVersion(url)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    const probes: string[] = [];
    const handler = new AnyHttpVersionHandler(async (origin) => {
      probes.push(origin.origin);
      throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
    });
    const request = {
      protocol: "http:",
      hostname: "localhost",
      port: 1,
      path: "/",
      method: "GET",
      headers: {},
    };
    await expect(handler.handle(request as never)).rejects.toThrow("refused");
    await expect(handler.handle(request as never)).rejects.toThrow("refused");
    expect(probes).toHaveLength(2);
  });
});

describe("the Bedrock provider over whichever version the endpoint speaks", () => {
  it.each([
    [["h2c"], "2.0"],
    [["http/1.1"], "1.1"],
    [["h2c", "http/1.1"], "2.0"],
  ] as const)("an endpoint serving %j is answered over HTTP/%s", async (protocols, version) => {
    const fake = await startFakeBedrock({
      script: () => reply.text("fine"),
      credentials: [BEDROCK_KEY],
      protocols: [...protocols],
    });
    fakes.push(fake);
    const provider = providerFor("bedrock", fake.url);
    try {
      for (let i = 0; i < 2; i++) {
        const stream = provider.stream({
          system: "s",
          tool: undefined,
          conversation: [{ role: "user", text: "hi" }],
        });
        let text = "";
        for (let next = await stream.next(); !next.done; next = await stream.next())
          if (next.value.type === "text") text += next.value.text;
        expect(text).toBe("fine");
      }
    } finally {
      provider.close?.();
    }
    expect(fake.requests.map((r) => r.httpVersion)).toEqual([version, version]);
  });
});
