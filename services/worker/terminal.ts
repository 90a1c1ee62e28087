// The pseudo-terminal behind a small seam: sessions talk to `Terminal`, tests can hand them a fake, and node-pty
// stays in this file.
import * as pty from "node-pty";

export interface TerminalExit {
  exitCode: number;
  /** Signal number, 0 or undefined when it exited on its own. */
  signal?: number;
}

export interface Terminal {
  readonly pid: number;
  onData(listener: (chunk: Buffer) => void): void;
  onExit(listener: (exit: TerminalExit) => void): void;
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  /** Stop reading from the terminal: the child blocks once the kernel's buffer is full. */
  pause(): void;
  resume(): void;
}

export interface TerminalOptions {
  cwd: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
}

export type SpawnTerminal = (file: string, args: string[], options: TerminalOptions) => Terminal;

export const spawnPty: SpawnTerminal = (file, args, options) => {
  const p = pty.spawn(file, args, {
    name: options.env["TERM"] ?? "xterm-256color",
    cols: options.cols,
    rows: options.rows,
    cwd: options.cwd,
    env: options.env,
    // Raw bytes, not strings: escape sequences and split UTF-8 sequences pass through untouched.
    encoding: null,
  });
  return {
    pid: p.pid,
    onData: (listener) => void p.onData((data) => listener(typeof data === "string" ? Buffer.from(data) : Buffer.from(data as Uint8Array))),
    onExit: (listener) => void p.onExit((e) => listener({ exitCode: e.exitCode, signal: e.signal })),
    write: (data) => p.write(typeof data === "string" ? data : data.toString("binary")),
    resize: (cols, rows) => p.resize(cols, rows),
    pause: () => p.pause(),
    resume: () => p.resume(),
  };
};
