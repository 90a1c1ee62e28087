// The warm pool with the real claude: a warm task gives the same events as a cold one, nothing of one task is seen
// by the next, a task whose options differ from the profile starts cold, and the pool refills and reports itself.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionDecision } from "../../gen/claudecluster/v1/permissions_pb.js";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { fixtureScript, modelEnv, startModel } from "../helpers/model.js";
import { leftoverProcesses } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

const SCRIPT: Script = {
  conversations: [
    { match: "make the file", turns: fixtureScript("write-file").conversations[0]!.turns },
    { match: "list the files", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "ls -A", description: "List" } }] }, { content: [{ type: "text", text: "Listed." }] }] },
    { turns: [{ content: [{ type: "text", text: "answer to {{prompt}}" }] }] },
  ],
};
const PROFILE = { allowedTools: ["Bash"] };

/** What a stream says, without what differs by nature between two runs (ids, times, pids, paths, durations). */
function shape(events: RunEvent[]): unknown[] {
  return events.map((e) => {
    const ev = e.event;
    if (ev.case === "message") {
      const body = ev.value.body;
      if (body.case === "result") return ["result", body.value.subtype, body.value.isError, body.value.result, body.value.numTurns];
      if (body.case === "assistant" || body.case === "user") return [body.case, JSON.stringify(body.value.content.map((c) => c.block.case))];
      return ["message", body.case, ev.value.type, ev.value.subtype];
    }
    if (ev.case === "status") return ["status", ev.value.phase];
    if (ev.case === "exited") return ["exited", ev.value.exitCode, ev.value.reason, ev.value.result?.result];
    if (ev.case === "started") return ["started", ev.value.mode];
    return [ev.case];
  });
}

