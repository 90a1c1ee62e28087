import { execFile } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HOOK_EVENTS_ENV, HookEventsFile, hookSettingsJson, type HookEvent } from "./hook-events.js";

const run = promisify(execFile);

interface HookCommand {
  type: string;
  command: string;
}
type HookSettings = { hooks: Record<string, { hooks: HookCommand[] }[]> };

const RELAY = '{ cat; echo; } >> "$CC_HOOK_EVENTS"';

/** Runs the relay command the way claude does: /bin/sh, the payload on stdin, CC_HOOK_EVENTS in the environment. */
function runRelay(path: string, payload: string): Promise<unknown> {
  const command = (JSON.parse(hookSettingsJson()) as HookSettings).hooks["Stop"]![0]!.hooks[0]!.command;
  const child = run("/bin/sh", ["-c", command], { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", [HOOK_EVENTS_ENV]: path } });
  child.child.stdin!.end(payload);
  return child;
}

describe("hookSettingsJson", () => {
  it("installs the same relay command for SessionStart, UserPromptSubmit and Stop, and nothing else", () => {
    const relay = [{ hooks: [{ type: "command", command: RELAY }] }];
    expect(JSON.parse(hookSettingsJson())).toEqual({ hooks: { SessionStart: relay, UserPromptSubmit: relay, Stop: relay } });
  });

  it("is a single line of JSON (it travels as one --settings= argument)", () => {
    expect(hookSettingsJson()).not.toContain("\n");
    expect(HOOK_EVENTS_ENV).toBe("CC_HOOK_EVENTS");
  });
});

describe("HookEventsFile", () => {
  let dir: string;
  let path: string;
  let events: HookEvent[];
  let file: HookEventsFile | undefined;
  let onEvent: (e: HookEvent) => void;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "cc-hook-events-test-"));
    path = join(dir, "events.jsonl");
    events = [];
    onEvent = (e) => events.push(e);
  });
  afterEach(() => {
    file?.close();
    file = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function open(): HookEventsFile {
    file = new HookEventsFile(path, (e) => onEvent(e));
    return file;
  }

  it("creates the file empty, truncating an old one", () => {
    appendFileSync(path, '{"hook_event_name":"Stop"}\n');
    open();
    expect(readFileSync(path, "utf8")).toBe("");
    file!.readNew();
    expect(events).toEqual([]);
  });

  it("reports what the real relay command appends, through the file watcher", async () => {
    const arrived = new Promise<HookEvent>((resolve) => (onEvent = resolve));
    open();
    const payload = { hook_event_name: "UserPromptSubmit", session_id: "0d5e6f1c-aaaa", prompt: "héllo 🌍", cwd: "/w" };
    await runRelay(path, JSON.stringify(payload));
    const event = await arrived;
    expect(event).toEqual({ name: "UserPromptSubmit", sessionId: "0d5e6f1c-aaaa", payload });
    expect(readFileSync(path, "utf8")).toBe(JSON.stringify(payload) + "\n");
  });

  it("reports several relayed payloads in order, whether or not they end with a newline", async () => {
    open();
    await runRelay(path, '{"hook_event_name":"SessionStart","session_id":"s1","source":"startup"}');
    await runRelay(path, '{"hook_event_name":"UserPromptSubmit","session_id":"s1"}\n');
    await runRelay(path, '{"hook_event_name":"Stop","session_id":"s1","stop_hook_active":false}');
    file!.readNew();
    expect(events.map((e) => [e.name, e.sessionId])).toEqual([
      ["SessionStart", "s1"],
      ["UserPromptSubmit", "s1"],
      ["Stop", "s1"],
    ]);
    expect(events[2]!.payload).toEqual({ hook_event_name: "Stop", session_id: "s1", stop_hook_active: false });
  });

  it("holds a partial line until it is complete", () => {
    open();
    appendFileSync(path, '{"hook_event_name":"Stop",');
    file!.readNew();
    expect(events).toEqual([]);
    appendFileSync(path, '"session_id":"s2"}');
    file!.readNew();
    expect(events).toEqual([]);
    appendFileSync(path, '\n{"hook_event_name":"SessionStart"');
    file!.readNew();
    expect(events.map((e) => [e.name, e.sessionId])).toEqual([["Stop", "s2"]]);
  });

  it("reads each byte once across reads", () => {
    open();
    appendFileSync(path, '{"hook_event_name":"Stop","session_id":"a"}\n');
    file!.readNew();
    file!.readNew();
    appendFileSync(path, '{"hook_event_name":"Stop","session_id":"b"}\n');
    file!.readNew();
    expect(events.map((e) => e.sessionId)).toEqual(["a", "b"]);
  });

  it("close() reads the lines appended since the last read, then stops", () => {
    open();
    appendFileSync(path, '{"hook_event_name":"SessionStart","session_id":"s3"}\n{"hook_event_name":"Stop","session_id":"s3"}\n');
    file!.close();
    expect(events.map((e) => e.name)).toEqual(["SessionStart", "Stop"]);
    file = undefined;
  });

  it("ignores blank and non-JSON lines; missing fields become empty strings", () => {
    open();
    appendFileSync(path, '\n  \nnot json\n{"session_id":5}\n{"hook_event_name":"Stop"}\n');
    file!.readNew();
    expect(events.map((e) => [e.name, e.sessionId])).toEqual([
      ["", ""],
      ["Stop", ""],
    ]);
  });

  it("keeps multibyte text intact when a read stops inside a character", () => {
    open();
    const line = Buffer.from('{"hook_event_name":"UserPromptSubmit","session_id":"s","prompt":"é世🌍"}\n');
    const cut = line.indexOf(Buffer.from("é")) + 1;
    appendFileSync(path, line.subarray(0, cut));
    file!.readNew();
    appendFileSync(path, line.subarray(cut));
    file!.readNew();
    expect(events.map((e) => e.payload["prompt"])).toEqual(["é世🌍"]);
  });

  it("keeps a multibyte character that straddles the 64 KiB read buffer intact", () => {
    open();
    const head = '{"hook_event_name":"UserPromptSubmit","session_id":"s","prompt":"';
    // Put "é" (2 bytes) across the 65,536-byte boundary of the first read.
    const prompt = "a".repeat(64 * 1024 - Buffer.byteLength(head) - 1) + "é" + "z";
    appendFileSync(path, `${head}${prompt}"}\n`);
    file!.readNew();
    expect(events.map((e) => e.payload["prompt"])).toEqual([prompt]);
  });
});
