// A task's recorded changes (Exited.changes) in one short phrase for tables and views (`3 files +12 -4`), and as the
// small JSON object `cc batch --json` and `cc run -n`'s entries carry. Pure: the summary in, text or JSON out.
import type { ChangesSummary } from "../../../gen/claudecluster/v1/run_pb.js";

/**
 * `3 files +12 -4`, `1 file +1 -0`; `no changes` when the task changed nothing; `not recorded` when recording failed
 * before anything was known; `-` when the task has no recorded changes at all (no git workspace of its own, or it has
 * not ended). ASCII signs, so the phrase can be grepped and pasted.
 */
export function changesText(changes: ChangesSummary | undefined): string {
  if (!changes) return "-";
  if (changes.filesTotal === 0) return changes.error && changes.finalCommit === "" ? "not recorded" : "no changes";
  return `${changes.filesTotal} ${changes.filesTotal === 1 ? "file" : "files"} +${changes.insertions} -${changes.deletions}`;
}

export interface ChangesJson {
  /** Files changed in all (ChangesSummary.files_total). */
  files: number;
  /** Lines added and removed over all text files. */
  insertions: number;
  deletions: number;
  /** The branch the task worked on in its workspace, `cc/<task id>`. */
  branch: string;
  /** What went wrong recording them, if anything; null otherwise. */
  error: string | null;
}

/** The `changes` field of a task's JSON entry: null when the task has no recorded changes. */
export function changesJson(changes: ChangesSummary | undefined): ChangesJson | null {
  if (!changes) return null;
  return {
    files: changes.filesTotal,
    insertions: Number(changes.insertions),
    deletions: Number(changes.deletions),
    branch: changes.branch,
    error: changes.error || null,
  };
}
