/**
 * Any OpenAI-compatible Chat Completions API (OpenAI, Groq, Ollama, vLLM, LiteLLM) through the
 * official `openai` SDK with `baseURL`. Streamed `tool_calls` arrive as fragments keyed by
 * `index` (the id and name first, the arguments in pieces) and are assembled here; the
 * assistant message with its `tool_calls` is echoed back, then one `role: "tool"` message per
 * call carrying its `tool_call_id`. The SDK's own retries are off: the chat loop retries.
 */
import OpenAI from "openai";
import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from "openai/resources/chat/completions";
import {
  CONTEXT_TOO_LONG,
  describeRaw,
  MESSAGES,
  ModelError,
  networkErrorCode,
  retryAfterFrom,
  stoppedByFilter,
} from "./errors";
import {
  parseArguments,
  type ConversationItem,
  type ModelOutput,
  type ModelProvider,
  type ModelRequest,
  type ModelTurn,
  type ToolCall,
} from "./provider";

export interface OpenAISettings {
  /** `MODEL_ID`. */
  model: string;
  /** `OPENAI_BASE_URL`, up to and including `/v1`. */
  baseUrl: string;
  /** `OPENAI_API_KEY`; without it no Authorization header is sent (Ollama and friends need none). */
  apiKey: string | undefined;
  /** Per-request time limit. Default 10 minutes (a long answer streams for a while). */
  timeoutMs?: number;
}

export function createOpenAIProvider(settings: OpenAISettings): ModelProvider {
  const client = new OpenAI({
    // The SDK refuses to start without a key; a server that needs none gets no header at all.
    apiKey: settings.apiKey ?? "unused",
    ...(settings.apiKey ? {} : { defaultHeaders: { Authorization: null } }),
    baseURL: settings.baseUrl,
    maxRetries: 0,
    timeout: settings.timeoutMs ?? 600_000,
  });
  return {
    id: "openai",
    model: settings.model,
    async *stream(request: ModelRequest): AsyncGenerator<ModelOutput, ModelTurn> {
      const tools: ChatCompletionTool[] | undefined = request.tool
        ? [
            {
              type: "function",
              function: {
                name: request.tool.name,
                description: request.tool.description,
                parameters: request.tool.parameters,
              },
            },
          ]
        : undefined;
      try {
        const stream = await client.chat.completions.create(
          {
            model: settings.model,
            messages: toMessages(request.system, request.conversation),
            stream: true,
            ...(tools ? { tools } : {}),
          },
          request.signal ? { signal: request.signal } : {},
        );
        return yield* readStream(stream);
      } catch (err) {
        throw describeOpenAIError(err, settings);
      }
    },
  };
}

/** A tool call while its fragments arrive. */
interface PartialCall {
  id: string | undefined;
  name: string;
  args: string;
}

