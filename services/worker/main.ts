#!/usr/bin/env node
// Entry point: `npm run worker`. Reads settings from the environment, listens, and drains on SIGTERM/SIGINT.
import { createLogger } from "../common/logger.js";
import { SettingsError } from "../common/settings.js";
import { createWorker } from "./server.js";
import { readWorkerSettings } from "./settings.js";

async function main(): Promise<void> {
  let settings;
  try {
    settings = readWorkerSettings();
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(`worker: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger("worker", settings.logLevel);
  const worker = await createWorker(settings, { logger });
  const port = await worker.listen();
  logger.info({ port, workerId: settings.workerId, capacity: settings.maxSessions }, "worker listening");

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: settings.shutdownGraceMs }, "draining");
    worker.shutdown().then(
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

void main();
