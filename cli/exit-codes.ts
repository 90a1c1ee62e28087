// Every exit code cc uses, in one place. `cc run --help` prints this table; scripts can rely on it.

export const ExitCode = {
  /** The task succeeded (or the command did what it was asked). */
  Ok: 0,
  /** The agent reported an error: result.is_error, a non-zero exit of claude, or the task failed or was stopped. */
  AgentError: 1,
  /** The command line was wrong: an unknown option, a missing prompt, a bad value. */
  Usage: 2,
  /** The router could not be reached (connection refused, DNS, TLS, timeout). */
  Unreachable: 3,
  /** The router refused the request: bad token, invalid argument, unknown task or worker, no capacity... */
  Refused: 4,
  /** `cc wait --timeout` passed before the tasks ended (they keep running). */
  WaitTimeout: 124,
  /** Interrupted with Ctrl-C (a running task was cancelled first). */
  Interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The table as it appears in `cc run --help` (Markdown-ish, as clipanion renders `details`). With `-n`, `cc run`
 * exits 0 when any attempt succeeded; `cc batch` only when every task did.
 */
export const EXIT_CODES_HELP = [
  "Exit codes:",
  "",
  "- `0` the task succeeded",
  "- `1` the agent reported an error (result is_error, non-zero exit of claude, or the task failed or was cancelled)",
  "- `2` usage error (bad option or missing prompt)",
  "- `3` cannot reach the router",
  "- `4` the router refused the request (authentication, invalid argument, unknown task or worker, no capacity)",
  "- `124` `cc wait --timeout` passed before the tasks ended",
  "- `130` interrupted with Ctrl-C (the task was cancelled)",
].join("\n");

/** Indents every line after the first, so a multi-line text can sit inside an indented `details` template. */
export function indented(text: string, indent = "      "): string {
  return text.replace(/\n/g, `\n${indent}`);
}
