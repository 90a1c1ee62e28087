import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SettingsError } from "../../common/settings.js";
import { Identities, parseTokensFile, TokensFileError, visibleTo } from "./index.js";

const sha = (t: string) => `sha256:${createHash("sha256").update(t).digest("hex")}`;
const bearer = (t: string) => new Headers({ authorization: `Bearer ${t}` });

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

function rejection(f: () => unknown): ConnectError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConnectError) return err;
    throw err;
  }
  throw new Error("expected a ConnectError");
}

describe("tokens file", () => {
  it("reads names, roles, plain tokens and sha256 digests, skipping comments and blank lines", () => {
    const entries = parseTokensFile(
      ["# the team", "", "alice user " + sha("alice-secret") + "  # Alice", "root admin root-secret", "bob user bob#1 running=2 queued=5 timeout=1h daily=2.5 monthly=40"].join("\n"),
      "tokens",
    );
    expect(entries.map((e) => [e.name, e.role])).toEqual([
      ["alice", "user"],
      ["root", "admin"],
      ["bob", "user"],
    ]);
    expect(entries[2]!.quotas).toEqual({ running: 2, queued: 5, maxTimeoutMs: 3_600_000, dailyUsd: 2.5, monthlyUsd: 40 });
  });

  it.each([
    ["alice user", "tokens:1: expected `NAME ROLE TOKEN`"],
    ["alice owner tok", 'tokens:1: unknown role "owner": use admin or user'],
    ["# c\nalice user sha256:abc", "tokens:2: a sha256: token must be followed by 64 hex digits"],
    ["alice user one\nbob user one", "tokens:2: duplicate token: line 1 has the same one"],
    [`alice user one\nbob user ${sha("one")}`, "tokens:2: duplicate token: line 1 has the same one"],
    ["alice user one\nalice admin two", "tokens:2: alice is user on an earlier line"],
    ["al/ice user one", 'tokens:1: the name "al/ice" must be'],
    ["alice user one speed=3", 'tokens:1: unknown field "speed=3"'],
    ["alice user one daily=lots", "tokens:1: daily=lots: expected US dollars"],
    ["# only a comment\n", "tokens:2: the file names no identity"],
  ])("refuses %j naming the line", (text, message) => {
    expect(() => parseTokensFile(text, "tokens")).toThrow(TokensFileError);
    expect(() => parseTokensFile(text, "tokens")).toThrow(message);
  });
});

describe("Identities", () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "cc-identities-"));
    file = join(dir, "tokens");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("knows each token's identity, CC_TOKEN as the admin named admin, and refuses any other token", () => {
    writeFileSync(file, `alice user ${sha("a")}\nbob user b\n`);
    const ids = new Identities({ adminTokens: ["root"], file, logger: capture().logger });
    expect(ids.authenticate(bearer("a"))).toMatchObject({ name: "alice", role: "user" });
    expect(ids.authenticate(bearer("b"))).toMatchObject({ name: "bob", role: "user" });
    expect(ids.authenticate(bearer("root"))).toMatchObject({ name: "admin", role: "admin" });
    expect(ids.shared).toBe(true);
    const wrong = rejection(() => ids.authenticate(bearer(sha("a"))));
    expect(wrong.code).toBe(Code.Unauthenticated);
    expect(wrong.rawMessage).toBe("wrong router token (CC_TOKEN or CC_TOKENS_FILE): check the token you were given for this cluster");
    expect(rejection(() => ids.authenticate(new Headers())).rawMessage).toContain("no authorization header");
  });

  it("without any token is open: every caller is one nameless admin", () => {
    const ids = new Identities({ adminTokens: [], file: "", logger: capture().logger });
    expect(ids.open).toBe(true);
    expect(ids.authenticate(new Headers())).toMatchObject({ name: "", role: "admin" });
  });

  it("refuses to start on a malformed file, naming the file and line", () => {
    writeFileSync(file, "alice user a\nbob superuser b\n");
    expect(() => new Identities({ adminTokens: [], file, logger: capture().logger })).toThrow(SettingsError);
    expect(() => new Identities({ adminTokens: [], file, logger: capture().logger })).toThrow(`CC_TOKENS_FILE: ${file}:2: unknown role "superuser": use admin or user`);
    expect(() => new Identities({ adminTokens: ["a"], file: join(dir, "missing"), logger: capture().logger })).toThrow("cannot read it (ENOENT)");
  });

  it("refuses a CC_TOKEN that the file gives to someone", () => {
    writeFileSync(file, "alice user a\n");
    expect(() => new Identities({ adminTokens: ["a"], file, logger: capture().logger })).toThrow("a token in CC_TOKEN is also in the file");
  });

  it("reloads a good file, and keeps the last good one (logging why) when the new one is broken", () => {
    writeFileSync(file, "alice user a\n");
    const { logger, lines } = capture();
    const ids = new Identities({ adminTokens: [], file, logger });
    writeFileSync(file, "alice user a2\ncarol user c\n");
    expect(ids.reload()).toBe(true);
    expect(ids.authenticate(bearer("c")).name).toBe("carol");
    expect(() => ids.authenticate(bearer("a"))).toThrow(ConnectError);
    writeFileSync(file, "alice user a2\ncarol user a2\n");
    expect(ids.reload()).toBe(false);
    // The last good file still holds.
    expect(ids.authenticate(bearer("c")).name).toBe("carol");
    const error = lines.find((l) => l["msg"] === "CC_TOKENS_FILE not reloaded; keeping the identities it had");
    expect(error?.["err"]).toBe(`${file}:2: duplicate token: line 1 has the same one; every token must name one identity`);
    // No token is ever logged.
    expect(JSON.stringify(lines)).not.toContain("\"a2\"");
  });

  it("reloads by itself when the file changes", async () => {
    writeFileSync(file, "alice user a\n");
    const ids = new Identities({ adminTokens: [], file, logger: capture().logger, pollMs: 20 });
    ids.watch();
    try {
      const reloaded = new Promise<{ ok: boolean }>((resolve) => ids.onReload(resolve));
      writeFileSync(file, "alice user a\ndave admin dddd\n");
      expect(await reloaded).toEqual({ ok: true });
      expect(ids.authenticate(bearer("dddd"))).toMatchObject({ name: "dave", role: "admin" });
    } finally {
      ids.stop();
    }
  });

  it("scopes tasks: a user sees its own, an admin every one", () => {
    const alice = { name: "alice", role: "user" as const, quotas: {} };
    const root = { name: "root", role: "admin" as const, quotas: {} };
    expect(visibleTo(alice, { owner: "alice" })).toBe(true);
    expect(visibleTo(alice, { owner: "bob" })).toBe(false);
    expect(visibleTo(alice, { owner: "" })).toBe(false);
    expect(visibleTo(root, { owner: "bob" })).toBe(true);
  });
});
