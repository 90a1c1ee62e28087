// Local git checkouts for the tests of uploads and changes, and `cc` run as a process in one of them. git runs with a
// HOME of the test's own (an identity, no user or system config), as a user's git would with theirs.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

export interface Checkout {
  dir: string;
  git(...args: string[]): string;
  write(path: string, content: string | Buffer): void;
  read(path: string): Buffer;
}

/** The environment of a user's git: a HOME with an identity, nothing from the machine's config. */
export function gitUserEnv(home: string): Record<string, string> {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, ".gitconfig"), "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n");
  return { HOME: home, GIT_CONFIG_NOSYSTEM: "1", XDG_CONFIG_HOME: join(home, ".config"), PATH: process.env["PATH"] ?? "/usr/bin:/bin" };
}

export function checkout(dir: string, env: Record<string, string>): Checkout {
  mkdirSync(dir, { recursive: true });
  return {
    dir,
    git: (...args) => execFileSync("git", args, { cwd: dir, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim(),
    write(path, content) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    },
    read: (path) => readFileSync(join(dir, path)),
  };
}

/** Every file under `dir` but .git, with its bytes: two trees are equal when these are. */
export function treeFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    const rel = relative(dir, full);
    if (rel === ".git" || rel.startsWith(".git/") || !entry.isFile()) continue;
    out[rel] = readFileSync(full).toString("base64");
  }
  return out;
}

export interface CcResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;

/** `cc <args>` as a process, in `cwd`, with `env` added to a clean environment. */
export function cc(args: string[], o: { cwd: string; env: Record<string, string>; stdin?: string | Buffer }): Promise<CcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CC, ...args], { cwd: o.cwd, env: { PATH: process.env["PATH"] ?? "", ...o.env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.stdin.end(o.stdin ?? "");
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), stdoutBytes });
    });
  });
}
