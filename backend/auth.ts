/**
 * Optional bearer-token auth for the API: when API_TOKEN is set, a request needs
 * `Authorization: Bearer <API_TOKEN>`. Registered as a hook of the /api scope (app.ts), so it
 * runs for every request routed to an API route, whatever the spelling of its URL; it never
 * looks at the URL itself. Compared as SHA-256 digests with timingSafeEqual, so neither the
 * token's content nor its length leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { sendError } from "./errors";

const digest = (value: string) => createHash("sha256").update(value).digest();

export function bearerAuth(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const match = /^Bearer[ \t]+(.+)$/i.exec(request.headers.authorization ?? "");
    if (match?.[1] && timingSafeEqual(digest(match[1].trim()), expected)) return;
    return sendError(
      reply,
      401,
      "Unauthorized",
      match
        ? "The bearer token is wrong; send Authorization: Bearer <the backend's API_TOKEN>"
        : "This backend needs a token: send Authorization: Bearer <the backend's API_TOKEN>",
      { "www-authenticate": 'Bearer realm="co-intelligence"' },
    );
  };
}
