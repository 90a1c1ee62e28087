// One log line per RPC, written by an interceptor when the call ends (a stream when it ends, fails or its caller
// goes away): method, Connect code, duration, task id, worker id and request id. The request id is the caller's
// sane `x-request-id` or a new one; handlers read it from the context to pass it on (router → worker), so one task's
// lines can be found in both logs. Tokens and prompts never reach these lines; the prompt goes to a debug line only,
// truncated.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "./logger.js";

export const REQUEST_ID_HEADER = "x-request-id";

/** This RPC's request id, for handlers (`ctx.values.get(REQUEST_ID)`); "" outside an RPC that went through rpcLog. */
export const REQUEST_ID = createContextKey<string>("", { description: "x-request-id of this RPC" });

/** What a caller's `x-request-id` may be for us to keep it; anything else is replaced. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Calls that machines make every few seconds: logged at debug unless they fail. */
const ROUTINE_SERVICES = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);
const ROUTINE_METHODS = new Set(["RegisterWorker", "GetInfo"]);

/** Prompt characters in the debug line. */
const PROMPT_DEBUG_CHARS = 200;

export function saneRequestId(value: string | null | undefined): string | undefined {
  return value && SANE_REQUEST_ID.test(value) ? value : undefined;
}

/** The request id of the RPC a handler serves, as headers for a call it makes on the caller's behalf. */
export function requestIdHeaders(ctxOrId: HandlerContext | string | undefined): Record<string, string> {
  const id = typeof ctxOrId === "string" ? ctxOrId : ctxOrId?.values.get(REQUEST_ID);
  return id ? { [REQUEST_ID_HEADER]: id } : {};
}

export interface RpcLogOptions {
  /** A worker id for every line: the worker's own. */
  workerId?: string;
  /** The worker a task was placed on, for calls that name a task (the router). */
  workerOf?: (taskId: string) => string | undefined;
  /** Milliseconds, for durations; default performance.now. */
  now?: () => number;
  newRequestId?: () => string;
}

/** The fields of one RPC's line. */
export interface RpcLine {
  method: string;
  code: string;
  durationMs: number;
  requestId: string;
  taskId?: string;
  workerId?: string;
  /** Streams: messages sent. */
  messages?: number;
  /** Failures: the error's message, as the caller received it. */
  error?: string;
}

export function rpcLog(logger: Logger, options: RpcLogOptions = {}): Interceptor {
  const now = options.now ?? (() => performance.now());
  const newRequestId = options.newRequestId ?? randomUUID;
  return (next) => async (req) => {
    const start = now();
    const requestId = saneRequestId(req.header.get(REQUEST_ID_HEADER)) ?? newRequestId();
    req.contextValues.set(REQUEST_ID, requestId);
    const method = `${req.service.typeName}/${req.method.name}`;
    const routine = ROUTINE_SERVICES.has(req.service.typeName) || ROUTINE_METHODS.has(req.method.name);
    let taskId: string | undefined;
    let workerId = options.workerId;
    let messages: number | undefined;
    let logged = false;

    const noteRequest = (message: unknown) => {
      const m = message as { taskId?: unknown; prompt?: unknown };
      if (typeof m.taskId === "string" && m.taskId) taskId = m.taskId;
      if (typeof m.prompt === "string" && logger.isLevelEnabled("debug")) {
        logger.debug({ method, requestId, taskId, prompt: [...m.prompt].slice(0, PROMPT_DEBUG_CHARS).join("") }, "rpc request");
      }
    };
    const noteResponse = (message: unknown) => {
      const m = message as { taskId?: unknown; event?: { case?: unknown; value?: { workerId?: unknown } } };
      if (!taskId && typeof m.taskId === "string" && m.taskId) taskId = m.taskId;
      if (m.event?.case === "started" && typeof m.event.value?.workerId === "string" && m.event.value.workerId) workerId = m.event.value.workerId;
    };
    const finish = (failure: unknown) => {
      if (logged) return;
      logged = true;
      if (!workerId && taskId) workerId = options.workerOf?.(taskId);
      const line: RpcLine = { method, code: "ok", durationMs: Math.round((now() - start) * 10) / 10, requestId };
      if (taskId) line.taskId = taskId;
      if (workerId) line.workerId = workerId;
      if (messages !== undefined) line.messages = messages;
      if (failure !== undefined) {
        const err = ConnectError.from(failure);
        line.code = codeToString(err.code);
        line.error = err.rawMessage;
      }
      if (routine && failure === undefined) logger.debug(line, "rpc");
      else logger.info(line, "rpc");
    };

    let request = req;
    if (req.stream) {
      const source = req.message;
      request = {
        ...req,
        message: (async function* () {
          for await (const message of source) {
            noteRequest(message);
            yield message;
          }
        })(),
      };
    } else {
      noteRequest(req.message);
    }

    let res;
    try {
      res = await next(request);
    } catch (err) {
      finish(err);
      throw err;
    }
    res.header.set(REQUEST_ID_HEADER, requestId);
    if (!res.stream) {
      finish(undefined);
      return res;
    }
    const output = res.message;
    const signal = req.signal;
    messages = 0;
    return {
      ...res,
      message: (async function* () {
        let completed = false;
        try {
          for await (const message of output) {
            messages = (messages ?? 0) + 1;
            noteResponse(message);
            yield message;
          }
          completed = true;
        } catch (err) {
          finish(err);
          throw err;
        } finally {
          // Ended early (the caller stopped reading) or ended because the caller went away: canceled.
          if (!completed || signal.aborted) finish(signal.reason instanceof ConnectError ? signal.reason : new ConnectError("the caller went away", Code.Canceled));
          else finish(undefined);
        }
      })(),
    };
  };
}
