/**
 * Amazon Bedrock through `@aws-sdk/client-bedrock-runtime` ConverseStream. `toolUse` blocks
 * are assembled from `contentBlockStart` (id and name) and `contentBlockDelta` input
 * fragments; the assistant content is echoed back as received (reasoning blocks and their
 * signatures included), then one user message with a `toolResult` per `toolUseId` (status
 * `error` for a failed execution). Credentials come from the AWS credential chain (the pod's
 * role on EKS), never from a key in the backend's config. The SDK's own retries are off: the
 * chat loop retries. The HTTP version is whatever the endpoint speaks (http-version.ts).
 */
import {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  type ContentBlock,
  type ConverseStreamOutput,
  type Message,
  type SystemContentBlock,
  type Tool,
} from "@aws-sdk/client-bedrock-runtime";
import {
  CONTEXT_TOO_LONG,
  describeRaw,
  MESSAGES,
  ModelError,
  networkErrorCode,
  retryAfterFrom,
  stoppedByFilter,
  type ModelErrorKind,
} from "./errors";
import { isInferenceProfileId } from "../../contract/models";
import { AnyHttpVersionHandler } from "./http-version";
import {
  parseArguments,
  type ConversationItem,
  type ModelOutput,
  type ModelProvider,
  type ModelRequest,
  type ModelTurn,
  type ToolCall,
} from "./provider";

