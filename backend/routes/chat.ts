/**
 * POST /api/chat: validates the conversation, takes one of the replica's stream slots (503
 * with Retry-After when none is free), then writes the chat loop's events as SSE. HTTP only:
 * the turn itself is backend/chat-loop.ts.
 */
import type { FastifyInstance } from "fastify";
import { ROUTES } from "../../contract/http";
import { MODEL_HEADERS } from "../../contract/models";
import type { ChatMessage } from "../../contract/chat";
import { chatTurn } from "../chat-loop";
import { sendError } from "../errors";
import { requestCancellation } from "../cancellation";
import { holdSlot } from "../capacity";
import { MAX_MESSAGE_CHARS, MAX_MESSAGES, trimHistory } from "../history";
import { openSse } from "../sse";
import { missingModelError } from "../providers/settings";

const chatBody = {
  type: "object",
  required: ["messages"],
  properties: {
    messages: {
      type: "array",
      minItems: 1,
      maxItems: MAX_MESSAGES,
      items: {
        type: "object",
        required: ["role", "content"],
        properties: {
          role: { type: "string", enum: ["user", "assistant"] },
          content: { type: "string", minLength: 1, maxLength: MAX_MESSAGE_CHARS },
        },
      },
    },
  },
} as const;

const EXAMPLE = 'send JSON like {"messages":[{"role":"user","content":"What\'s 25 times 47?"}]}';

export async function chatRoutes(app: FastifyInstance): Promise<void> {
  // Which model answers, and what to tell users while it is not configured: fixed at start-up.
  const settings = app.backend.config.model;
  const modelHeaders = {
    [MODEL_HEADERS.provider]: settings.provider,
    ...(settings.model ? { [MODEL_HEADERS.model]: settings.model } : {}),
  };
  const missingModel = missingModelError(settings);
  app.post<{ Body: { messages: ChatMessage[] } }>(
    ROUTES.chat,
    {
      schema: { body: chatBody },
      onRequest: holdSlot(
        () => app.backend.streams,
        () =>
          `This server is answering as many chats as it may at once (${app.backend.config.maxOpenStreams}); try again in a few seconds`,
        5,
      ),
    },
    async (request, reply) => {
      const ctx = app.backend;
      const messages = request.body.messages.map(({ role, content }) => ({ role, content }));
      const blank = messages.findIndex((m) => m.content.trim() === "");
      if (blank >= 0)
        return sendError(
          reply,
          "InvalidRequest",
          `Invalid request: body/messages/${blank}/content is only whitespace; every message needs some text; ${EXAMPLE}`,
        );
      if (messages[messages.length - 1]?.role !== "user")
        return sendError(
          reply,
          "InvalidRequest",
          `Invalid request: the last message must be the user's (role "user"); send the conversation ending with the new question; ${EXAMPLE}`,
        );
      // Only what the model will see is kept for the stream's life, not the whole body.
      const received = messages.length;
      const { messages: recent, omitted } = trimHistory(messages, {
        budgetChars: ctx.config.modelHistoryChars,
      });
      (request as { body: unknown }).body = undefined;

      reply.hijack();
      const res = reply.raw;
      const sse = openSse(
        res,
        {
          "x-request-id": request.id,
          ...modelHeaders,
          ...(ctx.closing ? { connection: "close" } : {}),
        },
        undefined,
        // A client that stopped reading an answer is treated like an idle connection.
        ctx.config.keepAliveTimeoutMs,
      );
      const cancel = requestCancellation(res, ctx.work);
      const signal = cancel.signal;

      const fields = request.logFields;
      fields["messages"] = received;
      if (omitted > 0) fields["omittedMessages"] = omitted;
      fields["executions"] = 0;
      fields["outcome"] = "ok";
      try {
        for await (const event of chatTurn(recent, {
          model: ctx.model,
          ...(missingModel ? { missingModel } : {}),
          sandbox: ctx.sandbox,
          codeExecutionEnabled: ctx.config.codeExecutionEnabled,
          allowedModules: ctx.config.allowedModules,
          maxToolRounds: ctx.config.maxToolRounds,
          maxExecutionsPerTurn: ctx.config.maxExecutionsPerTurn,
          historyChars: ctx.config.modelHistoryChars,
          turnInputChars: ctx.config.modelTurnInputChars,
          modelMaxRetries: ctx.config.modelMaxRetries,
          modelRetryBaseMs: ctx.config.modelRetryBaseMs,
          executionSlot: (s) => ctx.executions.acquire(s),
          requestId: request.id,
          signal,
          observer: {
            modelCall: (seconds, result) => ctx.metrics.modelSeconds.observe({ outcome: result }, seconds),
            modelError: (detail) => request.log.warn({ detail }, "model call failed"),
            modelRetry: (attempt, waitMs, detail) =>
              request.log.info({ attempt, waitMs, detail }, "model call failed; trying again"),
            execution: (id, code, execution, seconds) => {
              fields["executions"] = (fields["executions"] as number) + 1;
              ctx.recordExecution("chat", request.id, id, code, execution, seconds);
            },
            budget: (inputChars) => {
              fields["modelInputChars"] = inputChars;
            },
          },
        })) {
          if (event.event === "error") {
            fields["errorType"] ??= event.data.type;
            fields["outcome"] = signal.aborted ? "aborted" : "error";
          }
          sse.send(event.event, event.data);
        }
      } finally {
        cancel.done();
        sse.close();
        // During shutdown, do not keep the kept-alive connection: it holds the server open.
        if (ctx.closing) res.socket?.end();
        ctx.metrics.chatRequests.inc({ outcome: fields["outcome"] as string });
      }
    },
  );
}
