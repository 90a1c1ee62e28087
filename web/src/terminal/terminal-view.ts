// An interactive task's terminal in the page: xterm.js draws the bytes claude's TUI writes (the task's `output`
// events, replayed from the start on load), keystrokes go back through SendInput, and the terminal's size follows
// the page through Resize. Several pages may show one task; the size is the one of whichever page last opened or
// was resized (as in tmux, the latest client wins).
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { describeError, type RouterClient } from "../app/api.js";
import { h } from "../app/dom.js";

/** Keystrokes typed while a SendInput is in flight go in the next one, in order. */
const MAX_PENDING_INPUT_BYTES = 64 * 1024;

export class TerminalView {
  readonly element: HTMLElement;
  private readonly terminal: Terminal;
  private readonly fit = new FitAddon();
  private readonly resizeObserver: ResizeObserver;
  private readonly status: HTMLElement;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private sending = false;
  private sentSize = "";
  private running = true;
  private resizeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly taskId: string,
    private readonly api: RouterClient,
  ) {
    const screen = h("div", { class: "terminal-screen" });
    this.status = h("p", { class: "terminal-status", role: "status", "aria-live": "polite" });
    this.element = h("section", { class: "terminal", "aria-label": "Terminal" }, screen, this.status);
    const css = getComputedStyle(document.documentElement);
    this.terminal = new Terminal({
      cursorBlink: true,
      fontFamily: css.getPropertyValue("--mono").trim() || "monospace",
      fontSize: 13,
      lineHeight: 1,
      scrollback: 5000,
      screenReaderMode: false,
      allowProposedApi: false,
      theme: { background: "#14161a", foreground: "#e6e6e6", cursor: "#f0a97f", selectionBackground: "#3b4252" },
    });
    this.terminal.loadAddon(this.fit);
    this.terminal.open(screen);
    this.terminal.textarea?.setAttribute("aria-label", "Terminal input: what you type goes to claude");
    const encoder = new TextEncoder();
    this.terminal.onData((data) => this.type(encoder.encode(data)));
    this.terminal.onBinary((data) => this.type(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    this.resizeObserver = new ResizeObserver(() => {
      clearTimeout(this.resizeTimer);
      this.resizeTimer = setTimeout(() => this.sendSize(false), 100);
    });
    this.resizeObserver.observe(screen);
  }

  /** Once the element is in the page: fits the terminal and tells the task its size. */
  attached(): void {
    this.sendSize(false);
    this.terminal.focus();
  }

  /** claude started (live, or in the replay): it takes this page's size now, if it could not before. */
  started(): void {
    this.sendSize(true);
  }

  write(data: Uint8Array): void {
    this.terminal.write(data);
  }

  /** The task ended: the terminal stays readable, and stops taking keystrokes. */
  ended(words: string): void {
    this.running = false;
    this.terminal.options.disableStdin = true;
    this.terminal.options.cursorBlink = false;
    this.status.textContent = words;
  }

  dispose(): void {
    clearTimeout(this.resizeTimer);
    this.resizeObserver.disconnect();
    this.terminal.dispose();
  }

  private type(bytes: Uint8Array): void {
    if (!this.running) return;
    if (this.pendingBytes + bytes.length > MAX_PENDING_INPUT_BYTES) {
      this.status.textContent = "Typing faster than the task takes it in: some keystrokes were dropped.";
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (!this.sending) void this.send();
  }

  /** One SendInput at a time, so keystrokes arrive in the order they were typed. */
  private async send(): Promise<void> {
    this.sending = true;
    while (this.pending.length > 0 && this.running) {
      const chunk = new Uint8Array(this.pendingBytes);
      let offset = 0;
      for (const piece of this.pending) {
        chunk.set(piece, offset);
        offset += piece.length;
      }
      this.pending = [];
      this.pendingBytes = 0;
      try {
        await this.api.sendInput({ taskId: this.taskId, input: { case: "data", value: chunk } });
        if (this.status.dataset["error"]) {
          this.status.textContent = "";
          delete this.status.dataset["error"];
        }
      } catch (err) {
        this.status.textContent = `Keystrokes not delivered: ${describeError(err)}`;
        this.status.dataset["error"] = "1";
      }
    }
    this.sending = false;
  }

  /** Fits the terminal to its box; tells the task when the size changed (or `force`: claude just started). */
  private sendSize(force: boolean): void {
    if (!this.element.isConnected) return;
    try {
      this.fit.fit();
    } catch {
      return; // not laid out yet
    }
    const { cols, rows } = this.terminal;
    const size = `${cols}x${rows}`;
    if (!this.running || (!force && size === this.sentSize) || document.hidden) return;
    this.sentSize = size;
    this.api.resize({ taskId: this.taskId, size: { cols, rows } }).catch(() => {
      // Not started yet (`started` sends it again), or just ended.
      this.sentSize = "";
    });
  }
}
