import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import { HookEvents, hookSettingsJson, parseHookEvent, type HookConnection, type HookEvent } from "./hook-events.js";

describe("hookSettingsJson", () => {
  it("installs one HTTP hook to the given URL for UserPromptSubmit and Stop, and nothing else", () => {
    const relay = [{ hooks: [{ type: "http", url: "http://127.0.0.1:41003/hooks/t1", timeout: 10 }] }];
    expect(JSON.parse(hookSettingsJson("http://127.0.0.1:41003/hooks/t1"))).toEqual({ hooks: { UserPromptSubmit: relay, Stop: relay } });
  });

  it("is a single line of JSON with no command in it (it travels as one --settings= argument; nothing runs a shell)", () => {
    const json = hookSettingsJson("http://127.0.0.1:1/hooks/x");
    expect(json).not.toContain("\n");
    expect(json).not.toContain('"command"');
  });
});

describe("parseHookEvent", () => {
  it("takes the event name and session id from a payload", () => {
    expect(parseHookEvent('{"hook_event_name":"Stop","session_id":"s1","x":1}')).toEqual({ name: "Stop", sessionId: "s1", payload: { hook_event_name: "Stop", session_id: "s1", x: 1 } });
  });
  it("ignores what is not a JSON object", () => {
    expect(parseHookEvent("not json")).toBeUndefined();
    expect(parseHookEvent("null")).toBeUndefined();
  });
});

/** POSTs `body` to `path` over loopback or a unix socket; resolves with the status. */
function post(target: { port: number } | { socketPath: string }, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...("port" in target ? { host: "127.0.0.1", port: target.port } : target), path, method: "POST", agent: false }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", reject);
    req.end(body);
  });
}

describe("HookEvents", () => {
  let hooks: HookEvents;
  let dir: string;
  let events: HookEvent[];
  let connections: HookConnection[];
  let fromClaude: boolean;

  beforeEach(async () => {
    hooks = new HookEvents(silentLogger());
    await hooks.listen();
    dir = mkdtempSync(join(tmpdir(), "cc-hooks-test-"));
    events = [];
    connections = [];
    fromClaude = true;
    hooks.open("t1", {
      onEvent: (e) => events.push(e),
      fromClaude: (c) => {
        connections.push(c);
        return fromClaude;
      },
    });
  });
  afterEach(async () => {
    await hooks.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  const port = () => Number(new URL(hooks.url("t1")).port);

  it("takes an event over loopback, asking whether the connection is claude's by its ports", async () => {
    expect(await post({ port: port() }, "/hooks/t1", '{"hook_event_name":"UserPromptSubmit","session_id":"s1"}')).toBe(200);
    expect(events.map((e) => [e.name, e.sessionId])).toEqual([["UserPromptSubmit", "s1"]]);
    expect(connections[0]!.localPort).toBe(port());
    expect(connections[0]!.remotePort).toBeGreaterThan(0);
  });

  it("refuses an event from a process other than claude (403) and reports nothing", async () => {
    fromClaude = false;
    expect(await post({ port: port() }, "/hooks/t1", '{"hook_event_name":"Stop","session_id":"forged"}')).toBe(403);
    expect(events).toEqual([]);
  });

  it("answers 404 for a task that is not open, and after it was closed", async () => {
    expect(await post({ port: port() }, "/hooks/other", '{"hook_event_name":"Stop"}')).toBe(404);
    hooks.close("t1");
    expect(await post({ port: port() }, "/hooks/t1", '{"hook_event_name":"Stop"}')).toBe(404);
    expect(events).toEqual([]);
  });

  it("a task's socket carries that task's events only", async () => {
    hooks.open("t2", { onEvent: () => expect.fail("t2 got an event through t1's socket"), fromClaude: () => true });
    const socketPath = join(dir, "hooks.sock");
    hooks.listenForTask("t1", socketPath);
    expect(await post({ socketPath }, "/hooks/t2", '{"hook_event_name":"Stop"}')).toBe(404);
    expect(await post({ socketPath }, "/hooks/t1", '{"hook_event_name":"Stop","session_id":"s2"}')).toBe(200);
    expect(events.map((e) => e.sessionId)).toEqual(["s2"]);
    // Through the socket there are no ports to go by: the channel checks the task's own network.
    expect(connections.at(-1)).toEqual({});
  });

  it("drops a body over 1 MiB with 413 and ignores one that is not JSON", async () => {
    expect(await post({ port: port() }, "/hooks/t1", "x".repeat(1024 * 1024 + 1))).toBe(413);
    expect(await post({ port: port() }, "/hooks/t1", "not json")).toBe(200);
    expect(events).toEqual([]);
  });
});
