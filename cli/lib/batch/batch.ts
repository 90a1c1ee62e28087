// `cc batch FILE`: every entry of a batch file (batch-file.ts) as a task, at most --parallel at a time, with live
// progress, then a summary table (or --json). Exit 0 only if every task succeeded.
import { UsageError } from "clipanion";
import { readFileSync } from "node:fs";
import type { ConnectionFlags } from "../connection.js";
import { manyExitCode, runMany } from "../fleet/run-many.js";
import { countResults, countsLine, summaryTable, taskResultJson, type Counts } from "../fleet/rows.js";
import type { TaskProgress } from "../fleet/progress.js";
import { outputWidth, type CommandIO, type SignalSource } from "../io.js";
import { readAll } from "../prompt.js";
import { openRouter } from "../router.js";
import { styleFor } from "../style.js";
import { batchBaseDir, batchFormat, readBatch, type BatchEntry } from "./batch-file.js";

export interface BatchInput extends ConnectionFlags {
  file: string;
  parallel: number;
  json: boolean;
}

/** Largest batch file read, so a wrong file (a log, a binary) fails fast. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export async function readBatchFile(io: CommandIO, file: string): Promise<BatchEntry[]> {
  let text: string;
  if (file === "-") {
    text = await readAll(io.stdin);
  } else {
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new UsageError(`${file === "-" ? "stdin" : file} is over ${MAX_FILE_BYTES / 1024 / 1024} MiB; is it a batch file?`);
  const source = file === "-" ? "stdin" : file;
  return readBatch(text, batchFormat(file === "-" ? "" : file, text), { source, callerEnv: io.env, baseDir: batchBaseDir(file) });
}

export async function runBatch(io: CommandIO, input: BatchInput, options: { signals?: SignalSource; onRouter?: (url: string) => void } = {}): Promise<number> {
  const entries = await readBatchFile(io, input.file);
  const router = await openRouter(io.env, input, { allowEmbedded: true, workspaceRoot: process.cwd() });
  options.onRouter?.(router.url);
  try {
    const result = await runMany({
      io,
      client: router.client,
      router: router.url,
      jobs: entries.map((e) => ({ index: e.index, label: e.name ?? String(e.index), request: e.request })),
      parallel: input.parallel,
      viewOn: input.json ? "stderr" : "stdout",
      plainOutput: false,
      interrupt: "ask",
      noun: "tasks of this batch",
      ...(options.signals ? { signals: options.signals } : {}),
    });
    if (input.json) io.stdout.write(batchJson(result.tasks, entries));
    else {
      io.stdout.write("\n" + summaryTable(result.tasks, "ENTRY", io.stdout.isTTY ? outputWidth(io.stdout) : Infinity));
      io.stdout.write(styleFor(io.stdout, io.env).dim(`${countsLine(countResults(result.tasks))} of ${entries.length} tasks`) + "\n");
    }
    return manyExitCode(result, "all");
  } finally {
    await router.close();
  }
}

/**
 * `cc batch --json`: `{"tasks": [...], "summary": {...}}`, one entry per task in file order (see `cc batch --help`
 * and the README). Stable: fields keep their names and meanings; new ones may be added.
 */
export function batchJson(tasks: readonly Readonly<TaskProgress>[], entries: readonly BatchEntry[]): string {
  const counts: Counts = countResults(tasks);
  const body = {
    tasks: tasks.map((t, i) => ({ ...taskResultJson(t), line: entries[i]?.line ?? null, name: entries[i]?.name ?? null })),
    summary: { total: tasks.length, succeeded: counts.succeeded, failed: counts.failed, cancelled: counts.cancelled, notStarted: counts.not_started },
  };
  return JSON.stringify(body, null, 2) + "\n";
}
