// Claude Code hooks tell us exactly when an interactive turn starts and ends, with no screen scraping. The worker
// passes claude `--settings` whose hooks append each hook's JSON payload, one line each, to a file named by
// $CC_HOOK_EVENTS; this module follows that file.
import { closeSync, openSync, readSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { StringDecoder } from "node:string_decoder";

export const HOOK_EVENTS_ENV = "CC_HOOK_EVENTS";
const HOOKED = ["SessionStart", "UserPromptSubmit", "Stop"] as const;

/** The `--settings` JSON that installs the relay hooks. The command runs under /bin/sh in claude's environment. */
export function hookSettingsJson(): string {
  const relay = { type: "command", command: `{ cat; echo; } >> "$${HOOK_EVENTS_ENV}"` };
  const hooks = Object.fromEntries(HOOKED.map((name) => [name, [{ hooks: [relay] }]]));
  return JSON.stringify({ hooks });
}

export interface HookEvent {
  /** `hook_event_name` from the payload: SessionStart, UserPromptSubmit, Stop. */
  name: string;
  sessionId: string;
  payload: Record<string, unknown>;
}

const MAX_PENDING_BYTES = 4 * 1024 * 1024;

export class HookEventsFile {
  private watcher: FSWatcher | undefined;
  private offset = 0;
  private pending = "";
  /** Keeps a UTF-8 sequence cut by a read boundary until its remaining bytes arrive. */
  private readonly decoder = new StringDecoder("utf8");

  constructor(
    readonly path: string,
    private readonly onEvent: (event: HookEvent) => void,
  ) {
    writeFileSync(path, "");
    this.watcher = watch(path, () => this.readNew());
  }

  /** Reads what was appended since the last read and reports each complete line. */
  readNew(): void {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (let n; (n = readSync(fd, buf, 0, buf.length, this.offset)) > 0; ) {
        this.offset += n;
        this.pending += this.decoder.write(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    const lines = this.pending.split("\n");
    this.pending = lines.pop() ?? "";
    // A payload never legitimately grows this large without a newline; drop it rather than grow.
    if (this.pending.length > MAX_PENDING_BYTES) this.pending = "";
    for (const line of lines) this.parse(line);
  }

  close(): void {
    this.readNew();
    this.watcher?.close();
    this.watcher = undefined;
  }

  private parse(line: string): void {
    if (line.trim() === "") return;
    try {
      const payload = JSON.parse(line) as Record<string, unknown>;
      const name = typeof payload["hook_event_name"] === "string" ? payload["hook_event_name"] : "";
      const sessionId = typeof payload["session_id"] === "string" ? payload["session_id"] : "";
      this.onEvent({ name, sessionId, payload });
    } catch {
      // Not JSON: nothing a hook of ours would write. Ignore.
    }
  }
}
