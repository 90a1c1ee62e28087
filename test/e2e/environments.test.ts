// Environments for real: a repository on the local HTTPS git server whose `.claudecluster/environment.yaml` setup
// installs a local npm package (no network) and writes a marker, run by a real worker in bubblewrap with the real
// claude and the scripted model. The first task sets up, the next starts from the snapshot (maintenance, no setup),
// a change to the environment file invalidates it, setup secrets never reach claude's Bash, and a failing, slow or
// too-large setup ends its task with the reason and leaves no snapshot. Setup's npm and node are the system's
// (/usr/bin, scripts/system-packages.txt): the sandbox shows /usr, not the project's node_modules.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitReason, Phase, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { prepareUpload, sendUpload } from "../../cli/lib/checkout/index.js";
import { leftoverProcesses } from "../helpers/processes.js";
import { toolResults } from "../helpers/tool-results.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

const SECRET = "setup-only-Secret-9c1e";
/** A repository of the test's own on the git server, with a work tree to commit from. */
let server: GitHttpsServer;
let work: string;
let url: string;

const ENVIRONMENT = `# The test repository's environment.
setup: |
  echo "installing greeting"
  npm install --offline --no-audit --no-fund --no-save ./vendor/greeting-1.0.0.tgz
  printf 'secret-length=%s\\n' "\${#SETUP_TOKEN}" > .setup-marker
  echo "set up at $(date +%s%N)" >> .setup-marker
maintenance: |
  echo "maintained" >> .maintenance-log
env:
  GREETING_MODE: loud
secrets: [SETUP_TOKEN]
lockfiles: [package.json]
cache:
  ttl: 1h
`;

function git(...args: string[]): string {
  return execFileSync("git", args, {
    cwd: work,
    env: { PATH: process.env["PATH"], HOME: work, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "T", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "T", GIT_COMMITTER_EMAIL: "t@example.com" },
    encoding: "utf8",
  }).trim();
}

/** Commits `files` on `branch` (from main) and pushes it to the server. */
function commitBranch(branch: string, files: Record<string, string>): void {
  git("checkout", "--quiet", "-B", branch, "main");
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), content);
  }
  git("add", "-A");
  git("commit", "--quiet", "-m", `${branch}: ${Object.keys(files).join(", ")}`);
  git("push", "--quiet", "--force", bare(), `${branch}:${branch}`);
  git("checkout", "--quiet", "main");
}

const bare = () => join(dirname(server.repoDir("public.git")), "env.git");

