// The chat page: posts the conversation to /api/chat and renders the SSE stream the way the
// feature is meant to look: "Executing code...", the code block, its output, the answer.
// Plain DOM and fetch (no build step). Code, output and the user's words are inserted as
// text; the model's answer is Markdown, turned into HTML by marked and sanitised by
// DOMPurify before it reaches the page (and the page's Trusted Types policy refuses any
// other HTML). One turn runs at a time; Stop cancels it.
"use strict";

const conversation = document.getElementById("conversation");
const examples = document.getElementById("examples");
const form = document.getElementById("ask");
const question = document.getElementById("question");
const send = document.getElementById("send");
const stop = document.getElementById("stop");
const notice = document.getElementById("notice");
const tokenRow = document.getElementById("token-row");
const tokenInput = document.getElementById("token");

/** What the server accepts and re-sends (its numbers, from data attributes it filled in). */
const limits = {
  maxMessages: Number(document.body.dataset.maxMessages) || 200,
  maxMessageChars: Number(document.body.dataset.maxMessageChars) || 32768,
  historyChars: Number(document.body.dataset.historyChars) || 100000,
};
/** The providers' names for people, from the server: {"bedrock": "Amazon Bedrock", ...}. */
const providerLabels = (() => {
  try {
    return JSON.parse(document.body.dataset.providerLabels || "{}");
  } catch {
    return {};
  }
})();

/** Which model gave an answer, as that response's own headers say ("" when they do not). */
function answeredBy(response) {
  const model = response.headers.get("x-model");
  const provider = response.headers.get("x-model-provider");
  if (!model) return "";
  const label = provider ? providerLabels[provider] || provider : "";
  return label ? `${model} (${label})` : model;
}

/** The whole conversation; what is re-sent is trimmed to the limits (history-budget.js). */
const history = [];
/** The AbortController of the turn in progress, if any: one turn at a time. */
let running = null;

tokenInput.value = sessionStorage.getItem("apiToken") || "";
if (tokenInput.value) tokenRow.hidden = false;

window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/** Markdown -> sanitised HTML, inserted as a TrustedHTML the page's policy accepts. */
function setMarkdown(node, markdown) {
  const html = window.marked.parse(markdown, { gfm: true, breaks: false, async: false });
  node.innerHTML = window.DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "img", "svg", "math"],
    FORBID_ATTR: ["style"],
    RETURN_TRUSTED_TYPE: true,
  });
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Keeps the newest content in view while the user has not scrolled away from the bottom. */
function scrollDown() {
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
  if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
  notice.scrollIntoView({ block: "nearest" });
}

function clearNotice() {
  notice.hidden = true;
  notice.textContent = "";
}

function setRunning(controller) {
  running = controller;
  send.hidden = controller !== null;
  stop.hidden = controller === null;
  document.body.toggleAttribute("data-busy", controller !== null);
}

/** Splits a fetch body stream into SSE events: {event, data}. */
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length === 0) continue; // a heartbeat comment
      try {
        yield { event, data: JSON.parse(data.join("\n")) };
      } catch {
        // a malformed line: skip it rather than stop the stream
      }
    }
  }
}

/** One assistant turn as it streams in: code blocks, their output, the Markdown answer. */
class TurnView {
  constructor(bubble) {
    this.bubble = bubble;
    this.executions = new Map();
    this.answer = null;
    this.answerText = "";
    this.text = "";
    this.renderPending = false;
    this.thinking = null;
    this.showThinking();
  }

  showThinking() {
    if (!this.thinking) this.thinking = element("div", "thinking", "Thinking");
    this.bubble.append(this.thinking);
  }

  hideThinking() {
    this.thinking?.remove();
  }

  code(data) {
    this.hideThinking();
    const block = element("div", "execution");
    block.dataset.id = data.id;
    block.append(element("div", "status", "Executing code..."));
    block.append(element("div", "label", "Code"));
    block.append(element("pre", "code", data.code));
    this.bubble.append(block);
    this.executions.set(data.id, block);
    this.answer = null; // text after code starts a new paragraph
  }

  codeResult(data) {
    const block = this.executions.get(data.id) || this.bubble.appendChild(element("div", "execution"));
    const status = block.querySelector(".status");
    if (status) status.textContent = data.ok ? `Ran in ${Math.round(data.durationMs)} ms` : "The code failed";
    let output = [data.stdout, data.result !== null && data.result !== undefined ? data.result : ""]
      .filter((s) => s && s.length > 0)
      .join("");
    if (data.stderr) output += (output ? "\n" : "") + data.stderr;
    if (data.error) output += (output ? "\n" : "") + `${data.error.type}: ${data.error.message}`;
    block.append(element("div", "label", "Output"));
    block.append(element("pre", data.ok ? "output" : "output failed", output || "(no output)"));
    if (data.truncated)
      block.append(
        element(
          "div",
          "truncated",
          "Output truncated: the sandbox keeps only the first part of long output.",
        ),
      );
    this.showThinking(); // the model reads the output next
  }

  textDelta(delta) {
    this.hideThinking();
    if (!this.answer) {
      this.answer = element("div", "answer");
      this.answerText = "";
      this.bubble.append(this.answer);
    }
    this.answerText += delta;
    this.text += delta;
    // Re-render the Markdown at most once a frame, however many deltas arrive.
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.renderPending = false;
    if (this.answer) setMarkdown(this.answer, this.answerText);
  }

