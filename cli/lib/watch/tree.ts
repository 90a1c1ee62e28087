// Watches directory trees with one fs.watch (inotify) per directory, set up synchronously: once `watchTree`
// returns, every change is seen (Node's own recursive mode on Linux walks the tree asynchronously and misses what
// changes meanwhile). A directory created later is walked and watched when its event arrives, and the files already
// in it are reported as changed. `.git` directories are never entered. Bounded: at most MAX_DIRECTORIES.
import { readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";

export const MAX_DIRECTORIES = 20_000;

export interface TreeWatch {
  close(): void;
}

export function watchTree(root: string, onChange: (path: string) => void, onError: (err: Error) => void): TreeWatch {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;

  const add = (dir: string, reportFiles: boolean): void => {
    if (closed || watchers.has(dir)) return;
    if (watchers.size >= MAX_DIRECTORIES) throw new Error(`more than ${MAX_DIRECTORIES} directories under ${root}; watch a smaller part of the tree`);
    const w = watch(dir, (_event, name) => {
      if (name === null) return;
      const path = join(dir, name.toString());
      onChange(path);
      if (name.toString() === ".git") return;
      try {
        if (statSync(path).isDirectory()) add(path, true);
      } catch {
        // Gone already (a temporary file, a deleted directory): its change is reported, nothing to watch.
      }
    });
    w.on("error", (err) => {
      // A directory removed under us: its watcher ends, the rest go on.
      watchers.get(dir)?.close();
      watchers.delete(dir);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && (err as NodeJS.ErrnoException).code !== "EPERM") onError(err);
    });
    watchers.set(dir, w);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== ".git") add(path, reportFiles);
      } else if (reportFiles) onChange(path);
    }
  };

  add(root, false);
  return {
    close() {
      closed = true;
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
