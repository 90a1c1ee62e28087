import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthState, healthRoutes, ServingStatus } from "./health.js";
import { bearerAuth } from "./interceptors.js";

const { SERVING, NOT_SERVING, SERVICE_UNKNOWN } = ServingStatus;
const WORKER = WorkerService.typeName;

/** Pulls the next value, failing the test instead of hanging if none comes. */
async function next<T>(it: AsyncIterator<T>): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no value within 2 s")), 2000)));
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("HealthState", () => {
  it("knows \"\" and the named services, all NOT_SERVING until told otherwise", () => {
    const state = new HealthState([WORKER]);
    expect(state.get("")).toBe(NOT_SERVING);
    expect(state.get(WORKER)).toBe(NOT_SERVING);
    expect(state.get("nope")).toBeUndefined();
    state.setAll(SERVING);
    expect([...state.list()]).toEqual([
      ["", SERVING],
      [WORKER, SERVING],
    ]);
    state.set(WORKER, NOT_SERVING);
    expect(state.get("")).toBe(SERVING);
    expect(state.get(WORKER)).toBe(NOT_SERVING);
  });

  it("watch yields the current status at once, then each change", async () => {
    const state = new HealthState([WORKER]);
    const it = state.watch("");
    expect((await next(it)).value).toBe(NOT_SERVING);
    const pending = next(it);
    state.setAll(SERVING);
    expect((await pending).value).toBe(SERVING);
    state.setAll(SERVING); // no change, nothing to say
    state.setAll(NOT_SERVING);
    expect((await next(it)).value).toBe(NOT_SERVING);
    await it.return(undefined);
  });

  it("a slow watcher sees the latest status, not every step in between", async () => {
    const state = new HealthState([]);
    const it = state.watch("");
    expect((await next(it)).value).toBe(NOT_SERVING);
    state.setAll(SERVING);
    state.setAll(NOT_SERVING);
    state.setAll(SERVING);
    expect((await next(it)).value).toBe(SERVING);
    await it.return(undefined);
  });

  it("an unknown name yields SERVICE_UNKNOWN and keeps watching until the name becomes known", async () => {
    const state = new HealthState([]);
    const it = state.watch("later");
    expect((await next(it)).value).toBe(SERVICE_UNKNOWN);
    const pending = next(it);
    state.set("later", SERVING);
    expect((await pending).value).toBe(SERVING);
    await it.return(undefined);
  });

  it("watch ends when the signal aborts", async () => {
    const state = new HealthState([]);
    const ac = new AbortController();
    const it = state.watch("", ac.signal);
    await next(it);
    const pending = next(it);
    ac.abort();
    expect((await pending).done).toBe(true);
  });

  it("close ends every watch, after each has seen the latest status", async () => {
    const state = new HealthState([]);
    state.setAll(SERVING);
    const a = state.watch("");
    const b = state.watch("");
    await next(a);
    await next(b);
    const pendingA = next(a);
    state.setAll(NOT_SERVING);
    state.close();
    expect((await pendingA).value).toBe(NOT_SERVING);
    expect((await next(a)).done).toBe(true);
    expect((await next(b)).value).toBe(NOT_SERVING);
    expect((await next(b)).done).toBe(true);
  });
});

describe("Health service", () => {
  function client(state: HealthState, tokens: string[] = []) {
    const transport = createRouterTransport(healthRoutes(state), { router: { interceptors: [bearerAuth(tokens, "test token")] } });
    return createClient(Health, transport);
  }

  it("Check answers \"\" and known services, NOT_FOUND for others", async () => {
    const state = new HealthState([WORKER]);
    state.setAll(SERVING);
    const c = client(state);
    expect((await c.check({})).status).toBe(SERVING);
    expect((await c.check({ service: WORKER })).status).toBe(SERVING);
    const err = await c.check({ service: "nope" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect((err as ConnectError).rawMessage).toBe('unknown service "nope"; ask for "" (the whole server)');
  });

  it("List answers every known name", async () => {
    const state = new HealthState([WORKER]);
    state.set("", SERVING);
    const res = await client(state).list({});
    expect(Object.fromEntries(Object.entries(res.statuses).map(([k, v]) => [k, v.status]))).toEqual({ "": SERVING, [WORKER]: NOT_SERVING });
  });

  it("Watch streams changes and ends when the caller stops reading", async () => {
    const state = new HealthState([WORKER]);
    state.setAll(SERVING);
    const ac = new AbortController();
    const seen: ServingStatus[] = [];
    for await (const res of client(state).watch({ service: WORKER }, { signal: ac.signal })) {
      seen.push(res.status);
      if (seen.length === 1) state.setAll(NOT_SERVING);
      else break;
    }
    expect(seen).toEqual([SERVING, NOT_SERVING]);
  });

  it("Watch of an unknown name yields SERVICE_UNKNOWN without failing", async () => {
    const state = new HealthState([]);
    const stream = client(state).watch({ service: "nope" })[Symbol.asyncIterator]();
    expect((await next(stream)).value?.status).toBe(SERVICE_UNKNOWN);
    state.close();
    expect((await next(stream)).done).toBe(true);
  });

  it("needs no token when the server requires one: probes cannot send headers", async () => {
    const state = new HealthState([]);
    state.setAll(SERVING);
    expect((await client(state, ["secret"]).check({})).status).toBe(SERVING);
  });
});
