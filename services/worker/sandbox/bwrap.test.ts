import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SettingsError } from "../../common/settings.js";
import { bwrapCommand, type BwrapHost } from "./bwrap.js";
import { createSandbox, fromBwrapExit, type LaunchSpec, type Sandbox } from "./index.js";

const run = promisify(execFile);

const HOST: BwrapHost = {
  bin: "bwrap",
  emptyFile: "/run/cc-sandbox/empty",
  layout: { directories: ["/usr", "/etc"], links: [{ path: "/bin", target: "usr/bin" }] },
  hidden: [
    { path: "/etc/shadow", directory: false },
    { path: "/etc/cc-secrets", directory: true },
    { path: "/home/worker/token", directory: false },
  ],
  readOnly: ["/opt/toolchain"],
  root: true,
};

const SPEC: LaunchSpec = {
  argv: ["/app/claude", "-p"],
  cwd: "/ws/.tasks/t1",
  env: { PATH: "/usr/bin" },
  workspace: "/ws/.tasks/t1",
  home: "/state/tasks/t1/home",
  readOnly: ["/app"],
  network: "host",
  newSession: true,
};

/** The values following each occurrence of a flag. */
function after(args: string[], flag: string, n = 2): string[][] {
  return args.flatMap((a, i) => (a === flag ? [args.slice(i + 1, i + 1 + n)] : []));
}

