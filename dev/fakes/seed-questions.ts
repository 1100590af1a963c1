/**
 * What the fake models know: Python for the seed's five questions (25 * 47, 15 % of 2847, the
 * first 10 Fibonacci numbers, the square root of 144, the sum of the first 100 primes), and for
 * a few questions that exercise the sandbox's refusals and limits. A question with several
 * parts ("25 times 47 and the square root of 144") gets one piece of code per part: the fakes
 * ask for them as parallel calls in one model turn.
 */

/** Python for one question the fakes understand, else undefined. */
export function seedCodeFor(question: string): string | undefined {
  const q = question.toLowerCase().replace(/(\d),(\d{3})/g, "$1$2");
  const num = "(-?\\d+(?:\\.\\d+)?)";
  let m = new RegExp(`${num}\\s*(?:times|\\*|x|×|multiplied by)\\s*${num}`).exec(q);
  if (m) return `print(${m[1]} * ${m[2]})`;
  m = new RegExp(`${num}\\s*(?:%|percent)\\s*of\\s*${num}`).exec(q);
  if (m) return `print(${m[2]} * ${m[1]} / 100)`;
  m = /first\s+(\d+)\s+fibonacci/.exec(q);
  if (m)
    return [
      "a, b = 0, 1",
      "numbers = []",
      `for _ in range(${m[1]}):`,
      "    numbers.append(a)",
      "    a, b = b, a + b",
      "print(*numbers)",
    ].join("\n");
  m = new RegExp(`square root of\\s*${num}`).exec(q);
  if (m)
    return [
      "import math",
      `root = math.sqrt(${m[1]})`,
      "print(int(root) if root.is_integer() else root)",
    ].join("\n");
  m = /sum of (?:the )?first\s+(\d+)\s+primes?/.exec(q);
  if (m)
    return [
      "primes = []",
      "n = 2",
      `while len(primes) < ${m[1]}:`,
      "    if all(n % p for p in primes if p * p <= n):",
      "        primes.append(n)",
      "    n += 1",
      "print(sum(primes))",
    ].join("\n");
  if (/\b(list|show)\b.*\bfiles\b|\bdirectory\b|\/etc\/passwd|environment variables?/.test(q))
    return ["import os", "print(os.listdir('.'))"].join("\n");
  if (/\b(endless|infinite)\s+loop\b|\bloop forever\b/.test(q)) return ["while True:", "    pass"].join("\n");
  return undefined;
}

/** One piece of code per part of a question that the fakes understand (parts joined by "and" or ";"). */
export function seedCodesFor(question: string): string[] {
  const whole = seedCodeFor(question);
  const parts = question.split(/\s+and\s+|;|\?\s+/i).map((p) => p.trim());
  const codes = parts.map(seedCodeFor).filter((c): c is string => c !== undefined);
  return codes.length > 1 ? codes : whole ? [whole] : codes;
}

/** Makes an answer wrong in a way a checker notices: every number in it plus one. */
export function wrongly(answer: string): string {
  return answer.replace(/-?\d+(\.\d+)?/g, (n) => String(Number(n) + 1));
}

/** What the fakes say when they do not know the question. */
export const UNKNOWN_QUESTION =
  "I can work out products, percentages, Fibonacci numbers, square roots and sums of primes.";
/** What the fakes say when no tool is offered. */
export const NO_TOOL = "I cannot run code here, so I will not guess.";