beforeAll(async () => {
  server = await startGitHttpsServer();
  work = mkdtempSync(join(tmpdir(), "cc-env-repo-"));
  execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", bare()]);
  git("init", "--quiet", "--initial-branch=main");
  // The dependency: a package tarball in the repository, installed by setup without the network.
  const pkg = join(work, "pkgsrc", "package");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "greeting", version: "1.0.0", main: "index.js" }));
  writeFileSync(join(pkg, "index.js"), "module.exports = () => 'hello from the greeting package';\n");
  mkdirSync(join(work, "vendor"));
  execFileSync("tar", ["-czf", join(work, "vendor", "greeting-1.0.0.tgz"), "-C", join(work, "pkgsrc"), "package"]);
  rmSync(join(work, "pkgsrc"), { recursive: true });
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "env-fixture", version: "0.0.0", private: true }));
  writeFileSync(join(work, ".gitignore"), "node_modules/\n.setup-marker\n.maintenance-log\n");
  mkdirSync(join(work, ".claudecluster"));
  writeFileSync(join(work, ".claudecluster", "environment.yaml"), ENVIRONMENT);
  git("add", "-A");
  git("commit", "--quiet", "-m", "an environment");
  git("push", "--quiet", bare(), "main:main");
  url = `${server.url}/env.git`;
});
afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a repository with an environment file", () => {
  let model: ScriptedModel;
  let w: TestWorker;

  beforeAll(async () => {
    model = await startModel({ conversations: [] });
    w = await startTestWorker({
      ...modelEnv(model),
      GIT_SSL_CAINFO: server.caFile,
      CC_SANDBOX: "bwrap",
      // Tests that read shell output pin bash.
      SHELL: "/bin/bash",
      CC_ENV_CACHE_BYTES: "3000000",
      CC_ENV_SETUP_TIMEOUT: "2m",
    });
    expect((await w.client.getInfo({})).sandbox).toBe("bwrap");
  });
  afterAll(async () => {
    await w?.close();
    await model?.close();
  });

  const statuses = (events: RunEvent[]) => ofCase(events, "status").map((s) => `${Phase[s.phase]} ${s.detail}`);
  const cacheDir = () => join(w.workspaces, ".environments", "test-worker");
  const snapshots = () => (existsSync(cacheDir()) ? readdirSync(cacheDir()).filter((n) => !n.startsWith(".")) : []);
  const taskDirs = () => (existsSync(join(w.workspaces, ".tasks")) ? readdirSync(join(w.workspaces, ".tasks")) : []);

  /** A task on the repository whose claude runs one Bash command; its events and that command's output. */
  async function task(marker: string, options: { ref?: string; noCache?: boolean; secrets?: Record<string, string> } = {}) {
    model.setScript({
      conversations: [
        {
          match: marker,
          turns: [
            {
              content: [
                {
                  type: "tool_use",
                  name: "Bash",
                  input: {
                    command: `cat .setup-marker; cat .maintenance-log 2>/dev/null; node -e "console.log(require('greeting')())"; echo "token=[\${SETUP_TOKEN:-}] mode=$GREETING_MODE"; env | grep -c SETUP_TOKEN || true`,
                    description: "Look at the environment",
                  },
                },
              ],
            },
            { content: [{ type: "text", text: "Looked." }] },
          ],
        },
      ],
    });
    const events = await collect(
      w.client.run({
        prompt: `${marker}: look around`,
        agent: { allowedTools: ["Bash"] },
        workspace: { source: { case: "repository", value: { url, ref: options.ref ?? "main" } } },
        noCache: options.noCache ?? false,
        setupSecrets: options.secrets ?? { SETUP_TOKEN: SECRET },
      }),
    );
    return { events, output: toolResults(model, marker).join("\n"), exited: ofCase(events, "exited")[0]! };
  }

  let firstMarker = "";

  it("the first task runs setup in its sandbox, streamed as SETTING_UP status events, then claude; setup's secret never reaches claude", async () => {
    const { events, output, exited } = await task("env task one");
    expect(exited, exited.message).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    const kinds = events.map((e) => e.event.case);
    const before = statuses(events.slice(0, kinds.indexOf("started")));
    expect(before).toContain("SETTING_UP running the setup script");
    expect(before).toContain("SETTING_UP installing greeting");
    expect(before.at(-1)).toMatch(/^SETTING_UP setup done; kept as snapshot [0-9a-f]{12}$/);
    // The package setup installed, its marker, the file's variables: all there for claude.
    expect(output).toContain("hello from the greeting package");
    expect(output).toContain(`secret-length=${SECRET.length}`);
    expect(output).toContain("mode=loud");
    // Setup had the secret (its length is in the marker); claude's Bash has neither the variable nor its value.
    expect(output).toContain("token=[]");
    expect(output).toMatch(/token=\[\] mode=loud\n0/);
    expect(output).not.toContain(SECRET);
    expect(JSON.stringify(events, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(SECRET);
    expect(snapshots()).toHaveLength(1);
    firstMarker = /set up at \d+/.exec(output)![0];
  });

  it("the second task starts from the snapshot: no setup, the marker is there, the maintenance script ran", async () => {
    const { events, output, exited } = await task("env task two");
    expect(exited, exited.message).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    const all = statuses(events);
    expect(all.some((s) => s.startsWith("SETTING_UP restoring snapshot "))).toBe(true);
    expect(all).toContain("SETTING_UP running the maintenance script");
    expect(all.filter((s) => s.includes("setup script") || s.includes("installing greeting"))).toEqual([]);
    // The very marker the first task's setup wrote, and the package it installed.
    expect(output).toContain(firstMarker);
    expect(output).toContain("maintained");
    expect(output).toContain("hello from the greeting package");
    expect(output).toContain("token=[]");
    expect(snapshots()).toHaveLength(1);
  });

  it("--no-cache runs setup afresh and replaces the snapshot", async () => {
    const { events, output, exited } = await task("env task three", { noCache: true });
    expect(exited, exited.message).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    expect(statuses(events)).toContain("SETTING_UP running the setup script (the cache is skipped: --no-cache)");
    expect(output).not.toContain(firstMarker);
    expect(output).not.toContain("maintained");
    expect(snapshots()).toHaveLength(1);
  });

  it("a change to the environment file invalidates the snapshot: the task on it runs setup again", async () => {
    commitBranch("changed", { ".claudecluster/environment.yaml": `${ENVIRONMENT}# changed\n` });
    const { events, output, exited } = await task("env task four", { ref: "changed" });
    expect(exited, exited.message).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    expect(statuses(events)).toContain("SETTING_UP running the setup script");
    expect(output).not.toContain("maintained");
    expect(snapshots()).toHaveLength(2);
  });

  it("a failing setup ends the task with its exit code and its last lines; claude never starts; no snapshot, no workspace", async () => {
    commitBranch("fails", { ".claudecluster/environment.yaml": 'setup: |\n  echo "about to fail"\n  exit 3\n  echo "never"\n' });
    const requests = model.mainRequests().length;
    const { events, exited } = await task("env task fails", { ref: "fails", secrets: {} });
    expect(exited).toMatchObject({ reason: ExitReason.FAILED, exitCode: 3 });
    expect(exited.message).toBe("the setup script of .claudecluster/environment.yaml failed with exit code 3; its last lines:\nabout to fail");
    expect(events.map((e) => e.event.case)).not.toContain("started");
    expect(model.mainRequests().length).toBe(requests);
    expect(snapshots()).toHaveLength(2);
    expect(taskDirs()).not.toContain(events[0]!.taskId);
  });

  it("a setup secret the script prints is redacted from the status events and from the end message", async () => {
    commitBranch("leaky", { ".claudecluster/environment.yaml": 'secrets: [SETUP_TOKEN]\nsetup: |\n  echo "the token is $SETUP_TOKEN"\n  exit 4\n' });
    const { events, exited } = await task("env task leaky", { ref: "leaky" });
    expect(exited).toMatchObject({ reason: ExitReason.FAILED, exitCode: 4 });
    expect(exited.message).toMatch(/^the setup script of \.claudecluster\/environment\.yaml failed with exit code 4; its last lines:\nthe token is (?!setup-only)\S+$/);
    expect(statuses(events).some((s) => s.startsWith("SETTING_UP the token is "))).toBe(true);
    expect(JSON.stringify(events, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(SECRET);
  });

  it("a setup past its setup_timeout ends the task, killed, with no snapshot", async () => {
    commitBranch("slow", { ".claudecluster/environment.yaml": 'setup_timeout: 2s\nsetup: |\n  echo "waiting"\n  sleep 120\n' });
    const { events, exited } = await task("env task slow", { ref: "slow", secrets: {} });
    expect(exited).toMatchObject({ reason: ExitReason.FAILED, exitCode: -1 });
    expect(exited.message).toBe("the setup script of .claudecluster/environment.yaml timed out after 2s (its setup_timeout, at most the worker's CC_ENV_SETUP_TIMEOUT); its last lines:\nwaiting");
    expect(snapshots()).toHaveLength(2);
    expect(taskDirs()).not.toContain(events[0]!.taskId);
  });

  it("a setup that fills the disk bound (CC_ENV_CACHE_BYTES) is stopped and ends the task, with no snapshot", async () => {
    commitBranch("big", { ".claudecluster/environment.yaml": 'setup: |\n  echo "filling"\n  head -c 4000000 /dev/zero > big.bin\n  sleep 120\n' });
    const { events, exited } = await task("env task big", { ref: "big", secrets: {} });
    expect(exited).toMatchObject({ reason: ExitReason.FAILED, exitCode: -1 });
    expect(exited.message).toMatch(/^the setup script of \.claudecluster\/environment\.yaml was stopped: the workspace grew to \d+ bytes, more than the worker's CC_ENV_CACHE_BYTES \(3000000\); its last lines:\nfilling$/);
    expect(snapshots()).toHaveLength(2);
    expect(taskDirs()).not.toContain(events[0]!.taskId);
  });

  it("Cancel during setup kills the script at once: CANCELLED, no process, no workspace, no snapshot", async () => {
    commitBranch("hangs", { ".claudecluster/environment.yaml": 'setup: |\n  echo "setup is running"\n  sleep 120\n' });
    const events: RunEvent[] = [];
    for await (const ev of w.client.run({ prompt: "env task hangs", workspace: { source: { case: "repository", value: { url, ref: "hangs" } } } })) {
      events.push(ev);
      if (ev.event.case === "status" && ev.event.value.detail === "setup is running") {
        await w.client.cancel({ taskId: ev.taskId, reason: "test" });
        // Cancel answers once the task has ended: nothing of it is left.
        expect(leftoverProcesses(w.workspaces)).toEqual([]);
      }
    }
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.CANCELLED, message: "cancelled: test", exitCode: -1 });
    expect(snapshots()).toHaveLength(2);
    expect(taskDirs()).not.toContain(events[0]!.taskId);
  });

  it("an environment file with an unknown field ends the task naming the field and its line", async () => {
    commitBranch("typo", { ".claudecluster/environment.yaml": 'setup: echo hi\nmaintainance: echo typo\n' });
    const { exited } = await task("env task typo", { ref: "typo", secrets: {} });
    expect(exited).toMatchObject({ reason: ExitReason.FAILED, exitCode: -1 });
    expect(exited.message).toBe(
      'the environment file is not valid: .claudecluster/environment.yaml, line 2: unknown field "maintainance" (known: setup, maintenance, env, secrets, lockfiles, cache, setup_timeout)',
    );
  });

  it("a secret the file does not list is refused; a listed one not given is asked for", async () => {
    const extra = await task("env task extra", { secrets: { SETUP_TOKEN: SECRET, OTHER: "x" } });
    expect(extra.exited.message).toBe("setup secret OTHER is not listed under secrets in .claudecluster/environment.yaml; list it there or do not pass it");
    const missing = await task("env task missing", { secrets: {} });
    expect(missing.exited.message).toBe(".claudecluster/environment.yaml names the secret SETUP_TOKEN for setup; pass it with cc run --setup-secret NAME (the value comes from your environment)");
  });

  it("the environment file of an upload (a checkout sent with cc run) is set up the same way", async () => {
    const upload = await prepareUpload(work);
    try {
      const { uploadId } = await sendUpload(w.client, upload.header, upload.file);
      model.setScript({
        conversations: [
          {
            match: "env upload",
            turns: [
              { content: [{ type: "tool_use", name: "Bash", input: { command: "cat .setup-marker; node -e \"console.log(require('greeting')())\"", description: "Look" } }] },
              { content: [{ type: "text", text: "Looked." }] },
            ],
          },
        ],
      });
      const events = await collect(w.client.run({ prompt: "env upload: look", agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "upload", value: { uploadId } } }, setupSecrets: { SETUP_TOKEN: SECRET } }));
      expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
      expect(statuses(events)).toContain("SETTING_UP running the setup script");
      const output = toolResults(model, "env upload").join("\n");
      expect(output).toContain("hello from the greeting package");
      expect(output).toContain(`secret-length=${SECRET.length}`);
    } finally {
      await upload.cleanup();
    }
  });
});

