import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { classifyPlacementFailure } from "./placement-failure.js";

const withCause = (message: string, code: Code, cause: unknown) => new ConnectError(message, code, undefined, undefined, cause);

describe("classifyPlacementFailure", () => {
  it("a connection never made cannot have reached the worker", () => {
    expect(classifyPlacementFailure(withCause("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable, Object.assign(new Error("x"), { code: "ECONNREFUSED" })))).toBe("unreached");
    expect(classifyPlacementFailure(new ConnectError("http/2 stream closed with error code REFUSED_STREAM (0x7)", Code.Unavailable))).toBe("unreached");
  });

  it("a stream or connection dropped on the way may have reached it", () => {
    expect(classifyPlacementFailure(new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled))).toBe("unknown");
    // connect-node's session manager, on a loaded machine: a status code and no cause, yet not the worker's answer.
    expect(classifyPlacementFailure(new ConnectError("PING timed out", Code.Unavailable))).toBe("unknown");
    expect(classifyPlacementFailure(new ConnectError("http/2 connection closed with error code ENHANCE_YOUR_CALM (0xb), too_many_pings, doubled the interval", Code.ResourceExhausted))).toBe("unknown");
    expect(classifyPlacementFailure(withCause("socket hang up", Code.Unavailable, Object.assign(new Error("x"), { code: "ECONNRESET" })))).toBe("unknown");
  });

  it("the worker's own answers", () => {
    expect(classifyPlacementFailure(new ConnectError("every session slot is taken", Code.ResourceExhausted))).toBe("busy");
    expect(classifyPlacementFailure(new ConnectError("task t1 already exists", Code.AlreadyExists))).toBe("has-it");
    expect(classifyPlacementFailure(new ConnectError("the worker is draining", Code.Unavailable))).toBe("refused");
    expect(classifyPlacementFailure(new ConnectError("prompt is required", Code.InvalidArgument))).toBe("refused");
  });
});
