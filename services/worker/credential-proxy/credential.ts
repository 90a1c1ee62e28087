// The worker's credential for the model API, wherever it comes from, as the headers the credential proxy adds to
// each request on its way out. In order: ANTHROPIC_API_KEY (x-api-key), ANTHROPIC_AUTH_TOKEN (a bearer token for a
// gateway), CLAUDE_CODE_OAUTH_TOKEN (`claude setup-token`), then the OAuth login in the worker's claude configuration
// (`.credentials.json`, e.g. from CC_CLAUDE_CONFIG), read again when the file changes.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** claude sends this beta with OAuth access tokens; the proxy adds it when it puts one in. */
export const OAUTH_BETA = "oauth-2025-04-20";

export interface Credential {
  /** Where it comes from, for the log (never the value). */
  readonly source: string;
  /** The headers to add to a request, or undefined when there is none (the request goes out without one). */
  headers(): Record<string, string> | undefined;
  /** Every secret value it holds now, for redaction. */
  secrets(): string[];
}

export function resolveCredential(env: NodeJS.ProcessEnv, configDir: string): Credential {
  const apiKey = env["ANTHROPIC_API_KEY"];
  if (apiKey) return fixed("ANTHROPIC_API_KEY", { "x-api-key": apiKey }, apiKey);
  const authToken = env["ANTHROPIC_AUTH_TOKEN"];
  if (authToken) return fixed("ANTHROPIC_AUTH_TOKEN", { authorization: `Bearer ${authToken}` }, authToken);
  const oauthToken = env["CLAUDE_CODE_OAUTH_TOKEN"];
  if (oauthToken) return fixed("CLAUDE_CODE_OAUTH_TOKEN", { authorization: `Bearer ${oauthToken}`, "anthropic-beta": OAUTH_BETA }, oauthToken);
  return configFile(join(configDir, ".credentials.json"));
}

function fixed(source: string, headers: Record<string, string>, secret: string): Credential {
  return { source, headers: () => headers, secrets: () => [secret] };
}

/** The OAuth login claude keeps in `.credentials.json`; absent or unreadable means no credential. */
function configFile(path: string): Credential {
  let cached: { mtimeMs: number; token: string; refresh: string } | undefined;
  const read = () => {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(path).mtimeMs;
    } catch {
      cached = undefined;
      return undefined;
    }
    if (cached?.mtimeMs === mtimeMs) return cached;
    try {
      const oauth = (JSON.parse(readFileSync(path, "utf8")) as { claudeAiOauth?: { accessToken?: unknown; refreshToken?: unknown } }).claudeAiOauth;
      const token = typeof oauth?.accessToken === "string" ? oauth.accessToken : "";
      const refresh = typeof oauth?.refreshToken === "string" ? oauth.refreshToken : "";
      cached = { mtimeMs, token, refresh };
    } catch {
      cached = { mtimeMs, token: "", refresh: "" };
    }
    return cached;
  };
  return {
    source: path,
    headers: () => {
      const token = read()?.token;
      return token ? { authorization: `Bearer ${token}`, "anthropic-beta": OAUTH_BETA } : undefined;
    },
    secrets: () => {
      const c = read();
      return c ? [c.token, c.refresh].filter(Boolean) : [];
    },
  };
}

/** ANTHROPIC_CUSTOM_HEADERS (`Name: value` lines): they may carry a gateway's credential, so the proxy adds them. */
export function customHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (raw ?? "").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (/^[a-z0-9-]+$/.test(name)) out[name] = line.slice(colon + 1).trim();
  }
  return out;
}
