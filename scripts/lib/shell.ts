/**
 * Fix commands are printed for people to paste into a shell: every word that is not plainly
 * safe is single-quoted (POSIX), so a name, an ARN, a JSON policy or a URL cannot split into
 * other words or run anything when pasted.
 */

/** One word, quoted only when it needs to be. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line from its words: `command("aws", "iam", ..., policyJson)`. */
export function command(...words: (string | number)[]): string {
  return words.map((w) => shellQuote(String(w))).join(" ");
}
