/**
 * The model-provider layer's one job, as an interface: turn "conversation + tool + tool
 * results" into a stream of text deltas and tool calls for one API. The chat loop
 * (chat-loop.ts) owns everything else (rounds, limits, retries, abort, events) and knows no
 * provider; each provider (gemini.ts, openai.ts, bedrock.ts) knows its SDK and wire protocol
 * and nothing of the loop.
 *
 * What a provider promises:
 * - `stream()` yields each text delta as it arrives and each tool call once its arguments are
 *   complete, then returns the whole model turn, including what that API needs echoed back
 *   verbatim (Gemini's call ids and thought signatures, OpenAI's assistant message with its
 *   `tool_calls`, Bedrock's assistant content blocks);
 * - a model turn and the tool results that follow it are sent back in the API's own form, one
 *   result per call, in the calls' order;
 * - every failure is thrown as a ModelError (errors.ts), whose message names what to change.
 */

import { PROVIDER_LABELS, type ProviderId } from "../../contract/models";

export { PROVIDER_IDS, type ProviderId } from "../../contract/models";

/** The one tool every provider declares: a name, what it does, a JSON Schema of its arguments. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema (draft 2020-12 subset: object, string, required) of the arguments. */
  parameters: {
    type: "object";
    properties: Record<string, { type: "string"; description: string }>;
    required: string[];
  };
}

export interface ToolCall {
  /** Unique within the turn: the model's own call id, else one made up (`call-1`, ...). */
  id: string;
  /** The model gave no id (Gemini may not): the made-up `id` is never sent back to it. */
  generatedId?: boolean;
  name: string;
  /** The arguments as a JSON object; undefined when the model's arguments were not one. */
  args: Record<string, unknown> | undefined;
}

/** What a call produced, as the model is told: the response object, and whether it failed. */
export interface ToolResult {
  call: ToolCall;
  output: Record<string, unknown>;
  /** The call was refused or its code failed (Bedrock: `status: "error"`). */
  failed: boolean;
}

/** One model turn: its answer text, its calls, and what the API needs echoed back. */
export interface ModelTurn {
  text: string;
  calls: ToolCall[];
  /** The provider's own form of the turn, sent back unchanged on the next call. */
  native: unknown;
  /** Characters this turn adds to the next model input (texts, calls, signatures). */
  chars: number;
}

/** The conversation of one chat turn, as the loop builds it. */
export type ConversationItem =
  | { role: "user"; text: string }
  | { role: "assistant"; text: string }
  /** A model turn of this chat turn that asked for tool calls. */
  | { role: "model"; turn: ModelTurn }
  /** The answers to the calls of the model turn just before, one per call, in order. */
  | { role: "tool"; results: ToolResult[] };

export interface ModelRequest {
  system: string;
  /** Undefined when code execution is switched off: no tool is offered. */
  tool: ToolSpec | undefined;
  conversation: readonly ConversationItem[];
  /** Ends the call (client gone, shutdown). */
  signal?: AbortSignal;
}

export type ModelOutput = { type: "text"; text: string } | { type: "call"; call: ToolCall };

export interface ModelProvider {
  readonly id: ProviderId;
  /** The model, in the provider's own naming. */
  readonly model: string;
  /** One streaming model call; throws ModelError. */
  stream(request: ModelRequest): AsyncGenerator<ModelOutput, ModelTurn>;
  /**
   * What the provider found missing at run time (Bedrock: no AWS credentials at all), for
   * /readyz. Answers at once from what it last found, and looks again in the background.
   */
  readiness?(): string[];
  /** Releases connections (server shutdown). */
  close?(): void;
}

/** The provider's human name, for logs, the page and messages. */
export function providerLabel(id: ProviderId): string {
  return PROVIDER_LABELS[id];
}

/** Parses a tool call's argument text; undefined unless it is a JSON object. */
export function parseArguments(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text === "" ? "{}" : text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
