// The config file: named profiles (e.g. local, cloud), each with a router URL and a token, and which one is in use.
// Stored as JSON at $XDG_CONFIG_HOME/claudecluster/config.json (default ~/.config/...), readable by its owner only,
// because it holds tokens.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export interface Profile {
  router: string;
  token?: string;
}

export interface ConfigFile {
  /** The profile in use when neither --profile nor CC_PROFILE says otherwise. */
  current?: string;
  profiles: Record<string, Profile>;
}

export class ConfigError extends Error {}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkProfileName(name: string): void {
  if (!PROFILE_NAME.test(name)) throw new ConfigError(`profile names are 1-64 letters, digits, '.', '_' or '-' (got "${name}")`);
}

export function configPath(env: Record<string, string | undefined>): string {
  const base = env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config");
  return join(base, "claudecluster", "config.json");
}

export function readConfig(path: string): ConfigFile {
  let raw: string;
  try {
    raw = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { profiles: {} };
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${path} is not valid JSON; fix it or delete it and run \`cc config set\` again`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`${path}: expected a JSON object`);
  const obj = parsed as Record<string, unknown>;
  const profiles: Record<string, Profile> = {};
  const rawProfiles = obj["profiles"];
  if (rawProfiles !== undefined && (typeof rawProfiles !== "object" || rawProfiles === null || Array.isArray(rawProfiles))) {
    throw new ConfigError(`${path}: "profiles" must be an object`);
  }
  for (const [name, value] of Object.entries((rawProfiles ?? {}) as Record<string, unknown>)) {
    const p = (value ?? {}) as Record<string, unknown>;
    if (typeof p["router"] !== "string") throw new ConfigError(`${path}: profile "${name}" has no "router" URL`);
    profiles[name] = { router: p["router"], ...(typeof p["token"] === "string" && p["token"] !== "" ? { token: p["token"] } : {}) };
  }
  const current = typeof obj["current"] === "string" ? obj["current"] : undefined;
  return { ...(current ? { current } : {}), profiles };
}

/** Writes atomically with mode 0600 (directory 0700), whatever the umask. */
export function writeConfig(path: string, config: ConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Adds or updates a profile. The first profile ever set becomes the current one. */
export function setProfile(config: ConfigFile, name: string, update: { router?: string; token?: string }): ConfigFile {
  checkProfileName(name);
  const before = config.profiles[name];
  const router = update.router ?? before?.router;
  if (!router) throw new ConfigError(`profile "${name}" is new: give its router with --router URL`);
  const token = update.token !== undefined ? update.token : before?.token;
  const profile: Profile = { router, ...(token ? { token } : {}) };
  const profiles = { ...config.profiles, [name]: profile };
  return { current: config.current && config.profiles[config.current] ? config.current : name, profiles };
}

export function useProfile(config: ConfigFile, name: string): ConfigFile {
  if (!config.profiles[name]) throw new ConfigError(unknownProfile(config, name));
  return { ...config, current: name };
}

export function deleteProfile(config: ConfigFile, name: string): ConfigFile {
  if (!config.profiles[name]) throw new ConfigError(unknownProfile(config, name));
  const profiles = { ...config.profiles };
  delete profiles[name];
  const current = config.current === name ? undefined : config.current;
  return { ...(current ? { current } : {}), profiles };
}

export function unknownProfile(config: ConfigFile, name: string): string {
  const names = Object.keys(config.profiles);
  return names.length === 0
    ? `no profile "${name}": there are no profiles yet; add one with \`cc config set ${name} --router URL\``
    : `no profile "${name}"; known profiles: ${names.join(", ")} (add one with \`cc config set ${name} --router URL\`)`;
}

/** Masks a token: only its last 4 characters show, and only for tokens long enough that this gives nothing away. */
export function maskToken(token: string | undefined): string {
  if (!token) return "";
  return token.length >= 16 ? `****${token.slice(-4)}` : "****";
}
