import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { RunEventSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import type { Logger } from "./logger.js";
import { bearerAuth, errorBoundary } from "./interceptors.js";

type Impl = Partial<ServiceImpl<typeof WorkerService>>;

function fakeLogger() {
  const error = vi.fn();
  return { logger: { error } as unknown as Logger, error };
}

function client(impl: Impl, interceptors: Interceptor[]) {
  const transport = createRouterTransport(({ service }) => service(WorkerService, impl), { router: { interceptors } });
  return createClient(WorkerService, transport);
}

const event = (seq: number): RunEvent => create(RunEventSchema, { taskId: "t", seq: BigInt(seq) });

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

async function drain(stream: AsyncIterable<RunEvent>, into: RunEvent[]): Promise<void> {
  for await (const e of stream) into.push(e);
}

// Connect's own handlers also answer a non-ConnectError with "internal error", so through a transport what pins the
// boundary is the log line; the direct tests below check the error it throws itself.
describe("errorBoundary", () => {
  it("a plain Error in a unary call reaches the client as INTERNAL \"internal error\", the cause only in the log", async () => {
    const { logger, error } = fakeLogger();
    const cause = new Error("db password is hunter2");
    const c = client({ getInfo: () => Promise.reject(cause) }, [errorBoundary(logger)]);
    const err = await failure(c.getInfo({}));
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toBe("internal error");
    expect(err.message).not.toContain("hunter2");
    expect(error).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledWith({ err: cause, method: "claudecluster.v1.WorkerService/GetInfo" }, "unexpected error");
  });

  it("a thrown non-Error value is masked the same way", async () => {
    const { logger, error } = fakeLogger();
    const c = client(
      {
        getInfo: () => {
          throw "a string";
        },
      },
      [errorBoundary(logger)],
    );
    const err = await failure(c.getInfo({}));
    expect([err.code, err.rawMessage]).toEqual([Code.Internal, "internal error"]);
    expect(error).toHaveBeenCalledWith({ err: "a string", method: "claudecluster.v1.WorkerService/GetInfo" }, "unexpected error");
  });

  it("a ConnectError in a unary call passes unchanged and is not logged", async () => {
    const { logger, error } = fakeLogger();
    const c = client(
      {
        cancel: () => {
          throw new ConnectError("task t not found; it is not running on this worker", Code.NotFound);
        },
      },
      [errorBoundary(logger)],
    );
    const err = await failure(c.cancel({ taskId: "t" }));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toBe("task t not found; it is not running on this worker");
    expect(error).not.toHaveBeenCalled();
  });

  it("a successful unary call is untouched", async () => {
    const { logger } = fakeLogger();
    const c = client({ getInfo: () => ({ workerId: "w1", capacity: 3 }) }, [errorBoundary(logger)]);
    expect(await c.getInfo({})).toMatchObject({ workerId: "w1", capacity: 3 });
  });

  it("a plain Error thrown mid-stream: the events before it arrive, then INTERNAL \"internal error\"", async () => {
    const { logger, error } = fakeLogger();
    const c = client(
      {
        async *run() {
          yield event(1);
          yield event(2);
          throw new Error("ENOSPC /var/secret/path");
        },
      },
      [errorBoundary(logger)],
    );
    const got: RunEvent[] = [];
    const err = await failure(drain(c.run({ prompt: "x" }), got));
    expect(got.map((e) => e.seq)).toEqual([1n, 2n]);
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toBe("internal error");
    expect(err.message).not.toContain("secret");
    expect(error).toHaveBeenCalledWith({ err: expect.objectContaining({ message: "ENOSPC /var/secret/path" }), method: "claudecluster.v1.WorkerService/Run" }, "unexpected error");
  });

  it("a plain Error thrown before the first event of a stream is masked too", async () => {
    const { logger } = fakeLogger();
    const c = client(
      {
        async *run() {
          throw new Error("boom");
        },
      },
      [errorBoundary(logger)],
    );
    const err = await failure(drain(c.run({ prompt: "x" }), []));
    expect([err.code, err.rawMessage]).toEqual([Code.Internal, "internal error"]);
  });

  it("a ConnectError thrown mid-stream passes unchanged", async () => {
    const { logger, error } = fakeLogger();
    const c = client(
      {
        async *run() {
          yield event(1);
          throw new ConnectError("worker w1 is shutting down; run the task on another worker", Code.Unavailable);
        },
      },
      [errorBoundary(logger)],
    );
    const got: RunEvent[] = [];
    const err = await failure(drain(c.run({ prompt: "x" }), got));
    expect(got).toHaveLength(1);
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("worker w1 is shutting down; run the task on another worker");
    expect(error).not.toHaveBeenCalled();
  });

  it("a stream that ends normally is untouched", async () => {
    const { logger } = fakeLogger();
    const c = client(
      {
        async *run() {
          yield event(1);
          yield event(2);
          yield event(3);
        },
      },
      [errorBoundary(logger)],
    );
    const got: RunEvent[] = [];
    await drain(c.run({ prompt: "x" }), got);
    expect(got.map((e) => e.seq)).toEqual([1n, 2n, 3n]);
  });
});

describe("errorBoundary, called directly", () => {
  const req = { service: { typeName: "claudecluster.v1.WorkerService" }, method: { name: "Run" } };
  type Next = Parameters<Interceptor>[0];
  const call = (next: (r: unknown) => Promise<unknown>, logger: Logger) =>
    (errorBoundary(logger)(next as unknown as Next) as unknown as (r: unknown) => Promise<{ stream: boolean; message: AsyncIterable<unknown> }>)(req);

  it("turns a rejected call into ConnectError INTERNAL carrying the cause", async () => {
    const { logger } = fakeLogger();
    const cause = new Error("secret");
    const err = await failure(call(() => Promise.reject(cause), logger));
    expect([err.code, err.rawMessage, err.cause]).toEqual([Code.Internal, "internal error", cause]);
  });

  it("turns an error from a response stream into ConnectError INTERNAL carrying the cause", async () => {
    const { logger, error } = fakeLogger();
    const cause = new Error("secret");
    const res = await call(
      async () => ({
        stream: true,
        message: (async function* () {
          yield 1;
          throw cause;
        })(),
      }),
      logger,
    );
    const got: unknown[] = [];
    const err = await failure(
      (async () => {
        for await (const m of res.message) got.push(m);
      })(),
    );
    expect(got).toEqual([1]);
    expect([err.code, err.rawMessage, err.cause]).toEqual([Code.Internal, "internal error", cause]);
    expect(error).toHaveBeenCalledWith({ err: cause, method: "claudecluster.v1.WorkerService/Run" }, "unexpected error");
  });

  it("returns a ConnectError as the very same object", async () => {
    const { logger } = fakeLogger();
    const original = new ConnectError("nope", Code.PermissionDenied);
    const err = await failure(call(() => Promise.reject(original), logger));
    expect(err).toBe(original);
  });
});

describe("bearerAuth", () => {
  const WHAT = "worker token (CC_WORKER_TOKEN)";
  const impl: Impl = {
    getInfo: () => ({ workerId: "w1" }),
    async *run() {
      yield event(1);
    },
  };
  const auth = (tokens: string[], header?: string) => {
    const c = client(impl, [bearerAuth(tokens, WHAT)]);
    return c.getInfo({}, header === undefined ? {} : { headers: { authorization: header } });
  };

  it("with no tokens configured, everyone gets in", async () => {
    expect((await auth([])).workerId).toBe("w1");
    expect((await auth([], "Bearer anything")).workerId).toBe("w1");
  });

  it("a missing header is UNAUTHENTICATED naming the token and how to send it", async () => {
    const err = await failure(auth(["s3cret"]));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe('missing worker token (CC_WORKER_TOKEN) (no authorization header): send "authorization: Bearer <token>"');
  });

  it.each([
    ["s3cret", "a malformed authorization header"],
    ["Basic czNjcmV0", "got the Basic scheme"],
    ["Bearer", "an empty Bearer token"],
    ["Bearer ", "an empty Bearer token"],
  ])("a header that is not \"Bearer <token>\" (%j) counts as missing, saying what came", async (header, got) => {
    const err = await failure(auth(["s3cret"], header));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe(`missing worker token (CC_WORKER_TOKEN) (${got}): send "authorization: Bearer <token>"`);
  });

  it.each([["Bearer wrong"], ["Bearer s3cre"], ["Bearer s3cret2"], ["Bearer S3CRET"]])("a wrong token (%j) is UNAUTHENTICATED", async (header) => {
    const err = await failure(auth(["s3cret"], header));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe("wrong worker token (CC_WORKER_TOKEN): check the token you were given for this cluster");
  });

  it("the right token gets in, whatever the case of Bearer and the spacing", async () => {
    for (const header of ["Bearer s3cret", "bearer s3cret", "BEARER   s3cret  "]) {
      expect((await auth(["s3cret"], header)).workerId, header).toBe("w1");
    }
  });

  it("any of several tokens is accepted (rotation)", async () => {
    const tokens = ["old-token", "new-token", "other"];
    for (const t of tokens) expect((await auth(tokens, `Bearer ${t}`)).workerId).toBe("w1");
    expect((await failure(auth(tokens, "Bearer older-token"))).rawMessage).toBe("wrong worker token (CC_WORKER_TOKEN): check the token you were given for this cluster");
  });

  it("guards streaming calls too", async () => {
    const c = client(impl, [bearerAuth(["s3cret"], WHAT)]);
    const err = await failure(drain(c.run({ prompt: "x" }), []));
    expect(err.code).toBe(Code.Unauthenticated);
    const got: RunEvent[] = [];
    await drain(c.run({ prompt: "x" }, { headers: { authorization: "Bearer s3cret" } }), got);
    expect(got).toHaveLength(1);
  });

  it("behind the error boundary, as the worker wires them, its errors pass unchanged", async () => {
    const { logger, error } = fakeLogger();
    const c = client(impl, [errorBoundary(logger), bearerAuth(["s3cret"], WHAT)]);
    const err = await failure(c.getInfo({}, { headers: { authorization: "Bearer nope" } }));
    expect([err.code, err.rawMessage]).toEqual([Code.Unauthenticated, "wrong worker token (CC_WORKER_TOKEN): check the token you were given for this cluster"]);
    expect(error).not.toHaveBeenCalled();
  });
});
