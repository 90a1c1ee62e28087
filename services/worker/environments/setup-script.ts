// Runs one environment script (setup or maintenance) in the task's sandbox: bash, stopping at the first failing
// command, every line it prints handed on as it comes (status events), the last lines kept for the task's end
// message. Bounded in time (a timeout), in size (the workspace may not grow past a byte bound, checked while it
// runs) and by the task's stop signal; whichever ends it, its whole process group goes.
import { spawn } from "node:child_process";
import type { LaunchSpec, Sandbox } from "../sandbox/index.js";
import { directoryBytes } from "./copy.js";

/** Lines longer than this are cut (a status event's detail stays small). */
const MAX_LINE = 2048;
/** Lines of the script's output kept for the end message. */
const TAIL_LINES = 20;

export interface ScriptRun {
  /** What the sandbox runs: `bash -c <script>` in the workspace, with the script's environment. */
  spec: LaunchSpec;
  sandbox: Sandbox;
  timeoutMs: number;
  /** The workspace may hold at most this many bytes while the script runs (0: no bound). */
  maxWorkspaceBytes: number;
  signal: AbortSignal;
  onLine: (line: string) => void;
  /** How often the workspace's size is measured. */
  sizeCheckMs?: number;
}

export type ScriptOutcome =
  | { kind: "exited"; exitCode: number; tail: string[] }
  | { kind: "signal"; signal: string; tail: string[] }
  | { kind: "timeout"; tail: string[] }
  | { kind: "too-large"; bytes: number; tail: string[] }
  | { kind: "cancelled"; tail: string[] }
  | { kind: "spawn"; error: string; tail: string[] };

/** bash's argv for a script: no profile or rc files, stop at the first failure, a failing pipe fails. */
export function scriptArgv(script: string): string[] {
  return ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script];
}

export function runScript(o: ScriptRun): Promise<ScriptOutcome> {
  return new Promise((resolve) => {
    const tail: string[] = [];
    const line = (text: string) => {
      const cut = text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}…` : text;
      tail.push(cut);
      if (tail.length > TAIL_LINES) tail.shift();
      o.onLine(cut);
    };
    if (o.signal.aborted) return resolve({ kind: "cancelled", tail });
    const cmd = o.sandbox.command(o.spec);
    const child = spawn(cmd.file, cmd.args, { cwd: cmd.cwd, env: cmd.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let ending: ScriptOutcome | undefined;
    const kill = (why: ScriptOutcome) => {
      ending ??= why;
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // ESRCH: already gone.
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let pending = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          line(pending.slice(0, nl).replace(/\r$/, ""));
          pending = pending.slice(nl + 1);
        }
        // A line that never ends is still bounded.
        if (pending.length > MAX_LINE) {
          line(pending);
          pending = "";
        }
      });
      stream.on("end", () => {
        if (pending) line(pending);
      });
    }
    const onAbort = () => kill({ kind: "cancelled", tail });
    o.signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => kill({ kind: "timeout", tail }), o.timeoutMs);
    let measuring = false;
    const sizer =
      o.maxWorkspaceBytes > 0
        ? setInterval(() => {
            if (measuring) return;
            measuring = true;
            void directoryBytes(o.spec.workspace)
              .then((bytes) => {
                if (bytes > o.maxWorkspaceBytes) kill({ kind: "too-large", bytes, tail });
              })
              .finally(() => (measuring = false));
          }, o.sizeCheckMs ?? 500)
        : undefined;
    child.on("error", (err) => kill({ kind: "spawn", error: err.message, tail }));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearInterval(sizer);
      o.signal.removeEventListener("abort", onAbort);
      // Whatever the script left running in its group goes with it.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // ESRCH: none left.
        }
      }
      if (ending) return resolve(ending);
      if (code !== null) return resolve({ kind: "exited", exitCode: code, tail });
      resolve({ kind: "signal", signal: signal ?? "", tail });
    });
  });
}
