#!/usr/bin/env node
// Entry point of `cc` and `claudecluster` (the same program under two names). A command line that only asks for
// help is answered from pre-rendered text (help-text.ts, kept equal to clipanion's output by cli/help.test.ts), so
// `cc --help` costs little more than starting node; everything else goes through clipanion (cli.ts).
import * as nodeModule from "node:module";
import { helpColors, helpRequest } from "./help-request.js";

// Caches compiled code between runs (Node 22.1+; older versions simply go without).
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const args = process.argv.slice(2);
const invokedAs = process.argv[1]?.split("/").pop() ?? "";
const binaryName = invokedAs === "claudecluster" ? "claudecluster" : "cc";
const colored = helpColors(process.stdout, process.env);

// A reader that goes away (`cc run ... | head -1`) is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

async function main(): Promise<number> {
  const key = helpRequest(args);
  if (key !== undefined && binaryName === "cc") {
    const [{ HELP_TEXT, withVersion }, { VERSION }] = await Promise.all([import("./help-text.js"), import("../services/common/version.js")]);
    const text = HELP_TEXT[key];
    if (text !== undefined) {
      process.stdout.write(withVersion(colored ? text.color : text.plain, VERSION));
      return 0;
    }
  }
  const { createCli, runCli } = await import("./cli.js");
  return runCli(createCli(binaryName, colored, args), args);
}

const code = await main();
process.exitCode = code;
// Everything a command opens it closes; should anything linger anyway, it must not keep the shell waiting.
setTimeout(() => process.exit(code), 3000).unref();
