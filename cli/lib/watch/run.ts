// `cc watch`: watch paths (recursively, fs.watch) and run a routine or a prompt for each burst of changes. What git
// ignores (.gitignore, .git/info/exclude, the global excludes) is asked of `git check-ignore` when the path is in a
// git checkout; `.git/` itself and --ignore globs are always skipped. Ctrl-C stops watching (a task running goes on).
import { execFile, execFileSync } from "node:child_process";
import { matchesGlob, relative, resolve, sep } from "node:path";
import { UsageError } from "clipanion";
import { systemClock, type Clock } from "../../../services/router/routines/clock.js";
import { render } from "../../../services/router/routines/template.js";
import { ExitCode } from "../../exit-codes.js";
import { buildRunRequest } from "../run-request.js";
import type { RoutineContext } from "../routines/commands.js";
import { WatchLoop } from "./loop.js";
import { watchTree, type TreeWatch } from "./tree.js";

export interface WatchOptions {
  paths: string[];
  routine?: string | undefined;
  prompt?: string | undefined;
  values: Record<string, string>;
  debounceMs: number;
  ignore: string[];
  cwd: string;
  clock?: Clock;
  /** Resolves when the user asks to stop (Ctrl-C). */
  stop: Promise<void>;
}

const ALWAYS_IGNORED = [".git", `.git${sep}**`, `**${sep}.git`, `**${sep}.git${sep}**`];

/** The prompt for a burst of changes: `{{changed}}` filled, or the list added at the end when it has no such placeholder. */
export function watchPrompt(template: string, paths: readonly string[], values: Record<string, string>): string {
  const changed = paths.join("\n");
  if (/\{\{\s*changed\s*\}\}/.test(template)) return render(template, { ...values, changed });
  return `${render(template, values)}\n\nFiles changed:\n${paths.map((p) => `- ${p}`).join("\n")}`;
}

/** Whether `cwd` is in a git checkout (then git says what is ignored). */
export function inGitCheckout(cwd: string): boolean {
  try {
    return execFileSync("git", ["rev-parse", "--is-inside-work-tree"], { cwd, stdio: ["ignore", "pipe", "ignore"], timeout: GIT_TIMEOUT_MS }).toString().trim() === "true";
  } catch {
    return false;
  }
}

const GIT_TIMEOUT_MS = 10_000;
const PATHS_PER_CALL = 200;

/** The paths git does not ignore (asked in chunks, as arguments; on any failure of git, all of them). */
export async function notIgnoredByGit(cwd: string, paths: string[]): Promise<string[]> {
  const ignored = new Set<string>();
  for (let i = 0; i < paths.length; i += PATHS_PER_CALL) {
    const chunk = paths.slice(i, i + PATHS_PER_CALL);
    const listed = await new Promise<string[]>((resolveListed) =>
      execFile("git", ["-c", "core.quotePath=false", "check-ignore", "--", ...chunk], { cwd, timeout: GIT_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
        // Exit 1: none of them is ignored; another failure: keep them all.
        if (err && (err as { code?: unknown }).code !== 1) return resolveListed([]);
        // One path a line (-z is for --stdin only, which hung here): a name git must quote (a newline in it) is kept.
        resolveListed(stdout.split("\n").filter(Boolean));
      }),
    );
    for (const p of listed) ignored.add(p);
  }
  return paths.filter((p) => !ignored.has(p));
}

export async function watchAndRun(c: RoutineContext, o: WatchOptions): Promise<number> {
  if ((o.routine === undefined) === (o.prompt === undefined)) throw new UsageError("give either --routine NAME or --prompt TEXT");
  if (o.paths.length === 0) throw new UsageError("give the paths to watch: cc watch src/ --routine NAME");
  if (o.routine !== undefined) await c.routines.getRoutine({ name: o.routine });
  const clock = o.clock ?? systemClock;
  const git = inGitCheckout(o.cwd);
  const out = c.io.stderr;
  const loop = new WatchLoop({
    debounceMs: o.debounceMs,
    clock,
    filter: async (paths) => {
      const kept = paths.filter((p) => ![...ALWAYS_IGNORED, ...o.ignore].some((g) => matchesGlob(p, g)));
      return git && kept.length > 0 ? notIgnoredByGit(o.cwd, kept) : kept;
    },
    run: async (paths) => {
      let taskId: string;
      if (o.routine !== undefined) {
        taskId = (await c.routines.fireRoutine({ name: o.routine, values: { ...o.values, changed: paths.join("\n") } })).taskId;
      } else {
        const req = buildRunRequest(watchPrompt(o.prompt!, paths, o.values), { detach: true });
        taskId = "";
        // Run starts the task; its first event names it. The stream is read to the end so the run is one at a time.
        for await (const e of c.client.run(req)) {
          if (!taskId && e.taskId) {
            taskId = e.taskId;
            out.write(`cc watch: ${paths.length} changed (${paths.slice(0, 3).join(", ")}${paths.length > 3 ? ", …" : ""}) → task ${taskId}\n`);
          }
          if (e.event.case === "exited") break;
        }
        const task = await c.client.getTask({ taskId });
        out.write(`cc watch: task ${taskId} ${(await import("../listings.js")).taskStatusWord(task.status)}\n`);
        return;
      }
      out.write(`cc watch: ${paths.length} changed (${paths.slice(0, 3).join(", ")}${paths.length > 3 ? ", …" : ""}) → task ${taskId}\n`);
      for await (const e of c.client.attach({ taskId, afterSeq: 0n })) if (e.event.case === "exited") break;
      const task = await c.client.getTask({ taskId });
      out.write(`cc watch: task ${taskId} ${(await import("../listings.js")).taskStatusWord(task.status)}\n`);
    },
    onError: (err) => out.write(`cc watch: ${err instanceof Error ? err.message : String(err)}\n`),
  });
  const watchers: TreeWatch[] = [];
  try {
    for (const p of o.paths) {
      const root = resolve(o.cwd, p);
      try {
        watchers.push(
          watchTree(
            root,
            (path) => loop.change(relative(o.cwd, path) || "."),
            (err) => out.write(`cc watch: ${p}: ${err.message}\n`),
          ),
        );
      } catch (err) {
        throw new UsageError(`${p}: cannot watch it (${(err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err))})`);
      }
    }
    out.write(`cc watch: watching ${o.paths.join(", ")}; Ctrl-C stops\n`);
    await o.stop;
  } finally {
    loop.stop();
    for (const w of watchers) w.close();
  }
  return ExitCode.Ok;
}
