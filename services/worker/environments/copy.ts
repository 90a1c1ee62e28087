// Copying workspaces in and out of the snapshot cache, and measuring them. `cp --reflink=auto` shares blocks where
// the filesystem can (btrfs, XFS, overlay on those) and copies where it cannot; where there is no GNU cp, Node's own
// recursive copy does.
import { execFile } from "node:child_process";
import { cp, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/** Copies the entries of `from` (all but `exclude`) into the existing directory `to`, keeping modes and links. */
export async function copyEntries(from: string, to: string, exclude: string[] = []): Promise<void> {
  const entries = (await readdir(from)).filter((e) => !exclude.includes(e));
  if (entries.length === 0) return;
  try {
    await new Promise<void>((resolve, reject) =>
      execFile("cp", ["-a", "--reflink=auto", "--", ...entries.map((e) => join(from, e)), to], { maxBuffer: 1024 * 1024 }, (err) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    // No GNU cp (ENOENT, or one without --reflink): a plain copy. A real copy failure (a full disk) fails again here.
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !/reflink|unrecognized|illegal option/i.test(String((err as { stderr?: string }).stderr ?? (err as Error).message))) throw err;
    for (const e of entries) await cp(join(from, e), join(to, e), { recursive: true, force: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
}

/** Bytes the files under `dir` take (apparent sizes; links are not followed). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        try {
          total += (await lstat(p)).size;
        } catch {
          // Gone meanwhile.
        }
      }
    }
  };
  await walk(dir);
  return total;
}