describe("warm pool with the real claude", () => {
  let model: ScriptedModel;
  let warm: TestWorker;
  let cold: TestWorker;

  beforeAll(async () => {
    model = await startModel(SCRIPT);
    warm = await startTestWorker({ ...modelEnv(model), CC_WARM_POOL: "1", CC_WARM_PROFILE: JSON.stringify(PROFILE) });
    cold = await startTestWorker({ ...modelEnv(model) });
    await until(async () => (await warm.client.getInfo({})).warmPool?.ready === 1);
  });

  afterAll(async () => {
    await warm?.close();
    await cold?.close();
    await model?.close();
  });

  it("a warm task gives the same events as a cold one, and the pool counts the hit", async () => {
    const before = (await warm.client.getInfo({})).warmPool!;
    // Ready means claude answered the control protocol's initialize, not only that it was spawned.
    expect(before).toMatchObject({ ready: 1, starting: 0 });
    const fromWarm = await collect(warm.client.run({ prompt: "make the file", agent: PROFILE }));
    const fromCold = await collect(cold.client.run({ prompt: "make the file", agent: PROFILE }));
    expect(shape(fromWarm)).toEqual(shape(fromCold));
    expect(ofCase(fromWarm, "exited")[0]).toMatchObject({ exitCode: 0, result: { result: "Done." } });
    // The Bash tool ran in the task's own workspace.
    const workspace = ofCase(fromWarm, "started")[0]!.workspace;
    expect(existsSync(join(workspace, "out.txt"))).toBe(true);
    const after = (await warm.client.getInfo({})).warmPool!;
    // The replacement is counted once as ready or as starting, never both.
    expect(after.ready + after.starting).toBe(1);
    expect(after.hits).toBe(before.hits + 1n);
    expect(after.misses).toBe(before.misses);
    expect(after.profileArgs).toContain("--allowedTools=Bash");
    const metrics = await (await fetch(`${warm.url}/metrics`)).text();
    expect(metrics).toContain(`claudecluster_worker_warm_pool_tasks{result="hit"} ${after.hits}`);
    expect(metrics).toContain("claudecluster_worker_warm_pool_size 1");
  });

  it("the next task gets a fresh process and workspace: nothing of the previous task is there", async () => {
    await until(async () => (await warm.client.getInfo({})).warmPool?.ready === 1);
    const events = await collect(warm.client.run({ prompt: "list the files", agent: PROFILE }));
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.exitCode).toBe(0);
    // `ls -A` in the new workspace printed nothing: out.txt of the previous task is not there.
    const toolResults = ofCase(events, "message").flatMap((m) => (m.body.case === "user" ? m.body.value.content : []));
    const listing = toolResults.map((c) => (c.block.case === "toolResult" ? c.block.value.content : "")).join("");
    expect(listing).not.toContain("out.txt");
    expect(readdirSync(ofCase(events, "started")[0]!.workspace)).toEqual([]);
    // Two tasks, two claude sessions.
    const sessions = new Set(model.mainRequests().map((r) => r.headers["x-claude-code-session-id"]).filter(Boolean));
    expect(sessions.size).toBeGreaterThanOrEqual(2);
  });

  it("a task with other options, a chosen directory or variables of its own starts cold, and says so in the counts", async () => {
    await until(async () => (await warm.client.getInfo({})).warmPool?.ready === 1);
    const before = (await warm.client.getInfo({})).warmPool!;
    const other = await collect(warm.client.run({ prompt: "no tools for this one" }));
    expect(ofCase(other, "exited")[0]?.result?.result).toBe("answer to no tools for this one");
    const named = await collect(warm.client.run({ prompt: "in a named directory", agent: PROFILE, workspace: { source: { case: "directory", value: "named" } } }));
    expect(ofCase(named, "started")[0]!.workspace).toBe(join(warm.workspaces, "named"));
    // A warm claude was started with the worker's environment: a task with variables of its own needs a new one.
    const withEnv = await collect(warm.client.run({ prompt: "with a variable", agent: PROFILE, env: { TASK_VAR: "1" } }));
    expect(ofCase(withEnv, "exited")[0]?.exitCode).toBe(0);
    const after = (await warm.client.getInfo({})).warmPool!;
    expect(after.hits).toBe(before.hits);
    expect(after.misses).toBe(before.misses + 3n);
    // The warm process is still waiting for a task that matches.
    expect(after.ready).toBe(1);
  });

  it("a cancelled warm task ends its claude, and shutdown ends the waiting one", async () => {
    await until(async () => (await warm.client.getInfo({})).warmPool?.ready === 1);
    const events: RunEvent[] = [];
    for await (const ev of warm.client.run({ prompt: "make the file", agent: PROFILE })) {
      events.push(ev);
      if (ev.event.case === "started") await warm.client.cancel({ taskId: ev.taskId, reason: "changed my mind" });
    }
    expect(ofCase(events, "exited")[0]?.message).toContain("changed my mind");
    expect(leftoverProcesses(ofCase(events, "started")[0]!.workspace)).toEqual([]);
    // The waiting replacement lives under the same workspace root: the worker's close() in afterAll fails if
    // shutdown leaves it (or anything else) running there.
  });
});

describe("warm pool whose profile asks for permissions", () => {
  let model: ScriptedModel;
  let w: TestWorker;
  const ASKING = { askPermissions: true };

  beforeAll(async () => {
    model = await startModel(SCRIPT);
    w = await startTestWorker({ ...modelEnv(model), CC_WARM_POOL: "1", CC_WARM_PROFILE: JSON.stringify(ASKING) });
    await until(async () => (await w.client.getInfo({})).warmPool?.ready === 1);
  });

  afterAll(async () => {
    await w?.close();
    await model?.close();
  });

  it("a warm process relays the prompt and takes the answer: stdin stays open until claude's result", async () => {
    const info = (await w.client.getInfo({})).warmPool!;
    expect(info.profileArgs).toContain("--permission-prompt-tool=stdio");
    const events: RunEvent[] = [];
    for await (const event of w.client.run({ prompt: "make the file", agent: ASKING })) {
      events.push(event);
      if (event.event.case === "permissionRequest") await w.client.answerPermission({ taskId: event.taskId, requestId: event.event.value.requestId, decision: PermissionDecision.ALLOW });
    }
    expect((await w.client.getInfo({})).warmPool!.hits).toBe(info.hits + 1n);
    expect(ofCase(events, "permissionRequest").map((r) => r.summary)).toEqual(["Bash(echo hi > out.txt)"]);
    expect(readFileSync(join(ofCase(events, "started")[0]!.workspace, "out.txt"), "utf8")).toBe("hi\n");
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0, result: { result: "Done." } });
  });
});
