// Answering permission prompts from the web UI, in a real Chromium, against a router and two workers as processes
// with the real claude and the scripted model. Tasks are started with agent.ask_permissions (the form's "Ask before
// running tools"); the scripted model asks for Bash calls that nothing pre-authorises, so claude asks the page.
// (claude runs read-only commands such as a bare `echo` without asking: each command here writes a file.) The
// README's screenshot of a prompt is taken here (UPDATE_SCREENSHOTS=1).
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { Phase } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { launchBrowser, screenshotPath, type TestBrowser } from "../helpers/browser.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const TOKEN = "web-permissions-token";
const WORKER_TOKEN = "web-permissions-worker-token";
const TASK_PAGE = (url: URL) => /^\/tasks\/[0-9A-Za-z_-]+$/.test(url.pathname) && url.pathname !== "/tasks/new";

const bash = (command: string, description: string) => ({ content: [{ type: "tool_use" as const, name: "Bash", input: { command, description } }] });
const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
const SCRIPT: Script = {
  conversations: [
    {
      match: "marker file",
      turns: [
        { content: [{ type: "text", text: "I'll write the marker file first." }, ...bash("echo allowed-by-the-page | tee marker.txt", "Write the marker file").content] },
        bash("touch second.txt", "Touch a second file"),
        text("finished allow"),
      ],
    },
    { match: "build directory", turns: [bash("rm -rf build", "Remove the build directory"), text("finished deny")] },
    { match: "two files", turns: [bash("echo first-always | tee one.txt", "First"), bash("echo second-always | tee two.txt", "Second"), text("finished always")] },
    { match: "nobody answers", turns: [bash("touch late.txt", "Wait for nobody"), text("finished timeout")] },
  ],
};

/** The tool results claude sent the model, by tool_use id, from its recorded requests. */
function toolResultsSent(model: ScriptedModel): { content: string; isError: boolean }[] {
  const out: { content: string; isError: boolean }[] = [];
  for (const req of model.mainRequests()) {
    for (const m of (req.body as { messages?: { content: unknown }[] }).messages ?? []) {
      if (!Array.isArray(m.content)) continue;
      for (const block of m.content as { type: string; content?: unknown; is_error?: boolean }[]) {
        if (block.type === "tool_result") out.push({ content: typeof block.content === "string" ? block.content : JSON.stringify(block.content), isError: block.is_error === true });
      }
    }
  }
  return out;
}

