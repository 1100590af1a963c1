/**
 * Error types as they enter the backend from the sandbox, and the closed set they may take as
 * a metric label. User code chooses its exception class name (any length, any characters), so
 * a raw type must never become a label value or an unbounded log field: the label is one of
 * a fixed list or `other`, and the type itself is cleaned and capped before anyone sees it.
 */
import { BACKEND_ERROR_TYPES, SANDBOX_ERROR_TYPES } from "../contract/sandbox";

/** Python's built-in exception classes (3.11-3.13) and the allowed modules' common ones. */
const PYTHON_EXCEPTIONS = [
  "ArithmeticError",
  "AssertionError",
  "AttributeError",
  "BaseException",
  "BaseExceptionGroup",
  "BufferError",
  "EOFError",
  "Exception",
  "ExceptionGroup",
  "FloatingPointError",
  "GeneratorExit",
  "ImportError",
  "IndentationError",
  "IndexError",
  "KeyError",
  "KeyboardInterrupt",
  "LookupError",
  "MemoryError",
  "ModuleNotFoundError",
  "NameError",
  "NotImplementedError",
  "OSError",
  "OverflowError",
  "RecursionError",
  "ReferenceError",
  "RuntimeError",
  "StopAsyncIteration",
  "StopIteration",
  "SystemError",
  "SystemExit",
  "TabError",
  "TimeoutError",
  "TypeError",
  "UnboundLocalError",
  "UnicodeDecodeError",
  "UnicodeEncodeError",
  "UnicodeError",
  "UnicodeTranslateError",
  "ValueError",
  "ZeroDivisionError",
  // json, statistics, decimal, re (allowed modules)
  "JSONDecodeError",
  "StatisticsError",
  "InvalidOperation",
  "DivisionByZero",
  "PatternError",
];

/** Every value the `outcome` label of code_executions_total can take. */
export const EXECUTION_OUTCOMES: ReadonlySet<string> = new Set([
  "ok",
  "other",
  ...SANDBOX_ERROR_TYPES,
  ...BACKEND_ERROR_TYPES,
  ...PYTHON_EXCEPTIONS,
]);

/** Longest error type passed on to clients, the model and the logs. */
export const MAX_ERROR_TYPE_CHARS = 100;

/** A type as it may travel on: identifier characters only (dots for qualified names), capped. */
export function cleanErrorType(raw: unknown): string {
  const cleaned = String(raw ?? "")
    .replace(/[^A-Za-z0-9_.]/g, "")
    .slice(0, MAX_ERROR_TYPE_CHARS);
  return cleaned === "" ? "Error" : cleaned;
}

/** The metric label for an execution: `ok`, a listed type, or `other`. */
export function executionOutcome(ok: boolean, errorType: string | undefined): string {
  if (ok && !errorType) return "ok";
  return errorType !== undefined && EXECUTION_OUTCOMES.has(errorType) ? errorType : "other";
}
