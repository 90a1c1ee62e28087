// Configuration: the settings table's precedence (flag > env > profile > default), profiles in the config file,
// and the file's permissions.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCli, runCli } from "../cli.js";
import { CLI_SETTINGS, readCliSettings } from "../settings.js";
import { Capture } from "../testing/fixtures.js";
import { configPath, maskToken, readConfig } from "./config.js";
import { resolveConnection } from "./connection.js";

let home: string;
let env: Record<string, string>;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "cc-config-test-"));
  env = { HOME: home, XDG_CONFIG_HOME: join(home, "xdg") };
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function cc(...argv: string[]) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(createCli(), argv, { stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("settings table", () => {
  it("has defaults: no router, no token, no profile", () => {
    expect(readCliSettings({})).toEqual({ profile: "", router: "", token: "", configHome: "", stateHome: "", noColor: false });
  });

  it("takes the environment over the profile, and flags over the environment", () => {
    const profile = { router: "http://from-profile:1", token: "profile-token" };
    expect(readCliSettings({}, {}, profile)).toMatchObject({ router: "http://from-profile:1", token: "profile-token" });
    expect(readCliSettings({ CC_ROUTER_URL: "http://from-env:2" }, {}, profile)).toMatchObject({ router: "http://from-env:2", token: "profile-token" });
    expect(readCliSettings({ CC_ROUTER_URL: "http://from-env:2", CC_TOKEN: "env-token" }, { router: "http://from-flag:3" }, profile)).toMatchObject({
      router: "http://from-flag:3",
      token: "env-token",
    });
    expect(readCliSettings({ CC_TOKEN: "env-token" }, { token: "flag-token" })).toMatchObject({ token: "flag-token" });
    // An empty variable counts as unset.
    expect(readCliSettings({ CC_ROUTER_URL: "" }, {}, profile)).toMatchObject({ router: "http://from-profile:1" });
  });

  it("normalises router URLs and refuses what is not http(s)", () => {
    expect(readCliSettings({ CC_ROUTER_URL: "127.0.0.1:8400/" }).router).toBe("http://127.0.0.1:8400");
    expect(() => readCliSettings({ CC_ROUTER_URL: "ftp://x" })).toThrow('CC_ROUTER_URL="ftp://x": expected an http:// or https:// URL, got ftp://');
  });

  it("documents every setting with a variable and a description", () => {
    for (const s of Object.values(CLI_SETTINGS)) {
      expect(s.env).toMatch(/^[A-Z_]+$/);
      expect(s.description.length).toBeGreaterThan(10);
    }
  });
});

describe("config file", () => {
  it("lives under XDG_CONFIG_HOME, else ~/.config", () => {
    expect(configPath({ XDG_CONFIG_HOME: "/x" })).toBe("/x/claudecluster/config.json");
    expect(configPath({ HOME: "/home/u" })).toBe("/home/u/.config/claudecluster/config.json");
  });

  it("cc config set writes profiles with mode 0600; the first becomes the one in use", async () => {
    const r = await cc("config", "set", "local", "--router", "http://127.0.0.1:8400");
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toContain("profile local: router http://127.0.0.1:8400 (in use)");
    const path = configPath(env);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(env.XDG_CONFIG_HOME!, "claudecluster")).mode & 0o777).toBe(0o700);
    await cc("config", "set", "cloud", "--router", "https://router.example.com", "--token", "secret-token-1234567890");
    expect(readConfig(path)).toEqual({
      current: "local",
      profiles: { local: { router: "http://127.0.0.1:8400" }, cloud: { router: "https://router.example.com", token: "secret-token-1234567890" } },
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("switches profiles with cc config use, CC_PROFILE and --profile", async () => {
    await cc("config", "set", "local", "--router", "http://127.0.0.1:8400");
    await cc("config", "set", "cloud", "--router", "https://router.example.com", "--token", "secret-token-1234567890");
    expect(resolveConnection(env, {})).toEqual({ router: "http://127.0.0.1:8400", token: "", profile: "local", source: "profile" });
    expect((await cc("config", "use", "cloud")).stdout).toBe("using profile cloud (router https://router.example.com)\n");
    expect(resolveConnection(env, {})).toEqual({ router: "https://router.example.com", token: "secret-token-1234567890", profile: "cloud", source: "profile" });
    expect(resolveConnection({ ...env, CC_PROFILE: "local" }, {})).toMatchObject({ router: "http://127.0.0.1:8400", profile: "local" });
    expect(resolveConnection({ ...env, CC_PROFILE: "local" }, { profile: "cloud" })).toMatchObject({ profile: "cloud" });
    expect(resolveConnection({ ...env, CC_ROUTER_URL: "http://env:1" }, {})).toMatchObject({ router: "http://env:1", token: "secret-token-1234567890", source: "env" });
    expect(resolveConnection({ ...env, CC_ROUTER_URL: "http://env:1", CC_TOKEN: "t2" }, { router: "http://flag:2" })).toMatchObject({ router: "http://flag:2", token: "t2", source: "flag" });
    expect(() => resolveConnection({ ...env, CC_PROFILE: "nope" }, {})).toThrow('no profile "nope"; known profiles: local, cloud');
    const bad = await cc("config", "use", "nope");
    expect(bad).toMatchObject({ code: 2, stderr: 'cc: no profile "nope"; known profiles: local, cloud (add one with `cc config set nope --router URL`)\n' });
  });

  it("cc config show masks tokens and says where the router comes from", async () => {
    await cc("config", "set", "cloud", "--router", "https://router.example.com", "--token", "secret-token-1234567890");
    const shown = await cc("config", "show");
    expect(shown.stdout).toBe(
      `config file: ${configPath(env)}\n* cloud  https://router.example.com  token ****7890\nin use: https://router.example.com with token ****7890 — from profile cloud\n`,
    );
    expect(shown.stdout).not.toContain("secret");
    const json = JSON.parse((await cc("config", "show", "--json")).stdout) as Record<string, unknown>;
    expect(json).toEqual({
      path: configPath(env),
      current: "cloud",
      profiles: { cloud: { router: "https://router.example.com", token: "****7890" } },
      effective: { profile: "cloud", router: "https://router.example.com", token: "****7890", source: "profile cloud" },
    });
    env.CC_ROUTER_URL = "http://other:9";
    expect((await cc("config")).stdout).toContain("in use: http://other:9 with token ****7890 — from CC_ROUTER_URL");
    expect(maskToken("short")).toBe("****");
  });

  it("cc config set changes a token alone, and cc config delete forgets a profile", async () => {
    await cc("config", "set", "cloud", "--router", "https://router.example.com", "--token", "old-token-000000000");
    await cc("config", "set", "cloud", "--token", "new-token-111111111");
    expect(readConfig(configPath(env)).profiles["cloud"]).toEqual({ router: "https://router.example.com", token: "new-token-111111111" });
    expect((await cc("config", "set", "fresh")).stderr).toBe('cc: profile "fresh" is new: give its router with --router URL\n');
    expect((await cc("config", "set", "bad name", "--router", "http://x")).code).toBe(2);
    const d = await cc("config", "delete", "cloud");
    expect(d.stdout).toBe("deleted profile cloud; no profile is in use now (`cc config use NAME` picks one)\n");
    expect(readConfig(configPath(env))).toEqual({ profiles: {} });
    expect((await cc("config", "delete", "cloud")).code).toBe(2);
  });

  it("reports a broken config file with a way out", async () => {
    mkdirSync(join(env.XDG_CONFIG_HOME!, "claudecluster"), { recursive: true });
    writeFileSync(configPath(env), "{ not json");
    const r = await cc("ps");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not valid JSON; fix it or delete it");
    expect(readFileSync(configPath(env), "utf8")).toBe("{ not json");
  });
});
