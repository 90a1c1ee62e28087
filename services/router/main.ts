#!/usr/bin/env node
// Entry point: `npm run router`. Reads settings from the environment, listens, and drains on SIGTERM/SIGINT.
import { createLogger } from "../common/logger.js";
import { listenErrorMessage } from "../common/listen-error.js";
import { SettingsError } from "../common/settings.js";
import { drainOnSignals } from "../common/shutdown.js";
import { createRouter } from "./server.js";
import { StoreUnavailable } from "./store/interface.js";
import { readRouterSettings } from "./settings.js";

async function main(): Promise<void> {
  let settings;
  let logger;
  let router;
  try {
    settings = readRouterSettings();
    logger = createLogger("router", settings.logLevel);
    router = createRouter(settings, { logger });
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(`router: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  let port: number;
  try {
    port = await router.listen();
  } catch (err) {
    // The store cannot be used: say why and stop, rather than start with no task history and lose it.
    if (err instanceof StoreUnavailable) {
      logger.error({ store: router.store.kind, where: router.store.where }, err.message);
      console.error(`router: the task store (CC_STORE=${settings.store === "memory" || settings.store === "sqlite" ? settings.store : "redis"}): ${err.message}`);
      process.exit(3);
    }
    const message = listenErrorMessage(err, settings.host, settings.port);
    if (!message) throw err;
    console.error(`router: ${message}`);
    // Whatever started before listening (a warm pool, the registry's timers, the store) ends with the process.
    await router.shutdown(0).catch(() => {});
    process.exit(1);
  }
  logger.info({ port, staticWorkers: settings.workers.length }, "router listening");

  drainOnSignals(logger, settings.shutdownGraceMs, () => router.shutdown());
  // SIGHUP reads CC_TOKENS_FILE again (it is also reloaded when it changes); a broken file keeps the last good one.
  process.on("SIGHUP", () => router.identities.reload());
}

void main();
