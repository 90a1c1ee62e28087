// cc's router connection notices a router that stopped answering (its host froze, a network path died) by HTTP/2
// PINGs, and ends the followed stream with an error cc re-attaches after, instead of waiting on it forever.
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import { RunEventSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createConnectHandler } from "../../services/common/node-adapter.js";
import { createDualServer, type DualServer } from "../../services/common/serve.js";
import { freezableProxy, type FreezableProxy } from "../../test/helpers/freezable-proxy.js";
import { until } from "../../test/helpers/wait.js";
import { connectRouter, type RouterConnection } from "./client.js";
import { isStreamDrop } from "./errors.js";

describe("connectRouter", () => {
  let server: DualServer | undefined;
  let proxy: FreezableProxy | undefined;
  let conn: RouterConnection | undefined;
  afterEach(async () => {
    conn?.close();
    proxy?.close();
    await server?.close(0);
  });

  it("ends a quiet stream whose router stops answering PINGs, with an error cc re-attaches after", async () => {
    // Attach sends one event, then stays open and quiet, as a task thinking for an hour would.
    const handler = createConnectHandler({
      logger: silentLogger(),
      routes: (router) =>
        router.service(RouterService, {
          async *attach(_req, ctx) {
            yield create(RunEventSchema, { taskId: "t1", seq: 1n });
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          },
        }),
    });
    server = createDualServer(handler);
    const port = await server.listen(0, "127.0.0.1");
    proxy = await freezableProxy(port);
    conn = connectRouter(`http://127.0.0.1:${proxy.port}`, "", { pingIntervalMs: 20, pingTimeoutMs: 200 });
    const events: bigint[] = [];
    const stream = conn.client.attach({ taskId: "t1" });
    const ended = (async () => {
      for await (const e of stream) {
        events.push(e.seq);
        // The router's host freezes once the stream is under way: nothing it sends arrives any more.
        proxy!.freezeServer();
      }
    })();
    const err = await ended.then(
      () => new Error("the stream ended cleanly"),
      (e: unknown) => e,
    );
    expect(events).toEqual([1n]);
    expect(isStreamDrop(err)).toBe(true);
    expect(String(err)).toMatch(/PING/i);
    // The connection itself is known to be dead, so the next call (the re-attach) opens a new one.
    await until(() => conn!.state() === "error");
  });
});
