// Words, checks and bounds for a task's changes as the diff view shows them. Pure, so they are unit-tested
// (test/web/changes-patch.test.ts).
import { FileChangeKind, type ChangesSummary, type FileChange } from "../../../gen/claudecluster/v1/run_pb.js";

/** Bytes of the patch read to draw it; the download is always whole. */
export const DISPLAY_BYTES = 1024 * 1024;
/** Diff lines drawn at most, over all files. */
export const DISPLAY_LINES = 5000;
/** A file with more diff lines than this starts collapsed. */
export const COLLAPSE_LINES = 400;

/** What the downloaded patch is called. */
export function patchFileName(taskId: string): string {
  return `cc-${taskId.replace(/[^0-9A-Za-z_-]/g, "_")}.patch`;
}

export const CHANGE_LABEL: Record<FileChangeKind, string> = {
  [FileChangeKind.UNSPECIFIED]: "changed",
  [FileChangeKind.ADDED]: "added",
  [FileChangeKind.MODIFIED]: "modified",
  [FileChangeKind.DELETED]: "deleted",
  [FileChangeKind.RENAMED]: "renamed",
  [FileChangeKind.TYPE_CHANGED]: "type changed",
};

/**
 * A link the page may show: only http(s) URLs, as the worker's compare URL is meant to be; anything else (a
 * `javascript:` URL from a hostile worker or repository name) is not a link.
 */
export function safeHttpUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/** A repository URL without what must not be shown (a user and password in it). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.href;
  } catch {
    return url.replace(/\/\/[^/@]*@/, "//");
  }
}

export const shortCommit = (commit: string): string => commit.slice(0, 12);

/** 512 → "512 B"; 1536 → "1.5 KiB". */
export function bytes(n: number | bigint): string {
  let v = Number(n);
  if (v < 1024) return `${v} B`;
  const units = ["KiB", "MiB", "GiB"];
  let unit = -1;
  while (v >= 1024 && unit < units.length - 1) {
    v /= 1024;
    unit += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The five squares of a file's +/− bar (GitHub's), as counts of added, removed and unchanged squares. */
export function countBar(insertions: number, deletions: number, squares = 5): { add: number; del: number; none: number } {
  const total = insertions + deletions;
  if (total === 0) return { add: 0, del: 0, none: squares };
  const room = Math.min(squares, total);
  let add = Math.round((insertions / total) * room);
  if (insertions > 0 && add === 0) add = 1;
  if (deletions > 0 && add === room) add = room - 1;
  const del = room - add;
  return { add, del, none: squares - room };
}

/** "3 files changed, 12 insertions(+), 4 deletions(−)" as the heading of the changes says it. */
export function changesHeadline(summary: Pick<ChangesSummary, "filesTotal" | "insertions" | "deletions">): string {
  const n = summary.filesTotal;
  if (n === 0) return "No files changed";
  return `${n} ${n === 1 ? "file" : "files"} changed`;
}

/** A binary file's sizes: "binary, 8 B → 2.9 KiB"; "binary, new, 12 B"; "binary, removed, 5 B". */
export function binaryNote(f: Pick<FileChange, "kind" | "oldSize" | "newSize">): string {
  if (f.kind === FileChangeKind.ADDED) return `binary, ${bytes(f.newSize)}`;
  if (f.kind === FileChangeKind.DELETED) return `binary, was ${bytes(f.oldSize)}`;
  return `binary, ${bytes(f.oldSize)} → ${bytes(f.newSize)}`;
}

/** "claude made 2 commits" and/or "left work uncommitted", from the summary. */
export function commitsNote(summary: Pick<ChangesSummary, "commits" | "filesTotal">): string {
  if (summary.filesTotal === 0) return "";
  if (summary.commits === 0) return "all left uncommitted by claude, recorded as one commit";
  return `${summary.commits} ${summary.commits === 1 ? "commit" : "commits"} by claude, plus what it left uncommitted`;
}
