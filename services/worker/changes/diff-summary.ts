// Turns `git diff --name-status -z -M` and `git diff --numstat -z -M` (both run over the same two commits, so their
// records come in the same order) into the FileChange list of a ChangesSummary.
import { create } from "@bufbuild/protobuf";
import { type FileChange, FileChangeKind, FileChangeSchema } from "../../../gen/claudecluster/v1/run_pb.js";

const KINDS: Record<string, FileChangeKind> = {
  A: FileChangeKind.ADDED,
  M: FileChangeKind.MODIFIED,
  D: FileChangeKind.DELETED,
  R: FileChangeKind.RENAMED,
  T: FileChangeKind.TYPE_CHANGED,
};

interface Status {
  kind: FileChangeKind;
  path: string;
  oldPath: string;
}

export function parseNameStatus(out: string): Status[] {
  const fields = out.split("\0");
  const records: Status[] = [];
  for (let i = 0; i + 1 < fields.length; ) {
    const status = fields[i]!;
    if (status === "") break;
    const letter = status[0]!;
    if (letter === "R" || letter === "C") {
      records.push({ kind: KINDS[letter] ?? FileChangeKind.ADDED, oldPath: letter === "R" ? fields[i + 1]! : "", path: fields[i + 2]! });
      i += 3;
    } else {
      records.push({ kind: KINDS[letter] ?? FileChangeKind.MODIFIED, oldPath: "", path: fields[i + 1]! });
      i += 2;
    }
  }
  return records;
}

interface Count {
  insertions: number;
  deletions: number;
  binary: boolean;
}

export function parseNumstat(out: string): Count[] {
  const fields = out.split("\0");
  const counts: Count[] = [];
  for (let i = 0; i < fields.length; ) {
    const record = fields[i]!;
    if (record === "") break;
    const [added = "", deleted = "", path = ""] = record.split("\t");
    const binary = added === "-" && deleted === "-";
    counts.push({ insertions: binary ? 0 : Number(added) || 0, deletions: binary ? 0 : Number(deleted) || 0, binary });
    // A rename has an empty path here, then the old and new paths as fields of their own.
    i += path === "" ? 3 : 1;
  }
  return counts;
}

/** The two outputs joined, in path order. */
export function fileChanges(nameStatus: string, numstat: string): FileChange[] {
  const statuses = parseNameStatus(nameStatus);
  const counts = parseNumstat(numstat);
  return statuses
    .map((s, i) => {
      const c = counts[i] ?? { insertions: 0, deletions: 0, binary: false };
      return create(FileChangeSchema, { path: s.path, oldPath: s.oldPath, kind: s.kind, insertions: c.insertions, deletions: c.deletions, binary: c.binary });
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
