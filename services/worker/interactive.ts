// Interactive mode: claude's TUI in a pseudo-terminal. Raw bytes stream as `output` events; turn status comes from
// hooks (SessionStart, UserPromptSubmit → running, Stop → waiting for input), which is exact where screen scraping
// would guess.
import { OutputStream } from "../../gen/claudecluster/v1/run_pb.js";
import { HookEventsFile, HOOK_EVENTS_ENV } from "./hook-events.js";
import type { LaunchOptions } from "./headless.js";
import { Phase, type ClaudeProcess, type TaskRunSink } from "./task-run.js";
import type { SpawnTerminal } from "./terminal.js";

export interface InteractiveOptions extends LaunchOptions {
  cols: number;
  rows: number;
  /** The file the hooks append to; created here, left for the caller to delete. */
  hookEventsPath: string;
}

export function launchInteractive(options: InteractiveOptions, sink: TaskRunSink, spawnTerminal: SpawnTerminal): ClaudeProcess {
  const hooks = new HookEventsFile(options.hookEventsPath, (event) => {
    sink.noteSessionId(event.sessionId);
    if (event.name === "UserPromptSubmit") sink.setPhase(Phase.RUNNING);
    else if (event.name === "Stop") sink.setPhase(Phase.WAITING_FOR_INPUT);
  });
  let terminal;
  try {
    terminal = spawnTerminal(options.bin, options.args, {
      cwd: options.cwd,
      env: { ...options.env, [HOOK_EVENTS_ENV]: options.hookEventsPath },
      cols: options.cols,
      rows: options.rows,
    });
  } catch (err) {
    hooks.close();
    throw err;
  }
  terminal.onData((chunk) => sink.emit({ case: "output", value: { data: chunk, stream: OutputStream.TERMINAL } }));
  terminal.onExit(({ exitCode, signal }) => {
    hooks.close();
    sink.exited({ exitCode: signal ? null : exitCode, signal: signal ? signalName(signal) : null });
  });
  return {
    pid: terminal.pid,
    pause: () => terminal.pause(),
    resume: () => terminal.resume(),
    write: (data) => terminal.write(data),
    resize: (cols, rows) => terminal.resize(cols, rows),
  };
}

import { constants } from "node:os";

function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return entry ? entry[0] : `signal ${signal}`;
}
