// The small defences every operations command relies on, each against the input that broke
// it: names in their real grammar, fix commands quoted for a shell, remote text made inert,
// and an IAM wildcard matcher that cannot be made to backtrack.
import { spawnSync } from "node:child_process";
import { wildcardMatch } from "../../scripts/doctor/iam-policy";
import { nameProblem } from "../../scripts/lib/names";
import { command, shellQuote } from "../../scripts/lib/shell";
import { terminalSafe, terminalSafeJson } from "../../scripts/lib/terminal-safe";

describe("names in their real grammar", () => {
  it.each([
    ["namespace", "co-intelligence"],
    ["deployment", "backend.v2"],
    ["functionName", "co-intelligence-code-executor"],
    ["functionName", "arn:aws:lambda:us-east-1:123456789012:function:co-intelligence-code-executor:live"],
    ["repositoryName", "team/co-intelligence-backend"],
    ["invokeRoleName", "co-intelligence-eks-node-role"],
    ["region", "eu-central-1"],
    ["stack", "acme/co-intelligence/prod"],
  ] as const)("accepts the %s %s", (kind, value) => {
    expect(nameProblem(kind, value)).toBeUndefined();
  });

  it.each([
    ["namespace", "--kubeconfig=/tmp/x"],
    ["namespace", "Default"],
    ["deployment", "--server=http://127.0.0.1:1"],
    ["deployment", "-n"],
    ["functionName", "--endpoint-url=http://x"],
    ["functionName", "a b"],
    ["repositoryName", "-backend"],
    ["repositoryName", "Backend"],
    ["invokeRoleName", "role;id"],
    ["region", "us-east-1 --debug"],
    ["stack", "--cwd=/tmp"],
    ["namespace", "a".repeat(64)],
  ] as const)("refuses the %s %j", (kind, value) => {
    expect(nameProblem(kind, value)).toMatch(/^must be /);
  });
});

describe("fix commands quoted for a shell", () => {
  it("leaves plain words alone and quotes the rest, so a pasted command is exactly its words", () => {
    expect(shellQuote("co-intelligence-backend")).toBe("co-intelligence-backend");
    const words = [
      "aws",
      "iam",
      "put-role-policy",
      "--policy-document",
      `{"Resource":"arn:x"}`,
      "it's",
      "$(id)",
      "a b",
      "",
    ];
    const line = command(...words);
    const echoed = spawnSync("bash", ["-c", `printf '%s\\n' ${line}`], { encoding: "utf8" }).stdout;
    expect(echoed).toBe(words.map((w) => `${w}\n`).join(""));
  });
});

describe("remote text made inert", () => {
  it("shows terminal controls instead of sending them, and escapes workflow commands", () => {
    const hostile =
      "a\u001b[31mred\u001b[0m\r\n::set-output name=x::y\n  ::add-mask::s\nok ##[error]z\u009b\u202e";
    const safe = terminalSafe(hostile);
    expect(safe).toBe(
      "a\\x1b[31mred\\x1b[0m\n\\::set-output name=x::y\n  \\::add-mask::s\nok #\\#[error]z\\x9b\\u202e",
    );
    expect(terminalSafe("plain text: with colons :: inside\n")).toBe("plain text: with colons :: inside\n");
  });

  it("escapes the C1 and bidi controls JSON.stringify leaves as they are", () => {
    expect(terminalSafeJson(JSON.stringify({ m: "\u009b2J\u202e" }))).toBe('{"m":"\\u009b2J\\u202e"}');
  });
});

describe("IAM wildcard matching", () => {
  it("matches as IAM does: * any run, ? one character, actions case-insensitively", () => {
    expect(
      wildcardMatch("arn:aws:lambda:*:*:function:co-*", "arn:aws:lambda:us-east-1:1:function:co-x"),
    ).toBe(true);
    expect(wildcardMatch("lambda:Invoke?unction", "lambda:InvokeFunction")).toBe(true);
    expect(wildcardMatch("lambda:invoke*", "lambda:InvokeFunction", true)).toBe(true);
    expect(wildcardMatch("lambda:invoke*", "lambda:InvokeFunction")).toBe(false);
    expect(wildcardMatch("a*b", "ac")).toBe(false);
    expect(wildcardMatch("*", "")).toBe(true);
  });

  it("answers a pattern built to backtrack at once (a regular expression took 27 s on one of 15 characters)", () => {
    const pattern = "*a*a*a*a*a*a*a*b";
    const value = "a".repeat(5000);
    const started = performance.now();
    expect(wildcardMatch(pattern, value)).toBe(false);
    // Linear in the value for a given pattern: milliseconds, even on a loaded machine.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
