// The logic of `cc diff`: the summary from the task's record for --stat and --name-only; otherwise the patch,
// streamed from the worker through the router to stdout, coloured on a terminal.
import { ChangesFormat } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { ExitCode } from "../../exit-codes.js";
import type { RouterClient } from "../client.js";
import type { CommandIO } from "../io.js";
import { outputWidth } from "../io.js";
import { COLOR, PLAIN, useColor } from "../style.js";
import { recordedChanges } from "./apply.js";
import { nameOnlyText, PatchColorizer, statText } from "./diff.js";
import { downloadChanges, streamSink } from "./download.js";

export interface DiffOptions {
  stat: boolean;
  nameOnly: boolean;
  /** auto (a terminal, unless NO_COLOR), always or never. */
  color: "auto" | "always" | "never";
}

export async function showDiff(c: { io: CommandIO; client: Pick<RouterClient, "getTask" | "getChanges"> }, taskId: string, o: DiffOptions): Promise<number> {
  const colored = o.color === "always" || (o.color === "auto" && useColor(c.io.stdout, c.io.env));
  const style = colored ? COLOR : PLAIN;
  const summary = await recordedChanges(c.client, taskId);
  if (summary.error) c.io.stderr.write(`cc: note: ${summary.error}\n`);
  if (o.nameOnly) {
    c.io.stdout.write(nameOnlyText(summary));
    if (summary.filesTotal > summary.files.length) c.io.stderr.write(`cc: the task changed ${summary.filesTotal} files; its record lists the first ${summary.files.length}\n`);
    return ExitCode.Ok;
  }
  if (o.stat) {
    c.io.stdout.write(statText(summary, style, c.io.stdout.isTTY ? outputWidth(c.io.stdout) : 80));
    return ExitCode.Ok;
  }
  const write = streamSink(c.io.stdout);
  if (!colored) {
    await downloadChanges(c.client, taskId, ChangesFormat.PATCH, write);
    return ExitCode.Ok;
  }
  const colorizer = new PatchColorizer(style, (text) => write(Buffer.from(text)));
  await downloadChanges(c.client, taskId, ChangesFormat.PATCH, (chunk) => colorizer.push(chunk));
  await colorizer.end();
  return ExitCode.Ok;
}