describe("bwrapCommand", () => {
  it("binds the system read-only, hides secrets under it, gives private /tmp and /proc, then the task's own paths", () => {
    const { file, args } = bwrapCommand(SPEC, HOST);
    expect(file).toBe("bwrap");
    expect(after(args, "--ro-bind")).toEqual([
      ["/usr", "/usr"],
      ["/etc", "/etc"],
      ["/run/cc-sandbox/empty", "/etc/shadow"],
      ["/app", "/app"],
      ["/opt/toolchain", "/opt/toolchain"],
    ]);
    expect(after(args, "--symlink")).toEqual([["usr/bin", "/bin"]]);
    // A hidden directory under a bound one becomes empty; a secret outside every bound directory needs nothing.
    expect(after(args, "--tmpfs", 1)).toEqual([["/etc/cc-secrets"], ["/tmp"], ["/var/tmp"]]);
    expect(args.join(" ")).not.toContain("/home/worker/token");
    expect(after(args, "--bind")).toEqual([
      ["/ws/.tasks/t1", "/ws/.tasks/t1"],
      ["/state/tasks/t1/home", "/state/tasks/t1/home"],
    ]);
    // Private /tmp before the binds, or a workspace under /tmp would be covered by it.
    expect(args.indexOf("/tmp")).toBeLessThan(args.indexOf("--bind"));
    expect(args.slice(args.indexOf("--remount-ro"))).toEqual(["--remount-ro", "/", "--chdir", "/ws/.tasks/t1", "--", "/app/claude", "-p"]);
  });

  it("binds a task's extra directories (agent.add_dirs) read-write, parents before children", () => {
    const { args } = bwrapCommand({ ...SPEC, readWrite: ["/ws/shared/docs", "/ws/shared"] }, HOST);
    expect(after(args, "--bind")).toEqual([
      ["/ws/shared", "/ws/shared"],
      ["/ws/.tasks/t1", "/ws/.tasks/t1"],
      ["/ws/shared/docs", "/ws/shared/docs"],
      ["/state/tasks/t1/home", "/state/tasks/t1/home"],
    ]);
  });

  it("new PID, IPC and UTS namespaces, dies with the worker; a session of its own only when asked", () => {
    const { args } = bwrapCommand(SPEC, HOST);
    for (const flag of ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--new-session"]) expect(args).toContain(flag);
    expect(after(args, "--cap-drop", 1)).toEqual([["ALL"]]);
    expect(args).not.toContain("--unshare-net");
    expect(args).not.toContain("--unshare-user");
    expect(bwrapCommand({ ...SPEC, newSession: false }, HOST).args).not.toContain("--new-session");
  });

  it("as a user other than root: a user namespace, with no further ones inside", () => {
    const { args } = bwrapCommand(SPEC, { ...HOST, root: false });
    expect(args).toContain("--unshare-user");
    expect(args).toContain("--disable-userns");
  });

  it("an isolated network: its own namespace, the bridges' sockets bound, the bridge script before the command", () => {
    const { args } = bwrapCommand({ ...SPEC, network: "isolated", bridges: [{ port: 41001, socket: "/run/cc/1/api.sock" }] }, HOST);
    expect(args).toContain("--unshare-net");
    expect(after(args, "--ro-bind")).toContainEqual(["/run/cc/1/api.sock", "/run/cc/1/api.sock"]);
    const rest = args.slice(args.indexOf("--chdir") + 3);
    expect(rest[0]).toBe("/bin/sh");
    expect(rest[1]).toBe("-c");
    expect(rest.slice(3)).toEqual(["sh", "41001", "/run/cc/1/api.sock", "--", "/app/claude", "-p"]);
  });

  it("refuses a relative path to bind", () => {
    expect(() => bwrapCommand({ ...SPEC, readOnly: ["relative/dir"] }, HOST)).toThrow(/not an absolute path/);
  });
});

describe("fromBwrapExit", () => {
  it("turns 128+N into signal N, and leaves other statuses alone", () => {
    expect(fromBwrapExit({ exitCode: 143, signal: null })).toEqual({ exitCode: null, signal: "SIGTERM" });
    expect(fromBwrapExit({ exitCode: 137, signal: null })).toEqual({ exitCode: null, signal: "SIGKILL" });
    expect(fromBwrapExit({ exitCode: 1, signal: null })).toEqual({ exitCode: 1, signal: null });
    expect(fromBwrapExit({ exitCode: null, signal: "SIGKILL" })).toEqual({ exitCode: null, signal: "SIGKILL" });
  });
});

// The real bubblewrap (a system package the tests install): what a sandboxed command can and cannot see.
describe("createSandbox with the real bubblewrap", () => {
  let root: string;
  let sandbox: Sandbox;
  let mine: string;
  let other: string;
  let home: string;
  let secretDir: string;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-sandbox-test-")));
    mine = join(root, "workspaces", ".tasks", "mine");
    other = join(root, "workspaces", ".tasks", "other");
    home = join(root, "homes", "mine");
    secretDir = join(root, "secrets");
    for (const dir of [mine, other, home, secretDir]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(other, "private.txt"), "other task's work");
    writeFileSync(join(secretDir, "token"), "worker-token-value");
    sandbox = await createSandbox({ mode: "bwrap", hidden: [secretDir], readOnly: [], isolatedNetworks: true });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  async function sh(script: string, network: LaunchSpec["network"] = "host"): Promise<{ stdout: string; code: number }> {
    const cmd = sandbox.command({ argv: ["/bin/sh", "-c", script], cwd: mine, env: { PATH: "/usr/bin:/bin", HOME: home }, workspace: mine, home, network, newSession: true });
    try {
      const { stdout } = await run(cmd.file, cmd.args, { env: cmd.env, cwd: cmd.cwd });
      return { stdout, code: 0 };
    } catch (err) {
      const e = err as { stdout: string; code: number };
      return { stdout: e.stdout, code: e.code };
    }
  }

  it("is bwrap, with networks it can isolate", () => {
    expect(sandbox.kind).toBe("bwrap");
    expect(sandbox.problem).toBe("");
    expect(sandbox.isolatesNetwork).toBe(true);
  });

  it("sees its workspace and HOME, writes there, and nothing of other tasks or the worker", async () => {
    const r = await sh(
      `echo hi > out.txt && echo home > "$HOME/h" && cat out.txt; ls -A ${join(root, "workspaces", ".tasks")}; cat ${join(other, "private.txt")} 2>&1; ls ${root} | tr '\n' ' '; echo; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'`,
    );
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("hi");
    // Only its own workspace exists under the workspace root.
    expect(lines[1]).toBe("mine");
    expect(lines[2]).toMatch(/No such file or directory/);
    expect(lines[3]!.trim().split(" ").sort()).toEqual(["homes", "workspaces"]);
    // PID 1 is the sandbox's own init, and only a handful of processes exist.
    expect(lines[4]).toMatch(/^bwrap /);
    expect(Number(lines.at(-2))).toBeLessThan(10);
    expect(readFileSync(join(mine, "out.txt"), "utf8")).toBe("hi\n");
    expect(readFileSync(join(home, "h"), "utf8")).toBe("home\n");
  });

  it("cannot write the system, and its /tmp is its own", async () => {
    const marker = `cc-sandbox-test-${process.pid}`;
    const r = await sh(`{ echo x > /etc/${marker}; } 2>&1; { echo x > /usr/${marker}; } 2>&1; { echo x > /${marker}; } 2>&1; echo x > /tmp/${marker} && echo tmp-ok`);
    expect(r.stdout.match(/Read-only file system/g)).toHaveLength(3);
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(r.stdout).toContain("tmp-ok");
    expect(existsSync(`/etc/${marker}`)).toBe(false);
    expect(existsSync(join(tmpdir(), marker))).toBe(false);
  });

  it("has no capability, even when the worker is root, so it cannot undo a mount", async () => {
    const r = await sh(`grep CapEff /proc/self/status; umount /etc/shadow 2>&1; mount -t tmpfs none /tmp 2>&1`);
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000000/);
    expect(r.stdout).toMatch(/umount: .*(must be superuser|Operation not permitted|permission denied)/i);
    expect(r.stdout).toMatch(/mount: \/tmp: permission denied/);
  });

  it("cannot read /etc/shadow or a hidden path", async () => {
    const r = await sh(`wc -c < /etc/shadow; cat ${join(secretDir, "token")} 2>&1`);
    expect(r.stdout.split("\n")[0]).toBe("0");
    expect(r.stdout).not.toContain("worker-token-value");
  });

  it("an isolated network has loopback only", async () => {
    const r = await sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '", "isolated");
    expect(r.stdout.trim()).toBe("lo");
  });

  it("CC_SANDBOX=bwrap where bubblewrap cannot run refuses to start; auto runs unsandboxed and says why", async () => {
    const options = { hidden: [], readOnly: [], isolatedNetworks: false, bwrapBin: join(root, "no-bwrap") };
    await expect(createSandbox({ ...options, mode: "bwrap" })).rejects.toThrow(SettingsError);
    await expect(createSandbox({ ...options, mode: "bwrap" })).rejects.toThrow(/CC_SANDBOX=bwrap: bubblewrap cannot create the task sandbox here: .*no-bwrap is not installed/);
    const auto = await createSandbox({ ...options, mode: "auto" });
    expect(auto.kind).toBe("none");
    expect(auto.problem).toMatch(/tasks run unsandboxed/);
    const off = await createSandbox({ ...options, mode: "off" });
    expect([off.kind, off.problem]).toEqual(["none", ""]);
    expect(off.command(SPEC)).toEqual({ file: "/app/claude", args: ["-p"], cwd: SPEC.cwd, env: SPEC.env });
  });
});
