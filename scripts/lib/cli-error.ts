/** The errors of the operations commands (their own module so every lib module can throw them). */

/** A failure the user can fix; printed as one line (no stack trace) with this exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** How a person runs the npm script `command`: `npm start`, `npm run doctor`. */
export function npmCommand(command: string): string {
  return command === "start" ? "npm start" : `npm run ${command}`;
}

/** Bad command line: exit 2, and the message ends with the `--help` hint. */
export class UsageError extends CliError {
  constructor(message: string, command: string) {
    super(`${message} (see: ${npmCommand(command)} -- --help)`, 2);
    this.name = "UsageError";
  }
}

/**
 * A failure with its repair: what went wrong, the command or change that fixes it, and extra
 * lines for the readable report (events, log lines). Thrown by a step or an adapter, printed
 * as detail + fix.
 */
export class StepFailure extends CliError {
  constructor(
    message: string,
    /** The command or change that repairs it. */
    readonly fix: string,
    /** Extra lines for the readable report (events, log lines). */
    readonly details: string[] = [],
    exitCode = 1,
  ) {
    super(message, exitCode);
    this.name = "StepFailure";
  }
}
