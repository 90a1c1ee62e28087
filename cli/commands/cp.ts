// `cc cp`: copy files between this machine and a task's workspace.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class CpCommand extends RouterCommand {
  static override paths = [["cp"]];

  static override usage = Command.Usage({
    description: "Copy files between this machine and a task's workspace",
    details: `
      Copies a file or a directory out of a task's workspace (\`TASK:PATH\`, the path relative to the workspace) or into it, while the task runs or after it ended, as long as the worker keeps its workspace (\`CC_WORKSPACE_RETAIN_AGE\`, \`CC_WORKSPACE_RETAIN_BYTES\`; a reclaimed workspace is reported as such). Like \`docker cp\`: an existing directory receives the copy under its own name; a directory travels as a compressed tar archive; \`-\` is standard input or output (a directory is then written as .tar.gz).

      Paths stay inside the workspace: \`..\`, absolute paths and symbolic links that lead out are refused. One copy is at most the worker's \`CC_MAX_COPY_BYTES\`.
    `,
    examples: [
      ["Fetch a file a task wrote", "$0 cp 01jb3k5x2q7w9h4r8t6y1m0c3d:report.md ."],
      ["Fetch a directory", "$0 cp 01jb3k5x2q7w9h4r8t6y1m0c3d:dist ./dist-from-task"],
      ["Send a file into a running task's workspace", "$0 cp data.csv 01jb3k5x2q7w9h4r8t6y1m0c3d:input/"],
      ["Print a file", "$0 cp 01jb3k5x2q7w9h4r8t6y1m0c3d:out.txt -"],
    ],
  });

  source = Option.String({ name: "source" });
  dest = Option.String({ name: "dest" });

  async execute(): Promise<number> {
    const { copy, parseRemote } = await import("../lib/files/copy.js");
    this.taskIdForErrors = (parseRemote(this.source) ?? parseRemote(this.dest))?.taskId;
    await this.withRouter((c) => copy({ client: c.client, io: c.io, cwd: process.cwd() }, this.source, this.dest));
    return 0;
  }
}
