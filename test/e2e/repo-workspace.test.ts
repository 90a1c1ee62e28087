// Repository workspaces for real: git clones over HTTPS from git's own http-backend (test/fixtures/git-https), a
// private repository whose token must arrive through git's credential helper, and the worker running the real
// claude in the clone. file:// and git:// are refused by design, so the server speaks HTTPS with a throwaway CA.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitReason, Phase, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { cloneRepository, type RepositorySpec } from "../../services/worker/repo-clone.js";
import { README_TEXT, startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { leftoverProcesses, processesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

let server: GitHttpsServer;
beforeAll(async () => {
  server = await startGitHttpsServer();
});
afterAll(async () => {
  await server?.close();
});

describe("cloneRepository over https", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  function freshDir(): string {
    const d = mkdtempSync(join(tmpdir(), "cc-clone-"));
    dirs.push(d);
    return d;
  }

  async function clone(spec: Partial<RepositorySpec> & { url: string }, extra: { signal?: AbortSignal; timeoutMs?: number } = {}) {
    const dir = freshDir();
    const progress: string[] = [];
    const result = await cloneRepository(
      { ref: "", token: "", ...spec },
      { dir, env: { PATH: process.env["PATH"], GIT_SSL_CAINFO: server.caFile }, timeoutMs: extra.timeoutMs ?? 30_000, signal: extra.signal ?? new AbortController().signal, onProgress: (l) => progress.push(l), progressIntervalMs: 0 },
    );
    return { dir, result, progress };
  }

  function failure(p: Promise<unknown>): Promise<ConnectError> {
    return p.then(
      () => {
        throw new Error("the clone succeeded");
      },
      (err: unknown) => err as ConnectError,
    );
  }

  const head = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", env: { PATH: process.env["PATH"], GIT_CONFIG_NOSYSTEM: "1", HOME: dir } }).trim();

  it("clones the default branch shallowly, with progress, and sends no credentials", async () => {
    const before = server.authorizations.length;
    const { dir, result, progress } = await clone({ url: `${server.url}/public.git` });
    expect(result.commit).toBe(server.commits.main);
    expect(readFileSync(join(dir, "README.md"), "utf8")).toBe(README_TEXT);
    expect(existsSync(join(dir, "FEATURE.md"))).toBe(false);
    expect(head(dir, "rev-parse", "--abbrev-ref", "HEAD")).toBe("main");
    expect(head(dir, "rev-parse", "--is-shallow-repository")).toBe("true");
    expect(head(dir, "tag")).toBe("");
    expect(progress.length).toBeGreaterThan(0);
    expect(server.authorizations.length).toBe(before);
  });

  it("clones a branch as a local branch", async () => {
    const { dir, result } = await clone({ url: `${server.url}/public.git`, ref: "feature" });
    expect(result.commit).toBe(server.commits.feature);
    expect(head(dir, "rev-parse", "--abbrev-ref", "HEAD")).toBe("feature");
  });

  it("clones a tag, detached", async () => {
    const { dir, result } = await clone({ url: `${server.url}/public.git`, ref: "v1" });
    expect(result.commit).toBe(server.commits.v1);
    expect(head(dir, "rev-parse", "--abbrev-ref", "HEAD")).toBe("HEAD");
  });

  it("fetches a full commit id, and a full ref name", async () => {
    const bySha = await clone({ url: `${server.url}/public.git`, ref: server.commits.feature });
    expect(bySha.result.commit).toBe(server.commits.feature);
    expect(existsSync(join(bySha.dir, "FEATURE.md"))).toBe(true);
    const byRef = await clone({ url: `${server.url}/public.git`, ref: "refs/heads/feature" });
    expect(byRef.result.commit).toBe(server.commits.feature);
  });

  it("an unknown branch fails with git's words, FAILED_PRECONDITION", async () => {
    const err = await failure(clone({ url: `${server.url}/public.git`, ref: "nope" }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe(`cloning ${server.url}/public.git at nope failed: Remote branch nope not found in upstream origin`);
  });

  it("a missing repository fails with git's words", async () => {
    const err = await failure(clone({ url: `${server.url}/missing.git` }));
    expect(err.rawMessage).toBe(`cloning ${server.url}/missing.git failed: repository '${server.url}/missing.git/' not found`);
  });

  it("a private repository: the token goes through the credential helper as Basic auth; without it the clone fails", async () => {
    const url = `${server.url}/private.git`;
    const { dir, result } = await clone({ url, token: server.token });
    expect(result.commit).toBe(server.commits.main);
    expect(readFileSync(join(dir, "README.md"), "utf8")).toBe(README_TEXT);
    expect(server.authorizations.at(-1)).toBe(`Basic ${Buffer.from(`x-access-token:${server.token}`).toString("base64")}`);
    // Nothing of the token is stored in the clone.
    expect(filesContaining(dir, server.token)).toEqual([]);

    const without = await failure(clone({ url }));
    expect(without.code).toBe(Code.FailedPrecondition);
    expect(without.rawMessage).toBe(`cloning ${url} failed: could not read Username for '${server.url}': terminal prompts disabled`);

    const wrong = await failure(clone({ url, token: "wrong-token-value" }));
    expect(wrong.rawMessage).toBe(`cloning ${url} failed: Authentication failed for '${url}/'`);
    expect(wrong.rawMessage).not.toContain("wrong-token-value");
  });

  it("git itself refuses file://, ext:: and git:// even past validation", async () => {
    const file = await failure(clone({ url: `file://${tmpdir()}` }));
    expect(file.rawMessage).toMatch(/failed: transport 'file' not allowed$/);
    const ext = await failure(clone({ url: "ext::sh -c touch% /tmp/cc-ext-pwned" }));
    expect(ext.rawMessage).toMatch(/failed: transport 'ext' not allowed$/);
    expect(existsSync("/tmp/cc-ext-pwned")).toBe(false);
    const gitProto = await failure(clone({ url: "git://127.0.0.1:1/r.git" }));
    expect(gitProto.rawMessage).toMatch(/failed: transport 'git' not allowed$/);
  });

  it("while git runs, the token is in its environment and in no process's argv; cancelling leaves no process", async () => {
    const abort = new AbortController();
    const dir = freshDir();
    const pending = failure(
      cloneRepository(
        { url: `${server.url}/slow.git`, ref: "", token: server.token },
        { dir, env: { PATH: process.env["PATH"], GIT_SSL_CAINFO: server.caFile }, timeoutMs: 30_000, signal: abort.signal },
      ),
    );
    await until(() => server.held() > 0 && processesUnder(dir).length >= 2);
    const pids = processesUnder(dir);
    for (const pid of pids) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      expect(argv, `argv of ${pid}`).not.toContain(server.token);
      expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")).toContain(`CC_GIT_TOKEN=${server.token}`);
    }
    expect(pids.map((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0])).toContain("git");
    abort.abort();
    const err = await pending;
    expect(err.code).toBe(Code.Canceled);
    expect(leftoverProcesses(dir)).toEqual([]);
  });

  it("times out", async () => {
    const err = await failure(clone({ url: `${server.url}/slow.git` }, { timeoutMs: 1000 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(err.rawMessage).toBe(`cloning ${server.url}/slow.git timed out after 1s (CC_CLONE_TIMEOUT)`);
  });
});

describe("worker with a repository workspace", () => {
  let model: ScriptedModel;
  let w: TestWorker;

  beforeAll(async () => {
    model = await startModel("hello");
    // GIT_SSL_CAINFO reaches git from the worker's environment (its CA list), as a corporate CA would.
    w = await startTestWorker({ ...modelEnv(model), GIT_SSL_CAINFO: server.caFile, CC_CLONE_TIMEOUT: "10m" });
  });
  afterAll(async () => {
    await w?.close();
    await model?.close();
  });

  const statuses = (events: RunEvent[]) => ofCase(events, "status").map((s) => `${Phase[s.phase]} ${s.detail}`);
  const taskDirs = () => (existsSync(join(w.workspaces, ".tasks")) ? readdirSync(join(w.workspaces, ".tasks")) : []);

  it("clones a private repository with its token, reports the clone as status events, then claude works in it", async () => {
    model.setScript({
      conversations: [
        {
          turns: [
            { content: [{ type: "tool_use", name: "Bash", input: { command: "cat README.md && git rev-parse HEAD", description: "Read the README" } }] },
            { content: [{ type: "text", text: "Read it." }] },
          ],
        },
      ],
    });
    const url = `${server.url}/private.git`;
    const events = await collect(
      w.client.run({ prompt: "what is the magic word?", agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "repository", value: { url, ref: "main", token: server.token } } } }),
    );
    const kinds = events.map((e) => e.event.case);
    const started = ofCase(events, "started")[0]!;
    // Status events come first, while claude is not running yet.
    expect(kinds.indexOf("started")).toBeGreaterThan(kinds.indexOf("status"));
    const before = statuses(events.slice(0, kinds.indexOf("started")));
    // The worker's acknowledgement, then the clone.
    expect(before[0]).toBe("STARTING accepted by worker test-worker");
    expect(before[1]).toBe(`STARTING cloning ${url} at main`);
    expect(before.at(-1)).toBe(`STARTING cloned ${url} at ${server.commits.main.slice(0, 12)}`);
    expect(started.workspace.startsWith(join(w.workspaces, ".tasks") + "/")).toBe(true);
    expect(readFileSync(join(started.workspace, "README.md"), "utf8")).toBe(README_TEXT);

    const results = ofCase(events, "message").flatMap((m) => (m.body.case === "user" ? m.body.value.content : []));
    const output = results.map((b) => (b.block.case === "toolResult" ? b.block.value.content : "")).join("\n");
    expect(output).toContain("The magic word is xylophone-42.");
    expect(output).toContain(server.commits.main);
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    // The token is nowhere in what the caller saw.
    expect(JSON.stringify(events, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(server.token);
  });

  it("a clone that fails ends the task with FAILED and git's reason; claude never starts and the directory is gone", async () => {
    const url = `${server.url}/private.git`;
    const requests = model.mainRequests().length;
    const events = await collect(w.client.run({ prompt: "hi", workspace: { source: { case: "repository", value: { url } } } }));
    // Accepted, cloning, then the end.
    expect(events.map((e) => e.event.case)).toEqual(["status", "status", "exited"]);
    const exited = ofCase(events, "exited")[0]!;
    expect(exited).toMatchObject({ reason: ExitReason.FAILED, exitCode: -1 });
    expect(exited.message).toBe(`cloning ${url} failed: could not read Username for '${server.url}': terminal prompts disabled`);
    expect(taskDirs()).not.toContain(events[0]!.taskId);
    expect(model.mainRequests().length).toBe(requests);
  });

  it("Cancel during the clone kills git, leaves no process and no directory, and says cancelled", async () => {
    const events: RunEvent[] = [];
    for await (const ev of w.client.run({ prompt: "hi", workspace: { source: { case: "repository", value: { url: `${server.url}/slow.git` } } } })) {
      events.push(ev);
      if (events.length === 2) {
        await until(() => server.held() > 0 && processesUnder(w.workspaces).length > 0);
        await w.client.cancel({ taskId: ev.taskId, reason: "test" });
        // Killed at once, not left to run into CC_CLONE_TIMEOUT (5 minutes, far past this test's timeout; the
        // exited message below says cancelled, not timed out). Cancel answers once the task has ended: nothing of it
        // is left.
        expect(leftoverProcesses(w.workspaces)).toEqual([]);
      }
    }
    expect(events.map((e) => e.event.case)).toEqual(["status", "status", "exited"]);
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.CANCELLED, message: "cancelled: test", exitCode: -1 });
    expect(taskDirs()).not.toContain(events[0]!.taskId);
    expect(w.worker.runner.activeCount).toBe(0);
  });

  it("refuses a file:// repository with INVALID_ARGUMENT before anything runs", async () => {
    const err = await collect(w.client.run({ prompt: "hi", workspace: { source: { case: "repository", value: { url: "file:///etc" } } } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe(
      'workspace.repository.url: uses the scheme "file://"; only https://host/path, ssh://[user@]host/path and scp-like user@host:path URLs are accepted',
    );
  });
});

/** Files under `dir` (the clone's .git included) whose bytes contain `text`. */
function filesContaining(dir: string, text: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => readFileSync(path).includes(text));
}
