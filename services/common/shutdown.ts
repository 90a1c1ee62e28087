// Graceful stop on SIGTERM/SIGINT for the service entry points: log, drain, exit 0 (or 1 if draining failed).
import type { Logger } from "./logger.js";

export function drainOnSignals(logger: Logger, graceMs: number, shutdown: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs }, "draining");
    shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
