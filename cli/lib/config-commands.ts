// The logic of `cc config ...`: read, change and write the config file, and describe the settings in force.
import { UsageError } from "clipanion";
import { ExitCode } from "../exit-codes.js";
import { routerUrl } from "../settings.js";
import { ConfigError, configPath, deleteProfile, maskToken, readConfig, setProfile, useProfile, writeConfig, type ConfigFile } from "./config.js";
import { resolveConnection } from "./connection.js";
import type { CommandIO } from "./io.js";

function change(io: CommandIO, fn: (config: ConfigFile) => ConfigFile): { path: string; config: ConfigFile } {
  const path = configPath(io.env);
  try {
    const config = fn(readConfig(path));
    writeConfig(path, config);
    return { path, config };
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

export function configSet(io: CommandIO, name: string, router: string | undefined, token: string | undefined): number {
  let url: string | undefined;
  if (router !== undefined) {
    try {
      url = routerUrl(router);
    } catch (err) {
      throw new UsageError(`--router: ${(err as Error).message}`);
    }
  }
  const { path, config } = change(io, (c) => setProfile(c, name, { ...(url !== undefined ? { router: url } : {}), ...(token !== undefined ? { token } : {}) }));
  const p = config.profiles[name]!;
  io.stdout.write(`profile ${name}: router ${p.router}${p.token ? `, token ${maskToken(p.token)}` : ""}${config.current === name ? " (in use)" : ""}\nsaved in ${path}\n`);
  return ExitCode.Ok;
}

export function configUse(io: CommandIO, name: string): number {
  const { config } = change(io, (c) => useProfile(c, name));
  io.stdout.write(`using profile ${name} (router ${config.profiles[name]!.router})\n`);
  return ExitCode.Ok;
}

export function configDelete(io: CommandIO, name: string): number {
  const { config } = change(io, (c) => deleteProfile(c, name));
  io.stdout.write(`deleted profile ${name}${config.current ? "" : "; no profile is in use now (`cc config use NAME` picks one)"}\n`);
  return ExitCode.Ok;
}

export interface ConfigView {
  path: string;
  current: string | null;
  profiles: Record<string, { router: string; token: string }>;
  effective: { profile: string | null; router: string | null; token: string; source: string };
}

export function configView(io: CommandIO): ConfigView {
  const path = configPath(io.env);
  let config: ConfigFile;
  try {
    config = readConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const conn = resolveConnection(io.env, {});
  const profiles: ConfigView["profiles"] = {};
  for (const [name, p] of Object.entries(config.profiles)) profiles[name] = { router: p.router, token: maskToken(p.token) };
  const source = { flag: "flag", env: "CC_ROUTER_URL", profile: `profile ${conn.profile}`, none: "nothing configured: cc run starts a local cluster" }[conn.source];
  return {
    path,
    current: config.current ?? null,
    profiles,
    effective: { profile: conn.profile || null, router: conn.router || null, token: maskToken(conn.token), source },
  };
}

export function configShow(io: CommandIO, json: boolean): number {
  const view = configView(io);
  if (json) {
    io.stdout.write(JSON.stringify(view, null, 2) + "\n");
    return ExitCode.Ok;
  }
  const lines = [`config file: ${view.path}`];
  const names = Object.keys(view.profiles);
  if (names.length === 0) lines.push("profiles: none (add one with `cc config set NAME --router URL`)");
  for (const name of names) {
    const p = view.profiles[name]!;
    lines.push(`${name === view.current ? "*" : " "} ${name}  ${p.router}${p.token ? `  token ${p.token}` : ""}`);
  }
  lines.push(`in use: ${view.effective.router ?? "(no router)"}${view.effective.token ? ` with token ${view.effective.token}` : ""} — from ${view.effective.source}`);
  io.stdout.write(lines.join("\n") + "\n");
  return ExitCode.Ok;
}
