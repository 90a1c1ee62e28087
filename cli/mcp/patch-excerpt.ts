// What task_diff shows a model of a task's patch: git's text, read line by line as GetChanges streams it, cut on a
// line boundary at a bound, with the base85 data of binary files left out (a model cannot read it; `cc apply` and the
// patch itself carry it), and optionally only the sections of some files. It holds at most one unfinished line, and
// says once it has all it wants, so the caller can stop the stream instead of reading a large patch to its end.

/** A line this long in a section that is skipped anyway is dropped as it arrives instead of held whole. */
const LONG_LINE = 64 * 1024;

export const BINARY_NOTE = "(binary data left out here; `cc apply` and `cc diff` carry it)";

export interface PatchExcerptOptions {
  /** Characters of patch text to keep at most. */
  maxChars: number;
  /** Only the sections of these paths (old or new path of a file), when given. */
  paths?: readonly string[] | undefined;
}

export interface PatchExcerptResult {
  text: string;
  /** Part of the wanted text was left out at the bound. */
  truncated: boolean;
  /** Bytes of the patch after the cut (0 when nothing was cut). */
  omittedBytes: number;
}

/** Whether a `diff --git a/X b/Y` line is the section of `path` (old or new side, quoted by git or not). */
export function sectionIsFor(header: string, path: string): boolean {
  return (
    header === `diff --git a/${path} b/${path}` ||
    header.startsWith(`diff --git a/${path} b/`) ||
    header.endsWith(` b/${path}`) ||
    header.startsWith(`diff --git "a/${path}" `) ||
    header.endsWith(` "b/${path}"`)
  );
}

export class PatchExcerpt {
  private readonly parts: string[] = [];
  private chars = 0;
  private partial = "";
  /** The start of the current line was dropped (a long line in a skipped section): skip up to its end. */
  private dropping = false;
  private readonly decoder = new TextDecoder();
  /** In the current file's section: whether it is wanted, and whether its binary data is being skipped. */
  private wanted: boolean;
  private inBinary = false;
  /** Bytes of the patch read up to the end of the last whole line handled. */
  private consumed = 0;
  private cut = false;

  constructor(private readonly options: PatchExcerptOptions) {
    this.wanted = !options.paths || options.paths.length === 0;
    if (options.maxChars <= 0) this.cut = true;
  }

  /** Whether it has all it will keep: the caller may stop reading. */
  get full(): boolean {
    return this.cut;
  }

  push(chunk: Uint8Array): void {
    if (this.cut) return;
    const piece = this.decoder.decode(chunk, { stream: true });
    if (piece.includes("\n")) {
      const lines = (this.partial + piece).split("\n");
      this.partial = lines.pop()!;
      for (const line of lines) {
        if (this.dropping) {
          this.dropping = false;
          this.consumed += byteLength(line) + 1;
          continue;
        }
        this.line(line, true);
        if (this.cut) return;
      }
    } else {
      // No line ends here: the piece joins the unfinished line (split only once one ends, not on every chunk).
      this.partial += piece;
    }
    const skipping = !this.wanted || this.inBinary || this.dropping;
    if (skipping && this.partial.length > LONG_LINE && !this.partial.startsWith("diff --git ")) {
      this.consumed += byteLength(this.partial);
      this.partial = "";
      this.dropping = true;
    } else if (!skipping && this.partial.length > this.options.maxChars - this.chars) {
      // Longer than what is left of the bound: it is cut whatever follows.
      this.line(this.partial, false);
    }
  }

  /** The end of the patch. */
  end(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = "";
    if (!this.cut && rest !== "" && !this.dropping) this.line(rest, false);
  }

  result(totalBytes: number): PatchExcerptResult {
    return { text: this.parts.join(""), truncated: this.cut && totalBytes > this.consumed, omittedBytes: this.cut ? Math.max(0, totalBytes - this.consumed) : 0 };
  }

  private line(line: string, newline: boolean): void {
    const bytes = byteLength(line) + (newline ? 1 : 0);
    if (line.startsWith("diff --git ")) {
      this.inBinary = false;
      const paths = this.options.paths;
      this.wanted = !paths || paths.length === 0 || paths.some((p) => sectionIsFor(line, p));
    }
    if (!this.wanted || (this.inBinary && !line.startsWith("diff --git "))) {
      this.consumed += bytes;
      return;
    }
    let shown = newline ? `${line}\n` : line;
    if (line === "GIT binary patch") {
      this.inBinary = true;
      shown = `${BINARY_NOTE}\n`;
    }
    const room = this.options.maxChars - this.chars;
    if (shown.length > room) {
      // Cut on a line boundary; only a first line longer than the whole bound is cut inside.
      if (this.chars === 0) this.keep(shown.slice(0, room));
      this.cut = true;
      return;
    }
    this.keep(shown);
    this.consumed += bytes;
  }

  private keep(text: string): void {
    this.parts.push(text);
    this.chars += text.length;
  }
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}
