/**
 * An AWS SDK request handler that speaks whichever HTTP version the endpoint speaks.
 *
 * The Bedrock runtime client defaults to HTTP/2, also to an `http://` endpoint (cleartext
 * HTTP/2 with prior knowledge), and fails against a server that speaks only HTTP/1.1 (a proxy,
 * an emulator, a VPC endpoint behind a TLS-terminating proxy); the plain HTTP/1.1 handler
 * fails the other way round. ConverseStream works over either, so the backend asks each
 * origin once which it speaks and uses the matching handler from then on:
 * - `https:` by ALPN in the TLS handshake (offering h2 and http/1.1);
 * - `http:` by sending the HTTP/2 connection preface: an HTTP/2 server answers with a SETTINGS
 *   frame, an HTTP/1.1 server with an `HTTP/1.1 400` status line, by closing, or by waiting
 *   for the rest of what it takes for a request (silence).
 */
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { NodeHttp2Handler, NodeHttpHandler } from "@smithy/node-http-handler";

export type HttpVersion = "h2" | "http/1.1";

type Request = Parameters<NodeHttpHandler["handle"]>[0];
type Options = Parameters<NodeHttpHandler["handle"]>[1];
type Output = Awaited<ReturnType<NodeHttpHandler["handle"]>>;

/** The client connection preface (RFC 9113 section 3.4) followed by an empty SETTINGS frame. */
const H2_PREFACE = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
  Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]),
]);
const SETTINGS_FRAME_TYPE = 0x04;
/** How long a connected cleartext server may stay silent after the preface before it is taken for HTTP/1.1. */
const SILENT_MEANS_HTTP1_MS = 1500;

export interface ProbeOptions {
  /** How long finding out may take. Default 5000 ms. */
  timeoutMs?: number;
  /** Extra TLS settings (tests trust their own CA with `ca`). */
  tls?: tls.ConnectionOptions;
}

/** Which HTTP version the server at `origin` speaks. Rejects with the network error when it cannot be reached. */
export function probeHttpVersion(origin: URL, options: ProbeOptions = {}): Promise<HttpVersion> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const secure = origin.protocol === "https:";
  const host = origin.hostname.replace(/^\[|\]$/g, "");
  const port = Number(origin.port || (secure ? 443 : 80));
  return new Promise<HttpVersion>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, version?: HttpVersion) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(version!);
    };
    const socket: net.Socket = secure
      ? tls.connect({
          ...options.tls,
          host,
          port,
          ALPNProtocols: ["h2", "http/1.1"],
          ...(net.isIP(host) ? {} : { servername: host }),
        })
      : net.connect({ host, port });
    const timer = setTimeout(
      () =>
        finish(
          Object.assign(new Error(`no answer from ${origin.origin} within ${timeoutMs} ms`), {
            code: "ETIMEDOUT",
          }),
        ),
      timeoutMs,
    );
    // Our own Error (with the code kept): the SDK wraps what is not an Error of this realm.
    socket.once("error", (err: NodeJS.ErrnoException) =>
      finish(Object.assign(new Error(err.message), { code: err.code, cause: err })),
    );
    if (secure)
      socket.once("secureConnect", () =>
        finish(undefined, (socket as tls.TLSSocket).alpnProtocol === "h2" ? "h2" : "http/1.1"),
      );
    else {
      socket.once("connect", () => {
        socket.write(H2_PREFACE);
        // An HTTP/2 server answers the preface with its SETTINGS at once; one that keeps
        // silent is waiting for the rest of an HTTP/1.1 request.
        setTimeout(() => finish(undefined, "http/1.1"), SILENT_MEANS_HTTP1_MS).unref();
      });
      socket.once("data", (chunk: Buffer) =>
        // A frame header is 9 bytes: length (3), type (1), flags (1), stream id (4).
        finish(undefined, chunk.length >= 4 && chunk[3] === SETTINGS_FRAME_TYPE ? "h2" : "http/1.1"),
      );
      socket.once("end", () => finish(undefined, "http/1.1"));
    }
  });
}

/**
 * Delegates each request to an HTTP/2 or an HTTP/1.1 handler, by what its origin speaks
 * (asked once per origin; a failed probe is asked again next time).
 */
export class AnyHttpVersionHandler {
  // Not "h2": the SDK would then send the host as the :authority pseudo-header, which an
  // HTTP/1.1 request cannot carry; a Host header is valid in both versions.
  readonly metadata = { handlerProtocol: "http/1.1" };
  private readonly h2 = new NodeHttp2Handler({});
  private readonly h1 = new NodeHttpHandler({
    httpAgent: new http.Agent({ keepAlive: true }),
    httpsAgent: new https.Agent({ keepAlive: true }),
    connectionTimeout: 5000,
  });
  private readonly versions = new Map<string, Promise<HttpVersion>>();

  constructor(private readonly probe: (origin: URL) => Promise<HttpVersion> = probeHttpVersion) {}

  /** What was found for `origin` (`scheme://host:port`), if it was asked already. */
  versionOf(origin: string): Promise<HttpVersion> | undefined {
    return this.versions.get(origin);
  }

  async handle(request: Request, options?: Options): Promise<Output> {
    const origin = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ""}`;
    let version = this.versions.get(origin);
    if (!version) {
      version = this.probe(new URL(origin));
      this.versions.set(origin, version);
      version.catch(() => this.versions.delete(origin));
    }
    const chosen = await abortable(version, options?.abortSignal as AbortSignal | undefined);
    return chosen === "h2" ? this.h2.handle(request, options) : this.h1.handle(request, options);
  }

  updateHttpClientConfig(): void {
    // The SDK calls this for per-client overrides; both handlers keep their own settings.
  }

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    this.h2.destroy();
    this.h1.destroy();
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}

function abortError(): Error {
  return Object.assign(new Error("Request aborted"), { name: "AbortError" });
}
