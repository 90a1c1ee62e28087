// The words of failures: each tells the user what to do, with the exit code from exit-codes.ts.
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { networkError } from "../testing/fake-router.js";
import { CliError, describeError, dropReason, isNetworkError, isStreamDrop } from "./errors.js";

const ctx = { router: "http://127.0.0.1:8400" };

describe("describeError", () => {
  it("cannot reach the router: exit 3, with how to start one", () => {
    expect(describeError(networkError("ECONNREFUSED"), ctx)).toEqual({
      message: "cannot reach the router at http://127.0.0.1:8400 (ECONNREFUSED) — start one with `cc up`, or set --router (CC_ROUTER_URL)",
      exitCode: 3,
    });
    const h1 = new ConnectError("Protocol error", Code.Internal, undefined, undefined, Object.assign(new Error("x"), { code: "ERR_HTTP2_ERROR" }));
    expect(describeError(h1, ctx)).toMatchObject({ exitCode: 3, message: expect.stringContaining("does not answer gRPC over HTTP/2") });
  });

  it("a bad token: exit 4, with where to set the right one", () => {
    expect(describeError(new ConnectError("wrong client token (CC_TOKEN)", Code.Unauthenticated), ctx)).toEqual({
      message: "the router at http://127.0.0.1:8400 refused the token: wrong client token (CC_TOKEN) — set the right one with --token, CC_TOKEN or `cc config set <profile> --token TOKEN`",
      exitCode: 4,
    });
  });

  it("an unknown task: exit 4, pointing at cc ps --all", () => {
    const err = new ConnectError("task nope not found; list tasks with `cc ps --all`", Code.NotFound);
    expect(describeError(err, { ...ctx, taskId: "nope" })).toEqual({ message: 'no task "nope" on the router at http://127.0.0.1:8400 — list tasks with `cc ps --all`', exitCode: 4 });
  });

  it("no workers online: exit 4, pointing at cc up and cc workers", () => {
    const err = new ConnectError("no workers are online; start one with `npm run worker`", Code.Unavailable);
    expect(describeError(err, ctx)).toEqual({ message: "no workers are online; start one with `npm run worker` — start a cluster with `cc up`, or check the workers with `cc workers`", exitCode: 4 });
  });

  it("other refusals: exit 4 with the router's message; own errors keep their code", () => {
    expect(describeError(new ConnectError("agent.model: must not start with \"-\"", Code.InvalidArgument), ctx)).toEqual({
      message: 'the router refused: agent.model: must not start with "-" (InvalidArgument)',
      exitCode: 4,
    });
    expect(describeError(new CliError("x", 3), ctx)).toEqual({ message: "x", exitCode: 3 });
    expect(describeError(new Error("boom"), ctx)).toEqual({ message: "boom", exitCode: 1 });
  });

  it("tells drops worth re-attaching after from refusals", () => {
    expect(isNetworkError(networkError())).toBe(true);
    expect(isNetworkError(new ConnectError("no workers", Code.Unavailable))).toBe(false);
    expect(isStreamDrop(networkError())).toBe(true);
    expect(isStreamDrop(new ConnectError("cut off", Code.ResourceExhausted))).toBe(true);
    expect(isStreamDrop(new ConnectError("bad", Code.InvalidArgument))).toBe(false);
    expect(isStreamDrop(new Error("x"))).toBe(false);
    // What a TCP connection cut under an HTTP/2 stream looks like.
    const cut = new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
    expect(isNetworkError(cut)).toBe(true);
    expect(dropReason(cut)).toBe("connection lost: http/2 stream closed with error code CANCEL (0x8)");
  });
});
