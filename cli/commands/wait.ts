// `cc wait`: block until tasks end.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { ValueOption } from "../options.js";

export class WaitCommand extends RouterCommand {
  static override paths = [["wait"]];

  static override usage = Command.Usage({
    description: "Wait for tasks to end",
    details: `
      Blocks until every task given has ended, printing each one's id and how it ended (\`succeeded\`, \`failed (…)\`, \`cancelled\`) as it does. Waiting follows the tasks' streams from where they are, so it costs nothing while they run. Ctrl-C stops waiting; the tasks are not affected.

      Exit codes: \`0\` every task succeeded, \`1\` one or more failed or were cancelled, \`4\` a task is unknown (nothing is waited for), \`124\` \`--timeout\` passed first (the tasks keep running), \`130\` interrupted.
    `,
    examples: [
      ["Start a task and wait for it later", "id=$($0 run -d refactor the parser) && $0 wait $id"],
      ["Wait at most ten minutes for three tasks", "$0 wait --timeout 10m 01jb3k5x2q 01jb3k5x2r 01jb3k5x2s"],
    ],
  });

  timeout = ValueOption.String("--timeout <duration>", { description: "Give up after this long, e.g. 30s, 10m (exit 124)" });
  tasks = Option.Rest({ name: "task", required: 1 });

  async execute(): Promise<number> {
    const [{ waitTasks }, { parseTimeout }] = await Promise.all([import("../lib/wait.js"), import("../lib/run-request.js")]);
    const timeoutMs = this.timeout === undefined ? undefined : parseTimeout(this.timeout);
    return this.withRouter((c) => waitTasks(c, this.tasks, { ...(timeoutMs !== undefined ? { timeoutMs } : {}), onTask: (id) => (this.taskIdForErrors = id || undefined) }));
  }
}
