// CC_TOKENS_FILE: who may call the router and as whom. One identity per line, `NAME ROLE TOKEN [LIMIT=VALUE...]`:
// ROLE is `admin` or `user`; TOKEN is the token itself or `sha256:` and the hex SHA-256 digest of it (preferred: the
// file then holds nothing a reader could present); the optional limits override the router's quota and budget
// defaults for that identity (running=2 queued=10 timeout=1h daily=5 monthly=50). `#` at the start of a line or
// after a space starts a comment. A mistake anywhere refuses the whole file, naming the line, so that a typo never
// silently locks someone out or lets someone in.
import { createHash } from "node:crypto";
import { duration } from "../../common/settings.js";
import type { QuotaOverrides } from "../quotas/limits.js";

export type Role = "admin" | "user";

/** One identity as the file (or CC_TOKEN) declares it. */
export interface IdentityEntry {
  name: string;
  role: Role;
  /** SHA-256 digests of its tokens (one per line naming it). */
  digests: Buffer[];
  /** Limits of its own; unset ones are the router's defaults. */
  quotas: QuotaOverrides;
}

/** A file that cannot be used, with the line (1-based) that is wrong. */
export class TokensFileError extends Error {
  constructor(
    readonly path: string,
    readonly line: number,
    problem: string,
  ) {
    super(line > 0 ? `${path}:${line}: ${problem}` : `${path}: ${problem}`);
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const DIGEST = /^sha256:([0-9a-fA-F]{64})$/;
const LIMITS = ["running", "queued", "timeout", "daily", "monthly"] as const;

export function digestOf(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** The digest a TOKEN field stands for: given (`sha256:<hex>`), or computed from the token itself. */
function tokenDigest(field: string): Buffer {
  const m = DIGEST.exec(field);
  return m ? Buffer.from(m[1]!, "hex") : digestOf(field);
}

/** Parses a tokens file's text. Throws TokensFileError naming the first line that is wrong. */
export function parseTokensFile(text: string, path: string): IdentityEntry[] {
  const byName = new Map<string, IdentityEntry>();
  const lineOfDigest = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i += 1) {
    const n = i + 1;
    const content = lines[i]!.replace(/(^|\s)#.*$/, "").trim();
    if (content === "") continue;
    const [name, role, token, ...limits] = content.split(/\s+/);
    if (!token) throw new TokensFileError(path, n, "expected `NAME ROLE TOKEN` (ROLE admin or user, TOKEN the token or sha256:<hex digest>)");
    if (!NAME.test(name!)) throw new TokensFileError(path, n, `the name ${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_', '@' or '-'`);
    if (role !== "admin" && role !== "user") throw new TokensFileError(path, n, `unknown role ${JSON.stringify(role)}: use admin or user`);
    if (token.startsWith("sha256:") && !DIGEST.test(token)) throw new TokensFileError(path, n, "a sha256: token must be followed by 64 hex digits (`printf %s TOKEN | sha256sum`)");
    const digest = tokenDigest(token);
    const key = digest.toString("hex");
    const earlier = lineOfDigest.get(key);
    if (earlier !== undefined) throw new TokensFileError(path, n, `duplicate token: line ${earlier} has the same one; every token must name one identity`);
    lineOfDigest.set(key, n);
    const quotas = parseLimits(limits, path, n);
    const existing = byName.get(name!);
    if (existing) {
      // Several lines of one name: its tokens while one is rotated. One role per name.
      if (existing.role !== role) throw new TokensFileError(path, n, `${name} is ${existing.role} on an earlier line; one name has one role`);
      existing.digests.push(digest);
      Object.assign(existing.quotas, quotas);
    } else byName.set(name!, { name: name!, role, digests: [digest], quotas });
  }
  if (byName.size === 0) throw new TokensFileError(path, lines.length, "the file names no identity (an empty file would let no one in)");
  return [...byName.values()];
}

function parseLimits(fields: string[], path: string, line: number): QuotaOverrides {
  const out: QuotaOverrides = {};
  for (const field of fields) {
    const eq = field.indexOf("=");
    const key = field.slice(0, eq) as (typeof LIMITS)[number];
    const value = field.slice(eq + 1);
    if (eq <= 0 || !LIMITS.includes(key)) throw new TokensFileError(path, line, `unknown field ${JSON.stringify(field)}: limits are ${LIMITS.map((l) => `${l}=`).join(", ")}`);
    try {
      if (key === "timeout") out.maxTimeoutMs = duration(value);
      else if (key === "daily" || key === "monthly") {
        const usd = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
        if (!Number.isFinite(usd)) throw new Error("expected US dollars such as 5 or 2.50");
        out[key === "daily" ? "dailyUsd" : "monthlyUsd"] = usd;
      } else {
        if (!/^\d{1,6}$/.test(value)) throw new Error("expected a whole number of tasks");
        out[key] = Number(value);
      }
    } catch (err) {
      throw new TokensFileError(path, line, `${key}=${value}: ${(err as Error).message}`);
    }
  }
  return out;
}
