/**
 * The chat API's wire format (CONTRACT section 2): the request of `POST /api/chat` and the
 * server-sent events it answers, and the one parser of such a stream that the scripts, the
 * benchmarks and the tests read it with. (The chat page, plain JavaScript served as it is,
 * reads the stream with its own few lines: backend/public/app.js.)
 */
import type { SandboxResponse } from "./sandbox";

export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

/** The body of `POST /api/chat`. */
export interface ChatRequest {
  messages: ChatMessage[];
}

/** A failure the user should see: what happened, in words that say what to do. */
export interface UserError {
  type: string;
  message: string;
}

/** The events of a chat stream, in the order a turn produces them; `done` is always last. */
export type ChatEvent =
  | { event: "code"; data: { id: string; code: string } }
  | { event: "code_result"; data: { id: string } & SandboxResponse }
  | { event: "text"; data: { delta: string } }
  | { event: "error"; data: UserError }
  | { event: "done"; data: Record<string, never> };

export type ChatEventName = ChatEvent["event"];

export const CHAT_EVENT_NAMES = [
  "code",
  "code_result",
  "text",
  "error",
  "done",
] as const satisfies readonly ChatEventName[];

/** One event as it came off the wire: the server's `event:` name and its `data:` JSON, unchecked. */
export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * A `text/event-stream` body as events. Comment lines (the heartbeats) and blocks without
 * data are skipped; `data:` that is not JSON is kept as `{ unparsed: <text> }` rather than
 * lost, so a reader can report what the server sent.
 */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.replace(/\r\n/g, "\n").split("\n\n")) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) continue;
    try {
      events.push({ event, data: JSON.parse(data.join("\n")) as Record<string, unknown> });
    } catch {
      events.push({ event, data: { unparsed: data.join("\n") } });
    }
  }
  return events;
}
