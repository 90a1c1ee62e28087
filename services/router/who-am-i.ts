// RouterService.WhoAmI: the caller as the router sees its token, with its limits and what it has spent.
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Role, type WhoAmIResponse, WhoAmIResponseSchema } from "../../gen/claudecluster/v1/router_pb.js";
import { storeError } from "./tasks.js";
import type { Identities, Identity } from "./identity/index.js";
import type { Admission } from "./quotas/index.js";

export async function whoAmI(caller: Identity, identities: Identities, admission: Admission): Promise<WhoAmIResponse> {
  const limits = admission.limitsOf(caller);
  const spent = await admission.spent(caller).catch((err: unknown) => {
    throw storeError(err);
  });
  return create(WhoAmIResponseSchema, {
    name: caller.name,
    role: caller.role === "admin" ? Role.ADMIN : Role.USER,
    quotas: {
      running: limits.running,
      queued: limits.queued,
      ...(limits.maxTimeoutMs > 0 ? { maxTimeout: durationFromMs(limits.maxTimeoutMs) } : {}),
      dailyUsd: limits.dailyUsd,
      monthlyUsd: limits.monthlyUsd,
    },
    spentTodayUsd: spent.today,
    spentThisMonthUsd: spent.month,
    shared: identities.shared,
  });
}
