// A task's changes in the web UI, in a real Chromium, against a router and a worker as processes with the real
// claude and the scripted model, and the project's HTTPS git server. A clone of its repository, with a commit of
// its own and an uncommitted edit, is uploaded through UploadWorkspace (as `cc run --upload --repo URL --push`
// does); claude (scripted) edits a file, creates one, deletes one and writes a binary; the worker pushes the task's
// branch. The page shows exactly those files with their counts, the patch with the edit, the push, and a download
// that is GetChanges' bytes. A task without a git workspace says so. The README's screenshot of the diff view is
// taken here (UPDATE_SCREENSHOTS=1).
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { ChangesFormat } from "../../gen/claudecluster/v1/transfer_pb.js";
import { prepareUpload, sendUpload } from "../../cli/lib/checkout/index.js";
import { bytes, DISPLAY_BYTES, DISPLAY_LINES } from "../../web/src/changes/summary.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { launchBrowser, screenshotPath, type TestBrowser } from "../helpers/browser.js";
import { checkout, gitUserEnv } from "../helpers/checkout.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const execFileAsync = promisify(execFile);
/** An element as the page shows it (this file is type-checked without the DOM's types). */
type Shown = { innerText: string };
const TOKEN = "web-changes-token";
const WORKER_TOKEN = "web-changes-worker-token";

const GREET = ["export function greet(name) {", '  return "Hello, " + name;', "}", "", "export function farewell(name) {", '  return "Bye, " + name;', "}", ""].join("\n");
// What claude does: an edit, a new file, a deletion and a binary file (then it waits at a gate the test opens, so
// the page is seen before the task ends). The new file holds markup, which the page must show as text.
const EDITS = [
  "sed -i 's/return \"Hello, \" + name;/return `Hello, ${name}!`;/' src/greet.js",
  "printf '\\nexport function shout(name) {\\n  return greet(name).toUpperCase();\\n}\\n' >> src/greet.js",
  "printf 'import { greet } from \"./greet.js\";\\n\\ndocument.body.innerHTML = \"<img src=x onerror=window.pwned=1>\" + greet(\"world\");\\n' > src/main.js",
  "rm docs/old-notes.md",
  "printf '\\211PNG\\r\\n\\032\\n\\000\\001\\002\\003' > logo.png",
].join(" && ");

