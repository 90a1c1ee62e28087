// The web UI signed in as a `user` of CC_TOKENS_FILE, in a real Chromium against a router and a worker as
// processes, the real claude and the scripted model: the task list holds only the user's own tasks, and another
// user's task, opened by its URL, is "No such task" exactly as an unknown id.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { launchBrowser, type TestBrowser } from "../helpers/browser.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const TOKENS = { alice: "web-alice-token", bob: "web-bob-token" };
const WORKER_TOKEN = "web-teams-worker-token";
const sha = (t: string) => `sha256:${createHash("sha256").update(t).digest("hex")}`;

describe("the web UI for a user", () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let worker: WorkerProcess;
  let browser: TestBrowser;
  let page: Page;
  const as = (token: string): Client<typeof RouterService> =>
    createClient(RouterService, createGrpcTransport({ baseUrl: router.url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] }));
  const run = async (token: string, prompt: string) => {
    let id = "";
    for await (const e of as(token).run({ prompt })) id ||= e.taskId;
    return id;
  };

  beforeAll(async () => {
    if (!existsSync(new URL("../../dist/web/bundle.json", import.meta.url))) throw new Error("dist/web is missing: run `npm run build` first");
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-web-teams-")));
    writeFileSync(join(root, "tokens"), `alice user ${sha(TOKENS.alice)}\nbob user ${sha(TOKENS.bob)}\n`);
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "text", text: "Answer to {{prompt}}" }] }] }] });
    router = await spawnRouterProcess({ CC_TOKENS_FILE: join(root, "tokens"), CC_WORKER_TOKEN: WORKER_TOKEN, CC_HEARTBEAT_INTERVAL: "500ms" });
    worker = await spawnWorkerProcess("web-teams-w1", {
      ...modelEnv(model),
      CC_ROUTER_URL: router.url,
      CC_WORKER_TOKEN: WORKER_TOKEN,
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, "ws"),
      CC_KILL_GRACE: "1s",
    });
    await until(async () => (await as(TOKENS.alice).listWorkers({})).workers.some((w) => w.id === "web-teams-w1"));
    browser = await launchBrowser();
    page = await (await browser.context()).newPage();
  });

  afterAll(async () => {
    await browser?.close();
    worker?.child.kill("SIGTERM");
    router?.child.kill("SIGTERM");
    await worker?.exited;
    await router?.exited;
    await model?.close();
    if (root) {
      expect(await waitForNoProcessesUnder(root, 15_000)).toEqual([]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("lists only the user's own tasks; another's task by its URL is No such task", async () => {
    const mine = await run(TOKENS.alice, "alice's question");
    const theirs = await run(TOKENS.bob, "bob's question");
    await page.goto(router.url);
    await page.getByLabel("Router token").fill(TOKENS.alice);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Tasks" }).waitFor();
    await page.getByText("alice's question").first().waitFor();
    const list = await page.locator("main").innerText();
    expect(list).not.toContain("bob's question");
    expect(list).not.toContain(theirs);

    await page.goto(`${router.url}/tasks/${mine}`);
    await page.getByText("Answer to alice's question").first().waitFor();
    await page.goto(`${router.url}/tasks/${theirs}`);
    await page.getByRole("heading", { name: "No such task" }).waitFor();
    expect(await page.getByRole("alert").innerText()).toContain(`The router has no task ${theirs}`);
    expect(await page.locator("main").innerText()).not.toContain("bob's question");
  });
});
