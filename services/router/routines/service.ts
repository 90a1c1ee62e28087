// RoutineService: the RPC surface over Routines (routines.ts).
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteRoutineResponseSchema,
  FireRoutineResponseSchema,
  ListRoutinesResponseSchema,
  SaveRoutineResponseSchema,
  type RoutineService,
} from "../../../gen/claudecluster/v1/routines_pb.js";
import { callerOf } from "../identity/caller.js";
import type { Routines } from "./routines.js";

export function routineService(routines: Routines): ServiceImpl<typeof RoutineService> {
  return {
    async saveRoutine(req) {
      const saved = await routines.save(req);
      return create(SaveRoutineResponseSchema, saved);
    },
    getRoutine(req) {
      return routines.get(req.name);
    },
    async listRoutines() {
      return create(ListRoutinesResponseSchema, { routines: await routines.list() });
    },
    async deleteRoutine(req) {
      await routines.delete(req.name);
      return create(DeleteRoutineResponseSchema, {});
    },
    async fireRoutine(req, ctx) {
      // Fired by someone: the run is theirs (cc routine run, cc watch). A schedule's or the fire URL's belongs to no one.
      return create(FireRoutineResponseSchema, { taskId: await routines.fire(req.name, "manual", req.values, req.append, callerOf(ctx)) });
    },
  };
}