async function* readStream(
  stream: AsyncIterable<ChatCompletionChunk>,
): AsyncGenerator<ModelOutput, ModelTurn> {
  const partial = new Map<number, PartialCall>();
  let text = "";
  let finish: string | null = null;
  for await (const chunk of stream) {
    const choice = chunk.choices?.[0];
    if (!choice) continue; // a usage chunk
    const delta = choice.delta ?? {};
    // A refusal is the model's own answer to the user, in a field of its own.
    for (const piece of [delta.content, (delta as { refusal?: unknown }).refusal])
      if (typeof piece === "string" && piece !== "") {
        text += piece;
        yield { type: "text", text: piece };
      }
    for (const fragment of delta.tool_calls ?? []) {
      // Some servers leave out `index` when they send each call whole.
      const index = typeof fragment.index === "number" ? fragment.index : partial.size;
      let call = partial.get(index);
      if (!call) partial.set(index, (call = { id: undefined, name: "", args: "" }));
      if (fragment.id) call.id = fragment.id;
      const name = fragment.function?.name;
      // The name comes whole in the first fragment; some servers repeat it in later ones.
      if (name && name !== call.name) call.name += name;
      const args: unknown = fragment.function?.arguments;
      if (typeof args === "string") call.args += args;
      else if (args !== undefined && args !== null) call.args += JSON.stringify(args);
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  if (finish === "content_filter") throw stoppedByFilter("finish reason content_filter");
  if (finish === null)
    throw new ModelError("bad-response", MESSAGES.cutOff, "the stream ended without a finish_reason");
  const ordered = [...partial.entries()].sort(([a], [b]) => a - b).map(([, c]) => c);
  const calls: ToolCall[] = ordered.map((c, i) => ({
    id: c.id ?? `call-${i + 1}`,
    ...(c.id ? {} : { generatedId: true }),
    name: c.name,
    args: parseArguments(c.args),
  }));
  for (const call of calls) yield { type: "call", call };
  const native: ChatCompletionAssistantMessageParam = {
    role: "assistant",
    content: text === "" ? null : text,
    ...(calls.length > 0
      ? {
          tool_calls: calls.map((call, i) => ({
            id: call.id,
            type: "function" as const,
            // The arguments exactly as the model wrote them.
            function: { name: call.name, arguments: ordered[i]!.args },
          })),
        }
      : {}),
  };
  return { text, calls, native, chars: JSON.stringify(native).length };
}

function toMessages(system: string, conversation: readonly ConversationItem[]): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [{ role: "system", content: system }];
  for (const item of conversation) {
    if (item.role === "user" || item.role === "assistant")
      messages.push({ role: item.role, content: item.text });
    else if (item.role === "model") messages.push(item.turn.native as ChatCompletionAssistantMessageParam);
    else
      for (const result of item.results)
        messages.push({ role: "tool", tool_call_id: result.call.id, content: JSON.stringify(result.output) });
  }
  return messages;
}

/** Maps whatever the SDK threw to a ModelError that names OPENAI_BASE_URL, OPENAI_API_KEY or MODEL_ID. */
export function describeOpenAIError(err: unknown, settings: OpenAISettings): ModelError {
  if (err instanceof ModelError) return err;
  const raw = describeRaw(err);
  const model = `MODEL_ID=${settings.model}`;
  if (err instanceof OpenAI.APIConnectionTimeoutError)
    return new ModelError(
      "unavailable",
      "The model service did not answer in time; try again in a moment.",
      raw,
    );
  const network = networkErrorCode(err);
  if (err instanceof OpenAI.APIConnectionError || network)
    return new ModelError(
      "unreachable",
      MESSAGES.unreachable + "OPENAI_BASE_URL (and that the server there is running).",
      `unreachable: ${network ?? ""} ${raw}`,
    );
  if (err instanceof SyntaxError)
    return new ModelError(
      "bad-response",
      "The model service sent an answer that could not be read; ask again.",
      raw,
    );
  if (!(err instanceof OpenAI.APIError)) return new ModelError("rejected", MESSAGES.unknown, raw);

  const status = err.status;
  const code = String(err.code ?? "");
  const words = `${code} ${String(err.type ?? "")} ${err.message}`;
  const detail = `HTTP ${status ?? "(in stream)"} ${code}: ${err.message}`;
  const options = { ...(status ? { status } : {}), retryAfterMs: retryAfterFrom((n) => err.headers?.get(n)) };
  if (code === "insufficient_quota")
    return new ModelError(
      "auth",
      "The model service's quota for this server's API key is used up; the operator should check the account's " +
        "billing or use another OPENAI_API_KEY.",
      detail,
      options,
    );
  if (status === 429 || /rate.?limit/i.test(code))
    return new ModelError("rate-limited", MESSAGES.rateLimited, detail, options);
  if (status === 401)
    return new ModelError(
      "auth",
      "The model service refused this server's API key; the operator should check OPENAI_API_KEY " +
        "(a key for the server at OPENAI_BASE_URL).",
      detail,
      options,
    );
  if (status === 403)
    return new ModelError(
      "auth",
      `The model service does not let this server's API key use the model; the operator should check OPENAI_API_KEY and ${model}.`,
      detail,
      options,
    );
  if (status === 404 || code === "model_not_found")
    return new ModelError(
      "model-not-found",
      `The configured model is not available at the model service; the operator should check ${model} ` +
        "(and that OPENAI_BASE_URL ends with /v1).",
      detail,
      options,
    );
  if (/content.?filter|content.?policy|safety/i.test(words))
    return new ModelError(
      "content-filter",
      "The model service's content filter refused the question. Rephrase it and try again.",
      detail,
      options,
    );
  if (status === 413 || CONTEXT_TOO_LONG.test(words))
    return new ModelError("context-too-long", MESSAGES.contextTooLong, detail, options);
  if (/does not support tools|tool.{0,20}not supported|tools? (is|are) not supported/i.test(words))
    return new ModelError(
      "model-unsupported",
      `The configured model cannot call tools, which code execution needs; the operator should set ${model} to a model that supports tool calling.`,
      detail,
      options,
    );
  if (status === undefined || status >= 500)
    return new ModelError("unavailable", MESSAGES.unavailable, detail, options);
  return new ModelError("rejected", MESSAGES.rejected, detail, options);
}
