/**
 * What every fake model server shares: a protocol-neutral view of a model request (the
 * conversation as turns with texts, tool calls and tool results), a protocol-neutral reply
 * (stream this text, ask for these calls, fail like this), and the scripts that choose the
 * reply: a list used in order (`scripted`) or the seed brain, which answers the seed
 * questions through `execute_python` by itself. Each fake (openai.ts, bedrock.ts) translates
 * its wire format to the view and the reply to its wire format, so one script drives any of
 * them.
 *
 * A question may carry fault directives for trying the backend's error handling by hand
 * (`npm start -- --provider openai`, then ask "What's 25 times 47? [fake:429]"):
 *   [fake:429]      the first request with this question is rate-limited (with a retry hint)
 *   [fake:500]      every request with this question fails with a server error
 *   [fake:503]      every request with this question answers "unavailable"
 *   [fake:filter]   the answer is stopped by the content filter
 *   [fake:loop]     the model asks to run code again after every result, forever
 */
import type { IncomingHttpHeaders } from "node:http";
import { NO_TOOL, seedCodesFor, UNKNOWN_QUESTION, wrongly } from "./seed-questions";

/* ---------- the request, as any fake sees it ---------- */

export interface FakeToolCallSeen {
  id: string;
  name: string;
  /** The arguments as sent back (an object, or the text when it was not JSON). */
  args: unknown;
}

export interface FakeToolResultSeen {
  /** The call id it answers (tool_call_id, toolUseId). */
  id: string;
  /** The result's text as sent. */
  content: string;
  /** `content` parsed, when it is a JSON object. */
  output: Record<string, unknown> | undefined;
  /** Bedrock's toolResult status, when sent. */
  status?: string;
}

export interface FakeTurn {
  role: "user" | "assistant";
  text: string;
  calls: FakeToolCallSeen[];
  results: FakeToolResultSeen[];
  /** Signatures of the reasoning blocks sent back with an assistant turn (Bedrock). */
  reasoning?: string[];
}

export interface FakeModelRequest {
  model: string;
  system: string;
  /** Names of the tools offered. */
  tools: string[];
  turns: FakeTurn[];
  headers: IncomingHttpHeaders;
  /** "1.1" or "2.0". */
  httpVersion: string;
  /** The request body as received (wire JSON). */
  body: unknown;
  /** The client went away before the reply was complete. */
  aborted: boolean;
  /** The reply was written completely. */
  finished: boolean;
}

/* ---------- the reply, in words any fake can speak ---------- */

export interface FakeCall {
  /** Python to run; becomes the `code` argument. */
  code?: string;
  /** The call id; default: one in the protocol's own style. */
  id?: string;
  /** Default execute_python. */
  name?: string;
  /** Raw arguments text instead of {code} (malformed-call tests). */
  argumentsText?: string;
}

export type FakeErrorKind =
  | "rate-limit"
  | "server"
  | "unavailable"
  | "auth"
  | "forbidden"
  | "unknown-model"
  | "context-too-long"
  | "content-filter"
  | "bad-request";

export type FakeReply =
  | {
      kind: "answer";
      /** Text deltas, streamed before the calls. */
      text: string[];
      calls: FakeCall[];
      /** The model's reasoning, streamed first as a signed block (Bedrock), never part of the answer. */
      reasoning?: string;
      /** Pause before each piece. */
      delayMs?: number;
      /** Never end the response (a model that hangs). */
      hang?: boolean;
      /** How the answer ends: normally, stopped by the content filter, or cut off without an end. */
      end?: "normal" | "content-filter" | "cut-off";
    }
  | {
      kind: "error";
      error: FakeErrorKind;
      message?: string;
      /** Sent as the protocol's retry hint (Retry-After). */
      retryAfterSeconds?: number;
      /** Text streamed before the failure: the error arrives inside the stream. */
      after?: string[];
    };

export type FakeScript = (request: FakeModelRequest, index: number) => FakeReply | Promise<FakeReply>;

export const reply = {
  /** An answer streamed as one piece per delta. */
  text(...deltas: string[]): FakeReply {
    return { kind: "answer", text: deltas, calls: [] };
  },
  /** One model turn asking for these calls (several = parallel calls). */
  calls(...calls: FakeCall[]): FakeReply {
    return { kind: "answer", text: [], calls };
  },
  /** Some text, then calls, in one model turn. */
  textAndCalls(text: string, ...calls: FakeCall[]): FakeReply {
    return { kind: "answer", text: [text], calls };
  },
  error(
    error: FakeErrorKind,
    options: { message?: string; retryAfterSeconds?: number; after?: string[] } = {},
  ): FakeReply {
    return { kind: "error", error, ...options };
  },
  /** Some text, then the content filter stops the answer. */
  filtered(...deltas: string[]): FakeReply {
    return { kind: "answer", text: deltas, calls: [], end: "content-filter" };
  },
  /** Some text, and the stream ends without its end marker. */
  cutOff(...deltas: string[]): FakeReply {
    return { kind: "answer", text: deltas, calls: [], end: "cut-off" };
  },
  /** Sends `deltas` and then never ends. */
  hang(...deltas: string[]): FakeReply {
    return { kind: "answer", text: deltas, calls: [], hang: true };
  },
};

/** Replies used in order; requests beyond the list get a server error that says so. */
export function scripted(...replies: FakeReply[]): FakeScript {
  return (_request, index) =>
    replies[index] ?? reply.error("server", { message: `fake: no scripted reply for request #${index + 1}` });
}

/* ---------- the seed brain ---------- */

