#!/usr/bin/env node
// Entry point: `npm run worker`. Reads settings from the environment, listens, and drains on SIGTERM/SIGINT.
import { createLogger } from "../common/logger.js";
import { listenErrorMessage } from "../common/listen-error.js";
import { SettingsError } from "../common/settings.js";
import { drainOnSignals } from "../common/shutdown.js";
import { createWorker } from "./server.js";
import { readWorkerSettings } from "./settings.js";

async function main(): Promise<void> {
  let settings;
  let worker;
  let logger;
  try {
    settings = readWorkerSettings();
    logger = createLogger("worker", settings.logLevel);
    worker = await createWorker(settings, { logger });
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(`worker: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  let port;
  try {
    port = await worker.listen();
  } catch (err) {
    const message = listenErrorMessage(err, settings.host, settings.port);
    if (!message) throw err;
    console.error(`worker: ${message}`);
    // Whatever started before listening (a warm pool, the registry's timers) ends with the process.
    await worker.shutdown(0).catch(() => {});
    process.exit(1);
  }
  logger.info({ port, workerId: settings.workerId, capacity: settings.maxSessions }, "worker listening");

  drainOnSignals(logger, settings.shutdownGraceMs, () => worker.shutdown());
}

void main();
