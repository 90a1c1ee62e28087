// Which router to talk to and with what token: the flag, else the environment, else the active profile of the
// config file. With none of them, `cc run` starts an embedded local cluster and other commands say how to get one.
import { UsageError } from "clipanion";
import { SettingsError } from "../../services/common/settings.js";
import { readCliSettings } from "../settings.js";
import { ConfigError, configPath, readConfig, unknownProfile, type Profile } from "./config.js";

export interface ConnectionFlags {
  router?: string | undefined;
  token?: string | undefined;
  profile?: string | undefined;
}

export interface Connection {
  /** Router URL; "" when nothing is configured. */
  router: string;
  token: string;
  /** The profile in use, if any. */
  profile: string;
  /** Where the router URL came from. */
  source: "flag" | "env" | "profile" | "none";
}

export function resolveConnection(env: Record<string, string | undefined>, flags: ConnectionFlags): Connection {
  try {
    const config = readConfig(configPath(env));
    const explicit = flags.profile ?? (env["CC_PROFILE"] || undefined);
    const profileName = explicit ?? config.current ?? "";
    let profile: Profile | undefined;
    if (profileName) {
      profile = config.profiles[profileName];
      if (!profile && explicit !== undefined) throw new ConfigError(unknownProfile(config, profileName));
    }
    const settings = readCliSettings(env, { router: flags.router, token: flags.token }, profile ? { router: profile.router, ...(profile.token ? { token: profile.token } : {}) } : {});
    const source = flags.router !== undefined ? "flag" : env["CC_ROUTER_URL"] ? "env" : profile ? "profile" : "none";
    return { router: settings.router, token: settings.token, profile: profile ? profileName : "", source: settings.router ? source : "none" };
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    if (err instanceof SettingsError) throw new UsageError(flagWording(err.message, flags));
    throw err;
  }
}

/** A bad --router value is reported under the flag's name, not the variable's. */
function flagWording(message: string, flags: ConnectionFlags): string {
  if (flags.router !== undefined && message.startsWith("CC_ROUTER_URL=")) return message.replace(/^CC_ROUTER_URL=/, "--router ");
  return message;
}
