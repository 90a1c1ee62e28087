import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { cloneCommands, cloneRepository, gitConfigArgs, gitEnv, scrub, StderrTail, TOKEN_ENV } from "./repo-clone.js";

const TOKEN = "ghp_Sup3rSecretTokenValue0123456789";
const URL_ = "https://github.com/acme/widgets.git";
const SHA1 = "0123456789abcdef0123456789abcdef01234567";
const SHA256 = "0123456789abcdef".repeat(4);

describe("gitConfigArgs", () => {
  it("allows only https and ssh, turns hooks off and resets credential helpers", () => {
    expect(gitConfigArgs(URL_, false)).toEqual([
      "-c", "protocol.allow=never",
      "-c", "protocol.https.allow=always",
      "-c", "protocol.ssh.allow=always",
      "-c", "core.hooksPath=/dev/null",
      "-c", "advice.detachedHead=false",
      "-c", "credential.helper=",
    ]);
  });

  it("with a token adds a helper scoped to the URL's origin that reads the token from the environment", () => {
    const args = gitConfigArgs("https://git.example.com:8443/a/b.git", true);
    const helper = args.at(-1)!;
    expect(args.at(-2)).toBe("-c");
    expect(helper.startsWith("credential.https://git.example.com:8443.helper=!f() {")).toBe(true);
    expect(helper).toContain(`"password=$${TOKEN_ENV}"`);
    expect(helper).toContain("username=x-access-token");
    expect(helper).toContain("printf");
  });
});

describe("cloneCommands", () => {
  it("clones the default branch shallowly, the URL after --", () => {
    expect(cloneCommands({ url: URL_, ref: "" })).toEqual([["clone", "--depth=1", "--no-tags", "--progress", "--", URL_, "."]]);
  });

  it.each(["main", "v1.2.3", "feature/x", "abc1234"])("clones the branch or tag %s with --branch=<ref> in one argument", (ref) => {
    expect(cloneCommands({ url: URL_, ref })).toEqual([["clone", "--depth=1", "--no-tags", "--progress", `--branch=${ref}`, "--", URL_, "."]]);
  });

  it.each([SHA1, SHA256, "refs/pull/7/head"])("fetches the commit or full ref %s into a new repository", (ref) => {
    expect(cloneCommands({ url: URL_, ref })).toEqual([
      ["init", "--quiet"],
      ["remote", "add", "--", "origin", URL_],
      ["fetch", "--depth=1", "--no-tags", "--progress", "--", "origin", ref],
      ["checkout", "--quiet", "--detach", "FETCH_HEAD"],
    ]);
  });
});

describe("gitEnv", () => {
  const worker = {
    PATH: "/opt/bin:/usr/bin",
    HOME: "/home/worker",
    HTTPS_PROXY: "http://proxy:3128",
    GIT_SSL_CAINFO: "/etc/ca.pem",
    SSH_AUTH_SOCK: "/run/agent.sock",
    GIT_ASKPASS: "/usr/bin/ksshaskpass",
    SSH_ASKPASS: "/usr/bin/ssh-askpass",
    GIT_SSL_NO_VERIFY: "1",
    GIT_CONFIG_PARAMETERS: "'core.sshCommand'='touch /tmp/pwned'",
    GIT_DIR: "/elsewhere",
    CC_WORKER_TOKEN: "worker-secret",
    ANTHROPIC_API_KEY: "sk-ant-x",
  };

  it("takes only PATH, proxies, CAs and the ssh agent from the worker, and locks git's configuration down", () => {
    expect(gitEnv(worker, { home: "/tmp/h", token: "", extra: { CC_TASK_ID: "t1" } })).toEqual({
      PATH: "/opt/bin:/usr/bin",
      HTTPS_PROXY: "http://proxy:3128",
      GIT_SSL_CAINFO: "/etc/ca.pem",
      SSH_AUTH_SOCK: "/run/agent.sock",
      HOME: "/tmp/h",
      XDG_CONFIG_HOME: "/tmp/h/.config",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      GIT_ALLOW_PROTOCOL: "https:ssh",
      GIT_SSH_COMMAND: "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
      LC_ALL: "C",
      CC_TASK_ID: "t1",
    });
  });

  it("puts the token in the environment only", () => {
    const env = gitEnv(worker, { home: "/tmp/h", token: TOKEN });
    expect(env[TOKEN_ENV]).toBe(TOKEN);
    expect(Object.entries(env).filter(([, v]) => v.includes(TOKEN))).toEqual([[TOKEN_ENV, TOKEN]]);
  });
});

describe("the token never reaches argv", () => {
  it.each(["", "main", SHA1])("ref %j: no argument of any git command carries it", (ref) => {
    const argv = cloneCommands({ url: URL_, ref }).flatMap((c) => [...gitConfigArgs(URL_, true), ...c]);
    expect(argv.some((a) => a.includes(TOKEN))).toBe(false);
    expect(argv.some((a) => a.includes("x-access-token:"))).toBe(false);
  });
});

