import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import { CredentialProxy, resolveCredential } from "./credential-proxy/index.js";
import { allowlist } from "./egress/index.js";
import { HookEvents } from "./hook-events.js";
import { Secrets } from "./redact.js";
import { BRIDGE_PORTS, type Sandbox } from "./sandbox/index.js";
import { TaskHomes, TranscriptStore } from "./task-home/index.js";
import { Isolation } from "./task-isolation.js";

/** A sandbox that isolates networks, as bubblewrap with socat does; the specs it is given are what is tested here. */
const SANDBOX: Sandbox = { kind: "bwrap", problem: "", isolatesNetwork: true, command: (s) => ({ file: "bwrap", args: s.argv, cwd: s.cwd, env: s.env }), exitOf: (e) => e, close: () => {} };

describe("task isolation", () => {
  let root: string;
  let isolation: Isolation;
  let proxy: CredentialProxy;
  let hooks: HookEvents;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), "cc-isolation-test-"));
    mkdirSync(join(root, "ws"));
    const env = { PATH: "/usr/bin", HOME: "/home/worker", ANTHROPIC_API_KEY: "sk-ant-real-0123456789", CC_WORKER_TOKEN: "wt-0123456789", HTTPS_PROXY: "http://user:pw@corp-proxy:3128", ANTHROPIC_MODEL: "opus" };
    proxy = new CredentialProxy({ upstream: "http://127.0.0.1:1", credential: resolveCredential(env, root), logger: silentLogger() });
    await proxy.listen();
    hooks = new HookEvents(silentLogger());
    await hooks.listen();
    const homes = new TaskHomes(join(root, "state"), { configDir: join(root, "cfg"), stateFile: join(root, "cfg.json") }, new TranscriptStore(join(root, "cfg", "projects")), silentLogger());
    isolation = new Isolation({ sandbox: SANDBOX, homes, credentialProxy: proxy, hooks, secrets: new Secrets(), env, claudeBin: "/opt/claude/bin/claude", logger: silentLogger() });
  });
  afterEach(async () => {
    isolation.close();
    await proxy.close();
    await hooks.closeAll();
    rmSync(root, { recursive: true, force: true });
  });

  it("an isolated task: its own HOME, the placeholder key, the proxies on its bridges, none of the worker's secrets", () => {
    const environment = isolation.prepare("t1", { workspace: join(root, "ws"), egress: allowlist(["github.com"]) });
    const spec = environment.claudeSpec(["/opt/claude/bin/claude", "-p"], { newSession: true });
    expect(spec.network).toBe("isolated");
    expect(spec.bridges!.map((b) => b.port)).toEqual([BRIDGE_PORTS.api, BRIDGE_PORTS.egress, BRIDGE_PORTS.hooks]);
    for (const b of spec.bridges!) expect(existsSync(b.socket), b.socket).toBe(true);
    expect(spec.env).toMatchObject({
      HOME: environment.home,
      ANTHROPIC_BASE_URL: `http://127.0.0.1:${BRIDGE_PORTS.api}`,
      ANTHROPIC_API_KEY: environment.apiKey,
      HTTPS_PROXY: `http://127.0.0.1:${BRIDGE_PORTS.egress}`,
      http_proxy: `http://127.0.0.1:${BRIDGE_PORTS.egress}`,
      NO_PROXY: "localhost,127.0.0.1,::1",
      ANTHROPIC_MODEL: "opus",
      CC_TASK_ID: "t1",
      TMPDIR: "/tmp",
    });
    const values = Object.values(spec.env).join("\n");
    for (const secret of ["sk-ant-real-0123456789", "wt-0123456789", "pw@corp-proxy"]) expect(values).not.toContain(secret);
    expect(Object.keys(spec.env).filter((k) => k.startsWith("CC_") && k !== "CC_TASK_ID")).toEqual([]);
    expect(spec.readOnly).toContain("/opt/claude/bin");
    expect(spec.home).toBe(environment.home);
    const file = environment.writePrivateFile("mcp.json", "{}");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    environment.dispose();
    for (const b of spec.bridges!) expect(existsSync(b.socket)).toBe(false);
    expect(existsSync(environment.home)).toBe(false);
  });

  it("an open task shares the worker's network and reaches the proxy on the worker's loopback", () => {
    const environment = isolation.prepare("t2", { workspace: join(root, "ws"), egress: { mode: "open" } });
    const spec = environment.claudeSpec(["claude"], { newSession: false, term: "xterm-256color" });
    expect(spec).toMatchObject({ network: "host", bridges: [], newSession: false });
    expect(spec.env["ANTHROPIC_BASE_URL"]).toBe(proxy.loopbackUrl);
    // The worker's own proxy settings stay (its network), the loopback never goes through them.
    expect(spec.env["HTTPS_PROXY"]).toBe("http://user:pw@corp-proxy:3128");
    expect(spec.env["NO_PROXY"]).toBe("localhost,127.0.0.1,::1");
    expect(spec.env["TERM"]).toBe("xterm-256color");
    expect(JSON.parse(environment.hookSettings()).hooks.Stop[0].hooks[0].url).toBe(hooks.url("t2"));
    environment.dispose();
  });

  it("a task's own variables and extra directories: in claude's environment and bound read-write; never over what the worker sets", () => {
    const environment = isolation.prepare("t4", { workspace: join(root, "ws"), egress: allowlist(["github.com"]) });
    const extra = join(root, "shared");
    const spec = environment.claudeSpec(["claude"], { newSession: true, readWrite: [extra], taskEnv: { PROJECT: "demo" } });
    expect(spec.readWrite).toEqual([extra]);
    expect(spec.env["PROJECT"]).toBe("demo");
    // The worker's own variables win over a task's (services/common/task-env.ts refuses such names before this).
    const clash = environment.claudeSpec(["claude"], { newSession: true, taskEnv: { CC_TASK_ID: "other", ANTHROPIC_API_KEY: "mine" } });
    expect(clash.env).toMatchObject({ CC_TASK_ID: "t4", ANTHROPIC_API_KEY: environment.apiKey });
    environment.dispose();
  });

  it("a worker file (the warm profile's MCP config) is 0600 in the worker's runtime directory, gone at close", () => {
    const file = isolation.writeWorkerFile("warm-mcp-config.json", "{}");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(() => isolation.writeWorkerFile("../escape", "{}")).toThrow(/not a worker file name/);
    isolation.close();
    expect(existsSync(file)).toBe(false);
  });

  it("a clone's git: the workspace and git's own HOME, the worker's network, the files its variables name", () => {
    const environment = isolation.prepare("t3", { workspace: join(root, "ws"), egress: { mode: "none" } });
    const spec = environment.cloneSpec(["git", "clone"], { HOME: join(root, "git-home"), GIT_SSL_CAINFO: join(root, "ws"), PATH: "/usr/bin" });
    expect(spec).toMatchObject({ network: "host", home: join(root, "git-home"), workspace: join(root, "ws"), readOnly: [join(root, "ws")] });
    expect(spec.env["CC_TASK_ID"]).toBe("t3");
    environment.dispose();
  });
});
