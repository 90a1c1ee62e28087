// `cc send`: types into an interactive task's terminal, on whichever worker runs it. A headless task takes no input
// (its prompt went in when it started): cc says so (exit 4), as the router would (FAILED_PRECONDITION).
import { RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../exit-codes.js";
import { CliError } from "./errors.js";
import { readAll } from "./prompt.js";
import type { TaskCommandContext } from "./task-commands.js";

/** What `cc send` types: the words joined by spaces (or stdin for `-`), then Enter unless raw. */
export async function sendText(c: TaskCommandContext, taskId: string, words: readonly string[], raw: boolean): Promise<number> {
  // Said before anything is typed, whether the task still runs or not: a headless task never takes input.
  const task = await c.client.getTask({ taskId });
  if (task.mode !== RunMode.INTERACTIVE) {
    throw new CliError(`task ${taskId} is headless: it took its prompt when it started and reads no input; \`cc send\` types into interactive tasks (\`cc run -i\`)`, ExitCode.Refused);
  }
  const text = words.length === 1 && words[0] === "-" ? (await readAll(c.io.stdin)).replace(/\n$/, "") : words.join(" ");
  // The TUI takes Enter as a carriage return.
  await c.client.sendInput({ taskId, input: { case: "text", value: raw ? text : `${text}\r` } });
  return ExitCode.Ok;
}
