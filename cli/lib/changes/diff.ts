// How `cc diff` prints a task's changes: the patch as git prints it (coloured line by line on a terminal, bytes as
// they came otherwise), `--stat` as `git diff --stat` does, `--name-only` one path a line. --stat and --name-only come
// from the summary in the task's record, without fetching the patch.
import { type ChangesSummary, type FileChange, FileChangeKind } from "../../../gen/claudecluster/v1/run_pb.js";
import type { Style } from "../style.js";

/** The colour of one patch line, as `git diff --color` gives it. */
export function colorPatchLine(line: string, style: Style): string {
  if (!style.enabled) return line;
  if (/^(?:diff --git |index |--- |\+\+\+ |new file mode |deleted file mode |old mode |new mode |similarity index |dissimilarity index |rename from |rename to |copy from |copy to )/.test(line)) return style.bold(line);
  if (line.startsWith("@@")) {
    const end = line.indexOf("@@", 2);
    return end < 0 ? style.cyan(line) : style.cyan(line.slice(0, end + 2)) + line.slice(end + 2);
  }
  if (line.startsWith("+")) return style.green(line);
  if (line.startsWith("-")) return style.red(line);
  return line;
}

/** Longest line held back to colour it whole; longer ones pass through uncoloured. */
const MAX_LINE = 64 * 1024;

/** Colours a patch as its bytes arrive, holding at most one unfinished line. */
export class PatchColorizer {
  private partial = "";
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly style: Style,
    private readonly write: (text: string) => Promise<void> | void,
  ) {}

  async push(chunk: Uint8Array): Promise<void> {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.partial = lines.pop()!;
    let out = lines.map((l) => colorPatchLine(l, this.style) + "\n").join("");
    if (this.partial.length > MAX_LINE) {
      out += this.partial;
      this.partial = "";
    }
    if (out) await this.write(out);
  }

  async end(): Promise<void> {
    const rest = this.partial + this.decoder.decode();
    this.partial = "";
    if (rest) await this.write(colorPatchLine(rest, this.style));
  }
}

function displayPath(f: FileChange): string {
  return f.kind === FileChangeKind.RENAMED && f.oldPath ? `${f.oldPath} => ${f.path}` : f.path;
}

const plural = (n: number | bigint, one: string, many: string) => `${n} ${n === 1 || n === 1n ? one : many}`;

/** The last line of `git diff --stat`. */
export function statSummaryLine(summary: ChangesSummary): string {
  const parts = [plural(summary.filesTotal, "file changed", "files changed")];
  if (summary.insertions > 0n) parts.push(plural(summary.insertions, "insertion(+)", "insertions(+)"));
  if (summary.deletions > 0n) parts.push(plural(summary.deletions, "deletion(-)", "deletions(-)"));
  return ` ${parts.join(", ")}\n`;
}

/** `git diff --stat`, fitted to `width` columns. */
export function statText(summary: ChangesSummary, style: Style, width = 80): string {
  const files = summary.files;
  if (summary.filesTotal === 0) return "";
  const names = files.map(displayPath);
  const counts = files.map((f) => f.insertions + f.deletions);
  const countWidth = Math.max(1, ...counts.map((c) => String(c).length), ...files.filter((f) => f.binary).map(() => 3));
  const nameWidth = Math.min(Math.max(...names.map((n) => n.length)), Math.max(20, Math.floor(width * 0.5)));
  const barRoom = Math.max(10, width - nameWidth - countWidth - 6);
  const most = Math.max(1, ...counts);
  const lines = files.map((f, i) => {
    let name = names[i]!;
    if (name.length > nameWidth) name = "..." + name.slice(name.length - nameWidth + 3);
    const left = ` ${name.padEnd(nameWidth)} | `;
    if (f.binary) return `${left}${"Bin".padStart(countWidth)} ${f.oldSize} -> ${f.newSize} bytes\n`;
    const total = counts[i]!;
    const scale = most > barRoom ? barRoom / most : 1;
    let plus = Math.round(f.insertions * scale);
    let minus = Math.round(f.deletions * scale);
    if (f.insertions > 0 && plus === 0) plus = 1;
    if (f.deletions > 0 && minus === 0) minus = 1;
    return `${left}${String(total).padStart(countWidth)} ${style.green("+".repeat(plus))}${style.red("-".repeat(minus))}\n`;
  });
  const more = summary.filesTotal > files.length ? ` ... and ${summary.filesTotal - files.length} more files\n` : "";
  return lines.join("") + more + statSummaryLine(summary);
}

/** One path a line, as `git diff --name-only`. */
export function nameOnlyText(summary: ChangesSummary): string {
  return summary.files.map((f) => `${f.path}\n`).join("");
}