describe("permission prompts in the web UI", () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let workers: WorkerProcess[] = [];
  let client: Client<typeof RouterService>;
  let browser: TestBrowser;
  let context: BrowserContext;
  let page: Page;

  /** A second tab of the same session (its own stream), signed in. */
  async function newTab(): Promise<Page> {
    const tab = await context.newPage();
    await tab.addInitScript((token) => sessionStorage.setItem("claudecluster.token", token), TOKEN);
    return tab;
  }

  /** Starts a task from the form (asking before tools, as the form does by default); resolves with its id. */
  async function startFromForm(prompt: string): Promise<string> {
    await page.getByRole("link", { name: "New task" }).first().click();
    await page.getByLabel("Prompt", { exact: true }).fill(prompt);
    expect(await page.getByLabel("Ask before running tools").isChecked()).toBe(true);
    // The patient worker: the other one denies what is not answered within two seconds.
    await page.getByLabel("Worker labels").fill("patience=long");
    await page.getByRole("button", { name: "Start task" }).click();
    await page.waitForURL(TASK_PAGE);
    return decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
  }

  const prompt = (p: Page, command: string) => p.getByRole("article", { name: `claude asks to use Bash(${command})` });
  const settled = (p: Page, command: string) => p.locator(".permission.settled", { has: p.locator("code", { hasText: command }) });
  const hidden = (p: Page, value: boolean) =>
    p.evaluate(`Object.defineProperty(document, "hidden", { value: ${value}, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"))`);

  beforeAll(async () => {
    if (!existsSync(new URL("../../dist/web/bundle.json", import.meta.url))) throw new Error("dist/web is missing: run `npm run build` first");
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-web-permissions-")));
    model = await startModel(SCRIPT);
    router = await spawnRouterProcess({ PORT: "0", CC_TOKEN: TOKEN, CC_WORKER_TOKEN: WORKER_TOKEN, CC_HEARTBEAT_INTERVAL: "500ms" });
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }));
    const worker = (id: string, env: Record<string, string>) =>
      spawnWorkerProcess(id, {
        ...modelEnv(model),
        CC_ROUTER_URL: router.url,
        CC_WORKER_TOKEN: WORKER_TOKEN,
        CC_CLAUDE_HOME: join(root, "home"),
        CC_WORKSPACE_ROOT: join(root, id),
        CC_KILL_GRACE: "1s",
        ...env,
      });
    workers = await Promise.all([
      // One claude kept started for tasks that ask (what the form starts), so most tasks here skip claude's start.
      worker("perm-w1", { CC_LABELS: "patience=long", CC_WARM_POOL: "1", CC_WARM_PROFILE: '{"askPermissions":true}' }),
      worker("perm-w2", { CC_LABELS: "patience=short", CC_PERMISSION_TIMEOUT: "2s" }),
    ]);
    await until(async () => (await client.listWorkers({})).workers.length === 2);
    browser = await launchBrowser();
    context = await browser.context();
    page = await context.newPage();
    await page.goto(router.url);
    await page.getByLabel("Router token").fill(TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Tasks" }).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    for (const w of workers) w.child.kill("SIGTERM");
    router?.child.kill("SIGTERM");
    for (const w of workers) await w.exited;
    await router?.exited;
    await model?.close();
    if (root) {
      expect(await waitForNoProcessesUnder(root, 15_000)).toEqual([]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("shows the prompt as it arrives, again after a reload (even before the stream is back), and Allow runs the command; an answer another tab gave first is said so", async () => {
    const id = await startFromForm("Write a marker file, then touch a second one");
    const first = prompt(page, "echo allowed-by-the-page | tee marker.txt");
    await first.waitFor({ timeout: 30_000 });
    expect(await first.innerText()).toContain("Write the marker file");
    expect(await first.locator('pre.permission-code[data-language="bash"]').innerText()).toBe("echo allowed-by-the-page | tee marker.txt");
    expect(await first.innerText()).toMatch(/Denied in \d+m \d+s unless answered/);
    // Screen readers are told, once.
    expect(await page.locator("section.permissions > [role=status]").textContent()).toBe("claude asks to use Bash(echo allowed-by-the-page | tee marker.txt). Answer below.");
    expect((await client.getTask({ taskId: id })).phase).toBe(Phase.WAITING_FOR_APPROVAL);
    // The conversation says so at the tool call too.
    await page.locator("details.tool", { hasText: "tee marker.txt" }).locator(".tool-state", { hasText: "waiting for approval" }).waitFor();

    // Another tab: the task list says the task waits for approval, and its page shows the same request.
    const other = await newTab();
    await other.goto(router.url);
    await other.locator(`tr[data-task-id="${id}"] .phase`, { hasText: "waiting for approval" }).waitFor();
    await other.locator(`tr[data-task-id="${id}"] .phase`).click();
    await prompt(other, "echo allowed-by-the-page | tee marker.txt").waitFor();

    // A reload with the stream refused: the request is shown from the task's record alone. Once the stream is back
    // (its replay asks again), it is still shown once.
    await page.route("**/claudecluster.v1.RouterService/Attach", (route) => route.abort());
    await page.reload();
    await first.waitFor();
    await page.unroute("**/claudecluster.v1.RouterService/Attach");
    await page.getByRole("button", { name: "Retry now" }).click({ timeout: 2000 }).catch(() => undefined);
    await page.locator(".live-state", { hasText: "Live" }).waitFor({ timeout: 20_000 });
    await page.locator("details.tool", { hasText: "tee marker.txt" }).waitFor();
    expect(await page.locator(".permission").count()).toBe(1);

    // The other tab stops following (hidden) before the answer, so it still shows the request as waiting.
    await hidden(other, true);
    await other.getByText("Paused while the tab is hidden").waitFor();
    await first.getByRole("button", { name: "Allow", exact: true }).click();
    await settled(page, "tee marker.txt").getByText("Allowed by you").waitFor();
    // The command ran: its output is the tool's result in the transcript.
    const tool = page.locator("details.tool", { hasText: "tee marker.txt" });
    await tool.locator(".tool-state", { hasText: "done" }).waitFor();
    await tool.locator("summary").click();
    expect(await tool.locator(".tool-result").innerText()).toBe("allowed-by-the-page");

    // claude asks for its next call; the hidden tab answers the first one, already answered here.
    const second = prompt(page, "touch second.txt");
    await second.waitFor();
    await page.evaluate("window.scrollTo(0, 0)");
    await page.screenshot({ path: screenshotPath("permission", { readme: true }), fullPage: true });
    // At a phone's width the card fits: nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await page.screenshot({ path: screenshotPath("permission-phone"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 860 });
    const stale = prompt(other, "echo allowed-by-the-page | tee marker.txt");
    await stale.getByRole("button", { name: "Allow", exact: true }).click();
    await other.locator(".permission", { hasText: "tee marker.txt" }).getByText("Someone else answered first: allowed.").waitFor();
    // Shown again, the tab catches up: the first settled (not by this tab), the second waiting; it denies that one.
    await hidden(other, false);
    await settled(other, "tee marker.txt").getByText("Allowed", { exact: true }).waitFor();
    await prompt(other, "touch second.txt").getByRole("button", { name: "Deny" }).click();
    await settled(other, "touch second.txt").getByText("Denied by you").waitFor();
    await settled(page, "touch second.txt").getByText("Denied", { exact: true }).waitFor();
    await page.locator(".result-card").waitFor({ timeout: 30_000 });
    await until(async () => (await client.getTask({ taskId: id })).status === TaskStatus.SUCCEEDED);
    await other.close();
  });

  it("Deny with a message, from the keyboard: the model is sent the denial, and the command did not run", async () => {
    await startFromForm("Clean out the build directory");
    const card = prompt(page, "rm -rf build");
    await card.waitFor({ timeout: 30_000 });
    await card.getByLabel("Message to claude if you deny").focus();
    await page.keyboard.type("not on this machine");
    await page.keyboard.press("Enter");
    const line = settled(page, "rm -rf build");
    await line.getByText("Denied by you").waitFor();
    expect(await line.innerText()).toContain("claude was told: “not on this machine”");
    // The keyboard's focus went to the line that replaced the buttons.
    expect(await page.evaluate('document.activeElement?.closest(".permission")?.classList.contains("settled")')).toBe(true);
    await page.locator(".result-card").waitFor({ timeout: 30_000 });
    expect(toolResultsSent(model)).toContainEqual({ content: "not on this machine", isError: true });
    const tool = page.locator("details.tool", { hasText: "rm -rf build" });
    await tool.locator("summary").click();
    expect(await tool.locator(".tool-result").innerText()).toBe("not on this machine");
  });

  it("Always allow: the call runs, and the next Bash call is not asked about", async () => {
    await startFromForm("Write two files with echo");
    const card = prompt(page, "echo first-always | tee one.txt");
    await card.waitFor({ timeout: 30_000 });
    await card.getByRole("button", { name: "Always allow Bash" }).focus();
    await page.keyboard.press("Enter");
    const line = settled(page, "echo first-always");
    await line.getByText("Always allowed by you").waitFor();
    expect(await line.innerText()).toContain("claude may use Bash for the rest of the task without asking.");
    await page.locator(".result-card").waitFor({ timeout: 30_000 });
    // Both calls ran; only the first was asked about.
    await page.locator("details.tool.done", { hasText: "echo second-always" }).waitFor();
    await page.locator("details.tool.done", { hasText: "echo first-always" }).waitFor();
    expect(await page.locator(".permission").count()).toBe(1);
  });

  it("a request nobody answers shows that it timed out, and what claude was told", async () => {
    const run = client.run({ prompt: "Touch a file that nobody answers for", detach: true, labels: { patience: "short" }, agent: { askPermissions: true } })[Symbol.asyncIterator]();
    const id = (await run.next()).value!.taskId;
    await run.return?.(undefined);
    await page.goto(`${router.url}/tasks/${id}`);
    const line = settled(page, "touch late.txt");
    await line.getByText("Timed out, denied").waitFor({ timeout: 30_000 });
    expect(await line.innerText()).toContain("nobody answered this permission request within 2s");
    await page.locator(".result-card").waitFor({ timeout: 30_000 });
    expect(await page.getByRole("button", { name: "Allow", exact: true }).count()).toBe(0);
  });

  it("threw no script error and asked nothing of any other site", () => {
    expect(browser.errors).toEqual([]);
    const origin = new URL(router.url).origin;
    expect(browser.requests.filter((u) => !u.startsWith(origin) && !u.startsWith("data:"))).toEqual([]);
  });
});