describe("StderrTail", () => {
  it("splits progress on \\r, passes progress lines on, and keeps the last fatal line without its prefix", () => {
    const progress: string[] = [];
    const tail = new StderrTail((l) => progress.push(l));
    tail.push("Cloning into '.'...\nremote: Enumerating objects: 3, done.\nReceiving objects:  33% (1/3)\rReceiving obj");
    tail.push("ects: 100% (3/3), done.\nremote: Repository not found.\nfatal: repository 'https://x/y/' not found\n");
    tail.end();
    expect(progress).toEqual(["remote: Enumerating objects: 3, done.", "Receiving objects: 33% (1/3)", "Receiving objects: 100% (3/3), done."]);
    expect(tail.lastError()).toBe("repository 'https://x/y/' not found");
  });

  it("gives ssh's reason when git only says it could not read from the remote", () => {
    const tail = new StderrTail(() => {});
    tail.push("Cloning into '.'...\nssh: connect to host example.com port 22: Connection refused\r\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n");
    expect(tail.lastError()).toBe("ssh: connect to host example.com port 22: Connection refused");
  });

  it("falls back to the last line, strips control characters and bounds an endless line", () => {
    const tail = new StderrTail(() => {});
    tail.push("remote: \x1b[31mred\x1b[0m alert\n");
    expect(tail.lastError()).toBe("remote: [31mred[0m alert");
    tail.push("x".repeat(1_000_000));
    tail.end();
    expect(tail.lastError().length).toBe(500);
  });
});

describe("scrub", () => {
  it("removes the token and URL credentials, and keeps an ssh user name", () => {
    expect(scrub(`fatal: unable to access 'https://u:${TOKEN}@h/r/': ${TOKEN}`, TOKEN)).toBe("fatal: unable to access 'https://h/r/': ***");
    expect(scrub("see https://ghp_x@h/r and ssh://git:pw@h/r and ssh://git@h/r", "")).toBe("see https://h/r and ssh://git@h/r and ssh://git@h/r");
  });
});

describe("cloneRepository with a stand-in git", () => {
  const dir = mkdtempSync(join(tmpdir(), "cc-fake-git-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function fakeGit(name: string, script: string): string {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${script}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  const base = () => ({ dir, env: { PATH: process.env["PATH"] }, timeoutMs: 10_000, signal: new AbortController().signal });

  it("reports progress at most once per interval (injected clock) and returns the commit", async () => {
    const git = fakeGit(
      "progress",
      `case "$*" in *rev-parse*) echo ${SHA1}; exit 0;; esac
i=0; while [ $i -lt 10 ]; do printf 'Receiving objects: %d%% (%d/10)\\r' $((i*10)) $i >&2; i=$((i+1)); done; echo done >&2`,
    );
    let t = 0;
    const lines: string[] = [];
    const result = await cloneRepository({ url: URL_, ref: "", token: "" }, { ...base(), gitBin: git, onProgress: (l) => lines.push(l), now: () => (t += 100) });
    expect(result).toEqual({ commit: SHA1 });
    // Each progress line reads the clock once, 100ms later than the one before: only every fifth passes the 500ms limit.
    expect(lines).toEqual(["Receiving objects: 0% (0/10)", "Receiving objects: 50% (5/10)"]);
  });

  it("fails with git's last error line, token scrubbed, as FAILED_PRECONDITION; argv and the message carry no token", async () => {
    const argvFile = join(dir, "argv");
    const git = fakeGit("fails", `printf '%s\\n' "$@" > ${argvFile}; echo "remote: Invalid username or password." >&2; echo "fatal: Authentication failed for 'https://$${TOKEN_ENV}@github.com/acme/widgets.git/'" >&2; exit 128`);
    const err = await cloneRepository({ url: URL_, ref: "main", token: TOKEN }, { ...base(), gitBin: git }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).rawMessage).toBe(`cloning ${URL_} at main failed: Authentication failed for 'https://github.com/acme/widgets.git/'`);
    const argv = readFileSync(argvFile, "utf8");
    expect(argv).toContain(`--branch=main\n--\n${URL_}\n.\n`);
    expect(argv).not.toContain(TOKEN);
  });

  it("kills git and everything it started when cancelled, as CANCELED", async () => {
    const pidFile = join(dir, "pids");
    const git = fakeGit("hangs", `sleep 30 & echo "$$ $!" > ${pidFile}; wait`);
    const abort = new AbortController();
    const pending = cloneRepository({ url: URL_, ref: "", token: "" }, { ...base(), gitBin: git, signal: abort.signal }).catch((e: unknown) => e);
    while (!readSafe(pidFile)) await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    const err = (await pending) as ConnectError;
    expect(err.code).toBe(Code.Canceled);
    expect(err.rawMessage).toBe(`cloning ${URL_} cancelled`);
    for (const pid of readSafe(pidFile).trim().split(" ").map(Number)) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it("gives up after the timeout, as DEADLINE_EXCEEDED naming the setting", async () => {
    const git = fakeGit("slow", "exec sleep 30");
    const err = (await cloneRepository({ url: URL_, ref: "", token: "" }, { ...base(), gitBin: git, timeoutMs: 200 }).catch((e: unknown) => e)) as ConnectError;
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(err.rawMessage).toBe(`cloning ${URL_} timed out after 200ms (CC_CLONE_TIMEOUT)`);
  });

  it("says so when git is not installed", async () => {
    const err = (await cloneRepository({ url: URL_, ref: "", token: "" }, { ...base(), gitBin: "/nonexistent/git" }).catch((e: unknown) => e)) as ConnectError;
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe(`cloning ${URL_} failed: git is not installed on this worker (/nonexistent/git not found)`);
  });
});

function readSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Running (a zombie waiting for its reaper does not count). */
function alive(pid: number): boolean {
  const state = /^\d+ \(.*\) (\S)/.exec(readSafe(`/proc/${pid}/stat`))?.[1];
  return state !== undefined && state !== "Z" && state !== "X";
}
