// `cc send`: type into an interactive task.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class SendCommand extends RouterCommand {
  static override paths = [["send"]];

  static override usage = Command.Usage({
    description: "Type a prompt into an interactive task",
    details: `
      Sends the text (the words joined by spaces, or standard input for \`-\`) to the terminal of an interactive task (\`cc run -i\`, detached with Ctrl-P Ctrl-Q), followed by Enter so claude takes it as a prompt. \`--raw\` sends the text as it is, with no Enter: keystrokes and escape sequences (\`$'\\\\x1b'\` is Escape).

      A headless task takes no input (its prompt went in when it started): the router refuses, and cc exits 4.
    `,
    examples: [
      ["Give an interactive task its next prompt", "$0 send 01jb3k5x2q7w9h4r8t6y1m0c3d now add tests"],
      ["Press Escape in its terminal", "$0 send --raw 01jb3k5x2q7w9h4r8t6y1m0c3d $'\\\\x1b'"],
    ],
  });

  raw = Option.Boolean("--raw", false, { description: "Send the text as it is, without Enter" });
  task = Option.String({ name: "task" });
  text = Option.Rest({ name: "text" });

  async execute(): Promise<number> {
    const { sendText } = await import("../lib/send.js");
    this.taskIdForErrors = this.task;
    return this.withRouter((c) => sendText(c, this.task, this.text, this.raw));
  }
}
