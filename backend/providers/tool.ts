/**
 * The `execute_python` tool and the system instruction, the same for every provider
 * (CONTRACT section 2: one string parameter `code`, whatever the provider). Each provider
 * declares the spec in its own API's form.
 */
import type { ToolSpec } from "./provider";

export const TOOL_NAME = "execute_python";

export function executePythonTool(allowedModules: readonly string[]): ToolSpec {
  return {
    name: TOOL_NAME,
    description:
      "Run Python 3 code in an isolated sandbox and get back its stdout, stderr, the repr of a trailing " +
      "expression, and any error. Use it for any arithmetic, statistics, dates or other computation " +
      "instead of computing in your head. The code MUST print() the values you need: only printed " +
      "output (and a trailing bare expression) is returned. Only these modules can be imported: " +
      `${allowedModules.join(", ")}. No files, network, subprocesses or environment variables. ` +
      "Each call starts fresh: nothing persists between calls.",
    parameters: {
      type: "object",
      properties: {
        code: { type: "string", description: "Complete Python 3 source to run; print the results." },
      },
      required: ["code"],
    },
  };
}

export function systemInstruction(codeExecution: boolean): string {
  return codeExecution
    ? "You are a helpful assistant. When a question needs calculation or data processing, call " +
        `${TOOL_NAME} with Python code that prints the result, then answer from its output. ` +
        "If the code fails, read the error, fix the code and try again."
    : "You are a helpful assistant. Code execution is not available; answer directly.";
}