describe("a task's changes in the web UI", () => {
  let model: ScriptedModel;
  let root: string;
  let gate: string;
  let server: GitHttpsServer;
  let router: RouterProcess;
  let worker: WorkerProcess;
  let client: Client<typeof RouterService>;
  let browser: TestBrowser;
  let context: BrowserContext;
  let page: Page;

  /** Submits a detached task and returns its id once the router accepted it. */
  async function startTask(request: MessageInitShape<typeof RunRequestSchema>): Promise<string> {
    for await (const event of client.run({ ...request, detach: true })) return event.taskId;
    throw new Error("the router ended the Run before the task was accepted");
  }

  const getChangesBytes = async (taskId: string) => {
    const chunks: Buffer[] = [];
    for await (const m of client.getChanges({ taskId, format: ChangesFormat.PATCH })) if (m.part.case === "data") chunks.push(Buffer.from(m.part.value));
    return Buffer.concat(chunks);
  };

  beforeAll(async () => {
    if (!existsSync(new URL("../../dist/web/bundle.json", import.meta.url))) throw new Error("dist/web is missing: run `npm run build` first");
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-web-changes-")));
    gate = join(root, "gate");
    const script: Script = {
      conversations: [
        {
          match: "tidy the greeting",
          turns: [
            { content: [{ type: "text", text: "I'll update the greeting, add an entry point and drop the stale notes." }, { type: "tool_use", name: "Bash", input: { command: `${EDITS} && while [ ! -e ${gate} ]; do sleep 0.1; done`, description: "Edit the project" } }] },
            { content: [{ type: "text", text: "Done: `greet` uses a template string, `shout` and `src/main.js` are new, and the old notes are gone." }] },
          ],
        },
        { match: "just answer", turns: [{ content: [{ type: "text", text: "Nothing to change here." }] }] },
        // A patch over the view's bounds: 200,000 lines (1.3 MB) in one new file.
        { match: "count to a lot", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "seq 1 200000 > big.txt", description: "Count" } }] }, { content: [{ type: "text", text: "Counted." }] }] },
      ],
    };
    model = await startModel(script);
    server = await startGitHttpsServer();
    router = await spawnRouterProcess({ PORT: "0", CC_TOKEN: TOKEN, CC_WORKER_TOKEN: WORKER_TOKEN, CC_HEARTBEAT_INTERVAL: "500ms" });
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }));
    worker = await spawnWorkerProcess("changes-w1", {
      ...modelEnv(model),
      CC_ROUTER_URL: router.url,
      CC_WORKER_TOKEN: WORKER_TOKEN,
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, "workspaces"),
      CC_KILL_GRACE: "1s",
      GIT_SSL_CAINFO: server.caFile,
    });
    await until(async () => (await client.listWorkers({})).workers.some((w) => w.health === WorkerHealth.ONLINE));
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
    worker?.child.kill("SIGTERM");
    router?.child.kill("SIGTERM");
    await Promise.all([worker?.exited, router?.exited]);
    await server?.close();
    await model?.close();
    if (root) {
      expect(await waitForNoProcessesUnder(root, 15_000)).toEqual([]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("shows what the task changed: exactly its files with their counts, the patch, the push; the download is GetChanges' bytes", async () => {
    // A clone of the server's repository, with a commit of its own (never pushed) and an uncommitted edit.
    const url = `${server.url}/public.git`;
    const userEnv = { ...gitUserEnv(join(root, "user-home")), GIT_SSL_CAINFO: server.caFile };
    const local = checkout(join(root, "clone"), userEnv);
    // Asynchronously: the git server answers from this process.
    await execFileAsync("git", ["clone", "--quiet", url, local.dir], { env: userEnv });
    local.write("src/greet.js", GREET);
    local.write("docs/old-notes.md", "# Old notes\n\nNothing here is true any more.\n");
    local.git("add", ".");
    local.git("commit", "--quiet", "-m", "greetings");
    local.write("README.md", `${readFileSync(join(local.dir, "README.md"), "utf8")}\nWork in progress.\n`);
    const prepared = await prepareUpload(local.dir, { originUrl: url });
    const upload = await sendUpload(client, prepared.header, prepared.file).finally(() => prepared.cleanup());
    const id = await startTask({
      prompt: "Please tidy the greeting module",
      agent: { allowedTools: ["Bash"] },
      workspace: { source: { case: "upload", value: { uploadId: upload.uploadId, origin: { url, ref: "main" } } }, push: {} },
    });

    // While it runs, the panel says when the changes come; then they come, without a reload.
    await page.goto(`${router.url}/tasks/${id}`);
    const panel = page.locator("section.changes");
    await panel.getByText("Recorded when the task ends").waitFor();
    writeFileSync(gate, "");
    await panel.locator("details.diff-file").first().waitFor({ timeout: 60_000 });
    const task = await client.getTask({ taskId: id });
    expect(task.status).toBe(TaskStatus.SUCCEEDED);
    const changes = task.exit!.changes!;

    // Exactly the files claude touched, with their counts (not the uploaded commit or the uncommitted README edit:
    // the task started from them).
    const rows = await panel.locator("table.changed-files tbody tr").evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => (td as unknown as Shown).innerText.trim()).filter((t) => t !== "")),
    );
    expect(rows).toEqual([
      ["deleted", "docs/old-notes.md", "+0 −3"],
      ["added", "logo.png", "binary, 12 B"],
      ["modified", "src/greet.js", "+5 −1"],
      ["added", "src/main.js", "+3 −0"],
    ]);
    expect(await panel.locator(".changes-headline p").innerText()).toBe("4 files changed · 8 insertions · 4 deletions");
    expect(await panel.locator(".changes-counts").innerText()).toBe("+8 −4");
    // Base and final commit, the branch, and the push to the server, which has the branch at that commit.
    const facts = await panel.locator("dl.changes-facts").innerText();
    expect(facts).toContain(changes.baseCommit.slice(0, 12));
    expect(facts).toContain(changes.finalCommit.slice(0, 12));
    expect(facts).toContain(`cc/${id}`);
    const push = changes.push!;
    expect(push.error).toBe("");
    expect(await panel.locator(".changes-note.pushed").innerText()).toBe(`Pushed to branch ${push.branch} of ${url} at ${push.commit.slice(0, 12)}`);
    expect(server.refsOf("public.git")[push.branch]).toBe(push.commit);
    // The task's page says so at the top too.
    expect(await page.locator("dl.facts").innerText()).toContain("4 files, +8 −4");

    // The patch, file by file: the edit with its line numbers, the markup in the new file as text.
    const greet = panel.locator('details.diff-file[data-path="src/greet.js"]');
    expect(await greet.locator("summary").innerText()).toMatch(/^modified\s+src\/greet\.js\s+\+5 −1$/);
    const lines = await greet.locator("tr.add, tr.del").evaluateAll((trs) =>
      trs.map((tr) => [tr.className, ...[...tr.querySelectorAll("td.ln")].map((td) => td.getAttribute("data-n")), (tr.querySelector("td.code") as unknown as Shown).innerText]),
    );
    expect(lines.slice(0, 2)).toEqual([
      ["del", "2", "", '-  return "Hello, " + name;'],
      ["add", "", "2", "+  return `Hello, ${name}!`;"],
    ]);
    expect(lines.slice(2).map((l) => l[3])).toEqual(["+", "+export function shout(name) {", "+  return greet(name).toUpperCase();", "+}"]);
    const main = panel.locator('details.diff-file[data-path="src/main.js"]');
    expect(await main.locator("td.code").allInnerTexts()).toContain('+document.body.innerHTML = "<img src=x onerror=window.pwned=1>" + greet("world");');
    expect(await panel.locator("img").count()).toBe(0);
    expect(await page.evaluate("window.pwned")).toBeUndefined();
    expect(await panel.locator('details.diff-file[data-path="logo.png"]').innerText()).toContain("Binary file: its bytes are in the downloaded patch");
    expect(await panel.locator('details.diff-file[data-path="docs/old-notes.md"] summary').innerText()).toMatch(/^deleted\s+docs\/old-notes\.md\s+\+0 −3$/);
    // Files collapse and open again.
    await greet.locator("summary").click();
    expect(await greet.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(false);
    await panel.getByRole("button", { name: "Expand all" }).click();
    expect(await greet.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(true);

    await page.evaluate("window.scrollTo(0, 0)");
    await page.screenshot({ path: screenshotPath("diff", { readme: true }), fullPage: true });
    // At a phone's width nothing but the code scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await page.screenshot({ path: screenshotPath("diff-phone"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 860 });

    // The download: a file named after the task whose bytes are GetChanges' patch.
    expect(await panel.locator(".download .help").innerText()).toBe(`cc-${id}.patch · ${bytes(changes.patchBytes)}`);
    const [download] = await Promise.all([page.waitForEvent("download"), panel.getByRole("button", { name: "Download patch" }).click()]);
    expect(download.suggestedFilename()).toBe(`cc-${id}.patch`);
    const saved = readFileSync((await download.path())!);
    const patch = await getChangesBytes(id);
    expect(saved.equals(patch)).toBe(true);
    expect(patch.length).toBe(Number(changes.patchBytes));
    await panel.getByText(`Saved as cc-${id}.patch.`).waitFor();
    expect(browser.errors).toEqual([]);
    expect(browser.requests.filter((r) => !r.startsWith(router.url) && !r.startsWith("blob:"))).toEqual([]);
  });

  it("a patch too large to draw is cut with a note, its big file starts collapsed, and the download is still whole", async () => {
    const id = await startTask({ prompt: "Please count to a lot", agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "repository", value: { url: `${server.url}/public.git` } } } });
    await until(async () => (await client.getTask({ taskId: id })).status === TaskStatus.SUCCEEDED, 60_000);
    const changes = (await client.getTask({ taskId: id })).exit!.changes!;
    expect(Number(changes.patchBytes)).toBeGreaterThan(DISPLAY_BYTES);
    await page.goto(`${router.url}/tasks/${id}`);
    const panel = page.locator("section.changes");
    const big = panel.locator('details.diff-file[data-path="big.txt"]');
    await big.waitFor();
    expect(await big.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(false);
    expect(await big.locator("summary").innerText()).toMatch(/^added\s+big\.txt\s+\+200000 −0\s+200,000 changed lines$/);
    expect(await panel.locator("p[role=note]").innerText()).toBe(`The patch is ${bytes(changes.patchBytes)}, so this shows its first 5,000 lines. Download the patch for all of it.`);
    await big.locator("summary").click();
    expect(await big.locator("tr.add").count()).toBe(DISPLAY_LINES);
    const lastRow = big.locator("tr.add").last();
    expect([await lastRow.locator("td.ln").nth(1).getAttribute("data-n"), await lastRow.locator("td.code").innerText()]).toEqual(["5000", "+5000"]);
    expect(await big.innerText()).toContain("The rest of this file is not shown here: download the patch.");
    // The view read only the first part; the download reads it all.
    const [download] = await Promise.all([page.waitForEvent("download"), panel.getByRole("button", { name: "Download patch" }).click()]);
    expect(readFileSync((await download.path())!).equals(await getChangesBytes(id))).toBe(true);
    expect(browser.errors).toEqual([]);
  });

  it("a task without a git workspace of its own says so plainly", async () => {
    const id = await startTask({ prompt: "just answer, please" });
    await until(async () => (await client.getTask({ taskId: id })).status === TaskStatus.SUCCEEDED);
    await page.goto(`${router.url}/tasks/${id}`);
    const panel = page.locator("section.changes");
    await panel.getByText("This task did not run in a git workspace of its own, so it has no recorded changes.").waitFor();
    expect(await panel.locator("button, table, details").count()).toBe(0);
    expect(await page.locator("dl.facts").innerText()).not.toContain("Changes");
    expect(browser.errors).toEqual([]);
  });
});
