// What commands read and write, as clipanion hands it to them, plus the signals they listen to (injectable so
// tests can press Ctrl-C without a real one).
import type { Readable, Writable } from "node:stream";
import type { StatusStream } from "./status-line.js";

export interface CommandIO {
  env: Record<string, string | undefined>;
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable & StatusStream;
}

export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

export const processSignals: SignalSource = {
  on: (signal, listener) => process.on(signal, listener),
  off: (signal, listener) => process.off(signal, listener),
};

/** Columns for rendering: the terminal's, or a fixed width when writing to a pipe or file. */
export function outputWidth(stream: { isTTY?: boolean; columns?: number }): number {
  return stream.isTTY && stream.columns ? stream.columns : 120;
}