describe("a repository task on a worker with a warm pool", () => {
  let model: ScriptedModel;
  let w: TestWorker;

  beforeAll(async () => {
    model = await startModel({ conversations: [] });
    w = await startTestWorker({
      ...modelEnv(model),
      GIT_SSL_CAINFO: server.caFile,
      CC_SANDBOX: "bwrap",
      SHELL: "/bin/bash",
      CC_WARM_POOL: "1",
      CC_WARM_PROFILE: JSON.stringify({ allowedTools: ["Bash"] }),
    });
  });
  afterAll(async () => {
    await w?.close();
    await model?.close();
  });

  const pool = async () => (await w.client.getInfo({})).warmPool!;

  /** Waits until the pool has a warm claude, then runs one task on `ref` whose Bash reads the workspace. */
  async function warmTask(marker: string, ref: string) {
    await until(async () => (await pool()).ready >= 1);
    model.setScript({
      conversations: [
        {
          match: marker,
          turns: [
            { content: [{ type: "tool_use", name: "Bash", input: { command: "cat .setup-marker; cat .maintenance-log 2>/dev/null; echo mode=[${GREETING_MODE:-}]", description: "Look" } }] },
            { content: [{ type: "text", text: "Looked." }] },
          ],
        },
      ],
    });
    const events = await collect(w.client.run({ prompt: `${marker}: look`, agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "repository", value: { url, ref } } }, setupSecrets: { SETUP_TOKEN: SECRET } }));
    return { events, output: toolResults(model, marker).join("\n"), exited: ofCase(events, "exited")[0]! };
  }

  it("a warm claude takes the task once its workspace is cloned and set up, and again from the snapshot", async () => {
    // The environment without `env`: a warm claude, started before the file was read, can serve it.
    commitBranch("plain", { ".claudecluster/environment.yaml": ENVIRONMENT.replace("env:\n  GREETING_MODE: loud\n", "") });
    const hitsBefore = (await pool()).hits;
    const first = await warmTask("warm env one", "plain");
    expect(first.exited, first.exited.message).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    expect(ofCase(first.events, "status").some((s) => s.phase === Phase.SETTING_UP && s.detail === "running the setup script")).toBe(true);
    expect(first.output).toContain(`secret-length=${SECRET.length}`);
    const second = await warmTask("warm env two", "plain");
    expect(second.exited, second.exited.message).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    expect(ofCase(second.events, "status").some((s) => s.detail.startsWith("restoring snapshot "))).toBe(true);
    expect(second.output).toContain("maintained");
    expect((await pool()).hits).toBe(hitsBefore + 2n);
  });

  it("an environment with `env` gets a claude of its own, with the variables, and the warm one is not left running", async () => {
    const { output, exited } = await warmTask("warm env three", "main");
    expect(exited, exited.message).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    expect(output).toContain("mode=[loud]");
  });
});
