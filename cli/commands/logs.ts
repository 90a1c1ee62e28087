// `cc logs`: print a task's log.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { ValueOption } from "../options.js";

export class LogsCommand extends RouterCommand {
  static override paths = [["logs"]];

  static override usage = Command.Usage({
    description: "Print a task's log as text",
    details: `
      Prints what the task has logged so far, rendered as \`cc run\` shows it (assistant text, one line per tool call), with its start, queueing and end as dim \`──\` lines. An interactive task's log is its raw terminal output.

      \`--tail n\` prints only the last n lines of it; \`--since\` only what was logged since then (30m, 2h… ago, or a time such as 2026-05-01T10:00:00Z). With \`-f\` it keeps following the task until it ends. Ctrl-C stops following; the task is not affected.

      The router keeps a bounded log per task (CC_TASK_LOG_BYTES): when the start of a long one was dropped, a first line says which events are gone, and the rest is printed.
    `,
    examples: [
      ["Print a task's log", "$0 logs 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Follow it as it runs", "$0 logs -f 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["The last 20 lines, then follow", "$0 logs --tail 20 -f 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["What it did in the last five minutes", "$0 logs --since 5m 01jb3k5x2q7w9h4r8t6y1m0c3d"],
    ],
  });

  follow = Option.Boolean("-f,--follow", false, { description: "Keep printing new events until the task ends" });
  tail = ValueOption.String("-n,--tail <n>", { description: "Print only the last n lines logged so far" });
  since = ValueOption.String("--since <when>", { description: "Print only what was logged since then: a duration ago (5m, 2h) or a time" });
  task = Option.String({ name: "task" });

  async execute(): Promise<number> {
    const [{ taskLogs }, { parseSince }, { wholeNumber }] = await Promise.all([import("../lib/logs.js"), import("../lib/ps.js"), import("../lib/numbers.js")]);
    const tail = this.tail === undefined ? undefined : wholeNumber("--tail", this.tail, 0, 1_000_000);
    const sinceMs = this.since === undefined ? undefined : parseSince(this.since, Date.now());
    this.taskIdForErrors = this.task;
    return this.withRouter((c) => taskLogs(c, this.task, { follow: this.follow, ...(tail !== undefined ? { tail } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}) }));
  }
}
