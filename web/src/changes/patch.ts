// A task's patch (`git diff --binary --full-index`, as the worker records it) read into files, hunks and lines for
// the diff view. Pure and small on purpose (no diff library): git's format is a few line prefixes. Paths come from
// the `---`/`+++`, `rename`/`copy` lines or the `diff --git` line, unquoted as git quotes them (C escapes, octal
// bytes for non-ASCII names). A binary file's base85 data is skipped. Parsing stops after `maxLines` diff lines,
// and says so. Unit-tested against patches git itself wrote (test/web/changes-patch.test.ts).

export type LineKind = "add" | "del" | "context" | "note";

export interface DiffLine {
  kind: LineKind;
  /** The line without its one-character prefix. */
  text: string;
  /** Its number in the old file (del, context) and the new one (add, context). */
  oldNo?: number;
  newNo?: number;
}

export interface DiffHunk {
  /** The `@@ -a,b +c,d @@ …` line. */
  header: string;
  lines: DiffLine[];
}

export type FileChangeWord = "added" | "deleted" | "renamed" | "copied" | "modified";

export interface DiffFile {
  oldPath: string;
  newPath: string;
  change: FileChangeWord;
  binary: boolean;
  /** git's extended header lines (index, modes, similarity), as written. */
  meta: string[];
  oldMode: string;
  newMode: string;
  hunks: DiffHunk[];
  insertions: number;
  deletions: number;
  /** Some of its lines were left out at the bound. */
  cut: boolean;
}

