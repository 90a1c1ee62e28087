// A task's changes on its page: what an ended task changed in its git workspace (an uploaded checkout or a cloned
// repository), from its record's summary (each file with its lines added and removed, binary files with their
// sizes, the base and final commit, a pushed branch and where to open a pull request), then the patch itself as a
// readable diff (a section per file, collapsible, lines numbered and coloured), read through GetChanges up to a
// bound, and a button that downloads the whole patch (GetChanges again, as a Blob). Everything is drawn as text
// nodes (app/dom.ts): no part of a patch, a path or a URL becomes markup, and only http(s) URLs become links. A task
// that had no git workspace of its own says so in one line; one still running says when its changes come.
import { ConnectError } from "@connectrpc/connect";
import type { Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { FileChangeKind, type ChangesSummary, type FileChange, type RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { ChangesFormat } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { describeError, type RouterClient } from "../app/api.js";
import { h, replace } from "../app/dom.js";
import { isActive, millis } from "../app/format.js";
import type { TaskPanel } from "../views/task/panels.js";
import { parsePatch, type DiffFile, type DiffLine, type ParsedPatch } from "./patch.js";
import { binaryNote, bytes, CHANGE_LABEL, COLLAPSE_LINES, DISPLAY_BYTES, DISPLAY_LINES, changesHeadline, countBar, displayUrl, patchFileName, safeHttpUrl, shortCommit } from "./summary.js";


type State = "waiting" | "none" | "loading" | "shown";

export class ChangesPanel implements TaskPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly counts: HTMLElement;
  private state: State = "waiting";
  private readonly abort = new AbortController();
  /** The whole patch, when the view read all of it: the download needs no second call then. */
  private whole: Uint8Array[] | undefined;
  private readonly urls: string[] = [];
  private readonly patchSlot = h("div", { class: "diff" });
  private readonly downloadStatus = h("span", { class: "download-status", role: "status" });

  constructor(
    private task: Task,
    private readonly api: RouterClient,
  ) {
    this.counts = h("span", { class: "changes-counts" });
    this.body = h("div", { class: "changes-body" });
    this.element = h("section", { class: "changes", id: "changes", "aria-labelledby": "changes-title" }, h("div", { class: "changes-title-row" }, h("h2", { id: "changes-title" }, "Changes"), this.counts), this.body);
    this.update();
  }

  apply(_event: RunEvent): void {}

  record(task: Task): void {
    this.task = task;
    this.update();
  }

  attached(): void {}

  ended(): void {}

  dispose(): void {
    this.abort.abort();
    for (const url of this.urls.splice(0)) URL.revokeObjectURL(url);
  }

  /** Draws what the record says now; fetches the patch once the task has ended with changes. */
  private update(): void {
    const changes = this.task.exit?.changes;
    if (isActive(this.task.status) || !this.task.exit) {
      if (this.state !== "waiting") return;
      replace(this.body, h("p", { class: "changes-note muted" }, "Recorded when the task ends, for a task in a git workspace of its own (an uploaded checkout or a cloned repository)."));
      return;
    }
    if (!changes) {
      if (this.state === "none") return;
      this.state = "none";
      replace(
        this.body,
        h(
          "p",
          { class: "changes-note" },
          "This task did not run in a git workspace of its own, so it has no recorded changes. Tasks on an uploaded checkout (",
          h("code", {}, "cc run --upload"),
          ") or a cloned repository (",
          h("code", {}, "--repo"),
          ") have them.",
        ),
      );
      return;
    }
    if (this.state === "loading" || this.state === "shown") return;
    this.state = "loading";
    this.drawSummary(changes);
    void this.loadPatch(changes);
  }

  private drawSummary(changes: ChangesSummary): void {
    const name = patchFileName(this.task.id);
    replace(
      this.counts,
      changes.filesTotal > 0 ? [h("span", { class: "diff-add" }, `+${changes.insertions}`), " ", h("span", { class: "diff-del" }, `−${changes.deletions}`)] : "",
    );
    const download = h("button", { type: "button", class: "secondary small download-patch" }, "Download patch");
    download.addEventListener("click", () => void this.download(download, name));
    const facts: [string, Node | string | (Node | string)[]][] = [
      ["Base", commit(changes.baseCommit || "(empty repository)")],
      ["Final", commit(changes.finalCommit)],
      ["Branch", h("code", {}, changes.branch)],
    ];
    if (changes.commits > 0) facts.push(["Commits", `${changes.commits} by claude`]);
    const until = millis(changes.expiresAt);
    if (until !== undefined) facts.push(["Kept until", new Date(until).toLocaleString()]);
    const notes: Node[] = [];
    if (changes.error) notes.push(h("p", { class: "changes-note error", role: "alert" }, changes.error));
    if (changes.push) notes.push(pushNote(changes.push));
    const more = changes.filesTotal - changes.files.length;
    replace(
      this.body,
      h(
        "div",
        { class: "changes-summary" },
        h(
          "div",
          { class: "changes-headline" },
          h("p", {}, h("strong", {}, changesHeadline(changes)), changes.filesTotal > 0 ? [" · ", h("span", { class: "diff-add" }, plural(Number(changes.insertions), "insertion")), " · ", h("span", { class: "diff-del" }, plural(Number(changes.deletions), "deletion"))] : ""),
          h("div", { class: "download" }, download, h("span", { class: "help" }, h("code", {}, name), changes.patchBytes > 0n ? ` · ${bytes(changes.patchBytes)}` : ""), this.downloadStatus),
        ),
        h("dl", { class: "changes-facts" }, facts.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
        notes,
        changes.files.length > 0 ? fileTable(changes.files, (path) => this.reveal(path)) : "",
        more > 0 ? h("p", { class: "help" }, `… and ${more} more ${more === 1 ? "file" : "files"}: the record lists the first ${changes.files.length}; the patch has them all.`) : "",
      ),
      changes.filesTotal > 0 ? this.patchSlot : "",
    );
    replace(this.patchSlot, h("p", { class: "loading", role: "status" }, "Loading the patch…"));
  }

  /** Reads the patch up to DISPLAY_BYTES through GetChanges and draws it. */
  private async loadPatch(changes: ChangesSummary): Promise<void> {
    if (changes.filesTotal === 0) {
      this.state = "shown";
      return;
    }
    const chunks: Uint8Array[] = [];
    let read = 0;
    let total = -1;
    try {
      for await (const m of this.api.getChanges({ taskId: this.task.id, format: ChangesFormat.PATCH }, { signal: this.abort.signal })) {
        if (m.part.case === "header") total = Number(m.part.value.size);
        else if (m.part.case === "data") {
          chunks.push(m.part.value);
          read += m.part.value.length;
          if (read >= DISPLAY_BYTES) break;
        }
      }
    } catch (err) {
      if (this.abort.signal.aborted) return;
      this.state = "shown";
      replace(this.patchSlot, h("p", { class: "changes-note error", role: "alert" }, `The patch could not be read: ${describeError(ConnectError.from(err))}`));
      return;
    }
    if (this.abort.signal.aborted) return;
    const complete = total >= 0 && read >= total;
    if (complete) this.whole = chunks;
    let text = new TextDecoder().decode(concat(chunks).subarray(0, DISPLAY_BYTES));
    // Cut by bytes: the last line may be partial (and so may a character); it is left out.
    if (!complete) text = text.slice(0, text.lastIndexOf("\n") + 1);
    const parsed = parsePatch(text, DISPLAY_LINES);
    this.state = "shown";
    replace(this.patchSlot, this.diffView(parsed, complete ? undefined : total, changes));
  }

  private diffView(parsed: ParsedPatch, cutAtBytes: number | undefined, changes: ChangesSummary): Node[] {
    const sections = parsed.files.map((f) => fileSection(f, changes.files));
    const toolbar = h(
      "div",
      { class: "diff-toolbar" },
      h("h3", {}, "Patch"),
      h("button", { type: "button", class: "link-button", onclick: () => sections.forEach((s) => (s.open = true)) }, "Expand all"),
      h("button", { type: "button", class: "link-button", onclick: () => sections.forEach((s) => (s.open = false)) }, "Collapse all"),
    );
    const out: Node[] = [toolbar, ...sections];
    if (cutAtBytes !== undefined || parsed.cut) {
      const what = parsed.cut ? `its first ${DISPLAY_LINES.toLocaleString("en")} lines` : `its first ${bytes(DISPLAY_BYTES)}`;
      out.push(h("p", { class: "changes-note", role: "note" }, `The patch is ${bytes(cutAtBytes ?? Number(changes.patchBytes))}, so this shows ${what}. Download the patch for all of it.`));
    }
    return out;
  }

  /** Opens a file's section and scrolls to it (a link in the summary). */
  private reveal(path: string): void {
    const section = this.patchSlot.querySelector<HTMLDetailsElement>(`details[data-path="${CSS.escape(path)}"]`);
    if (!section) return;
    section.open = true;
    section.scrollIntoView({ block: "start" });
    section.querySelector("summary")?.focus();
  }

  private async download(button: HTMLButtonElement, name: string): Promise<void> {
    button.disabled = true;
    this.downloadStatus.textContent = this.whole ? "" : "Fetching the patch…";
    this.downloadStatus.className = "download-status";
    try {
      const chunks = this.whole ?? (await this.fetchWhole());
      const url = URL.createObjectURL(new Blob(chunks as BlobPart[], { type: "text/x-diff" }));
      this.urls.push(url);
      const a = h("a", { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      this.downloadStatus.textContent = `Saved as ${name}.`;
    } catch (err) {
      this.downloadStatus.className = "download-status error";
      this.downloadStatus.textContent = `Not downloaded: ${describeError(ConnectError.from(err))}`;
    } finally {
      button.disabled = false;
    }
  }

  private async fetchWhole(): Promise<Uint8Array[]> {
    const chunks: Uint8Array[] = [];
    for await (const m of this.api.getChanges({ taskId: this.task.id, format: ChangesFormat.PATCH }, { signal: this.abort.signal })) {
      if (m.part.case === "data") chunks.push(m.part.value);
    }
    return chunks;
  }
}

const plural = (n: number, word: string) => `${n.toLocaleString("en")} ${n === 1 ? word : `${word}s`}`;

function commit(id: string): Node {
  return /^[0-9a-f]{7,64}$/.test(id) ? h("code", { title: id }, shortCommit(id)) : document.createTextNode(id || "—");
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function pushNote(push: NonNullable<ChangesSummary["push"]>): Node {
  if (push.error) {
    return h("p", { class: "changes-note error", role: "alert" }, "The push of ", h("code", {}, push.branch), ` to ${displayUrl(push.url)} failed: ${push.error}`);
  }
  const compare = safeHttpUrl(push.compareUrl);
  return h(
    "p",
    { class: "changes-note pushed" },
    "Pushed to branch ",
    h("code", {}, push.branch),
    ` of ${displayUrl(push.url)} at `,
    commit(push.commit),
    compare ? [" · ", h("a", { href: compare, target: "_blank", rel: "noopener noreferrer" }, "Open a pull request")] : "",
  );
}

/** The files, each with its change, path and counts; a path leads to its section of the patch. */
function fileTable(files: FileChange[], reveal: (path: string) => void): HTMLElement {
  const rows = files.map((f) => {
    const bar = countBar(f.insertions, f.deletions);
    const path = h("a", { href: `#${fileId(f.path)}`, class: "changed-path" }, f.kind === FileChangeKind.RENAMED && f.oldPath ? `${f.oldPath} → ${f.path}` : f.path);
    path.addEventListener("click", (e) => {
      // Scrolled to by hand: a fragment navigation would make the app draw the page afresh.
      e.preventDefault();
      reveal(f.path);
    });
    return h(
      "tr",
      { "data-path": f.path },
      h("td", {}, h("span", { class: `change-badge ${changeClass(f.kind)}` }, CHANGE_LABEL[f.kind] ?? "changed")),
      h("td", { class: "changed-path-cell" }, path),
      f.binary
        ? h("td", { class: "changed-counts", colspan: 2 }, h("span", { class: "muted" }, binaryNote(f)))
        : [
            h("td", { class: "changed-counts" }, h("span", { class: "diff-add" }, `+${f.insertions}`), " ", h("span", { class: "diff-del" }, `−${f.deletions}`)),
            h("td", { class: "changed-bar", "aria-hidden": "true" }, [...Array(bar.add).fill("add"), ...Array(bar.del).fill("del"), ...Array(bar.none).fill("none")].map((k: string) => h("span", { class: `sq ${k}` }))),
          ],
    );
  });
  return h(
    "table",
    { class: "changed-files" },
    h("caption", { class: "visually-hidden" }, "Files changed"),
    h("thead", { class: "visually-hidden" }, h("tr", {}, h("th", {}, "Change"), h("th", {}, "File"), h("th", {}, "Lines"), h("th", {}, "Bar"))),
    h("tbody", {}, rows),
  );
}

function changeClass(kind: FileChangeKind): string {
  return (CHANGE_LABEL[kind] ?? "changed").replace(" ", "-");
}

/** The id of a file's section of the patch. */
function fileId(path: string): string {
  return `changes-file-${path.replace(/[^0-9A-Za-z_-]/g, "_")}`;
}

/** One file of the patch: a collapsible section with its path and counts, then its hunks. */
function fileSection(f: DiffFile, summaryFiles: FileChange[]): HTMLDetailsElement {
  const lines = f.hunks.reduce((n, hk) => n + hk.lines.length + 1, 0);
  const path = f.change === "renamed" || f.change === "copied" ? `${f.oldPath} → ${f.newPath}` : f.change === "deleted" ? f.oldPath : f.newPath;
  // The record's counts are the whole file's, even when the view holds only the start of its patch.
  const recorded = summaryFiles.find((s) => s.path === f.newPath || s.path === f.oldPath);
  const insertions = recorded && !recorded.binary ? recorded.insertions : f.insertions;
  const deletions = recorded && !recorded.binary ? recorded.deletions : f.deletions;
  const summary = h(
    "summary",
    {},
    h("span", { class: `change-badge ${f.change}` }, f.change),
    h("code", { class: "diff-path" }, path),
    f.binary ? h("span", { class: "muted diff-file-counts" }, recorded ? binaryNote(recorded) : "binary") : h("span", { class: "diff-file-counts" }, h("span", { class: "diff-add" }, `+${insertions}`), " ", h("span", { class: "diff-del" }, `−${deletions}`)),
    lines > COLLAPSE_LINES ? h("span", { class: "muted diff-collapsed-note" }, `${(insertions + deletions).toLocaleString("en")} changed lines`) : "",
  );
  const body: Node[] = [];
  if (f.oldMode && f.newMode && f.oldMode !== f.newMode) body.push(h("p", { class: "diff-meta" }, `mode ${f.oldMode} → ${f.newMode}`));
  if (f.binary) body.push(h("p", { class: "diff-meta" }, "Binary file: its bytes are in the downloaded patch, not shown here."));
  else if (f.hunks.length === 0 && !f.cut) body.push(h("p", { class: "diff-meta" }, f.change === "renamed" ? "Renamed without changes." : f.change === "added" ? "An empty file." : "No content changes."));
  if (f.hunks.length > 0) {
    const rows: HTMLElement[] = [];
    for (const hunk of f.hunks) {
      rows.push(h("tr", { class: "hunk" }, h("td", { class: "ln", colspan: 2 }), h("td", { class: "code" }, hunk.header)));
      for (const line of hunk.lines) rows.push(lineRow(line));
    }
    body.push(h("div", { class: "diff-scroll" }, h("table", { class: "diff-lines" }, h("tbody", {}, rows))));
  }
  if (f.cut) body.push(h("p", { class: "diff-meta" }, "The rest of this file is not shown here: download the patch."));
  return h("details", { class: "diff-file", id: fileId(f.newPath || f.oldPath), "data-path": f.newPath || f.oldPath, open: lines <= COLLAPSE_LINES }, summary, h("div", { class: "diff-body" }, body));
}

const MARK: Record<DiffLine["kind"], string> = { add: "+", del: "-", context: " ", note: "\\" };

function lineRow(line: DiffLine): HTMLElement {
  // Line numbers are drawn from data attributes (CSS), so that copying the code does not copy them.
  return h(
    "tr",
    { class: line.kind },
    h("td", { class: "ln", "data-n": line.oldNo ?? "" }),
    h("td", { class: "ln", "data-n": line.newNo ?? "" }),
    h("td", { class: "code" }, h("span", { class: "mark" }, MARK[line.kind]), line.text),
  );
}
