// gRPC health checking (grpc.health.v1.Health) for worker and router: what Kubernetes and Cloud Run gRPC probes,
// grpc_health_probe, load balancers and our healthcheck CLI ask. The server decides the status (claude found, not
// draining); this module only keeps it and answers Check, List and Watch.
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { waitForWake } from "./wake.js";

export { ServingStatus };

/** The overall health of the server, by gRPC convention the empty service name. */
export const OVERALL = "";

export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  /** One waker per Watch waiting for a change. */
  private readonly wakers = new Set<() => void>();
  private closed = false;

  /**
   * Answers for "" and each of `services` (fully-qualified names); any other name is unknown. Everything starts
   * NOT_SERVING: a server is healthy only once it says so, after it listens.
   */
  constructor(services: readonly string[]) {
    for (const name of [OVERALL, ...services]) this.statuses.set(name, ServingStatus.NOT_SERVING);
  }

  /** Sets one name's status; a new name becomes known (a Watch waiting on it with SERVICE_UNKNOWN sees it). */
  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    this.wakeAll();
  }

  /** Sets every known name at once: worker and router are healthy or not as a whole. */
  setAll(status: ServingStatus): void {
    for (const name of this.statuses.keys()) this.statuses.set(name, status);
    this.wakeAll();
  }

  /** undefined: not a service this server knows. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  list(): ReadonlyMap<string, ServingStatus> {
    return this.statuses;
  }

  /**
   * The current status at once, then each change, until `signal` aborts or close(). Only changes are yielded: a
   * watcher that reads slowly sees the latest status, never a backlog. An unknown name yields SERVICE_UNKNOWN and
   * keeps watching, as the protocol asks.
   */
  async *watch(service: string, signal?: AbortSignal): AsyncGenerator<ServingStatus> {
    let last: ServingStatus | undefined;
    for (;;) {
      const now = this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
      if (now !== last) {
        last = now;
        yield now;
        continue;
      }
      if (this.closed || signal?.aborted) return;
      let mine: (() => void) | undefined;
      await waitForWake(signal, (wake) => {
        if (mine) this.wakers.delete(mine);
        mine = wake;
        if (wake) this.wakers.add(wake);
      });
    }
  }

  /**
   * Ends every Watch (after it has seen the latest status), so open watches do not hold the server's close for its
   * whole grace period. Watchers retry, per the protocol, and reach another replica or find this one gone.
   */
  close(): void {
    this.closed = true;
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }
}

export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${JSON.stringify(req.service)}; ask for "" (the whole server)`, Code.NotFound);
      return { status };
    },

    list() {
      const statuses: Record<string, { status: ServingStatus }> = {};
      for (const [name, status] of state.list()) statuses[name] = { status };
      return { statuses };
    },

    async *watch(req, ctx) {
      for await (const status of state.watch(req.service, ctx.signal)) yield { status };
    },
  };
}

export function healthRoutes(state: HealthState): (router: ConnectRouter) => void {
  return (router) => router.service(Health, healthService(state));
}
