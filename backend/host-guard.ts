/**
 * DNS rebinding defence for a backend bound to loopback: a web page on any site whose name
 * re-resolves to 127.0.0.1 would otherwise be same-origin with it (and, without API_TOKEN,
 * run code and spend the model key). Like webpack-dev-server and Vite, requests are only
 * answered when addressed to a loopback name: `localhost` (and `*.localhost`, which browsers
 * resolve to loopback themselves), `127.0.0.0/8` or `[::1]`, in the Host header and in an
 * absolute-form request target alike.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import { sendError } from "./errors";

export function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  return (
    h === "localhost" ||
    h.endsWith(".localhost") ||
    h === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/** The host name of a Host header value (`name`, `name:port`, `[v6]:port`), or undefined if malformed. */
export function hostnameOf(authority: string): string | undefined {
  // URL would take `localhost#x`, `localhost?x` as localhost and decode `%6cocalhost`: none is a host.
  if (/[%?#]/.test(authority)) return undefined;
  try {
    const url = new URL(`http://${authority}`);
    return url.username || url.password || url.pathname !== "/" ? undefined : url.hostname;
  } catch {
    return undefined;
  }
}

/**
 * HTTP/1.1 requires a Host header (RFC 9112). Node answers its absence with a bare 400 of its
 * own; the server turns that check off (app.ts) and makes it here, in the contract's shape.
 * Two Host lines are a 400 as well (RFC 9112 section 3.2): Node keeps the first and drops the
 * others, so the host checked here need not be the one a proxy in front acted on.
 */
export async function requireHostHeader(request: FastifyRequest, reply: FastifyReply) {
  if (request.raw.httpVersion === "1.1" && request.headers.host === undefined)
    return sendError(reply, "BadRequest", "An HTTP/1.1 request needs a Host header; send one and try again");
  const raw = request.raw.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === "host") hosts++;
  if (hosts > 1)
    return sendError(reply, "BadRequest", "The request has more than one Host header; send exactly one");
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;

/** The everyday Host values, answered without parsing: `localhost`, `127.0.0.1`, `[::1]`, with a port. */
const PLAIN_LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

export function loopbackHostGuard(port: () => number) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const host = request.headers.host ?? "";
    if (PLAIN_LOOPBACK.test(host) && request.raw.url?.startsWith("/")) return done();
    const authorities = [host];
    const absolute = ABSOLUTE_FORM.exec(request.raw.url ?? "");
    if (absolute) authorities.push(absolute[1] ?? "");
    if (authorities.every((a) => isLoopbackName(hostnameOf(a) ?? ""))) return done();
    sendError(
      reply,
      "HostNotAllowed",
      `This backend listens on loopback only and answers requests addressed to localhost, 127.0.0.1 or [::1]; ` +
        `open http://localhost:${port()}/ instead (to serve other names, start it with HOST=0.0.0.0 and set API_TOKEN).`,
    );
  };
}
