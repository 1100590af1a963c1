/**
 * GET / : the chat page (backend/public, plain HTML/CSS/JS, no build step), its two libraries
 * (marked for Markdown, DOMPurify to sanitise what marked makes) served from node_modules by
 * this server, never a CDN, and a favicon. Files are read once at start-up and served from
 * memory. The page gets the conversation limits from this server (data attributes on <body>),
 * so the page and the server always agree on what may be re-sent, and the model it talks to
 * (each answer then names the model that gave it, from that response's own headers).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { PROVIDER_LABELS } from "../../contract/models";
import { BODY_LIMIT_BYTES, MAX_MESSAGE_CHARS, MAX_MESSAGES } from "../history";
import { describeModel } from "../providers/settings";

/** backend/public next to the source (tsx) or next to the compiled routes (dist/backend/public). */
export const PUBLIC_DIR = path.join(__dirname, "..", "public");

/**
 * The page's scripts come from this server only; nothing inline, no eval. Markup the page
 * inserts is sanitised by DOMPurify, and Trusted Types make any other way of inserting HTML
 * throw in browsers that support them.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types dompurify",
].join("; ");

/** Text as it may stand in HTML and in a quoted attribute (a MODEL_ID may hold any printable character). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function packageFile(pkg: string, file: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);
}

const JS = "text/javascript; charset=utf-8";

/** Characters the page re-sends at most: the server's model budget, capped so a request body stays well under its limit. */
export function pageHistoryChars(modelHistoryChars: number): number {
  // JSON may spend up to 6 bytes on one character (control characters as \uXXXX).
  return Math.min(modelHistoryChars, Math.floor(BODY_LIMIT_BYTES / 6) - 1000);
}

export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const values: Record<string, string | number> = {
    maxMessages: MAX_MESSAGES,
    maxMessageChars: MAX_MESSAGE_CHARS,
    historyChars: pageHistoryChars(app.backend.config.modelHistoryChars),
    modelLabel: describeModel(app.backend.config.model).label,
    providerLabels: JSON.stringify(PROVIDER_LABELS),
  };
  const html = readFileSync(path.join(PUBLIC_DIR, "index.html"), "utf8").replace(
    /\{\{(\w+)\}\}/g,
    (_whole, name: string) => escapeHtml(String(values[name] ?? "")),
  );
  const assets: Record<string, { body: Buffer | string; type: string }> = {
    "/": { body: html, type: "text/html; charset=utf-8" },
    "/app.js": { body: readFileSync(path.join(PUBLIC_DIR, "app.js")), type: JS },
    "/history-budget.js": { body: readFileSync(path.join(PUBLIC_DIR, "history-budget.js")), type: JS },
    "/style.css": { body: readFileSync(path.join(PUBLIC_DIR, "style.css")), type: "text/css; charset=utf-8" },
    "/favicon.svg": { body: readFileSync(path.join(PUBLIC_DIR, "favicon.svg")), type: "image/svg+xml" },
    // Browsers that ignore <link rel="icon"> still ask for /favicon.ico.
    "/favicon.ico": { body: readFileSync(path.join(PUBLIC_DIR, "favicon.svg")), type: "image/svg+xml" },
    "/vendor/marked.js": { body: readFileSync(packageFile("marked", "lib/marked.umd.js")), type: JS },
    "/vendor/purify.js": { body: readFileSync(require.resolve("dompurify/dist/purify.min.js")), type: JS },
  };
  for (const [url, { body, type }] of Object.entries(assets)) {
    app.get(url, async (_request, reply) =>
      reply
        .type(type)
        .header("cache-control", "no-cache")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .send(body),
    );
  }
}
