// CLI entry: serve a script over HTTP until SIGTERM/SIGINT.
//
//   scripted-model [--script FILE] [--port N] [--host ADDR]
//
// Prints exactly one line, `listening http://HOST:PORT`, once ready, so a
// parent process can wait for it and read the port (default 0 = any free one).

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { parseScript, type Script } from "./script.js";
import { startScriptedModel } from "./server.js";

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      script: { type: "string" },
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: invalid port "${values.port}"`);
  const script = values.script === undefined ? undefined : await loadScript(values.script);

  const model = await startScriptedModel({ port, host: values.host, ...(script ? { script } : {}) });
  process.stdout.write(`listening ${model.url}\n`);

  const stop = (): void => {
    model.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

async function loadScript(file: string): Promise<Script> {
  const text = await readFile(file, "utf8");
  try {
    return parseScript(JSON.parse(text) as unknown);
  } catch (err) {
    throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`scripted-model: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
