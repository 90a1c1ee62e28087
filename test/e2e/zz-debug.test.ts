import { it } from "vitest";
import { Phase, RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { startTestWorker } from "../helpers/worker.js";
it("debug", async () => {
  const cmd = process.env["DEBUG_CMD"]!;
  const model = await startModel({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "{{prompt}}", description: "x" } }] }, { content: [{ type: "text", text: "ok" }] }] }] });
  const w = await startTestWorker({ ...modelEnv(model), ...(process.env["DEBUG_SANDBOX"] ? { CC_SANDBOX: process.env["DEBUG_SANDBOX"] } : {}) });
  let screen = "";
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 20000);
  try {
    for await (const ev of w.client.run({ prompt: cmd, mode: RunMode.INTERACTIVE, agent: { allowedTools: ["Bash"], ...(process.env["DEBUG_MODE"] ? { permissionMode: process.env["DEBUG_MODE"] } : {}) } }, { signal: ac.signal })) {
      if (ev.event.case === "output") screen += Buffer.from(ev.event.value.data).toString();
      if (ev.event.case === "status") console.log("STATUS", Phase[ev.event.value.phase]);
      if (ev.event.case === "status" && ev.event.value.phase === Phase.WAITING_FOR_INPUT) await w.client.sendInput({ taskId: ev.taskId, input: { case: "text", value: "/exit\r" } });
    }
  } catch (e) { console.log("ERR", String(e)); }
  clearTimeout(timer);
  console.log("SCREEN>>>" + screen.replace(/\x1b\[[0-9;?<>=]*[ -/]*[@-~]/g, "").slice(-1500) + "<<<");
  console.log("REQS", model.mainRequests().length, JSON.stringify(model.mainRequests().at(-1)?.body).match(/tool_result.{0,200}/)?.[0]);
  await w.close(); await model.close();
}, 60000);
