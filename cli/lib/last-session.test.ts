// What `cc run --continue` continues: the latest session noted per router and directory, bounded, best effort.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { noteLastSession, readLastSession, sessionsPath } from "./last-session.js";

const dir = mkdtempSync(join(tmpdir(), "cc-sessions-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { XDG_STATE_HOME: dir };
const session = (n: number) => ({ taskId: `t${n}`, sessionId: `s${n}`, workerId: "w1", at: 1_700_000_000_000 + n });

describe("the latest session", () => {
  it("is kept per router and per directory, the newest replacing the older", () => {
    noteLastSession(env, "http://r1", "/a", session(1));
    noteLastSession(env, "http://r1", "/b", { ...session(2), directory: "proj" });
    noteLastSession(env, "http://r2", "/a", session(3));
    noteLastSession(env, "http://r1", "/a", session(4));
    expect(readLastSession(env, "http://r1", "/a")).toEqual(session(4));
    expect(readLastSession(env, "http://r1", "/b")).toEqual({ ...session(2), directory: "proj" });
    expect(readLastSession(env, "http://r2", "/a")).toEqual(session(3));
    expect(readLastSession(env, "http://r3", "/a")).toBeUndefined();
    expect(sessionsPath(env)).toBe(join(dir, "claudecluster", "sessions.json"));
    expect(statSync(sessionsPath(env)).mode & 0o777).toBe(0o600);
  });

  it("keeps at most 200 entries, the oldest going first", () => {
    for (let i = 0; i < 210; i++) noteLastSession(env, "http://many", `/d${i}`, session(100 + i));
    const kept = Object.keys(JSON.parse(readFileSync(sessionsPath(env), "utf8")) as object);
    expect(kept).toHaveLength(200);
    expect(readLastSession(env, "http://many", "/d0")).toBeUndefined();
    expect(readLastSession(env, "http://many", "/d209")).toEqual(session(309));
  });

  it("a broken file reads as none, and a file that cannot be written does not fail the run", () => {
    noteLastSession(env, "http://r1", "/a", session(1));
    writeFileSync(sessionsPath(env), "not json");
    expect(readLastSession(env, "http://r1", "/a")).toBeUndefined();
    // A state directory that cannot be made: here, because a file is in the way.
    const blocked = join(dir, "a-file");
    writeFileSync(blocked, "");
    expect(() => noteLastSession({ XDG_STATE_HOME: blocked }, "http://r1", "/a", session(1))).not.toThrow();
    expect(readLastSession({ XDG_STATE_HOME: blocked }, "http://r1", "/a")).toBeUndefined();
  });
});
