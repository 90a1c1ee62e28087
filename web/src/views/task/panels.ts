// What shows a task's events on its page: a panel per kind of task, each loaded only when a task needs it (the
// terminal brings xterm.js, the transcript brings the Markdown renderer). The page hands every event to its panel
// once, in seq order.
//
// Still to come, as panels of their own once their RPCs exist: a task's changes as a diff with the patch to
// download (the "work comes back" issue), and its pending permission prompts with allow / deny / always (the
// permission relay of the `cc mcp` issue). Neither is built against guessed RPCs.
import type { Task } from "../../../../gen/claudecluster/v1/router_pb.js";
import { OutputStream, RunMode, type RunEvent } from "../../../../gen/claudecluster/v1/run_pb.js";
import type { RouterClient } from "../../app/api.js";

export interface TaskPanel {
  readonly element: HTMLElement;
  /** One event, in seq order, each once. */
  apply(event: RunEvent): void;
  /** The element is in the page now. */
  attached(): void;
  /** The task's stream ended: draw what is pending; `words` says how the task ended. */
  ended(words: string): void;
  dispose(): void;
}

export async function panelFor(task: Task, api: RouterClient): Promise<TaskPanel> {
  if (task.mode === RunMode.INTERACTIVE) {
    const { TerminalView } = await import("../../terminal/terminal-view.js");
    const terminal = new TerminalView(task.id, api);
    return {
      element: terminal.element,
      apply(event) {
        const e = event.event;
        if (e.case === "output" && e.value.stream !== OutputStream.STDERR) terminal.write(e.value.data);
        else if (e.case === "started") terminal.started();
      },
      attached: () => terminal.attached(),
      ended: (words) => terminal.ended(words),
      dispose: () => terminal.dispose(),
    };
  }
  const { TranscriptView } = await import("../../transcript/transcript-view.js");
  const transcript = new TranscriptView(task.promptSummary);
  return {
    element: transcript.element,
    apply: (event) => transcript.apply(event),
    attached: () => undefined,
    ended: () => transcript.flush(),
    dispose: () => transcript.dispose(),
  };
}
