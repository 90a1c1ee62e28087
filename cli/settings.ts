// Every cc setting in one table: its flag, environment variable, default and meaning. Precedence, highest first:
// the flag, the environment variable, the active profile of the config file, the default. The table also renders
// the `cc config --help` text, so the documentation cannot drift from the code.
import { readSettings, text, type Setting, type SettingsOf } from "../services/common/settings.js";

export interface CliSetting<T> extends Setting<T> {
  /** The command-line flag that sets it, if any. */
  flag: string;
  /** Key of the profile entry in config.json that sets it, if any. */
  profileKey?: "router" | "token";
}

/** Router URLs must be http(s) URLs; a bare host:port gets http://. */
export function routerUrl(raw: string): string {
  const v = raw.trim().replace(/\/+$/, "");
  if (v === "") return "";
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error("expected a URL such as http://127.0.0.1:8080");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`expected an http:// or https:// URL, got ${url.protocol}//`);
  return withScheme;
}

export const CLI_SETTINGS = {
  profile: {
    flag: "--profile",
    env: "CC_PROFILE",
    default: "",
    description: "Profile of the config file to use; default the one chosen with `cc config use`.",
    parse: text,
  },
  router: {
    flag: "--router",
    env: "CC_ROUTER_URL",
    default: "",
    profileKey: "router",
    description: "Router URL, e.g. http://127.0.0.1:8080. None at all: `cc run` starts an embedded local cluster.",
    parse: routerUrl,
  },
  token: {
    flag: "--token",
    env: "CC_TOKEN",
    default: "",
    profileKey: "token",
    description: "Bearer token sent to the router as `authorization: Bearer <token>`.",
    parse: text,
  },
  configHome: {
    flag: "",
    env: "XDG_CONFIG_HOME",
    default: "",
    description: "Base directory of the config file, `$XDG_CONFIG_HOME/claudecluster/config.json` (default ~/.config).",
    parse: text,
  },
  stateHome: {
    flag: "",
    env: "XDG_STATE_HOME",
    default: "",
    description: "Base directory of `$XDG_STATE_HOME/claudecluster/sessions.json`, where cc notes each directory's latest session for `cc run --continue` (default ~/.local/state).",
    parse: text,
  },
  noColor: {
    flag: "",
    env: "NO_COLOR",
    default: "",
    description: "Any non-empty value turns colours off (they are on only when writing to a terminal).",
    parse: (raw: string) => raw !== "",
  },
} satisfies Record<string, CliSetting<unknown>>;

export type CliSettings = SettingsOf<typeof CLI_SETTINGS>;
export type CliSettingKey = keyof typeof CLI_SETTINGS;

/** Reads the table: `flags` over `env` over `profile` (values from the config file) over the defaults. */
export function readCliSettings(
  env: Record<string, string | undefined>,
  flags: Partial<Record<CliSettingKey, string | undefined>> = {},
  profile: Partial<Record<"router" | "token", string>> = {},
): CliSettings {
  // The profile is a layer below the environment: its values are placed under the variables' names.
  const layered: Record<string, string | undefined> = {};
  for (const s of Object.values(CLI_SETTINGS) as CliSetting<unknown>[]) {
    if (s.profileKey && profile[s.profileKey] !== undefined) layered[s.env] = profile[s.profileKey];
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") layered[k] = v;
  const overrides: Partial<Record<CliSettingKey, string>> = {};
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) overrides[k as CliSettingKey] = v;
  return readSettings(CLI_SETTINGS, layered, overrides);
}

/** The table as help text: one bullet per setting. */
export function settingsHelp(): string {
  return (Object.values(CLI_SETTINGS) as CliSetting<unknown>[])
    .map((s) => `- ${s.flag ? `\`${s.flag}\` / ` : ""}\`${s.env}\`: ${s.description}`)
    .join("\n");
}
