// `cc top`: the fleet live, its workers and tasks.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { ValueOption } from "../options.js";

export class TopCommand extends RouterCommand {
  static override paths = [["top"]];

  static override usage = Command.Usage({
    description: "Watch the cluster's workers and tasks live",
    details: `
      Shows the router's workers (health, tasks placed out of capacity, claude sessions, last seen) and its tasks, newest first: id, state (queued with its place in the queue, starting, running, waiting for approval or input, or how it ended), worker, age, cost so far, the files it changed, its prompt and its latest line. The tasks come from the router's WatchTasks stream, so the view changes as they do; the workers are read again every 2 seconds and whenever a task starts, moves or ends.

      On a terminal the view takes the whole screen and redraws in place: ↑/↓ (or k/j, PgUp/PgDn, g/G) select a task, Enter attaches to it (as \`cc attach\`; Ctrl-C leaves a headless task running, Ctrl-P Ctrl-Q detaches from an interactive one, then a key brings the view back), c cancels it after a y, q or Ctrl-C quits and gives the terminal back as it was.

      Without a terminal, or with \`--once\`, it prints the workers and tasks as two tables; without \`--once\` it then prints one line (the time and the task's columns) each time a task's state, worker or changes change, until interrupted.

      The filters are the router's, as \`cc ps\`'s: \`--status\` (repeatable or comma-separated; every status by default), \`--label key=value\` and \`--worker\`. The view holds at most \`--limit\` tasks (default 100, at most 1000): past it the oldest ended ones make room first.
    `,
    examples: [
      ["Watch the whole fleet", "$0 top"],
      ["Only what is running or queued", "$0 top --status running,queued"],
      ["The tasks of one worker", "$0 top --worker local-1"],
      ["One snapshot, for a script or a log", "$0 top --once"],
      ["Follow changes as lines, into a file", "$0 top > fleet.log"],
    ],
  });

  status = ValueOption.Array("--status <status>", { description: "Only tasks in this status: queued, running, succeeded, failed or cancelled (repeatable)" });
  label = ValueOption.Array("--label <key=value>", { description: "Only tasks with this label (repeatable)" });
  worker = ValueOption.String("--worker <id>", { description: "Only tasks placed on this worker" });
  limit = ValueOption.String("--limit <n>", { description: "At most n tasks in the view, newest first (default 100, at most 1000)" });
  once = Option.Boolean("--once", false, { description: "Print the workers and tasks once and exit, also on a terminal" });

  async execute(): Promise<number> {
    const { topCommand, topQuery } = await import("../lib/fleet/top/top.js");
    const flags = { statuses: this.status, labels: this.label, worker: this.worker, limit: this.limit, once: this.once };
    const request = topQuery(flags);
    return this.withRouter((c) => topCommand(c, flags, request));
  }
}