export interface SeedBrainOptions {
  /** Answer with wrong numbers (the code still runs). */
  wrong?: boolean;
}

const DIRECTIVE = /\[fake:([a-z0-9]+)\]/gi;

/** The last user turn with text: the question being answered. */
function questionOf(turns: readonly FakeTurn[]): string {
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!;
    if (turn.role === "user" && turn.text.trim() !== "") return turn.text;
  }
  return "";
}

/** What a tool result says, in the words of an answer. */
function describeResult(result: FakeToolResultSeen): string {
  const r = (result.output ?? {}) as {
    stdout?: string;
    result?: string | null;
    error?: { type?: string; message?: string } | null;
  };
  if (r.error) return `the code failed with ${r.error.type}: ${r.error.message}`;
  return (r.stdout ?? "").trim() || (r.result ?? "") || result.content;
}

/**
 * Answers like a well-behaved model: for a question it understands, an `execute_python`
 * call per part of the question (parallel calls in one turn), then, once the results come
 * back, an answer built from their output. Honours the fault directives above.
 */
export function seedBrain(options: SeedBrainOptions = {}): FakeScript {
  const attempts = new Map<string, number>();
  return (request) => {
    const question = questionOf(request.turns);
    const directives = new Set([...question.matchAll(DIRECTIVE)].map((m) => m[1]!.toLowerCase()));
    const seen = (attempts.get(question) ?? 0) + 1;
    attempts.set(question, seen);
    if (directives.has("429") && seen === 1)
      return reply.error("rate-limit", { retryAfterSeconds: 1, message: "fake: rate limit (once)" });
    if (directives.has("500")) return reply.error("server", { message: "fake: server error (every time)" });
    if (directives.has("503"))
      return reply.error("unavailable", { message: "fake: unavailable (every time)" });

    const last = request.turns[request.turns.length - 1];
    const results = last?.role === "user" ? last.results : [];
    const codes = seedCodesFor(question.replace(DIRECTIVE, ""));
    if (results.length > 0) {
      if (directives.has("loop")) return reply.calls(...codes.map((code) => ({ code })));
      const answer = results.map(describeResult).join("; ");
      if (directives.has("filter")) return reply.filtered("The answer is ");
      return reply.text("The answer is ", `${options.wrong ? wrongly(answer) : answer}.`);
    }
    if (codes.length === 0) return reply.text(UNKNOWN_QUESTION);
    if (!request.tools.includes("execute_python")) return reply.text(NO_TOOL);
    return reply.calls(...codes.map((code) => ({ code })));
  };
}

/* ---------- recording requests, for tests ---------- */

/** What every fake records of a request: whether its reply was complete, or cut short by the client. */
export interface Tracked {
  aborted: boolean;
  finished: boolean;
}

/** A running fake model server, as tests and the local stack hold it. */
export interface FakeServer<Request, Script> {
  /** Its base URL, for the provider's endpoint variable. */
  url: string;
  /** The requests it received, in order. */
  requests: Request[];
  /** Replace the script (later requests use it). */
  setScript(script: Script): void;
  /** Resolves when at least `count` requests have arrived (rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves when request #index (0-based) was aborted by the client. */
  waitForAbort(index: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Requests as they arrive, with waits a test can use. */
export class RequestLog<T extends Tracked = FakeModelRequest> {
  readonly requests: T[] = [];
  private readonly listeners = new Set<() => void>();

  add(request: T): number {
    this.requests.push(request);
    this.changed();
    return this.requests.length - 1;
  }

  /**
   * Records a request and watches its response: closed before the fake marked the record
   * `finished`, it was aborted. (Mark it before ending the reply: an HTTP/2 response reports
   * itself finished when its stream closes, also when the client reset it.)
   */
  track(record: T, res: { on(event: "close", listener: () => void): unknown }): number {
    const index = this.add(record);
    res.on("close", () => {
      if (!record.finished) record.aborted = true;
      this.changed();
    });
    return index;
  }

  changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** What a fake's handle offers tests of its requests. */
  controls(): {
    requests: T[];
    waitForRequests(count: number, timeoutMs?: number): Promise<void>;
    waitForAbort(index: number, timeoutMs?: number): Promise<void>;
  } {
    return {
      requests: this.requests,
      waitForRequests: (count, timeoutMs) => this.waitForRequests(count, timeoutMs),
      waitForAbort: (index, timeoutMs) => this.waitForAbort(index, timeoutMs),
    };
  }

  /** Resolves when at least `count` requests have arrived. */
  waitForRequests(count: number, timeoutMs = 10000): Promise<void> {
    return this.waitFor(() => this.requests.length >= count, `${count} request(s)`, timeoutMs);
  }

  /** Resolves when request #index (0-based) was aborted by the client. */
  waitForAbort(index: number, timeoutMs = 10000): Promise<void> {
    return this.waitFor(
      () => this.requests[index]?.aborted === true,
      `request #${index + 1} to be aborted`,
      timeoutMs,
    );
  }

  private waitFor(ready: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (ready()) return resolve();
      const check = () => {
        if (!ready()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
    });
  }
}

/** The script's reply to a request, or `failed(message)` when the script itself threw. */
export async function replyOf<Q, R>(
  script: (request: Q, index: number) => R | Promise<R>,
  request: Q,
  index: number,
  failed: (message: string) => R,
): Promise<R> {
  try {
    return await script(request, index);
  } catch (err) {
    return failed(`the fake's script threw: ${String(err)}`);
  }
}

/** Parses text as a JSON object, else undefined. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
