// Each task's private HOME: `<state>/tasks/<tag>/home`, outside the workspace root, seeded from the worker's claude
// configuration without its credentials (seed.ts), holding only this task's transcripts (transcripts.ts), and gone
// when the task ends. Its directory also records which worker process owns it, so a worker that starts after one
// died (SIGKILL, OOM) can tell what was left behind: the processes of an unsandboxed task, and its transcripts.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../common/logger.js";
import { seedTaskHome, type BaseConfig } from "./seed.js";
import { TranscriptStore } from "./transcripts.js";

export { isSessionId, projectDirName, TranscriptStore, TranscriptTooLarge } from "./transcripts.js";
export type { BaseConfig } from "./seed.js";

export interface TaskHomeOptions {
  /** The task's workspace (trusted in its .claude.json). */
  workspace: string;
  /** The API key claude is given (approved in its .claude.json). */
  apiKey: string;
  /** A session to resume: its transcript is put in the new HOME. */
  resumeSessionId?: string;
  /** That session's transcript, sent with the task (it ran on another worker): placed instead of looked up here. */
  resumeTranscript?: Uint8Array;
}

export class TaskHomes {
  private readonly tasks: string;
  private readonly owner = ownerRecord(process.pid);

  constructor(
    /** The worker's own state directory (`<claude home>/.claudecluster`). */
    stateDir: string,
    private readonly base: BaseConfig,
    readonly transcripts: TranscriptStore,
    private readonly logger: Logger,
  ) {
    this.tasks = join(stateDir, "tasks");
  }

  /** Creates and seeds the HOME of the task (or warm process) tagged `tag`, and returns its path. */
  create(tag: string, options: TaskHomeOptions): string {
    const dir = join(this.tasks, tag);
    const home = join(dir, "home");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(home, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "owner"), this.owner);
    seedTaskHome(home, this.base, options);
    if (options.resumeSessionId && options.resumeTranscript) this.transcripts.place(options.resumeSessionId, options.resumeTranscript, home, options.workspace);
    else if (options.resumeSessionId && !this.transcripts.restore(options.resumeSessionId, home, options.workspace)) {
      this.logger.info({ tag, sessionId: options.resumeSessionId }, "no transcript of the session to resume on this worker");
    }
    return home;
  }

  home(tag: string): string {
    return join(this.tasks, tag, "home");
  }

  /** Keeps the task's transcripts and removes its HOME. Never throws. */
  release(tag: string): void {
    this.keepTranscripts(tag);
    rmSync(join(this.tasks, tag), { recursive: true, force: true });
  }

  /**
   * Copies the task's transcripts into the worker's store now (claude has exited), so GetTranscript has them as
   * soon as the task's `exited` is out. Never throws.
   */
  keepTranscripts(tag: string): void {
    try {
      this.transcripts.save(this.home(tag));
    } catch (err) {
      this.logger.error({ tag, err }, "could not keep the transcripts of a task");
    }
  }

  /** Tags of task directories whose owning worker process is gone. */
  orphans(): string[] {
    let tags: string[];
    try {
      tags = readdirSync(this.tasks);
    } catch {
      return [];
    }
    return tags.filter((tag) => {
      let owner: string;
      try {
        owner = readFileSync(join(this.tasks, tag, "owner"), "utf8");
      } catch {
        return true; // never finished being created
      }
      const pid = Number(owner.split(" ")[0]);
      return !pid || ownerRecord(pid) !== owner;
    });
  }
}

/** A process's pid and start time (clock ticks since boot): a pid reused by another process does not match. */
function ownerRecord(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return `${pid} ${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
  } catch {
    return "";
  }
}
