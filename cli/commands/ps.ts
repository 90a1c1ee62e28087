// `cc ps`: list tasks.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { ValueOption } from "../options.js";

export class PsCommand extends RouterCommand {
  static override paths = [["ps"]];

  static override usage = Command.Usage({
    description: "List tasks",
    details: `
      Lists the router's running and queued tasks, newest first: id, status, worker, age, the files an ended task changed (\`3 files +12 -4\`, \`no changes\`, \`-\` without a git workspace of its own) and the start of the prompt. \`--all\` includes finished tasks too.

      The filters are applied by the router and combine: \`--status\` (queued, running, succeeded, failed, cancelled; repeatable or comma-separated; implies \`--all\` for the statuses it names), \`--label key=value\` (the labels the task asked its worker for), \`--worker\` (where it ran), \`--since\` (created in the last 30m, 2h…, or since a time such as 2026-05-01T10:00:00Z) \`--owner\` (the identity that started it; a \`user\` sees only its own tasks anyway) and \`--limit\` (at most that many, newest first). Long lists are read from the router a page at a time.

      An admin of a router with several identities (CC_TOKENS_FILE) sees an OWNER column: who started each task.

      \`--json\` prints an array of task records in the protobuf JSON form of \`claudecluster.v1.Task\`.
    `,
    examples: [
      ["What is running now", "$0 ps"],
      ["Every task the router remembers", "$0 ps --all"],
      ["The failures of the last hour", "$0 ps --status failed --since 1h"],
      ["The ten newest tasks on one worker", "$0 ps --all --worker local-1 --limit 10"],
      ["Ids of the running tasks, for scripts", "$0 ps --json | jq -r '.[].id'"],
    ],
  });

  all = Option.Boolean("-a,--all", false, { description: "Include finished tasks (succeeded, failed, cancelled)" });
  status = ValueOption.Array("--status <status>", { description: "Only tasks in this status: queued, running, succeeded, failed or cancelled (repeatable)" });
  label = ValueOption.Array("--label <key=value>", { description: "Only tasks with this label (repeatable)" });
  worker = ValueOption.String("--worker <id>", { description: "Only tasks placed on this worker" });
  since = ValueOption.String("--since <when>", { description: "Only tasks created since then: a duration ago (30m, 2h) or a time" });
  owner = ValueOption.String("--owner <name>", { description: "Only tasks of this identity (admins; a user sees only its own)" });
  limit = ValueOption.String("--limit <n>", { description: "At most n tasks, newest first" });
  json = Option.Boolean("--json", false, { description: "Print the task records as JSON" });

  async execute(): Promise<number> {
    const { psCommand, psQuery } = await import("../lib/ps.js");
    const flags = { all: this.all, statuses: this.status, labels: this.label, worker: this.worker, since: this.since, limit: this.limit, owner: this.owner };
    const query = psQuery(flags, Date.now());
    return this.withRouter((c) => psCommand(c, flags, this.json, query));
  }
}
