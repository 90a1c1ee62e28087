// Structured logs: pino with a component tag on every line. JSON for log collectors; in a terminal, one short
// readable line per record. Prompts and tokens are never logged at info level.
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** `json` for machines, `pretty` for people, `auto`: pretty when writing to a terminal. */
export type LogFormat = "json" | "pretty" | "auto";

export const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty", "auto"];

/** CC_LOG_FORMAT's parser, for the settings tables. */
export function parseLogFormat(raw: string): LogFormat {
  const v = raw.trim().toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(v)) throw new Error(`expected one of ${LOG_FORMATS.join(", ")}`);
  return v as LogFormat;
}

export interface LoggerOptions {
  /** Default CC_LOG_FORMAT from the environment, else auto. */
  format?: LogFormat;
  /** Where lines go; default standard output. */
  destination?: DestinationStream & { isTTY?: boolean };
  /** Rewrites every line before it is written: the worker removes the secret values it knows. */
  scrub?: (line: string) => string;
}

export function createLogger(component: string, level = process.env["CC_LOG_LEVEL"] ?? "info", options: LoggerOptions = {}): Logger {
  // pino's own synchronous standard output unless told otherwise: nothing is lost when the process exits.
  const out = options.destination ?? pino.destination({ dest: 1, sync: true });
  const tty = options.destination ? options.destination.isTTY === true : process.stdout.isTTY === true;
  // main.ts passes only the level; the settings table has already refused a CC_LOG_FORMAT it cannot parse.
  const format = options.format ?? formatFromEnv();
  const pretty = format === "pretty" || (format === "auto" && tty);
  return pino(
    {
      level,
      base: { component },
      // Defence in depth: if a token ever ends up in a logged object, it is masked.
      redact: {
        paths: ["token", "*.token", "authorization", "*.authorization", "headers.authorization", "*.headers.authorization"],
        censor: "[redacted]",
      },
      ...(options.scrub ? { hooks: { streamWrite: options.scrub } } : {}),
    },
    pretty ? prettyDestination(out) : out,
  );
}

function formatFromEnv(): LogFormat {
  try {
    return parseLogFormat(process.env["CC_LOG_FORMAT"] ?? "auto");
  } catch {
    return "auto";
  }
}

/** A logger that drops everything, for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** Formats pino's JSON lines for a terminal as they are written: no transport, no worker thread. */
export function prettyDestination(out: DestinationStream): DestinationStream {
  return { write: (line: string) => out.write(prettyLine(line)) };
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const OWN_FIELDS = new Set(["time", "level", "component", "msg", "pid", "hostname"]);

/** `12:34:56.789 INFO  router rpc method=… code=ok durationMs=3.2`, plus an error's stack on the lines below. */
export function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const time = typeof record["time"] === "number" ? clock(new Date(record["time"])) : "";
  const level = (LEVELS[record["level"] as number] ?? String(record["level"])).padEnd(5);
  const head = [time, level, record["component"], record["msg"]].filter((part) => part !== undefined && part !== "").join(" ");
  let stack = "";
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (OWN_FIELDS.has(key) || value === undefined) continue;
    if (key === "err" && value && typeof value === "object") {
      const err = value as { message?: unknown; stack?: unknown };
      fields.push(`err=${show(err.message)}`);
      if (typeof err.stack === "string") stack = `\n    ${err.stack.split("\n").join("\n    ")}`;
      continue;
    }
    fields.push(`${key}=${show(value)}`);
  }
  return `${head}${fields.length > 0 ? ` ${fields.join(" ")}` : ""}${stack}\n`;
}

/** Local time of day, to the millisecond. */
function clock(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** Bare when it reads unambiguously, JSON otherwise. */
function show(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}
