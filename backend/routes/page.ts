/**
 * GET / : the chat page (backend/public, plain HTML/CSS/JS). Three small files, read once
 * at start-up and served from memory: no static-file plugin needed.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { FastifyInstance } from "fastify";

/** backend/public next to the source (tsx) or next to the compiled routes (dist/backend/public). */
export const PUBLIC_DIR = path.join(__dirname, "..", "public");

const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

export async function pageRoutes(app: FastifyInstance): Promise<void> {
  for (const [url, { file, type }] of Object.entries(ASSETS)) {
    const body = readFileSync(path.join(PUBLIC_DIR, file));
    app.get(url, async (_request, reply) =>
      reply
        .type(type)
        .header("cache-control", "no-cache")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", "default-src 'self'; connect-src 'self'; frame-ancestors 'none'")
        .send(body),
    );
  }
}
