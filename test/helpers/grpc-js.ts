// @grpc/grpc-js with proto-loader reading the .proto files: an independent client of the router, for tests that
// check what a gRPC caller that is not ours sees (events as plain objects, enums and 64-bit numbers as strings).
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));

/** A RunEvent as proto-loader decodes it. */
export interface PlainEvent {
  taskId: string;
  seq: string;
  event?: string;
  started?: { workerId: string; pid: number; workspace: string };
  status?: { phase: string; queuePosition: number; detail: string };
  output?: { data: Buffer };
  message?: { type: string; json: string; delta?: { text: string; deltaType: string } };
  exited?: { exitCode: number; reason: string; message: string; signal: string };
}

export interface PlainTask {
  id: string;
  status: string;
  exit?: { exitCode: number; reason: string; message: string };
}

type Callback<T> = (err: grpc.ServiceError | null, value: T) => void;

export interface GrpcJsRouter {
  Run(req: object): grpc.ClientReadableStream<PlainEvent>;
  Attach(req: object): grpc.ClientReadableStream<PlainEvent>;
  CancelTask(req: object, callback: Callback<PlainTask>): void;
  GetTask(req: object, callback: Callback<PlainTask>): void;
  ListWorkers(req: object, callback: Callback<{ workers: { id: string; health: string }[] }>): void;
  close(): void;
}

/** `token`: sent as `authorization: Bearer <token>` on every call. */
export function grpcJsRouter(url: string, token?: string): GrpcJsRouter {
  const definition = protoLoader.loadSync("claudecluster/v1/router.proto", { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { claudecluster: { v1: { RouterService: grpc.ServiceClientConstructor } } };
  const bearer: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
  return new pkg.claudecluster.v1.RouterService(url.replace(/^http:\/\//, ""), grpc.credentials.createInsecure(), token ? { interceptors: [bearer] } : {}) as unknown as GrpcJsRouter;
}

/** A stream read to its end: every event, and the error it ended with, if any. */
export interface ReadStream {
  events: PlainEvent[];
  error?: grpc.ServiceError;
}

/** Reads a stream to its end; `onEvent` sees each event as it comes (and may pause the call). */
export function readStream(call: grpc.ClientReadableStream<PlainEvent>, onEvent?: (event: PlainEvent, call: grpc.ClientReadableStream<PlainEvent>) => void): Promise<ReadStream> {
  return new Promise((resolve) => {
    const events: PlainEvent[] = [];
    call.on("data", (e: PlainEvent) => {
      events.push(e);
      onEvent?.(e, call);
    });
    call.on("error", (error: grpc.ServiceError) => resolve({ events, error }));
    call.on("end", () => resolve({ events }));
  });
}

export function unary<T>(fn: (callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}
