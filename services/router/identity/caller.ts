// The one identity check every client RPC goes through: the request gate (before any body is read) and the
// interceptor (which puts the caller in the handler's context) both ask Identities.authenticate. Handlers read the
// caller with callerOf(ctx) and scope what they touch with visibleTo / ownedOrNotFound: a `user` sees its own tasks
// only, and another's task is NOT_FOUND with the very message an unknown id gets, so ids never leak.
import { createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { TOKEN_FREE_SERVICES } from "../../common/interceptors.js";
import type { Logger } from "../../common/logger.js";
import { type Identities, type Identity, OPEN_ADMIN } from "./identities.js";

/** The caller of an RPC; OPEN_ADMIN until the interceptor sets it (a router without tokens). */
export const CALLER = createContextKey<Identity>(OPEN_ADMIN, { description: "the identity calling" });

export function callerOf(ctx: HandlerContext): Identity {
  return ctx.values.get(CALLER);
}

/** Whether `caller` may see (and act on) a task: its own, or any for an admin. */
export function visibleTo(caller: Identity, task: Pick<Task, "owner">): boolean {
  return caller.role === "admin" || task.owner === caller.name;
}

/** The RPCs a client token may not call: workers register with the worker token only. */
const WORKER_METHODS = new Set(["RegisterWorker"]);

/** Authenticates every client RPC (health excepted) and puts its caller in the context. */
export function identityAuth(identities: Identities): Interceptor {
  return (next) => async (req) => {
    if (!TOKEN_FREE_SERVICES.has(req.service.typeName) && !WORKER_METHODS.has(req.method.name)) {
      req.contextValues.set(CALLER, identities.authenticate(req.header));
    }
    return next(req);
  };
}

/** The same check before any request body is read, for the request gate; the refusal is logged here. */
export function identityGate(identities: Identities, logger: Logger): (ctx: HandlerContext) => void {
  return (ctx) => {
    if (TOKEN_FREE_SERVICES.has(ctx.service.typeName)) return;
    try {
      identities.authenticate(ctx.requestHeader);
    } catch (err) {
      logger.info({ method: `${ctx.service.typeName}/${ctx.method.name}`, code: "unauthenticated", err: (err as Error).message }, "rpc refused");
      throw err;
    }
  };
}
