// The prompt of `cc run`: the arguments joined by spaces, or standard input when the only argument is "-".
import type { Readable } from "node:stream";

export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

export async function resolvePrompt(args: readonly string[], stdin: Readable): Promise<string> {
  if (args.length === 1 && args[0] === "-") return (await readAll(stdin)).replace(/\n$/, "");
  return args.join(" ");
}
