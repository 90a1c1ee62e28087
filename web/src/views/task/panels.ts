// What shows a task's events on its page: panels, each for the tasks it applies to, in page order, and each loaded
// only when a task needs it (the terminal brings xterm.js, the transcript brings the Markdown renderer). The page
// hands every event to every panel once, in seq order, and the task's record each time it is fetched again.
import type { Task } from "../../../../gen/claudecluster/v1/router_pb.js";
import { OutputStream, RunMode, type RunEvent } from "../../../../gen/claudecluster/v1/run_pb.js";
import type { RouterClient } from "../../app/api.js";

export interface TaskPanel {
  readonly element: HTMLElement;
  /** One event, in seq order, each once. */
  apply(event: RunEvent): void;
  /** The task's record, fetched again (its status, phase or pending requests changed). */
  record?(task: Task): void;
  /** The element is in the page now. */
  attached(): void;
  /** The task's stream ended: draw what is pending; `words` says how the task ended. */
  ended(words: string): void;
  dispose(): void;
}

interface PanelKind {
  /** Whether a task gets this panel, from its record. */
  applies(task: Task): boolean;
  load(task: Task, api: RouterClient): Promise<TaskPanel>;
}

/** The panels of a task's page, top to bottom. */
const PANELS: PanelKind[] = [
  { applies: (task) => task.mode === RunMode.INTERACTIVE, load: terminalPanel },
  { applies: (task) => task.mode !== RunMode.INTERACTIVE, load: transcriptPanel },
  {
    // Below the conversation, where claude is now: a request is asked about the tool call just above it.
    applies: (task) => task.agent?.askPermissions === true,
    load: async (task, api) => new (await import("../../permissions/permission-panel.js")).PermissionPanel(task, api),
  },
  {
    // Last, after what claude did: what it changed (for a task in a git workspace of its own, once it has ended;
    // any other task's panel says in a line why there is nothing to show).
    applies: () => true,
    load: async (task, api) => new (await import("../../changes/changes-panel.js")).ChangesPanel(task, api),
  },
];

export async function panelsFor(task: Task, api: RouterClient): Promise<TaskPanel[]> {
  return Promise.all(PANELS.filter((p) => p.applies(task)).map((p) => p.load(task, api)));
}

async function terminalPanel(task: Task, api: RouterClient): Promise<TaskPanel> {
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

async function transcriptPanel(task: Task): Promise<TaskPanel> {
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
