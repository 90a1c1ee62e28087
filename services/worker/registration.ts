// Self-registration: a worker started with CC_ROUTER_URL registers with the router and keeps calling
// RegisterWorker as its heartbeat. A router that restarted simply learns of the worker again on the next beat.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import type { WorkerInfo } from "../../gen/claudecluster/v1/worker_pb.js";
import { describe } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { bearer } from "../common/worker-client.js";

export interface Registration {
  /** Sends one more heartbeat now (e.g. to report draining) and stops. */
  stop(): Promise<void>;
}

export function startRegistration(options: { routerUrl: string; selfUrl: string; token: string; info: () => WorkerInfo; logger: Logger }): Registration {
  const { logger } = options;
  const client = createClient(RouterService, createGrpcTransport({ baseUrl: options.routerUrl, interceptors: bearer(options.token || undefined) }));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failures = 0;

  const beat = async (): Promise<number> => {
    try {
      const res = await client.registerWorker({ url: options.selfUrl, info: options.info() }, { timeoutMs: 5_000 });
      if (failures > 0) logger.info({ routerUrl: options.routerUrl }, "registered with the router again");
      failures = 0;
      return Math.max(500, res.heartbeatIntervalMs);
    } catch (err) {
      if (failures++ === 0) logger.warn({ routerUrl: options.routerUrl, err: describe(err) }, "cannot register with the router; retrying");
      return Math.min(10_000, 500 * 2 ** Math.min(failures, 5));
    }
  };
  const loop = async () => {
    const next = await beat();
    if (stopped) return;
    timer = setTimeout(() => void loop(), next);
    timer.unref();
  };
  void loop();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await beat();
    },
  };
}