  error(message) {
    this.hideThinking();
    const node = element("div", "error", message);
    this.bubble.append(node);
    node.scrollIntoView({ block: "nearest" });
  }

  /** Names the model that gave this answer, under it. */
  answeredBy(model) {
    if (model) this.bubble.append(element("div", "answered-by", `Answered by ${model}`));
  }

  /** The turn is over: nothing may still say "Executing code..." or "Thinking". */
  finish(reason) {
    this.hideThinking();
    this.flush();
    for (const block of this.executions.values()) {
      const status = block.querySelector(".status");
      if (status && status.textContent === "Executing code...")
        status.textContent = `Not finished: ${reason}`;
    }
  }
}

/** Renders the stream into `view`; resolves with how the turn ended. */
async function renderTurn(response, view) {
  let failed = false;
  let done = false;
  for await (const { event, data } of readEvents(response)) {
    if (event === "code") view.code(data);
    else if (event === "code_result") view.codeResult(data);
    else if (event === "text") view.textDelta(data.delta);
    else if (event === "error") {
      failed = true;
      view.error(data.message);
    } else if (event === "done") {
      done = true;
      break;
    }
    scrollDown();
  }
  if (!done) {
    view.finish("the connection was lost");
    view.error("The connection to the server was lost before the answer was complete. Ask again.");
    return;
  }
  view.finish(failed ? "the turn ended with an error" : "the answer ended");
}

/** What a refused request means for the person asking, and what to do. */
function describeRefusal(status, body, retryAfter) {
  const wait = retryAfter ? ` in ${retryAfter} s` : " in a moment";
  if (status === 401) return "This server needs an API token: enter it in the API token field and ask again.";
  if (status === 429) return `You are sending questions faster than this server allows; ask again${wait}.`;
  if (status === 503) return `The server is busy or restarting; ask again${wait}.`;
  if (status === 413) return "The conversation is too long to send; reload the page to start a new one.";
  const detail = body && body.error && body.error.message ? ` (${body.error.message.split(";")[0]})` : "";
  return `The server could not take this question (HTTP ${status})${detail}. Ask again, or reload the page.`;
}

async function ask(content) {
  if (running) return; // one turn at a time: Stop first
  clearNotice();
  if (content.length > limits.maxMessageChars) {
    showNotice(
      `Your question is ${content.length.toLocaleString()} characters long; the limit is ${limits.maxMessageChars.toLocaleString()}. Shorten it and ask again.`,
    );
    return;
  }
  examples.hidden = true;
  question.value = "";
  history.push({ role: "user", content });
  const userBubble = element("div", "message user", content);
  const bubble = element("div", "message assistant");
  conversation.append(userBubble, bubble);
  window.scrollTo(0, document.body.scrollHeight);
  const view = new TurnView(bubble);
  const controller = new AbortController();
  setRunning(controller);

  // Nothing of the question is lost when it was not taken: it goes back into the box.
  const giveBack = (message) => {
    history.pop();
    userBubble.remove();
    bubble.remove();
    if (question.value.trim() === "") question.value = content;
    if (history.length === 0) examples.hidden = false;
    showNotice(message);
  };

  const headers = { "content-type": "application/json" };
  const token = tokenInput.value.trim();
  if (token) headers.authorization = `Bearer ${token}`;
  const { messages } = window.historyBudget.trimHistory(history, {
    budgetChars: limits.historyChars,
    maxMessages: limits.maxMessages,
    maxMessageChars: limits.maxMessageChars,
  });
  let response;
  try {
    response = await fetch("/api/chat", {
      method: "POST",
      headers,
      body: JSON.stringify({ messages }),
      signal: controller.signal,
    });
  } catch {
    setRunning(null);
    if (controller.signal.aborted) giveBack("Stopped before the server answered.");
    else giveBack("Could not reach the server; check your connection and ask again.");
    return;
  }
  if (!response.ok) {
    setRunning(null);
    const body = await response.json().catch(() => null);
    if (response.status === 401) {
      tokenRow.hidden = false;
      giveBack(describeRefusal(401, body));
      tokenInput.focus();
      return;
    }
    giveBack(describeRefusal(response.status, body, response.headers.get("retry-after")));
    return;
  }
  const model = answeredBy(response);
  try {
    await renderTurn(response, view);
    if (view.text) view.answeredBy(model);
  } catch {
    if (controller.signal.aborted) {
      view.finish("stopped");
      bubble.append(element("div", "stopped", "Stopped."));
    } else {
      view.finish("the connection was lost");
      view.error("The connection to the server was lost before the answer was complete. Ask again.");
    }
  } finally {
    setRunning(null);
  }
  if (view.text) history.push({ role: "assistant", content: view.text });
  else history.pop(); // not answered: not re-sent with the next question
  scrollDown();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const content = question.value.trim();
  if (!content || running) return;
  sessionStorage.setItem("apiToken", tokenInput.value.trim());
  try {
    await ask(content);
  } finally {
    // Back to the question box, unless the page asked for the token.
    if (document.activeElement !== tokenInput) question.focus();
  }
});

stop.addEventListener("click", () => running?.abort());

question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (!running) form.requestSubmit();
  } else if (event.key === "Escape" && running) {
    running.abort();
  }
});

for (const button of document.querySelectorAll("button.example")) {
  button.addEventListener("click", () => {
    if (running) return;
    question.value = button.textContent;
    form.requestSubmit();
  });
}

question.focus();
