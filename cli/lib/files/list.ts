// `cc ls`: a directory of a task's workspace, as names (directories with a trailing `/`), `-l` long lines, or JSON.
import { toJson } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type FileEntry, FileType, type ListFilesResponse, ListFilesResponseSchema } from "../../../gen/claudecluster/v1/transfer_pb.js";

const TYPE_CHAR: Record<number, string> = { [FileType.DIRECTORY]: "d", [FileType.SYMLINK]: "l", [FileType.FILE]: "-", [FileType.OTHER]: "?" };

function modeString(e: FileEntry): string {
  const bits = "rwxrwxrwx";
  let out = TYPE_CHAR[e.type] ?? "?";
  for (let i = 0; i < 9; i++) out += e.mode & (1 << (8 - i)) ? bits[i] : "-";
  return out;
}

function when(e: FileEntry): string {
  if (!e.modified) return "";
  return new Date(timestampMs(e.modified)).toISOString().slice(0, 16).replace("T", " ");
}

export function listingText(res: ListFilesResponse, long: boolean): string {
  const name = (e: FileEntry) => (e.type === FileType.DIRECTORY ? `${e.name}/` : e.name);
  if (!long) return res.entries.map((e) => `${name(e)}\n`).join("") + truncatedNote(res);
  const sizes = res.entries.map((e) => String(e.size));
  const width = Math.max(1, ...sizes.map((s) => s.length));
  const lines = res.entries.map((e, i) => `${modeString(e)} ${sizes[i]!.padStart(width)} ${when(e)} ${name(e)}${e.linkTarget ? ` -> ${e.linkTarget}` : ""}\n`);
  return lines.join("") + truncatedNote(res);
}

function truncatedNote(res: ListFilesResponse): string {
  return res.truncated ? `… more entries than the ${res.entries.length} listed\n` : "";
}

export function listingJson(res: ListFilesResponse): string {
  return JSON.stringify(toJson(ListFilesResponseSchema, res), null, 2) + "\n";
}
