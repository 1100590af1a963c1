/**
 * The conversation limits, in one place: what POST /api/chat accepts, and how much of a
 * conversation is re-sent to the model. The page gets the same numbers from the server (a
 * meta tag, routes/page.ts) and trims with the same code (public/history-budget.js), so the
 * two always agree and a long conversation never bricks the page.
 */
import type { ChatMessage } from "../contract/chat";

/** Request bodies larger than this are refused with 413 (the page keeps conversations far below it). */
export const BODY_LIMIT_BYTES = 1024 * 1024;
/** Messages one request may carry. */
export const MAX_MESSAGES = 200;
/** Characters one message may have (the new question included). */
export const MAX_MESSAGE_CHARS = 32768;

export interface HistoryLimits {
  /** Characters of message content in all, newest kept first. */
  budgetChars: number;
  maxMessages?: number;
  maxMessageChars?: number;
}

export interface TrimmedHistory {
  messages: ChatMessage[];
  /** Messages left out entirely (a note saying so is put in front of the rest). */
  omitted: number;
}

// Plain JavaScript shared with the page (no build step there); typed here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const shared = require("./public/history-budget.js") as {
  trimHistory(messages: readonly ChatMessage[], limits: HistoryLimits): TrimmedHistory;
  cutMiddle(text: string, max: number): string;
};

/** The newest messages that fit `limits` (see public/history-budget.js for the rule). */
export const trimHistory = shared.trimHistory;

/** `text` cut to `max` characters, start and end kept, with a note of what was left out. */
export const cutMiddle = shared.cutMiddle;
