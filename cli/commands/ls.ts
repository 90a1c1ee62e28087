// `cc ls`: list a task's workspace.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class LsCommand extends RouterCommand {
  static override paths = [["ls"]];

  static override usage = Command.Usage({
    description: "List the files of a task's workspace",
    details: `
      Lists a directory of a task's workspace (\`TASK\` for its top, \`TASK:PATH\` for a directory or file in it), while the task runs or after it ended, as long as the worker keeps the workspace. Directories end with \`/\`; \`-l\` adds mode, size, modification time and link targets; \`--json\` prints the \`claudecluster.v1.ListFilesResponse\`.
    `,
    examples: [
      ["What is in a task's workspace", "$0 ls 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["One directory, in detail", "$0 ls -l 01jb3k5x2q7w9h4r8t6y1m0c3d:src"],
    ],
  });

  long = Option.Boolean("-l", false, { description: "Long listing: mode, size, modification time, link target" });
  json = Option.Boolean("--json", false, { description: "Print the listing as JSON" });
  target = Option.String({ name: "task[:path]" });

  async execute(): Promise<number> {
    const { parseRemote } = await import("../lib/files/copy.js");
    const { listingJson, listingText } = await import("../lib/files/list.js");
    const where = parseRemote(this.target) ?? { taskId: this.target, path: "" };
    this.taskIdForErrors = where.taskId;
    const res = await this.withRouter((c) => c.client.listFiles({ taskId: where.taskId, path: where.path }));
    this.context.stdout.write(this.json ? listingJson(res) : listingText(res, this.long));
    return 0;
  }
}
