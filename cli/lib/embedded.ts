// A router and its workers inside this process (services/cluster/local.ts): `cc up` keeps one in the foreground,
// `cc run` without a configured router starts one for the call, and `cc demo` points one at the scripted model.
import type { LocalCluster, LocalClusterOptions } from "../../services/cluster/local.js";
import type { Logger } from "../../services/common/logger.js";

export type { LocalCluster, LocalClusterOptions };

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  // Loaded only when needed: it brings in the router, the worker and their dependencies.
  const mod = await import("../../services/cluster/local.js");
  return mod.startLocalCluster(options);
}

/** Quiet by default (cc's own output must stay clean); CC_LOG_LEVEL=info|debug sends the services' logs to stderr. */
export async function embeddedLogger(env: Record<string, string | undefined>, level = "silent"): Promise<Logger> {
  const { pino } = await import("pino");
  return pino({ level: env["CC_LOG_LEVEL"] || level, base: { component: "local-cluster" } }, pino.destination(2));
}
