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

/** Bad command line: exit 2, and the message ends with the `--help` hint. */
export class UsageError extends CliError {
  constructor(message: string, command: string) {
    super(`${message} (see: npm run ${command} -- --help)`, 2);
    this.name = "UsageError";
  }
}
