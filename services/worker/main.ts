#!/usr/bin/env node
// Entry point: `npm run worker`. Reads settings from the environment, listens, and drains on SIGTERM/SIGINT.
import { createLogger } from "../common/logger.js";
import { SettingsError } from "../common/settings.js";
import { drainOnSignals } from "../common/shutdown.js";
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

  drainOnSignals(logger, settings.shutdownGraceMs, () => worker.shutdown());
}

void main();
