// Interactive mode: claude's TUI in a pseudo-terminal. Raw bytes stream as `output` events; turn status comes from
// hooks (UserPromptSubmit → running, Stop → waiting for input), which is exact where screen scraping would guess.
import { constants } from "node:os";
import { OutputStream } from "../../gen/claudecluster/v1/run_pb.js";
import type { LaunchOptions } from "./headless.js";
import type { HookEvent } from "./hook-events.js";
import { Phase, type ClaudeProcess, type TaskRunSink } from "./task-run.js";
import type { SpawnTerminal } from "./terminal.js";

export interface InteractiveOptions extends LaunchOptions {
  cols: number;
  rows: number;
  /** Subscribes to the task's hook events (the hooks themselves are in claude's `--settings`). */
  onHookEvent(listener: (event: HookEvent) => void): void;
}

export function launchInteractive(options: InteractiveOptions, sink: TaskRunSink, spawnTerminal: SpawnTerminal): ClaudeProcess {
  options.onHookEvent((event) => {
    sink.noteSessionId(event.sessionId);
    if (event.name === "UserPromptSubmit") sink.setPhase(Phase.RUNNING);
    else if (event.name === "Stop") sink.setPhase(Phase.WAITING_FOR_INPUT);
  });
  const command = options.sandbox.command(options.spec);
  const terminal = spawnTerminal(command.file, command.args, { cwd: command.cwd, env: command.env, cols: options.cols, rows: options.rows });
  terminal.onData((chunk) => sink.emit({ case: "output", value: { data: chunk, stream: OutputStream.TERMINAL } }));
  terminal.onExit(({ exitCode, signal }) => {
    sink.exited(options.sandbox.exitOf({ exitCode: signal ? null : exitCode, signal: signal ? signalName(signal) : null }));
  });
  return {
    pid: terminal.pid,
    pause: () => terminal.pause(),
    resume: () => terminal.resume(),
    write: (data) => terminal.write(data),
    resize: (cols, rows) => terminal.resize(cols, rows),
  };
}

function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return entry ? entry[0] : `signal ${signal}`;
}
