// The chat page: posts the conversation to /api/chat and renders the SSE stream the way the
// feature is meant to look: "Executing code...", the code block, its output, the answer.
// Plain DOM and fetch (no build step); text is always inserted as text, never as HTML.
"use strict";

const conversation = document.getElementById("conversation");
const form = document.getElementById("ask");
const question = document.getElementById("question");
const send = document.getElementById("send");
const tokenRow = document.getElementById("token-row");
const tokenInput = document.getElementById("token");

/** The conversation so far, as the API wants it. */
const history = [];

tokenInput.value = sessionStorage.getItem("apiToken") || "";
if (tokenInput.value) tokenRow.hidden = false;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function scrollDown() {
  window.scrollTo(0, document.body.scrollHeight);
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

/** Renders one assistant turn from the stream; returns the answer text. */
async function renderTurn(response, bubble) {
  const executions = new Map();
  let answer = null;
  let text = "";
  for await (const { event, data } of readEvents(response)) {
    if (event === "code") {
      const block = element("div", "execution");
      block.dataset.id = data.id;
      block.append(element("div", "status", "Executing code..."));
      block.append(element("div", "label", "Code"));
      block.append(element("pre", "code", data.code));
      bubble.append(block);
      executions.set(data.id, block);
      answer = null; // text after code starts a new paragraph
    } else if (event === "code_result") {
      const block = executions.get(data.id) || bubble.appendChild(element("div", "execution"));
      const status = block.querySelector(".status");
      if (status)
        status.textContent = data.ok ? `Ran in ${Math.round(data.durationMs)} ms` : "The code failed";
      let output = [data.stdout, data.result !== null && data.result !== undefined ? data.result : ""]
        .filter((s) => s && s.length > 0)
        .join("");
      if (data.stderr) output += (output ? "\n" : "") + data.stderr;
      if (data.error) output += (output ? "\n" : "") + `${data.error.type}: ${data.error.message}`;
      block.append(element("div", "label", "Output"));
      block.append(element("pre", data.ok ? "output" : "output failed", output || "(no output)"));
    } else if (event === "text") {
      if (!answer) {
        answer = element("div", "answer");
        bubble.append(answer);
      }
      answer.textContent += data.delta;
      text += data.delta;
    } else if (event === "error") {
      bubble.append(element("div", "error", `${data.type}: ${data.message}`));
    } else if (event === "done") {
      break;
    }
    scrollDown();
  }
  return text;
}

async function ask(content) {
  history.push({ role: "user", content });
  conversation.append(element("div", "message user", content));
  const bubble = element("div", "message assistant");
  conversation.append(bubble);
  scrollDown();
  const headers = { "content-type": "application/json" };
  const token = tokenInput.value.trim();
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      headers,
      body: JSON.stringify({ messages: history }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const error = body.error || { type: `HTTP ${response.status}`, message: response.statusText };
      if (response.status === 401) tokenRow.hidden = false;
      bubble.append(element("div", "error", `${error.type}: ${error.message}`));
      history.pop(); // not answered: the user can ask again
      return;
    }
    const answer = await renderTurn(response, bubble);
    if (answer) history.push({ role: "assistant", content: answer });
    else history.pop();
  } catch (err) {
    bubble.append(element("div", "error", `Connection failed: ${err.message}. Ask again.`));
    history.pop();
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const content = question.value.trim();
  if (!content) return;
  sessionStorage.setItem("apiToken", tokenInput.value.trim());
  question.value = "";
  send.disabled = true;
  try {
    await ask(content);
  } finally {
    send.disabled = false;
    question.focus();
  }
});

question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});
