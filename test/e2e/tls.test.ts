// TLS for self-hosting: a router and a worker serving TLS (CC_TLS_CERT/CC_TLS_KEY), the worker registering over
// https, the router calling it over https, and cc, curl (HTTP/1.1) and the health probe reaching the router.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { runCommand } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { selfSignedCertificate, type TestCertificate } from "../helpers/tls.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const PROBE = new URL("../../dist/services/common/healthcheck.js", import.meta.url).pathname;
const TOKEN = "tls-test-token";

describe("TLS", () => {
  let certificate: TestCertificate;
  let model: ScriptedModel;
  let router: RouterProcess;
  let worker: WorkerProcess;
  let routerUrl = "";

  beforeAll(async () => {
    certificate = selfSignedCertificate();
    model = await startModel("hello");
    // Each side trusts the other's certificate through Node's standard NODE_EXTRA_CA_CERTS.
    const tls = { CC_TLS_CERT: certificate.certPath, CC_TLS_KEY: certificate.keyPath, NODE_EXTRA_CA_CERTS: certificate.certPath };
    router = await spawnRouterProcess({ ...tls, CC_TOKEN: TOKEN, CC_WORKER_TOKEN: "tls-worker-token" });
    routerUrl = router.url.replace("http://127.0.0.1", "https://localhost");
    worker = await spawnWorkerProcess("tls-worker", { ...tls, CC_ROUTER_URL: routerUrl, CC_WORKER_TOKEN: "tls-worker-token", ...modelEnv(model) });
  });

  afterAll(async () => {
    worker?.child.kill("SIGTERM");
    router?.child.kill("SIGTERM");
    await Promise.all([worker?.exited, router?.exited]);
    await model?.close();
    rmSync(certificate.dir, { recursive: true, force: true });
  });

  it("cc runs a task through a TLS router to a TLS worker that registered over https", async () => {
    const env = { CC_TOKEN: TOKEN, NODE_EXTRA_CA_CERTS: certificate.certPath, NO_COLOR: "1" };
    let workers = await runCommand(process.execPath, [CC, "workers", "--router", routerUrl], env);
    for (let i = 0; i < 40 && !workers.stdout.includes("tls-worker"); i++) {
      await new Promise((r) => setTimeout(r, 250));
      workers = await runCommand(process.execPath, [CC, "workers", "--router", routerUrl], env);
    }
    expect(workers.stdout).toMatch(/tls-worker\s+online.*https:\/\/127\.0\.0\.1:\d+/);
    const run = await runCommand(process.execPath, [CC, "run", "--no-upload", "--router", routerUrl, "--output-format", "json", "say hello"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ is_error: false });
    expect(model.mainRequests().length).toBeGreaterThan(0);
  });

  it("a client that does not trust the certificate is told why", async () => {
    const run = await runCommand(process.execPath, [CC, "workers", "--router", routerUrl], { CC_TOKEN: TOKEN, NODE_EXTRA_CA_CERTS: "" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/certificate/i);
  });

  it("HTTP/1.1 clients (Connect JSON over curl) and the health probe reach the same TLS port", async () => {
    const curl = await runCommand("curl", [
      "-sS", "--cacert", certificate.certPath, "--http1.1", "-H", "content-type: application/json", "-H", `authorization: Bearer ${TOKEN}`,
      "-d", "{}", `${routerUrl}/claudecluster.v1.RouterService/ListWorkers`,
    ]);
    expect(curl.code, curl.stderr).toBe(0);
    expect(curl.stdout).toContain("tls-worker");
    const port = new URL(routerUrl).port;
    const probe = await runCommand(process.execPath, [PROBE], { PORT: port, CC_TLS_CERT: certificate.certPath });
    expect(probe.stdout.trim(), probe.stderr).toBe("SERVING");
    // A cleartext probe against a TLS port fails with a reason rather than hanging.
    const cleartext = await runCommand(process.execPath, [PROBE, `http://127.0.0.1:${port}`]);
    expect(cleartext.code).toBe(1);
  });
});
