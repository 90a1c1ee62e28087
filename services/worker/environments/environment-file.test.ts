import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_TTL_MS, parseEnvironmentFile, readEnvironmentFile } from "./environment-file.js";

const FULL = `setup: |
  npm ci
maintenance: npm install
env:
  APP_ENV: development
  WORKERS: 4
secrets: [NPM_TOKEN, GH_TOKEN]
lockfiles: [package-lock.json]
cache:
  ttl: 6h
setup_timeout: 10m
`;

describe("parseEnvironmentFile", () => {
  it("reads every field", () => {
    expect(parseEnvironmentFile(FULL)).toEqual({
      setup: "npm ci\n",
      maintenance: "npm install",
      env: { APP_ENV: "development", WORKERS: "4" },
      secrets: ["NPM_TOKEN", "GH_TOKEN"],
      lockfiles: ["package-lock.json"],
      ttlMs: 6 * 3_600_000,
      setupTimeoutMs: 600_000,
    });
  });

  it("an empty file is an environment with nothing to do, a 12h cache", () => {
    expect(parseEnvironmentFile("")).toMatchObject({ setup: "", maintenance: "", ttlMs: DEFAULT_TTL_MS, setupTimeoutMs: undefined });
  });

  it.each([
    ["setup: x\nsetpu: y\n", 'line 2: unknown field "setpu" (known: setup, maintenance, env, secrets, lockfiles, cache, setup_timeout)'],
    ["setup: [1]\n", "line 1: setup must be a string"],
    ["env:\n  bad-name: 1\n", 'line 2: env: "bad-name" is not a variable name (letters, digits and _)'],
    ["env:\n  X: 1\n  LD_PRELOAD: /x.so\n", "line 3: env: LD_PRELOAD is reserved by the worker (every LD_* name is); tasks cannot set it"],
    ["env:\n  A: [1]\n", "line 2: env.A must be a string, number or boolean"],
    ["secrets: NPM_TOKEN\n", "line 1: secrets must be a list"],
    ["secrets:\n  - ok\n  - 'no way'\n", 'line 3: secrets: "no way" is not a variable name (letters, digits and _)'],
    ["lockfiles: package-lock.json\n", "line 1: lockfiles must be a list"],
    ["lockfiles: [../outside]\n", 'line 1: lockfiles: "../outside" must be a path inside the repository'],
    ["cache:\n  tll: 1h\n", "line 2: unknown field cache.tll (known: ttl)"],
    ["cache:\n  ttl: soon\n", 'line 2: cache.ttl: "soon" is not a duration such as 90s, 10m or 12h'],
    ["setup_timeout: 0s\n", "line 1: setup_timeout must be more than 0"],
    ["- a list\n", "line 1: expected a mapping of fields (setup, maintenance, env, secrets, lockfiles, cache, setup_timeout)"],
    ["setup: a\nsetup: b\n", "line 2: Map keys must be unique"],
  ])("%j is refused: %s", (text, message) => {
    expect(() => parseEnvironmentFile(text)).toThrow(`.claudecluster/environment.yaml, ${message}`);
  });
});

describe("readEnvironmentFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "cc-envfile-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("none without the file; the hash changes with the file and with a named lockfile, not with other files", () => {
    expect(readEnvironmentFile(dir)).toBeUndefined();
    mkdirSync(join(dir, ".claudecluster"));
    writeFileSync(join(dir, ".claudecluster", "environment.yaml"), "setup: npm ci\nlockfiles: [package-lock.json]\n");
    const missing = readEnvironmentFile(dir)!.inputsHash;
    writeFileSync(join(dir, "package-lock.json"), "{}");
    const locked = readEnvironmentFile(dir)!.inputsHash;
    expect(locked).not.toBe(missing);
    writeFileSync(join(dir, "README.md"), "unrelated");
    expect(readEnvironmentFile(dir)!.inputsHash).toBe(locked);
    writeFileSync(join(dir, "package-lock.json"), '{"v":2}');
    expect(readEnvironmentFile(dir)!.inputsHash).not.toBe(locked);
    writeFileSync(join(dir, ".claudecluster", "environment.yaml"), "setup: npm ci # now commented\nlockfiles: [package-lock.json]\n");
    expect(readEnvironmentFile(dir)!.inputsHash).not.toBe(locked);
  });

  it("refuses a file that is a link, or reached through a linked directory out of the workspace", () => {
    const outside = mkdtempSync(join(tmpdir(), "cc-envfile-outside-"));
    try {
      writeFileSync(join(outside, "environment.yaml"), "setup: echo outside\n");
      const linked = mkdtempSync(join(tmpdir(), "cc-envfile-linked-"));
      symlinkSync(outside, join(linked, ".claudecluster"));
      expect(() => readEnvironmentFile(linked)).toThrow(".claudecluster/environment.yaml: must be a regular file in the repository");
      rmSync(linked, { recursive: true, force: true });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
