/**
 * The history budget the page and the server share (backend/public/history-budget.js): the
 * newest messages that fit, the new question always, long messages cut in the middle rather
 * than dropped, a note of what was left out, and never more than the server accepts.
 */
import { MAX_MESSAGE_CHARS, MAX_MESSAGES, trimHistory } from "../../backend/history";

type Message = { role: "user" | "assistant"; content: string };
const turn = (i: number, length = 10): Message[] => [
  { role: "user", content: `question ${i} `.padEnd(length, "q") },
  { role: "assistant", content: `answer ${i} `.padEnd(length, "a") },
];
const conversation = (turns: number, length?: number, last = "newest question"): Message[] => [
  ...Array.from({ length: turns }, (_, i) => turn(i, length)).flat(),
  { role: "user", content: last },
];
const limits = { budgetChars: 100000, maxMessages: MAX_MESSAGES, maxMessageChars: MAX_MESSAGE_CHARS };
const total = (messages: Message[]) => messages.reduce((n, m) => n + m.content.length, 0);

describe("trimHistory", () => {
  it("keeps a conversation that fits exactly as it is", () => {
    const messages = conversation(3);
    expect(trimHistory(messages, limits)).toEqual({ messages, omitted: 0 });
  });

  it("after 150 turns sends at most MAX_MESSAGES messages, newest first, starting with the user and a note", () => {
    const { messages, omitted } = trimHistory(conversation(150), limits);
    expect(messages.length).toBeLessThanOrEqual(MAX_MESSAGES);
    expect(omitted).toBe(301 - messages.length);
    expect(messages[0]!.role).toBe("user");
    expect(messages[0]!.content).toMatch(new RegExp(`^\\[${omitted} earlier messages were left out`));
    expect(messages.at(-1)!.content).toBe("newest question");
    expect(messages.at(-2)!.content).toMatch(/^answer 149/);
  });

  it("a 65,000-character answer is cut in the middle to the per-message limit, its start and end kept", () => {
    const long = `START ${"1 ".repeat(32500)} END`;
    const { messages } = trimHistory(
      [
        { role: "user", content: "fib" },
        { role: "assistant", content: long },
        { role: "user", content: "next?" },
      ],
      limits,
    );
    const cut = messages[1]!.content;
    expect(cut.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect(cut.startsWith("START")).toBe(true);
    expect(cut.endsWith("END")).toBe(true);
    expect(cut).toMatch(/\[\.\.\. \d+ characters left out to keep the conversation short \.\.\.\]/);
  });

  it("1 MiB of history fits the character budget, and every message the server's limit", () => {
    const { messages } = trimHistory(conversation(40, 13000), limits);
    expect(total(messages)).toBeLessThanOrEqual(limits.budgetChars + 200);
    for (const m of messages) expect(m.content.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect(JSON.stringify({ messages }).length).toBeLessThan(1024 * 1024);
  });

  it("the first message that no longer fits whole is kept in part when enough budget is left", () => {
    const { messages } = trimHistory(conversation(10, 30000), limits);
    const partial = messages.find((m) => m.content.includes("characters left out"));
    expect(partial).toBeDefined();
    expect(total(messages)).toBeLessThanOrEqual(limits.budgetChars + 200);
  });

  it("trimming what was trimmed changes nothing (the page trims, then the server does)", () => {
    for (const messages of [conversation(150), conversation(40, 13000), conversation(10, 30000)]) {
      const once = trimHistory(messages, limits);
      expect(trimHistory(once.messages, limits)).toEqual({ messages: once.messages, omitted: 0 });
    }
  });

  it("never leaves out the new question, even one longer than the whole budget", () => {
    const { messages } = trimHistory(conversation(2, 10, "x".repeat(5000)), { budgetChars: 1000 });
    expect(messages.at(-1)!.role).toBe("user");
    expect(messages.at(-1)!.content).toMatch(/^\[4 earlier messages were left out[^]*x+$/);
  });
});
