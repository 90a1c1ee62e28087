// `cc show`: one task's whole record.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class ShowCommand extends RouterCommand {
  static override paths = [["show"]];

  static override usage = Command.Usage({
    description: "Show everything the router keeps about a task",
    details: `
      Prints the task's record: status and how it ended, the prompt (its first 200 characters), mode, worker, when it was created, started and ended, claude's session id, turns, cost, tokens and answer, the options it was started with (model, tools, workspace, labels, timeout, the names of its environment variables but never their values), and how much of its event log the router still holds.

      \`--json\` prints the record in the protobuf JSON form of \`claudecluster.v1.Task\`, as \`buf curl\` would: every field is documented in proto/claudecluster/v1/router.proto.
    `,
    examples: [
      ["Show a task", "$0 show 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Its session id, for scripts", "$0 show --json 01jb3k5x2q7w9h4r8t6y1m0c3d | jq -r .exit.result.sessionId"],
    ],
  });

  json = Option.Boolean("--json", false, { description: "Print the record as JSON (claudecluster.v1.Task)" });
  task = Option.String({ name: "task" });

  async execute(): Promise<number> {
    const [{ showText, showJson }, { styleFor }] = await Promise.all([import("../lib/show.js"), import("../lib/style.js")]);
    this.taskIdForErrors = this.task;
    return this.withRouter(async (c) => {
      const task = await c.client.getTask({ taskId: this.task });
      c.io.stdout.write(this.json ? showJson(task) : showText(task, Date.now(), styleFor(c.io.stdout, c.io.env)));
      return 0;
    });
  }
}
