// Structured logs: pino JSON with a component tag. Prompts and tokens are never logged at info level.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(component: string, level = process.env["CC_LOG_LEVEL"] ?? "info"): Logger {
  return pino({
    level,
    base: { component },
    // Defence in depth: if a token ever ends up in a logged object, it is masked.
    redact: { paths: ["token", "*.token", "authorization", "*.authorization", "headers.authorization"], censor: "[redacted]" },
  });
}

/** A logger that drops everything, for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
