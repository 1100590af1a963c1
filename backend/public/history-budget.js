// What part of a conversation is re-sent with each question: the one rule the chat page and
// the backend share (the page loads this file as a script; backend/history.ts requires it), so
// a long conversation never turns into a request the server refuses or a model input that
// grows without bound. Plain JavaScript on purpose: the page has no build step.
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.historyBudget = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  /** A message longer than this is cut in the middle rather than dropped whole. */
  var MIN_PARTIAL_CHARS = 1000;

  /** `text` shortened to `max` characters: its start and its end, with what was left out said. */
  function cutMiddle(text, max) {
    if (text.length <= max) return text;
    var note = function (n) {
      return "\n\n[... " + n + " characters left out to keep the conversation short ...]\n\n";
    };
    var room = Math.max(0, max - note(text.length).length);
    var head = Math.ceil(room * 0.6);
    var tail = room - head;
    return text.slice(0, head) + note(text.length - room) + (tail > 0 ? text.slice(-tail) : "");
  }

  /**
   * The newest messages that fit the limits, oldest first:
   *  - at most `maxMessages` messages, each at most `maxMessageChars` characters (longer ones
   *    are cut in the middle), together at most `budgetChars` characters;
   *  - the last message (the new question) is always kept;
   *  - the first message that no longer fits whole is kept in part when at least
   *    MIN_PARTIAL_CHARS of the budget is left, so the model still sees the start of a long
   *    earlier answer;
   *  - when anything was left out, the first kept message is a user message that says so
   *    (models expect a conversation to start with the user).
   * Returns `{ messages, omitted }`, `omitted` being how many messages were left out entirely.
   */
  function trimHistory(messages, limits) {
    var maxMessages = limits.maxMessages || Infinity;
    var maxChars = limits.maxMessageChars || Infinity;
    var kept = select(messages, limits.budgetChars, maxMessages, maxChars);
    // When something is left out, the note saying so must fit too: choose again with room
    // for it, so that the result already fits and trimming it again changes nothing.
    if (kept.length < messages.length)
      kept = select(messages, limits.budgetChars - NOTE_ROOM, maxMessages - 1, maxChars);
    var omitted = messages.length - kept.length;
    if (omitted > 0) {
      var note =
        "[" +
        omitted +
        " earlier message" +
        (omitted === 1 ? " was" : "s were") +
        " left out of this conversation to keep it short.]";
      if (kept[0].role === "user")
        kept[0] = {
          role: "user",
          content: note + "\n\n" + cutMiddle(kept[0].content, maxChars - note.length - 2),
        };
      else kept.unshift({ role: "user", content: note });
    }
    return { messages: kept, omitted: omitted };
  }

  /** Room the note about left-out messages takes. */
  var NOTE_ROOM = 120;

  /** The newest messages within the limits (see trimHistory), oldest first, without a note. */
  function select(messages, budget, maxMessages, maxChars) {
    var kept = [];
    var used = 0;
    for (var i = messages.length - 1; i >= 0; i--) {
      if (kept.length >= maxMessages) break;
      var m = messages[i];
      var content = cutMiddle(m.content, maxChars);
      var left = budget - used;
      if (content.length > left) {
        if (kept.length === 0) content = cutMiddle(content, Math.max(left, MIN_PARTIAL_CHARS));
        else if (left >= MIN_PARTIAL_CHARS) content = cutMiddle(content, left);
        else break;
        kept.unshift({ role: m.role, content: content });
        break;
      }
      kept.unshift({ role: m.role, content: content });
      used += content.length;
    }
    return kept;
  }

  return { trimHistory: trimHistory, cutMiddle: cutMiddle };
});
