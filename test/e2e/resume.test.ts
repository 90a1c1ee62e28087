// --resume on the same worker, now that each task has a private HOME: the first task's transcript is kept when it
// ends, and a later task that resumes its session gets that transcript (and only that one) in its own HOME.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

describe("resuming a session on the same worker", () => {
  let model: ScriptedModel;
  let w: TestWorker;

  beforeAll(async () => {
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "text", text: "First: {{prompt}}" }] }, { content: [{ type: "text", text: "Second: {{prompt}}" }] }] }] });
    w = await startTestWorker({ ...modelEnv(model), CC_SANDBOX: "bwrap" });
  });
  afterAll(async () => {
    await w.close();
    await model.close();
  });

  it("a later task in another workspace continues the session: claude sends the earlier turns with the new prompt", async () => {
    const first = await collect(w.client.run({ prompt: "remember the word tangerine" }));
    const session = ofCase(first, "exited")[0]!.result!.sessionId;
    expect(session).toMatch(/^[0-9a-f-]{36}$/);

    model.clearRequests();
    const second = await collect(w.client.run({ prompt: "which word?", agent: { resumeSessionId: session } }));
    const exited = ofCase(second, "exited")[0]!;
    expect(exited).toMatchObject({ exitCode: 0, result: { result: "Second: which word?", sessionId: session } });
    // The two tasks had workspaces (and HOMEs) of their own.
    expect(ofCase(second, "started")[0]!.workspace).not.toBe(ofCase(first, "started")[0]!.workspace);
    const body = JSON.stringify(model.mainRequests()[0]!.body);
    expect(body).toContain("remember the word tangerine");
    expect(body).toContain("First: remember the word tangerine");
  });

  it("a session this worker never saw: claude says so, as it would anywhere", async () => {
    const events = await collect(w.client.run({ prompt: "x", agent: { resumeSessionId: "00000000-0000-4000-8000-000000000000" } }));
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.exitCode).not.toBe(0);
    const stderr = ofCase(events, "output").map((o) => Buffer.from(o.data).toString()).join("");
    expect(stderr + JSON.stringify(ofCase(events, "message").map((m) => m.json))).toMatch(/No conversation found/i);
  });
});
