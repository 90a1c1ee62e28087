// The upload of a directory outside git: a gzip-compressed tar of its files, leaving out what its `.gitignore` files
// and a `.ccignore` at its top (same syntax) say to leave out. git decides what is ignored (with an empty git
// directory of its own and DIR as the work tree, `git ls-files --others --exclude-standard`), so the rules are
// exactly git's. Directories holding a repository of their own are left out, as git leaves them out.
import { createWriteStream, existsSync } from "node:fs";
import { lstat, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { tarStream, type TarEntry } from "../../../services/common/tar.js";
import { sha256File } from "./bundle.js";
import { git } from "./git.js";

export interface TarballFile {
  file: string;
  size: number;
  sha256: string;
  files: number;
}

/** The files of `root` an upload sends, `/`-separated and sorted. */
export async function tarballPaths(root: string, scratch: string): Promise<string[]> {
  const gitDir = join(scratch, "ignore.git");
  await git(["init", "--quiet", "--bare", gitDir], { cwd: scratch });
  const ccignore = join(root, ".ccignore");
  const args = [`--git-dir=${gitDir}`, `--work-tree=${root}`, "ls-files", "-z", "--others", "--exclude-standard", ...(existsSync(ccignore) ? [`--exclude-from=${ccignore}`] : [])];
  const listed = await git(args, { cwd: root });
  return listed.stdout
    .split("\0")
    .filter((p) => p !== "" && !p.endsWith("/"))
    .sort();
}

export async function writeTarball(root: string, scratch: string): Promise<TarballFile> {
  const paths = await tarballPaths(root, scratch);
  const entries: TarEntry[] = [];
  for (const path of paths) {
    const st = await lstat(join(root, path));
    if (st.isSymbolicLink()) entries.push({ path, type: "symlink", mode: st.mode & 0o777, size: 0, mtimeMs: st.mtimeMs, linkTarget: await readlink(join(root, path)) });
    else if (st.isFile()) entries.push({ path, type: "file", mode: st.mode & 0o777, size: st.size, mtimeMs: st.mtimeMs });
  }
  const file = join(scratch, "directory.tar.gz");
  await pipeline(Readable.from(tarStream(root, entries)), createGzip(), createWriteStream(file, { flags: "wx" }));
  return { file, size: (await stat(file)).size, sha256: await sha256File(file), files: entries.length };
}
