/**
 * Optional bearer-token auth for the API: when API_TOKEN is set, a request needs
 * `Authorization: Bearer <API_TOKEN>`. `bearerAuth` is a hook of the /api scope (app.ts), so it
 * runs for every request routed to an API route, whatever the spelling of its URL; it never
 * looks at the URL itself. Requests under /api that match no route (a wrong method, a path
 * that does not exist) are answered 401 before 404/405 too (errors.ts), so that without the
 * token nothing about the API is told. Compared as SHA-256 digests with timingSafeEqual, so
 * neither the token's content nor its length leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import { sendError } from "./errors";

const digest = (value: string) => createHash("sha256").update(value).digest();

export type TokenCheck = (request: FastifyRequest) => "ok" | "missing" | "wrong";

export function tokenCheck(token: string): TokenCheck {
  const expected = digest(token);
  return (request) => {
    const match = /^Bearer[ \t]+(.+)$/i.exec(request.headers.authorization ?? "");
    if (!match?.[1]) return request.headers.authorization ? "wrong" : "missing";
    return timingSafeEqual(digest(match[1].trim()), expected) ? "ok" : "wrong";
  };
}

export function sendUnauthorized(reply: FastifyReply, why: "missing" | "wrong"): FastifyReply {
  return sendError(
    reply,
    "Unauthorized",
    why === "wrong"
      ? "The bearer token is wrong; send Authorization: Bearer <the backend's API_TOKEN>"
      : "This backend needs a token: send Authorization: Bearer <the backend's API_TOKEN>",
    { "www-authenticate": 'Bearer realm="co-intelligence"' },
  );
}

export function bearerAuth(check: TokenCheck) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const result = check(request);
    if (result === "ok") return done();
    sendUnauthorized(reply, result);
  };
}
