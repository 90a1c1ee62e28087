// The quotas as the dispatcher asks for them (PlacementQuotas): by a task owner's name, looked up in the identities
// as they are now, so that a reloaded CC_TOKENS_FILE's limits apply to tasks already waiting.
import type { PlacementQuotas } from "../dispatcher.js";
import type { Identities } from "../identity/index.js";
import type { Admission } from "./admission.js";

export function placementQuotas(admission: Admission, identities: Identities): PlacementQuotas {
  const limits = (owner: string) => {
    const identity = identities.byName(owner);
    return identity ? admission.limitsOf(identity) : undefined;
  };
  return {
    admit: (req, caller, counts, willWait) => admission.admit(req, caller, counts, willWait),
    heldBack(owner, counts) {
      const l = limits(owner);
      return l !== undefined && admission.heldBack(l, counts);
    },
    heldBackDetail(owner) {
      const n = limits(owner)?.running ?? 0;
      return `waiting for one of ${owner || "this caller"}'s own tasks to end: quota "running" is ${n} task${n === 1 ? "" : "s"} at once`;
    },
  };
}