export interface BedrockSettings {
  /** `MODEL_ID`: a model ID, an inference profile ID, or the ARN of either. */
  model: string;
  /** `AWS_REGION`. */
  region: string;
  /** `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (else `AWS_ENDPOINT_URL`): VPC endpoints, tests. */
  endpoint: string | undefined;
  /** Static credentials given in the backend's environment; otherwise the SDK's chain (the pod's role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** A content block while its deltas arrive, by contentBlockIndex. */
type PartialBlock =
  | { kind: "text"; text: string }
  | { kind: "toolUse"; id: string; name: string; input: string }
  | { kind: "reasoning"; text: string; signature?: string; redacted?: Uint8Array[] };

export function createBedrockProvider(settings: BedrockSettings): ModelProvider {
  const handler = new AnyHttpVersionHandler();
  const client = new BedrockRuntimeClient({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    maxAttempts: 1,
    requestHandler: handler,
  });
  // Some models refuse toolResult.status; once one has, results are sent without it.
  let sendStatus = true;
  const credentials = credentialWatch(() => client.config.credentials());

  async function open(request: ModelRequest) {
    const command = (withStatus: boolean) =>
      new ConverseStreamCommand({
        modelId: settings.model,
        system: [{ text: request.system } as SystemContentBlock],
        messages: toMessages(request.conversation, withStatus),
        ...(request.tool
          ? {
              toolConfig: {
                tools: [
                  {
                    toolSpec: {
                      name: request.tool.name,
                      description: request.tool.description,
                      inputSchema: { json: request.tool.parameters },
                    },
                  } as Tool,
                ],
              },
            }
          : {}),
      });
    const options = request.signal ? { abortSignal: request.signal } : {};
    try {
      return await client.send(command(sendStatus), options);
    } catch (err) {
      const hasResults = request.conversation.some((item) => item.role === "tool");
      if (!(sendStatus && hasResults && refusesStatus(err))) throw err;
      sendStatus = false;
      return await client.send(command(false), options);
    }
  }

  return {
    id: "bedrock",
    model: settings.model,
    async *stream(request: ModelRequest): AsyncGenerator<ModelOutput, ModelTurn> {
      try {
        const response = await open(request);
        if (!response.stream)
          throw new ModelError("bad-response", "The model service sent no answer; ask again.", "no stream");
        return yield* readStream(response.stream);
      } catch (err) {
        throw describeBedrockError(err, settings);
      }
    },
    readiness: credentials.problems,
    close() {
      client.destroy();
      handler.destroy();
    },
  };
}

/** How long a credentials check stands before it is made again (in the background). */
const CREDENTIALS_RECHECK_MS = 60_000;

/**
 * Whether the backend has AWS credentials at all, for /readyz: asked in the background (the
 * credential chain may take a while to give up, longer than a readiness probe waits), and only
 * a definite "none anywhere" counts as missing, not a passing failure to reach the endpoint.
 */
function credentialWatch(resolve: () => Promise<unknown>): { problems(): string[] } {
  let problem: string | undefined;
  let checkedAt = -Infinity;
  let checking = false;
  const check = () => {
    if (checking || Date.now() - checkedAt < CREDENTIALS_RECHECK_MS) return;
    checking = true;
    resolve()
      .then(
        () => (problem = undefined),
        (err: unknown) => {
          if ((err as { name?: string }).name === "CredentialsProviderError")
            problem =
              "no AWS credentials for Amazon Bedrock were found: run the backend with a role that may call the model " +
              "(EKS Pod Identity or IRSA, which pulumi up sets up with modelProvider bedrock), or locally with AWS_PROFILE " +
              "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
        },
      )
      .finally(() => {
        checking = false;
        checkedAt = Date.now();
      });
  };
  return {
    problems() {
      check();
      return problem ? [problem] : [];
    },
  };
}

async function* readStream(
  stream: AsyncIterable<ConverseStreamOutput>,
): AsyncGenerator<ModelOutput, ModelTurn> {
  const blocks = new Map<number, PartialBlock>();
  let stopReason: string | undefined;
  const block = <K extends PartialBlock["kind"]>(index: number, kind: K, make: () => PartialBlock) => {
    let found = blocks.get(index);
    if (!found || found.kind !== kind) blocks.set(index, (found = make()));
    return found as Extract<PartialBlock, { kind: K }>;
  };
  for await (const event of stream) {
    if (event.contentBlockStart) {
      const { contentBlockIndex = blocks.size, start } = event.contentBlockStart;
      if (start?.toolUse)
        blocks.set(contentBlockIndex, {
          kind: "toolUse",
          id: start.toolUse.toolUseId ?? "",
          name: start.toolUse.name ?? "",
          input: "",
        });
    } else if (event.contentBlockDelta) {
      const { contentBlockIndex = 0, delta } = event.contentBlockDelta;
      if (typeof delta?.text === "string") {
        block(contentBlockIndex, "text", () => ({ kind: "text", text: "" })).text += delta.text;
        if (delta.text !== "") yield { type: "text", text: delta.text };
      } else if (delta?.toolUse) {
        const use = block(contentBlockIndex, "toolUse", () => ({
          kind: "toolUse",
          id: "",
          name: "",
          input: "",
        }));
        use.input += delta.toolUse.input ?? "";
      } else if (delta?.reasoningContent) {
        const reasoning = block(contentBlockIndex, "reasoning", () => ({ kind: "reasoning", text: "" }));
        const r = delta.reasoningContent;
        if (typeof r.text === "string") reasoning.text += r.text;
        if (typeof r.signature === "string") reasoning.signature = (reasoning.signature ?? "") + r.signature;
        if (r.redactedContent) (reasoning.redacted ??= []).push(r.redactedContent);
      }
    } else if (event.messageStop) stopReason = event.messageStop.stopReason;
  }
  throwIfStopped(stopReason);

  const ordered = [...blocks.entries()].sort(([a], [b]) => a - b).map(([, b]) => b);
  const content: ContentBlock[] = [];
  const calls: ToolCall[] = [];
  let text = "";
  for (const b of ordered) {
    if (b.kind === "text") {
      text += b.text;
      if (b.text.trim() !== "") content.push({ text: b.text });
    } else if (b.kind === "toolUse") {
      const args = parseArguments(b.input);
      const call: ToolCall = {
        id: b.id || `call-${calls.length + 1}`,
        ...(b.id ? {} : { generatedId: true }),
        name: b.name,
        args,
      };
      calls.push(call);
      content.push({ toolUse: { toolUseId: call.id, name: b.name, input: (args ?? {}) as never } });
    } else if (b.redacted)
      for (const data of b.redacted) content.push({ reasoningContent: { redactedContent: data } });
    else
      content.push({
        reasoningContent: {
          reasoningText: { text: b.text, ...(b.signature ? { signature: b.signature } : {}) },
        },
      });
  }
  for (const call of calls) yield { type: "call", call };
  const native: Message = { role: "assistant", content };
  return { text, calls, native, chars: JSON.stringify(native).length };
}

function throwIfStopped(stopReason: string | undefined): void {
  if (stopReason === undefined)
    throw new ModelError("bad-response", MESSAGES.cutOff, "the stream ended without messageStop");
  if (stopReason === "content_filtered" || stopReason === "guardrail_intervened")
    throw stoppedByFilter(`stop reason ${stopReason}`);
  if (stopReason === "model_context_window_exceeded")
    throw new ModelError("context-too-long", MESSAGES.contextTooLong, `stopReason ${stopReason}`);
  if (stopReason === "malformed_tool_use" || stopReason === "malformed_model_output")
    throw new ModelError("bad-response", MESSAGES.malformedCall, `stopReason ${stopReason}`);
}

/**
 * The conversation as Converse messages: roles alternate and the first is the user's, as
 * Bedrock requires (two messages of one role in a row become one message; a conversation
 * that starts with an answer gets a short user note first).
 */
function toMessages(conversation: readonly ConversationItem[], withStatus: boolean): Message[] {
  const messages: Message[] = [];
  const add = (message: Message) => {
    const last = messages[messages.length - 1];
    if (last && last.role === message.role)
      last.content = [...(last.content ?? []), ...(message.content ?? [])];
    else messages.push({ role: message.role, content: [...(message.content ?? [])] });
  };
  for (const item of conversation) {
    if (item.role === "user" || item.role === "assistant")
      add({ role: item.role, content: [{ text: item.text }] });
    else if (item.role === "model") add(item.turn.native as Message);
    else
      add({
        role: "user",
        content: item.results.map((result) => ({
          toolResult: {
            toolUseId: result.call.id,
            content: [{ text: JSON.stringify(result.output) }],
            ...(withStatus ? { status: result.failed ? "error" : "success" } : {}),
          },
        })),
      });
  }
  if (messages[0]?.role === "assistant")
    messages.unshift({
      role: "user",
      content: [{ text: "[The conversation starts with the answer below.]" }],
    });
  return messages;
}

function refusesStatus(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e.name === "ValidationException" && /status/i.test(e.message ?? "");
}

interface AwsError {
  name?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/** A bare foundation model ID (`anthropic.claude-...`), not a profile ID (`us.anthropic...`) or an ARN. */
function isFoundationModelId(model: string): boolean {
  return !model.startsWith("arn:") && !isInferenceProfileId(model);
}

/** The inference profile prefix of a region's geography (`us.`, `eu.`, `apac.`). */
function profilePrefix(region: string): string {
  if (region.startsWith("eu-")) return "eu.";
  if (region.startsWith("ap-")) return "apac.";
  return "us.";
}

/**
 * Maps whatever the SDK threw to a ModelError that says what to change: MODEL_ID, AWS_REGION,
 * AWS_ENDPOINT_URL_BEDROCK_RUNTIME, the model access to enable in the Bedrock console, or the
 * backend role's permission.
 */
export function describeBedrockError(err: unknown, settings: BedrockSettings): ModelError {
  if (err instanceof ModelError) return err;
  const e = (err ?? {}) as AwsError;
  const name = e.name ?? "Error";
  const words = e.message ?? "";
  const raw = describeRaw(err);
  const status = e.$metadata?.httpStatusCode;
  const headers = e.$response?.headers ?? {};
  const options = {
    ...(status ? { status } : {}),
    retryAfterMs: retryAfterFrom((n) => headers[n] ?? headers[n.toLowerCase()]),
  };
  const model = `MODEL_ID=${settings.model}`;
  const region = `AWS_REGION=${settings.region}`;
  const fail = (kind: ModelErrorKind, message: string) => new ModelError(kind, message, raw, options);

  const network = networkErrorCode(err);
  if (network)
    return new ModelError(
      "unreachable",
      MESSAGES.unreachable +
        (settings.endpoint
          ? "AWS_ENDPOINT_URL_BEDROCK_RUNTIME (and that the endpoint there is running)."
          : `that the backend can reach bedrock-runtime.${settings.region}.amazonaws.com (${region}, the network policy's egress).`),
      `unreachable: ${network}: ${raw}`,
    );
  switch (name) {
    case "CredentialsProviderError":
      return fail(
        "auth",
        "The backend has no AWS credentials to call Bedrock; the operator should run it with a role that may " +
          "(EKS Pod Identity or IRSA, set up by pulumi up with modelProvider bedrock), or locally with AWS_PROFILE.",
      );
    case "UnrecognizedClientException":
    case "InvalidSignatureException":
    case "IncompleteSignatureException":
    case "MissingAuthenticationTokenException":
    case "ExpiredTokenException":
    case "InvalidClientTokenId":
      return fail(
        "auth",
        `AWS refused the backend's credentials for Bedrock (${name}); the operator should check the backend's role ` +
          `and ${region} (the region the credentials are scoped to).`,
      );
    case "AccessDeniedException":
      return fail(
        "auth",
        /not authorized to perform|explicit deny|no identity-based policy/i.test(words)
          ? `The backend's AWS role may not call the configured model; the operator should grant it ` +
              `bedrock:InvokeModelWithResponseStream on ${model} (pulumi up does when the stack's modelProvider is bedrock).`
          : `This AWS account has no access to the configured model; the operator should enable access to ${model} ` +
              `in the Amazon Bedrock console (Model access) in ${region}, or choose a model the account may use.`,
      );
    case "ResourceNotFoundException":
      return fail(
        "model-not-found",
        `The configured model does not exist in this region; the operator should set ${model} to a model or ` +
          `inference profile available in ${region}.`,
      );
    case "ThrottlingException":
    case "ServiceQuotaExceededException":
      return fail("rate-limited", MESSAGES.rateLimited);
    case "ModelNotReadyException":
    case "ServiceUnavailableException":
    case "InternalServerException":
    case "ModelTimeoutException":
    case "ModelStreamErrorException":
    case "ModelErrorException":
      return fail("unavailable", MESSAGES.unavailable);
    case "ValidationException":
      if (/model identifier is invalid|invalid model|model.{0,20}(not found|does not exist)/i.test(words))
        return fail(
          "model-not-found",
          `The configured model does not exist; the operator should set ${model} to a model or inference profile ID ` +
            `available in ${region}.`,
        );
      if (/on-demand throughput|inference profile/i.test(words))
        return fail(
          "model-unsupported",
          `The configured model can only be called through an inference profile; the operator should set MODEL_ID to ` +
            `its inference profile ID${isFoundationModelId(settings.model) ? ` (e.g. MODEL_ID=${profilePrefix(settings.region)}${settings.model})` : ""}.`,
        );
      if (/tool/i.test(words) && /support/i.test(words))
        return fail(
          "model-unsupported",
          `The configured model cannot use tools while streaming, which code execution needs; the operator should set ` +
            `${model} to a model that supports tool use with ConverseStream.`,
        );
      if (CONTEXT_TOO_LONG.test(words)) return fail("context-too-long", MESSAGES.contextTooLong);
      return fail("rejected", MESSAGES.rejected);
  }
  if (e.$fault === "server" || (status !== undefined && status >= 500))
    return fail("unavailable", MESSAGES.unavailable);
  if (status !== undefined && status >= 400) return fail("rejected", MESSAGES.rejected);
  return fail("rejected", MESSAGES.unknown);
}
