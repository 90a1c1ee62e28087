// One table declares every setting of a program: its environment variable, default and meaning. The same table
// reads the environment, validates it with messages that name the variable, and renders the documentation.

export interface Setting<T> {
  /** Environment variable, e.g. CC_MAX_SESSIONS. */
  env: string;
  /** What it means, for docs and --help. */
  description: string;
  /** The default, as it would be written in the environment ("" for none). */
  default: string;
  /** Turns the raw text into a value or throws an Error saying what is expected. */
  parse: (raw: string) => T;
}

export type SettingsTable = Record<string, Setting<unknown>>;
export type SettingsOf<S extends SettingsTable> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export class SettingsError extends Error {}

/** Reads every setting from `env`, falling back to its default; `overrides` (e.g. from flags) win over both. */
export function readSettings<S extends SettingsTable>(
  table: S,
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof S, string | undefined>> = {},
): SettingsOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(table)) {
    const raw = overrides[key as keyof S] ?? env[setting.env] ?? setting.default;
    try {
      out[key] = setting.parse(raw);
    } catch (err) {
      throw new SettingsError(`${setting.env}=${JSON.stringify(raw)}: ${(err as Error).message}`);
    }
  }
  return out as SettingsOf<S>;
}

/** The table as Markdown rows, for the README. */
export function settingsMarkdown(table: SettingsTable): string {
  const rows = Object.values(table).map((s) => `| \`${s.env}\` | ${s.default === "" ? "—" : `\`${s.default}\``} | ${s.description} |`);
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

// Parsers shared by the tables.

export const text = (raw: string): string => raw.trim();

export function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function boolean(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["", "0", "false", "no", "off"].includes(v)) return false;
  throw new Error("expected true or false");
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Durations as `250ms`, `30s`, `5m`, `1h` (a bare number is seconds); returns milliseconds. */
export function duration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new Error("expected a duration such as 30s, 5m or 1h");
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "s"]!);
}

/** Milliseconds written the way a duration setting is (`1500ms`, `30s`, `2m`, `1h`): for messages that name one. */
export function durationText(ms: number): string {
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** `k=v,k2=v2` into a map; keys and values are trimmed, empty input is an empty map. */
export function labels(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`expected key=value pairs separated by commas, got "${pair}"`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** Comma-separated list, empty entries dropped. */
export function list(raw: string): string[] {
  return raw.split(",").map((s) => s.trim()).filter(Boolean);
}
