/**
 * Remote text (model answers, pod logs and events, AWS error messages, CloudWatch log lines)
 * reaches a person's terminal and CI logs. Left as it is, it can carry terminal escape codes
 * (move the cursor, rewrite what was printed, set the window title, write to the clipboard)
 * and GitHub Actions workflow commands (`::add-mask::`, `::error::`, `::stop-commands::`, the
 * legacy `##[...]`), which the runner obeys when they start a line of a step's output. This
 * makes every such character visible and inert instead.
 */

/** C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const visible = (ch: string): string => {
  const code = ch.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
};

/** Text safe to print: controls shown as `\x1b`, workflow commands escaped with a backslash. */
export function terminalSafe(text: string): string {
  return text
    .replace(/\r\n/g, "\n")
    .replace(UNSAFE, visible)
    .replace(/^(\s*)::/gm, "$1\\::")
    .replace(/##\[/g, "#\\#[");
}

/** JSON for stdout: JSON already escapes C0 controls; escape C1 and bidi controls too. */
export function terminalSafeJson(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
