// Egress policies with the real claude in the sandbox: a local HTTP server stands in for the internet. A task's curl
// to it fails when the allowlist leaves it out (and the blocked event names the host), succeeds when the allowlist
// names it, and nothing gets past the proxy by another road; under `none` the model API still works. A task may
// narrow its worker's policy, never widen it.
import { lookup } from "node:dns/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EgressMode } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { toolResults } from "../helpers/tool-results.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

const ATTACK = "# reach";
const SCRIPT: Script = {
  conversations: [
    { match: ATTACK, turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "{{prompt}}", description: "Reach out" } }] }, { content: [{ type: "text", text: "Reached." }] }] },
  ],
};
const AGENT = { allowedTools: ["Bash"] };

describe("egress policies, enforced for claude and everything it starts", () => {
  let model: ScriptedModel;
  let server: http.Server;
  /** The test server as a task names it: this machine's host name (not loopback, which is the sandbox's own). */
  let host: string;
  let port: number;
  const workers: TestWorker[] = [];
  let attacks = 0;

  beforeAll(async () => {
    model = await startModel(SCRIPT);
    host = hostname();
    // Listen where the host name leads, whatever this machine maps it to.
    const { address } = await lookup(host);
    server = http.createServer((req, res) => res.end(`hello from the test server, ${req.url}\n`));
    await new Promise<void>((resolve) => server.listen(0, address, resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const w of workers) await w.close();
    server.close();
    await model.close();
  });

  async function worker(egress: string): Promise<TestWorker> {
    const w = await startTestWorker({ ...modelEnv(model), CC_SANDBOX: "bwrap", CC_EGRESS: egress });
    workers.push(w);
    return w;
  }

  /** Runs `command` as the task's Bash call; returns the events and the tool result claude got back. */
  async function reach(w: TestWorker, command: string, egress?: { mode: EgressMode; allow?: string[] }) {
    const marker = `${ATTACK}-${++attacks}`;
    const events = await collect(w.client.run({ prompt: `${command} ${marker}`, agent: AGENT, ...(egress ? { egress } : {}) }));
    return { events, result: toolResults(model, marker)[0] ?? "", exited: ofCase(events, "exited")[0]! };
  }

  const url = () => `http://${host}:${port}/hello`;

  it("an allowlist without the server: curl fails, the blocked event names the host, /metrics counts it", async () => {
    const w = await worker("@package-registries");
    expect((await w.client.getInfo({})).egress).toMatchObject({ mode: EgressMode.ALLOWLIST, allow: ["@package-registries"] });
    const { events, result, exited } = await reach(w, `curl -sSf -m 10 ${url()}`);
    expect(exited.exitCode).toBe(0);
    expect(result).toMatch(/curl: \(22\) The requested URL returned error: 403/);
    expect(result).not.toContain("hello from the test server");
    const blocked = ofCase(events, "blocked");
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatchObject({ host: host.toLowerCase(), port, reason: `${host.toLowerCase()}:${port} is not in the task's egress allowlist` });
    expect(blocked[0]!.command).toMatch(/^curl -sSf -m 10 http/);
    const metrics = await (await fetch(`${w.url}/metrics`)).text();
    expect(metrics).toContain("claudecluster_worker_egress_blocked_total 1");
    expect(metrics).toContain('claudecluster_worker_sandbox{kind="bwrap"} 1');
  });

  it("nothing gets past the proxy by another road: no route out, no name service, a tunnel refused too", async () => {
    const w = workers[0]!;
    const { address } = await lookup(host);
    const { result, events } = await reach(
      w,
      [
        `curl -sS -m 5 --noproxy '*' http://${address}:${port}/ 2>&1 | head -1`,
        `curl -sS -m 5 --noproxy '*' http://example.com/ 2>&1 | head -1`,
        // https goes through CONNECT, which the allowlist refuses just the same.
        `curl -sS -m 5 https://${host}:${port}/ 2>&1 | head -1`,
      ].join("; "),
    );
    const lines = result.trim().split("\n");
    expect(lines[0]).toMatch(/Failed to connect|Couldn't connect|Network is unreachable|Connection refused/);
    expect(lines[1]).toMatch(/Could not resolve host|Failed to connect|Couldn't connect/);
    expect(lines[2]).toMatch(/CONNECT tunnel failed, response 403|403/);
    expect(ofCase(events, "blocked").map((b) => b.port)).toEqual([port]);
  });

  it("an allowlist that names the server: curl succeeds", async () => {
    const w = await worker(`${host}:${port},@git-hosts`);
    const { result, events } = await reach(w, `curl -sSf -m 10 ${url()}`);
    expect(result).toContain("hello from the test server, /hello");
    expect(ofCase(events, "blocked")).toEqual([]);
  });

  it("a task narrows its worker's policy: none blocks the server, and the model API still works", async () => {
    const w = workers[1]!;
    const { result, events, exited } = await reach(w, `curl -sSf -m 10 ${url()}`, { mode: EgressMode.NONE });
    expect(exited).toMatchObject({ exitCode: 0, result: { result: "Reached." } });
    expect(result).toMatch(/403/);
    expect(ofCase(events, "blocked")[0]).toMatchObject({ host: host.toLowerCase(), reason: "the task's egress policy is none" });
  });

  it("a task cannot widen its worker's policy: PERMISSION_DENIED, saying what the worker allows", async () => {
    const w = workers[1]!;
    for (const egress of [{ mode: EgressMode.OPEN }, { mode: EgressMode.ALLOWLIST, allow: ["evil.example"] }]) {
      const err = await collect(w.client.run({ prompt: "x", egress })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.PermissionDenied);
      expect((err as ConnectError).rawMessage).toMatch(/^egress: .*this worker's egress policy/);
    }
  });

  it("CC_EGRESS=none: every connection refused, and the model API works through the credential proxy", async () => {
    const w = await worker("none");
    const { exited, events } = await reach(w, `curl -sS -m 10 ${url()}; curl -sS -m 10 https://registry.npmjs.org/ 2>&1 | head -1`);
    expect(exited).toMatchObject({ exitCode: 0, result: { result: "Reached." } });
    expect(ofCase(events, "blocked").map((b) => b.host)).toEqual([host.toLowerCase(), "registry.npmjs.org"]);
  });
});
