// The git bundle an upload sends (see writeBundle): the snapshot, shallow, or on top of what the task's repository
// already has. It goes to a temporary file; its size and SHA-256 go in the upload's header. The user's refs are
// never touched (the incremental bundle names a temporary ref, refs/cc-upload/<random>, removed again at once).
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { readBundleHeader } from "../../../services/worker/upload/bundle-header.js";
import { ExitCode } from "../../exit-codes.js";
import { CliError } from "../errors.js";
import { git, lastLine } from "./git.js";
import type { Snapshot } from "./snapshot.js";

export interface BundleFile {
  file: string;
  size: number;
  sha256: string;
  /** Commits the bundle leaves out because the remote has them. */
  prerequisites: string[];
  /** The remote whose commits were left out, if any. */
  remote: string;
}

/** `https://host/org/repo`, `git@host:org/repo.git` and their variants compare equal. */
export function sameRepository(a: string, b: string): boolean {
  const norm = (u: string) =>
    u
      .trim()
      .replace(/\/+$/, "")
      .replace(/\.git$/, "")
      .replace(/^[a-z+]+:\/\/(?:[^@/]*@)?/i, "")
      .replace(/^[^@/:]+@/, "")
      .replace(/^([^/:]+):(?!\d+\/)/, "$1/")
      .replace(/^([^/:]+):\d+\//, "$1/")
      .toLowerCase();
  return norm(a) === norm(b);
}

/** The name of the checkout's remote whose URL is `url`, or "". */
export async function remoteFor(top: string, url: string): Promise<string> {
  const r = await git(["config", "--get-regexp", "^remote\\..*\\.url$"], { cwd: top, allowFailure: true });
  for (const line of r.stdout.split("\n")) {
    const m = /^remote\.(.+)\.url (.+)$/.exec(line.trim());
    if (m && sameRepository(m[2]!, url)) return m[1]!;
  }
  return "";
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Writes the bundle of `snapshot` into `dir`.
 * - With `originUrl`, and a remote of that URL whose branches were fetched here: `git bundle create` of the snapshot
 *   without what those branches hold (the bundle's prerequisites, which the worker fetches from the origin).
 * - Otherwise a shallow bundle, one commit deep as a `--repo` clone is: the snapshot commit and HEAD (or HEAD alone
 *   when nothing is uncommitted) with their whole trees, made with `git rev-list --objects --no-walk | git
 *   pack-objects`; the commit where its history stops goes in the upload's `shallow` list.
 */
export async function writeBundle(snapshot: Snapshot, dir: string, originUrl = ""): Promise<BundleFile & { shallow: string[] }> {
  const { top } = snapshot;
  const file = join(dir, "checkout.bundle");
  const remote = originUrl ? await remoteFor(top, originUrl) : "";
  // Only when the remote's branches are known here (fetched at least once) is there anything to leave out.
  const tracked = remote ? (await git(["for-each-ref", "--format=%(objectname)", `refs/remotes/${remote}/`], { cwd: top })).stdout.trim() : "";
  if (tracked) {
    const ref = `refs/cc-upload/${randomBytes(8).toString("hex")}`;
    await git(["update-ref", ref, snapshot.commit], { cwd: top });
    try {
      const made = await git(["bundle", "create", "--quiet", file, ref, "--not", `--remotes=${remote}`], { cwd: top, allowFailure: true });
      // "Refusing to create empty bundle": the remote has it all already.
      if (made.code !== 0) await rm(file, { force: true });
    } finally {
      await git(["update-ref", "-d", ref], { cwd: top, allowFailure: true });
    }
    if (existsSync(file)) {
      const prerequisites = (await readBundleHeader(file))?.prerequisites ?? [];
      return { file, size: (await stat(file)).size, sha256: await sha256File(file), prerequisites, remote, shallow: snapshot.shallow };
    }
  }
  const commits = snapshot.synthetic && snapshot.head ? [snapshot.commit, snapshot.head] : [snapshot.commit];
  const boundary = commits.at(-1)!;
  const parents = (await git(["rev-parse", `${boundary}^@`], { cwd: top, allowFailure: true })).stdout.split("\n").filter(Boolean);
  const format = (await git(["rev-parse", "--show-object-format"], { cwd: top, allowFailure: true })).stdout.trim() || "sha1";
  const header = format === "sha1" ? `# v2 git bundle\n${snapshot.commit} refs/heads/upload\n\n` : `# v3 git bundle\n@object-format=${format}\n${snapshot.commit} refs/heads/upload\n\n`;
  const sha256 = await writePack(top, commits, header, file);
  const shallow = parents.length > 0 ? [...new Set([...snapshot.shallow, boundary])] : snapshot.shallow;
  return { file, size: (await stat(file)).size, sha256, prerequisites: [], remote: "", shallow };
}

/**
 * `header`, then a pack of `commits` and everything in their trees, into `file`; streamed, never held. Resolves with
 * the file's SHA-256, computed as it is written.
 */
function writePack(top: string, commits: string[], header: string, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(file, { flags: "wx" });
    const hash = createHash("sha256").update(header);
    out.write(header);
    const list = spawn("git", ["rev-list", "--objects", "--no-object-names", "--no-walk", ...commits], { cwd: top, stdio: ["ignore", "pipe", "pipe"] });
    const pack = spawn("git", ["pack-objects", "--stdout", "-q"], { cwd: top, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    list.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    pack.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    list.stdout.pipe(pack.stdin);
    pack.stdout.on("data", (chunk: Buffer) => hash.update(chunk));
    pack.stdout.pipe(out);
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      list.kill();
      pack.kill();
      out.destroy();
      reject(err);
    };
    list.once("error", fail);
    pack.once("error", fail);
    list.once("close", (code) => code !== 0 && fail(new CliError(`git rev-list failed while packing the upload: ${lastLine(stderr)}`, ExitCode.AgentError)));
    pack.once("close", (code) => {
      if (code !== 0) fail(new CliError(`git pack-objects failed while packing the upload: ${lastLine(stderr)}`, ExitCode.AgentError));
    });
    out.once("finish", () => {
      if (!failed) resolve(hash.digest("hex"));
    });
    out.once("error", fail);
  });
}
