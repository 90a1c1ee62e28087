// Recognises a command line that only asks for help (`cc`, `cc --help`, `cc run -h`, `cc config set --help`), so
// main.ts can answer it from the pre-rendered texts in help-text.ts without loading clipanion.

/** The command path whose help is asked for ("" for the list of commands), or undefined for anything else. */
export function helpRequest(args: readonly string[]): string | undefined {
  if (args.length === 0) return "";
  const last = args.at(-1);
  if (last !== "--help" && last !== "-h") return undefined;
  const path = args.slice(0, -1);
  if (path.some((word) => !/^[a-z][a-z-]*$/.test(word))) return undefined;
  return path.join(" ");
}

/** Same rule as cli.ts: colours only on a terminal, never with NO_COLOR or TERM=dumb. */
export function helpColors(stdout: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  return !env["NO_COLOR"] && env["TERM"] !== "dumb" && stdout.isTTY === true;
}