export interface ParsedPatch {
  files: DiffFile[];
  /** Diff lines kept. */
  lines: number;
  /** Parsing stopped at maxLines: files after the last one (and the rest of it) are not here. */
  cut: boolean;
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

export function parsePatch(text: string, maxLines = Number.POSITIVE_INFINITY): ParsedPatch {
  const files: DiffFile[] = [];
  let file: DiffFile | undefined;
  let hunk: DiffHunk | undefined;
  let inBinary = false;
  let oldNo = 0;
  let newNo = 0;
  let lines = 0;
  const all = text.split("\n");
  // A patch ends with a newline: the empty string after it is not a line.
  if (all.at(-1) === "") all.pop();
  for (const line of all) {
    if (line.startsWith("diff --git ")) {
      const [oldPath, newPath] = headerPaths(line.slice("diff --git ".length));
      file = { oldPath, newPath, change: "modified", binary: false, meta: [], oldMode: "", newMode: "", hunks: [], insertions: 0, deletions: 0, cut: false };
      files.push(file);
      hunk = undefined;
      inBinary = false;
      continue;
    }
    if (!file || inBinary) continue;
    if (hunk) {
      const mark = line[0];
      if (mark === "+" || mark === "-" || mark === " " || mark === "\\") {
        if (lines >= maxLines) {
          file.cut = true;
          return { files, lines, cut: true };
        }
        lines += 1;
        if (mark === "+") {
          hunk.lines.push({ kind: "add", text: line.slice(1), newNo: newNo++ });
          file.insertions += 1;
        } else if (mark === "-") {
          hunk.lines.push({ kind: "del", text: line.slice(1), oldNo: oldNo++ });
          file.deletions += 1;
        } else if (mark === " ") {
          hunk.lines.push({ kind: "context", text: line.slice(1), oldNo: oldNo++, newNo: newNo++ });
        } else {
          hunk.lines.push({ kind: "note", text: line.slice(2) });
        }
        continue;
      }
    }
    const h = HUNK.exec(line);
    if (h) {
      hunk = { header: line, lines: [] };
      file.hunks.push(hunk);
      oldNo = Number(h[1]);
      newNo = Number(h[2]);
      continue;
    }
    hunk = undefined;
    if (line === "GIT binary patch" || (line.startsWith("Binary files ") && line.endsWith(" differ"))) {
      file.binary = true;
      inBinary = line === "GIT binary patch";
      continue;
    }
    headerLine(file, line);
  }
  return { files, lines, cut: false };
}

/** One of git's extended header lines, or `---`/`+++`. */
function headerLine(file: DiffFile, line: string): void {
  const value = (prefix: string) => (line.startsWith(prefix) ? line.slice(prefix.length) : undefined);
  // git ends a `---`/`+++` name that holds a space with a tab, for patch(1).
  const name = (prefix: string) => value(prefix)?.replace(/\t$/, "");
  let v: string | undefined;
  if ((v = name("--- ")) !== undefined) {
    if (v !== "/dev/null") file.oldPath = stripSide(unquote(v), "a/");
    return;
  }
  if ((v = name("+++ ")) !== undefined) {
    if (v !== "/dev/null") file.newPath = stripSide(unquote(v), "b/");
    return;
  }
  file.meta.push(line);
  if ((v = value("new file mode ")) !== undefined) {
    file.change = "added";
    file.newMode = v;
  } else if ((v = value("deleted file mode ")) !== undefined) {
    file.change = "deleted";
    file.oldMode = v;
  } else if ((v = value("old mode ")) !== undefined) file.oldMode = v;
  else if ((v = value("new mode ")) !== undefined) file.newMode = v;
  else if ((v = value("rename from ")) !== undefined) {
    file.change = "renamed";
    file.oldPath = unquote(v);
  } else if ((v = value("rename to ")) !== undefined) file.newPath = unquote(v);
  else if ((v = value("copy from ")) !== undefined) {
    file.change = "copied";
    file.oldPath = unquote(v);
  } else if ((v = value("copy to ")) !== undefined) file.newPath = unquote(v);
}

function stripSide(path: string, side: string): string {
  return path.startsWith(side) ? path.slice(side.length) : path;
}

/** The two paths of `a/OLD b/NEW` (each maybe quoted). Unquoted, the two halves of a same-path header are equal. */
export function headerPaths(rest: string): [string, string] {
  if (rest.startsWith('"')) {
    const end = quotedEnd(rest);
    const first = unquote(rest.slice(0, end));
    const second = rest.slice(end + 1);
    return [stripSide(first, "a/"), stripSide(unquote(second), "b/")];
  }
  if (rest.endsWith('"')) {
    const start = rest.lastIndexOf(' "');
    return [stripSide(rest.slice(0, start), "a/"), stripSide(unquote(rest.slice(start + 1)), "b/")];
  }
  const half = (rest.length - 5) / 2;
  if (Number.isInteger(half) && rest.startsWith("a/") && rest.slice(2, 2 + half) === rest.slice(5 + half) && rest.slice(2 + half, 5 + half) === " b/") {
    const path = rest.slice(2, 2 + half);
    return [path, path];
  }
  // Different paths (a rename or copy, whose own lines name them properly): split at the last " b/".
  const at = rest.lastIndexOf(" b/");
  return at > 0 ? [stripSide(rest.slice(0, at), "a/"), rest.slice(at + 3)] : [rest, rest];
}

/** Where a quoted string that starts at 0 ends (the index after its closing quote). */
function quotedEnd(s: string): number {
  for (let i = 1; i < s.length; i++) {
    if (s[i] === "\\") i += 1;
    else if (s[i] === '"') return i + 1;
  }
  return s.length;
}

const ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, "\\": 92 };

/** A path as git quotes it (`"dir/na\303\257ve.txt"`), back to its text; an unquoted path as it is. */
export function unquote(s: string): string {
  if (s.length < 2 || !s.startsWith('"') || !s.endsWith('"')) return s;
  const bytes: number[] = [];
  const body = s.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== "\\") {
      for (const b of new TextEncoder().encode(c)) bytes.push(b);
      continue;
    }
    const next = body[i + 1] ?? "";
    if (/[0-7]/.test(next)) {
      bytes.push(parseInt(body.slice(i + 1, i + 4), 8) & 0xff);
      i += 3;
    } else {
      bytes.push(ESCAPES[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
