// Where session transcripts are kept between tasks. Each task's claude writes its transcript in its own private
// HOME (`~/.claude/projects/<project>/<session id>.jsonl`, plus a `<session id>/` directory for subagents and large
// tool results); when the task ends they are copied into the worker's own claude configuration, in the same layout
// (where a shared HOME used to keep them), and a later task that resumes a session gets a copy of that one session
// in its HOME. No task sees another session's transcript.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A transcript larger than the bound asked for: it is not handed out (GetTranscript answers RESOURCE_EXHAUSTED). */
export class TranscriptTooLarge extends Error {
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`the transcript is ${bytes} bytes, more than the ${maxBytes} allowed`);
  }
}

/** Session ids are letters, digits and '-' (validated in the request); nothing here may be a path. */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

/** claude's directory name for a project: its path with every character but letters and digits replaced by '-'. */
export function projectDirName(cwd: string): string {
  return cwd.replace(/[^A-Za-z0-9]/g, "-");
}

export function isSessionId(sessionId: string): boolean {
  return SESSION_ID.test(sessionId);
}

export class TranscriptStore {
  /** `projects` is the directory transcripts are kept in: `<the worker's claude config>/projects`. */
  constructor(private readonly projects: string) {}

  /** Copies every transcript of a task's HOME into the store (newer copies of a resumed session replace older ones). */
  save(home: string): void {
    const from = join(home, ".claude", "projects");
    if (!existsSync(from)) return;
    mkdirSync(this.projects, { recursive: true, mode: 0o700 });
    cpSync(from, this.projects, { recursive: true, force: true });
  }

  /**
   * Puts the transcript of `sessionId` into a task's HOME, under the project of `cwd`, so `claude --resume` finds
   * it. Returns false when this worker has no such session (claude then says so itself). The one place that looks a
   * session up: a store shared between workers would answer here.
   */
  restore(sessionId: string, home: string, cwd: string): boolean {
    if (!isSessionId(sessionId)) return false;
    const found = this.find(sessionId);
    if (!found) return false;
    const to = join(home, ".claude", "projects", projectDirName(cwd));
    mkdirSync(to, { recursive: true, mode: 0o700 });
    cpSync(join(found, `${sessionId}.jsonl`), join(to, `${sessionId}.jsonl`));
    const extra = join(found, sessionId);
    if (existsSync(extra)) cpSync(extra, join(to, sessionId), { recursive: true });
    return true;
  }

  /**
   * The kept transcript of `sessionId` (its `.jsonl`), for a router to keep so the session continues elsewhere;
   * undefined when there is none. Throws TranscriptTooLarge over `maxBytes`, before reading it.
   */
  read(sessionId: string, maxBytes: number): Buffer | undefined {
    if (!isSessionId(sessionId)) return undefined;
    const found = this.find(sessionId);
    if (!found) return undefined;
    const file = join(found, `${sessionId}.jsonl`);
    const bytes = statSync(file).size;
    if (bytes > maxBytes) throw new TranscriptTooLarge(bytes, maxBytes);
    return readFileSync(file);
  }

  /**
   * Writes a transcript that came with the task (from the router: the session ran on another worker) into a task's
   * HOME, under the project of `cwd`: claude names a project by its directory, which differs between workers.
   */
  place(sessionId: string, jsonl: Uint8Array, home: string, cwd: string): boolean {
    if (!isSessionId(sessionId)) return false;
    const to = join(home, ".claude", "projects", projectDirName(cwd));
    mkdirSync(to, { recursive: true, mode: 0o700 });
    writeFileSync(join(to, `${sessionId}.jsonl`), jsonl, { mode: 0o600 });
    return true;
  }

  /** The project directory holding the newest transcript of `sessionId`. */
  private find(sessionId: string): string | undefined {
    let best: { dir: string; mtime: number } | undefined;
    let projects: string[];
    try {
      projects = readdirSync(this.projects);
    } catch {
      return undefined;
    }
    for (const project of projects) {
      const dir = join(this.projects, project);
      try {
        const mtime = statSync(join(dir, `${sessionId}.jsonl`)).mtimeMs;
        if (!best || mtime > best.mtime) best = { dir, mtime };
      } catch {
        // Not in this project.
      }
    }
    return best?.dir;
  }
}
