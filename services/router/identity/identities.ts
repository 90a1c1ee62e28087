// Who is calling: the identities of CC_TOKENS_FILE (reloaded when the file changes and on SIGHUP) and CC_TOKEN's
// tokens, which stay one admin named `admin`. A router with neither is open: every caller is the same nameless
// admin, as before identities existed. A reload that finds a broken file keeps the last good one and logs why; at
// start a broken file refuses to start (SettingsError, naming the line).
import { readFileSync, statSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { presentedBearer } from "../../common/interceptors.js";
import type { Logger } from "../../common/logger.js";
import { SettingsError } from "../../common/settings.js";
import type { QuotaOverrides } from "../quotas/limits.js";
import { digestOf, type IdentityEntry, parseTokensFile, type Role, TokensFileError } from "./tokens-file.js";

/** A caller, as the router knows it. */
export interface Identity {
  /** Its name: recorded as the owner of its tasks. Empty for the caller of an open router. */
  readonly name: string;
  readonly role: Role;
  /** Limits of its own (CC_TOKENS_FILE); the rest are the router's defaults. */
  readonly quotas: QuotaOverrides;
}

/** Every caller of a router without tokens. */
export const OPEN_ADMIN: Identity = { name: "", role: "admin", quotas: {} };

/** CC_TOKEN's name. */
export const CC_TOKEN_NAME = "admin";


export interface IdentitiesOptions {
  /** CC_TOKEN (and CC_TOKEN_FILE): tokens of the one admin named `admin`. */
  adminTokens: readonly string[];
  /** CC_TOKENS_FILE, or empty. */
  file: string;
  logger: Logger;
  /** How often the file is checked for a change (ms). */
  pollMs?: number;
}

export class Identities {
  private entries: IdentityEntry[] = [];
  private listeners: ((outcome: { ok: boolean; error?: string }) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The file as it was when last read (or tried): a change of any of these reads it again. */
  private seen = "";

  /** Reads the file now: a broken one is a SettingsError naming its line. */
  constructor(private readonly options: IdentitiesOptions) {
    try {
      this.entries = this.read();
    } catch (err) {
      if (err instanceof TokensFileError) throw new SettingsError(`CC_TOKENS_FILE: ${err.message}`);
      throw err;
    }
  }

  /** No token anywhere: every caller is OPEN_ADMIN. */
  get open(): boolean {
    return this.entries.length === 0;
  }

  /** More than one identity: listings show owners to admins. */
  get shared(): boolean {
    return this.entries.length > 1;
  }

  /** The names of every identity, for bounded metric labels. */
  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** The identity of a name (a task's owner), as the file has it now; OPEN_ADMIN's for an open router's "". */
  byName(name: string): Identity | undefined {
    if (this.open) return name === "" ? OPEN_ADMIN : undefined;
    const entry = this.entries.find((e) => e.name === name);
    return entry ? { name: entry.name, role: entry.role, quotas: entry.quotas } : undefined;
  }

  /** The caller a request's `authorization` header names; UNAUTHENTICATED for a missing or unknown token. */
  authenticate(header: Headers): Identity {
    if (this.open) return OPEN_ADMIN;
    const what = this.options.file ? "router token (CC_TOKEN or CC_TOKENS_FILE)" : "router token (CC_TOKEN)";
    const presented = digestOf(presentedBearer(header, what));
    // Every digest is compared (constant time each), so which one matched, or how many there are, leaks nothing.
    let found: IdentityEntry | undefined;
    for (const entry of this.entries) for (const d of entry.digests) if (timingSafeEqual(presented, d) && !found) found = entry;
    if (!found) throw new ConnectError(`wrong ${what}: check the token you were given for this cluster`, Code.Unauthenticated);
    return { name: found.name, role: found.role, quotas: found.quotas };
  }

  /**
   * Reads the file again. A broken or unreadable file changes nothing: the last good identities stay, and the log
   * says why. Returns whether the new file took effect.
   */
  reload(): boolean {
    let next: IdentityEntry[];
    try {
      next = this.read();
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.options.logger.error({ file: this.options.file, err: error }, "CC_TOKENS_FILE not reloaded; keeping the identities it had");
      for (const l of this.listeners) l({ ok: false, error });
      return false;
    }
    this.entries = next;
    this.options.logger.info({ file: this.options.file, identities: next.length }, "CC_TOKENS_FILE reloaded");
    for (const l of this.listeners) l({ ok: true });
    return true;
  }

  /** Told of every reload's outcome (tests wait on it instead of sleeping). */
  onReload(listener: (outcome: { ok: boolean; error?: string }) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  /**
   * Reloads whenever the file changes: polled (atomic renames and Kubernetes secret updates are seen too), against
   * the file as it was when last read, so a change made just after a read is never missed.
   */
  watch(): void {
    if (!this.options.file || this.timer) return;
    this.timer = setInterval(() => {
      if (this.stamp() !== this.seen) this.reload();
    }, this.options.pollMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** What identifies the file's current version: inode, size and modification time ("" when it cannot be read). */
  private stamp(): string {
    try {
      const st = statSync(this.options.file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return "";
    }
  }

  private read(): IdentityEntry[] {
    const entries: IdentityEntry[] = [];
    if (this.options.file) {
      // Taken before reading: a write during the read shows as a change at the next poll.
      this.seen = this.stamp();
      let text: string;
      try {
        text = readFileSync(this.options.file, "utf8");
      } catch (err) {
        throw new SettingsError(`CC_TOKENS_FILE=${JSON.stringify(this.options.file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      entries.push(...parseTokensFile(text, this.options.file));
    }
    if (this.options.adminTokens.length > 0) {
      const digests = this.options.adminTokens.map(digestOf);
      const named = entries.find((e) => e.name === CC_TOKEN_NAME);
      if (named && named.role !== "admin") throw new TokensFileError(this.options.file, 0, `${CC_TOKEN_NAME} is CC_TOKEN's name, an admin; name this user otherwise`);
      for (const d of digests) {
        if (entries.some((e) => e.digests.some((x) => x.equals(d)))) throw new TokensFileError(this.options.file, 0, "a token in CC_TOKEN is also in the file; every token must name one identity");
      }
      if (named) named.digests.push(...digests);
      else entries.push({ name: CC_TOKEN_NAME, role: "admin", digests, quotas: {} });
    }
    return entries;
  }
}
