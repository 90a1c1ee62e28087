import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readRouterSettings } from "../router/settings.js";
import { readWorkerSettings } from "../worker/settings.js";
import { readTlsFiles, readTokenFile } from "./secrets.js";
import { SettingsError } from "./settings.js";

describe("secrets from files", () => {
  const dirs: string[] = [];
  function file(text: string): string {
    const dir = mkdtempSync(join(tmpdir(), "cc-secrets-"));
    dirs.push(dir);
    writeFileSync(join(dir, "secret"), text);
    return join(dir, "secret");
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("reads tokens one per line or comma-separated, skipping blanks and comments", () => {
    expect(readTokenFile("CC_TOKEN_FILE", file("new-token\n# rotated out next week:\nold-token, older\n\n"))).toEqual(["new-token", "old-token", "older"]);
    // A secret mounted by a platform usually ends without a newline, or with one.
    expect(readTokenFile("CC_TOKEN_FILE", file("only"))).toEqual(["only"]);
    expect(readTokenFile("CC_TOKEN_FILE", "")).toEqual([]);
  });

  it("an empty or missing file is an error naming the variable, never 'accept anyone'", () => {
    expect(() => readTokenFile("CC_TOKEN_FILE", file("\n# nothing\n"))).toThrow(/CC_TOKEN_FILE=.*holds no token/);
    expect(() => readTokenFile("CC_TOKEN_FILE", "/nonexistent/token")).toThrow(SettingsError);
    expect(() => readTokenFile("CC_TOKEN_FILE", "/nonexistent/token")).toThrow(/ENOENT/);
  });

  it("the services add file tokens after the environment's, so the first sent stays the env one", () => {
    const router = readRouterSettings({ CC_TOKEN: "a", CC_TOKEN_FILE: file("b\nc"), CC_WORKER_TOKEN: "w1", CC_WORKER_TOKEN_FILE: file("w2") });
    expect(router.tokens).toEqual(["a", "b", "c"]);
    expect(router.workerTokens).toEqual(["w1", "w2"]);
    const worker = readWorkerSettings({ CC_WORKER_TOKEN_FILE: file("w2\n") });
    expect(worker.workerTokens).toEqual(["w2"]);
  });

  it("TLS needs both the certificate and the key", () => {
    expect(readTlsFiles("", "")).toBeUndefined();
    expect(() => readTlsFiles("/a.pem", "")).toThrow(/CC_TLS_CERT and CC_TLS_KEY go together/);
    expect(() => readTlsFiles("/nonexistent/cert.pem", "/nonexistent/key.pem")).toThrow(/CC_TLS_CERT=.*ENOENT/);
    expect(readTlsFiles(file("CERT"), file("KEY"))).toEqual({ cert: Buffer.from("CERT"), key: Buffer.from("KEY") });
  });
});
