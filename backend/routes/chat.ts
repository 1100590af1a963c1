/**
 * POST /api/chat: validates the conversation, then writes the chat loop's events as SSE.
 * HTTP only: the turn itself is backend/chat-loop.ts.
 */
import type { FastifyInstance } from "fastify";
import { chatTurn, type ChatMessage } from "../chat-loop";
import { sendError } from "../errors";
import { openSse } from "../sse";

export const MAX_MESSAGES = 200;
export const MAX_MESSAGE_CHARS = 32768;

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

export async function chatRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { messages: ChatMessage[] } }>(
    "/api/chat",
    { schema: { body: chatBody } },
    async (request, reply) => {
      const ctx = app.backend;
      const messages = request.body.messages.map(({ role, content }) => ({ role, content }));
      if (messages[messages.length - 1]?.role !== "user")
        return sendError(
          reply,
          400,
          "InvalidRequest",
          'Invalid request: the last message must be the user\'s (role "user"); send the conversation ending with the new question',
        );

      reply.hijack();
      const res = reply.raw;
      const sse = openSse(res);
      const disconnect = new AbortController();
      res.on("close", () => {
        if (!res.writableFinished)
          disconnect.abort({ type: "ClientDisconnected", message: "The client closed the connection." });
      });
      const signal = AbortSignal.any([disconnect.signal, ctx.streamsAbort.signal]);

      let outcome = "ok";
      let errorType: string | undefined;
      let executions = 0;
      for await (const event of chatTurn(messages, {
        model: ctx.model,
        sandbox: ctx.sandbox,
        codeExecutionEnabled: ctx.config.codeExecutionEnabled,
        allowedModules: ctx.config.allowedModules,
        maxToolRounds: ctx.config.maxToolRounds,
        modelMaxRetries: ctx.config.modelMaxRetries,
        modelRetryBaseMs: ctx.config.modelRetryBaseMs,
        signal,
        observer: {
          modelCall: (seconds, result) => ctx.metrics.modelSeconds.observe({ outcome: result }, seconds),
          execution: (id, code, result, seconds) => {
            executions++;
            ctx.recordExecution("chat", id, code, result, seconds);
          },
        },
      })) {
        if (event.event === "error") {
          errorType ??= event.data.type;
          outcome = signal.aborted ? "aborted" : "error";
        }
        sse.send(event.event, event.data);
      }
      sse.close();
      // During shutdown, do not keep the kept-alive connection: it holds the server open.
      if (ctx.closing) res.socket?.end();

      ctx.metrics.chatRequests.inc({ outcome });
      ctx.selfLogged.add(request);
      request.log.info(
        {
          method: request.method,
          url: request.url,
          statusCode: 200,
          durationMs: Math.round(reply.elapsedTime),
          messages: messages.length,
          executions,
          outcome,
          ...(errorType ? { errorType } : {}),
        },
        "request",
      );
    },
  );
}
