// Values the worker knows to be secret (its tokens, the model API credential, repository tokens of running tasks)
// are replaced by "[redacted]" in what leaves it: task events (claude's messages and raw output) and log lines.
// A task in the sandbox cannot read them in the first place; this is the second lock, for the unsandboxed worker and
// for whatever a task is handed on purpose (a repository token reaches git).
//
// Raw output comes in chunks that may cut a secret in two, so a stream keeps back the end of a chunk that could be
// the start of a secret until the next chunk (or the end) shows it is not.

export const REDACTED = "[redacted]";
/** Shorter values are not redacted: they would match ordinary text (and no real credential is this short). */
export const MIN_SECRET_CHARS = 8;

export class Secrets {
  private readonly counts = new Map<string, number>();
  private sorted: Buffer[] = [];

  /** Adds a value; the returned function removes it again (values added twice stay until removed twice). */
  add(value: string): () => void {
    if (value.length < MIN_SECRET_CHARS) return () => {};
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
    this.update();
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const n = (this.counts.get(value) ?? 1) - 1;
      if (n > 0) this.counts.set(value, n);
      else this.counts.delete(value);
      this.update();
    };
  }

  get size(): number {
    return this.counts.size;
  }

  /** The longest secret in bytes. */
  get longest(): number {
    return this.sorted[0]?.length ?? 0;
  }

  /** Secrets, longest first (so one that contains another is replaced whole). */
  get values(): readonly Buffer[] {
    return this.sorted;
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.sorted) {
      const s = secret.toString("utf8");
      if (out.includes(s)) out = out.split(s).join(REDACTED);
    }
    return out;
  }

  contains(text: string): boolean {
    return this.sorted.some((secret) => text.includes(secret.toString("utf8")));
  }

  redactBytes(data: Buffer): Buffer {
    let out = data;
    for (const secret of this.sorted) {
      if (out.indexOf(secret) === -1) continue;
      const parts: Buffer[] = [];
      let from = 0;
      for (let at = out.indexOf(secret); at !== -1; at = out.indexOf(secret, from)) {
        parts.push(out.subarray(from, at), REDACTED_BYTES);
        from = at + secret.length;
      }
      parts.push(out.subarray(from));
      out = Buffer.concat(parts);
    }
    return out;
  }

  private update(): void {
    this.sorted = [...this.counts.keys()].map((v) => Buffer.from(v, "utf8")).sort((a, b) => b.length - a.length);
  }
}

const REDACTED_BYTES = Buffer.from(REDACTED);

/** Redaction of one byte stream cut into chunks. */
export class StreamRedactor {
  private carry = Buffer.alloc(0);

  constructor(private readonly secrets: Secrets) {}

  /** Whether bytes are being held back. */
  get holding(): boolean {
    return this.carry.length > 0;
  }

  /** The bytes that can go out now. */
  push(chunk: Buffer): Buffer {
    if (this.secrets.size === 0 && this.carry.length === 0) return chunk;
    const data = this.secrets.redactBytes(this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk);
    const keep = heldTail(data, this.secrets);
    this.carry = Buffer.from(data.subarray(data.length - keep));
    return data.subarray(0, data.length - keep);
  }

  /** Whatever was held back (the stream ended, or it waited long enough). */
  flush(): Buffer {
    const out = this.carry;
    this.carry = Buffer.alloc(0);
    return out;
  }
}

/** The length of the longest end of `data` that is the start of a secret (and not a whole one). */
function heldTail(data: Buffer, secrets: Secrets): number {
  const max = Math.min(data.length, secrets.longest - 1);
  for (let k = max; k > 0; k--) {
    const tail = data.subarray(data.length - k);
    if (secrets.values.some((s) => s.length > k && s.subarray(0, k).equals(tail))) return k;
  }
  return 0;
}
