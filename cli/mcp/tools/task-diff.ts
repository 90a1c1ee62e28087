// task_diff: what an ended task changed in its git workspace, read-only: the summary from its record (files with
// their counts, as `git diff --stat` shows them, base and final commit, the push) and the patch's text from
// GetChanges, bounded (patch-excerpt.ts). Only as much of the patch is read as is returned: the stream is stopped
// at the bound.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { z } from "zod";
import { FileChangeKind, type ChangesSummary } from "../../../gen/claudecluster/v1/run_pb.js";
import { ChangesFormat } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { statText } from "../../lib/changes/diff.js";
import { PLAIN } from "../../lib/style.js";
import { PatchExcerpt } from "../patch-excerpt.js";
import { errorText } from "../errors.js";
import { ended, pushShape, pushSummary, statusWord } from "../shapes.js";
import { defineTool } from "../tool.js";

const DEFAULT_CHARS = 20_000;
const MAX_CHARS = 200_000;
/** Files listed (and in the stat) at most; the record itself keeps at most 500. */
export const DIFF_FILES = 100;

const KIND: Record<FileChangeKind, string> = {
  [FileChangeKind.UNSPECIFIED]: "changed",
  [FileChangeKind.ADDED]: "added",
  [FileChangeKind.MODIFIED]: "modified",
  [FileChangeKind.DELETED]: "deleted",
  [FileChangeKind.RENAMED]: "renamed",
  [FileChangeKind.TYPE_CHANGED]: "type_changed",
};

const fileShape = z.object({
  path: z.string(),
  old_path: z.string().describe("For a rename: where it was."),
  change: z.string().describe("added, modified, deleted, renamed or type_changed."),
  insertions: z.number(),
  deletions: z.number(),
  binary: z.boolean().describe("git treats it as binary: no line counts; see the sizes."),
  old_size: z.number().describe("Bytes before (0 when added)."),
  new_size: z.number().describe("Bytes after (0 when deleted)."),
});

export const taskDiff = defineTool({
  name: "task_diff",
  title: "Read a task's changes",
  description: [
    "Returns what an ended task changed in its git workspace (a task started with upload or repo): a summary as `git diff --stat` prints it, each file with its lines added and removed (binary files with their sizes), the base and final commit, the pushed branch if any,",
    "and the patch as `git diff` prints it, cut to max_chars on a line boundary (patch_truncated and omitted_bytes say so; binary data is left out).",
    "paths narrows the patch to some files; max_chars=0 returns the summary alone. To apply the changes to a local checkout, run `cc apply <task id>` there.",
  ].join(" "),
  input: {
    task_id: z.string().min(1),
    max_chars: z.number().int().min(0).max(MAX_CHARS).default(DEFAULT_CHARS).describe(`Characters of patch text to return (default ${DEFAULT_CHARS}, at most ${MAX_CHARS}; 0 for the summary alone).`),
    paths: z.array(z.string().min(1)).max(100).optional().describe("Only these files' part of the patch (paths as the summary lists them)."),
  },
  output: {
    task_id: z.string(),
    status: z.string(),
    files_changed: z.number().describe("How many files changed in all."),
    insertions: z.number(),
    deletions: z.number(),
    commits: z.number().describe("Commits claude made itself (uncommitted work is one more, in final_commit)."),
    base_commit: z.string().describe("The commit the task started from."),
    final_commit: z.string().describe("The task's end state as a commit; equal to base_commit when nothing changed."),
    branch: z.string().describe("The task's branch in its workspace, cc/<task id>."),
    files: z.array(fileShape).describe(`The files changed, in path order; at most ${DIFF_FILES} (files_truncated).`),
    files_truncated: z.boolean(),
    stat: z.string().describe("The summary as `git diff --stat` prints it."),
    push: pushShape.nullable().describe("The push of the task's branch, when it asked for one."),
    patch: z.string().describe("The patch's text (binary data left out), at most max_chars."),
    patch_bytes: z.number().describe("Size of the whole patch, binary data included."),
    patch_truncated: z.boolean().describe("The patch was cut at max_chars; raise it, or narrow with paths."),
    omitted_bytes: z.number().describe("Bytes of the patch after the cut."),
    patch_error: z.string().describe("Why the patch could not be read (the summary above still holds), e.g. it is no longer kept."),
    error: z.string().describe("Set when the changes could not be recorded, or only in part."),
    expires_at: z.string().describe("Until when the worker keeps the patch (ISO 8601)."),
  },
  readOnly: true,
  async run(args, ctx) {
    const task = await ctx.client.getTask({ taskId: args.task_id }, { signal: ctx.signal });
    if (!ended(task)) throw new Error(`task ${task.id} is still ${statusWord(task.status)}: its changes are recorded when it ends (wait_tasks waits for that)`);
    const changes = task.exit?.changes;
    if (!changes) {
      throw new Error(`task ${task.id} did not run in a git workspace of its own, so it has no recorded changes: tasks started with upload (a local checkout) or repo have them`);
    }
    const shown = changes.files.slice(0, DIFF_FILES);
    const base = {
      task_id: task.id,
      status: statusWord(task.status),
      files_changed: changes.filesTotal,
      insertions: Number(changes.insertions),
      deletions: Number(changes.deletions),
      commits: changes.commits,
      base_commit: changes.baseCommit,
      final_commit: changes.finalCommit,
      branch: changes.branch,
      files: shown.map((f) => ({
        path: f.path,
        old_path: f.oldPath,
        change: KIND[f.kind] ?? "changed",
        insertions: f.insertions,
        deletions: f.deletions,
        binary: f.binary,
        old_size: Number(f.oldSize),
        new_size: Number(f.newSize),
      })),
      files_truncated: changes.filesTotal > shown.length,
      stat: statText({ ...changes, files: shown } as ChangesSummary, PLAIN, 100),
      push: pushSummary(changes.push),
      error: changes.error,
      expires_at: changes.expiresAt ? new Date(timestampMs(changes.expiresAt)).toISOString() : "",
    };
    const patch = { patch: "", patch_bytes: Number(changes.patchBytes), patch_truncated: false, omitted_bytes: 0, patch_error: "" };
    if (args.max_chars > 0 && changes.filesTotal > 0) {
      try {
        Object.assign(patch, await readPatch(ctx, task.id, args.max_chars, args.paths));
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        patch.patch_error = errorText(err);
      }
    }
    return { structured: { ...base, ...patch } };
  },
});

/** The patch's text up to the bound, from GetChanges, which is stopped once the bound is reached. */
async function readPatch(ctx: Parameters<(typeof taskDiff)["run"]>[1], taskId: string, maxChars: number, paths: readonly string[] | undefined) {
  const excerpt = new PatchExcerpt({ maxChars, paths });
  const abort = new AbortController();
  const stop = () => abort.abort();
  ctx.signal.addEventListener("abort", stop, { once: true });
  let size = 0;
  try {
    for await (const message of ctx.client.getChanges({ taskId, format: ChangesFormat.PATCH }, { signal: abort.signal })) {
      if (message.part.case === "header") size = Number(message.part.value.size);
      else if (message.part.case === "data") excerpt.push(message.part.value);
      if (excerpt.full) break;
    }
    if (!excerpt.full) excerpt.end();
  } finally {
    ctx.signal.removeEventListener("abort", stop);
    abort.abort();
  }
  const r = excerpt.result(size);
  return { patch: r.text, patch_bytes: size, patch_truncated: r.truncated, omitted_bytes: r.omittedBytes };
}
