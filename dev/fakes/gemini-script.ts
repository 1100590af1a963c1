/**
 * Runs a protocol-neutral script (script.ts) on the fake Gemini: its wire request is read as
 * neutral turns, and the neutral reply is written in Gemini's words (function-call parts with
 * ids and thought signatures, finish reasons, Google's error JSON). So the seed brain and the
 * tests' scripts drive Gemini exactly as they drive the OpenAI and Bedrock fakes.
 *
 * Like the real API, the adapted script refuses (400) a function response whose call's
 * thought signature was not echoed back.
 */
import {
  reply as geminiReply,
  type FakeGeminiRequest,
  type FakeReply as GeminiReply,
  type FakeScript as GeminiScript,
  type WirePart,
} from "./gemini";
import { jsonObject, type FakeModelRequest, type FakeReply, type FakeScript, type FakeTurn } from "./script";

/** The signature every call of an adapted script carries, which must come back with it. */
export const NEUTRAL_THOUGHT_SIGNATURE = "bmV1dHJhbC1zY3JpcHQtc2lnbmF0dXJl";

/** The fake Gemini's request as neutral turns. */
export function neutralView(request: FakeGeminiRequest): FakeModelRequest {
  const turns: FakeTurn[] = (request.body.contents ?? []).map((content) => {
    const turn: FakeTurn = {
      role: content.role === "model" ? "assistant" : "user",
      text: "",
      calls: [],
      results: [],
    };
    for (const part of content.parts ?? []) {
      if (typeof part.text === "string" && !part.thought) turn.text += part.text;
      if (part.functionCall)
        turn.calls.push({
          id: part.functionCall.id ?? "",
          name: part.functionCall.name,
          args: part.functionCall.args,
        });
      if (part.functionResponse) {
        const content = JSON.stringify(part.functionResponse.response ?? {});
        turn.results.push({ id: part.functionResponse.id ?? "", content, output: jsonObject(content) });
      }
    }
    return turn;
  });
  return {
    model: request.model,
    system: (request.body.systemInstruction?.parts ?? []).map((p) => p.text ?? "").join(""),
    tools: (request.body.tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((d) => d.name)),
    turns,
    headers: request.headers,
    httpVersion: "1.1",
    body: request.body,
    get aborted() {
      return request.aborted;
    },
    get finished() {
      return request.finished;
    },
  };
}

const ERRORS: Record<string, { status: number; message: string }> = {
  "rate-limit": { status: 429, message: "Resource has been exhausted (e.g. check quota)." },
  server: { status: 500, message: "An internal error has occurred." },
  unavailable: { status: 503, message: "The model is overloaded. Please try again later." },
  auth: { status: 400, message: "API key not valid. Please pass a valid API key." },
  forbidden: { status: 403, message: "Permission denied: consumer does not have access to this model." },
  "unknown-model": { status: 404, message: "models/x is not found for API version v1beta." },
  "context-too-long": {
    status: 400,
    message: "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).",
  },
  "bad-request": { status: 400, message: "Request contains an invalid argument." },
};

let calls = 0;

/** A neutral reply in Gemini's words. */
export function geminiReplyFor(answer: FakeReply): GeminiReply {
  if (answer.kind === "error") {
    // The fake Gemini has no errors inside a stream: the error is the HTTP answer.
    if (answer.error === "content-filter") return geminiReply.promptBlocked("SAFETY");
    const e = ERRORS[answer.error]!;
    return geminiReply.error(e.status, {
      message: answer.message ?? e.message,
      ...(answer.retryAfterSeconds !== undefined ? { retryDelaySeconds: answer.retryAfterSeconds } : {}),
    });
  }
  const chunks: WirePart[][] = answer.text.map((text) => [{ text }]);
  if (answer.calls.length > 0)
    chunks.push(
      answer.calls.map((c) => ({
        functionCall: {
          // An empty id stands for a call the model gave no id (older Gemini models).
          ...(c.id === "" ? {} : { id: c.id ?? `fake-call-${++calls}` }),
          name: c.name ?? "execute_python",
          args: c.argumentsText !== undefined ? (jsonObject(c.argumentsText) ?? {}) : { code: c.code ?? "" },
        },
        thoughtSignature: NEUTRAL_THOUGHT_SIGNATURE,
      })),
    );
  const finish = answer.end === "content-filter" ? "SAFETY" : answer.end === "cut-off" ? undefined : "STOP";
  return {
    kind: "stream",
    chunks: chunks.map((parts, i) => ({
      candidates: [
        {
          content: { role: "model", parts },
          index: 0,
          ...(i === chunks.length - 1 && finish ? { finishReason: finish } : {}),
        },
      ],
    })),
    ...(answer.delayMs ? { delayMs: answer.delayMs } : {}),
    ...(answer.hang ? { hang: true } : {}),
  };
}

/** A neutral script as a fake-Gemini script; `seen` collects the neutral views of the requests. */
export function geminiScript(script: FakeScript, seen: FakeModelRequest[] = []): GeminiScript {
  return async (request, index) => {
    const view = neutralView(request);
    seen.push(view);
    const contents = request.body.contents ?? [];
    const answering = contents.at(-1)?.parts?.some((p) => p.functionResponse);
    const echoed = contents
      .at(-2)
      ?.parts?.every((p) => !p.functionCall || p.thoughtSignature === NEUTRAL_THOUGHT_SIGNATURE);
    if (answering && !echoed)
      return geminiReply.error(400, {
        message: "Function call is missing a thought_signature in functionCall parts.",
      });
    return geminiReplyFor(await script(view, index));
  };
}
