// Status and health as small coloured labels; the word is always there, so colour is never the only signal.
import type { TaskStatus, WorkerHealth } from "../../../gen/claudecluster/v1/router_pb.js";
import { h } from "./dom.js";
import { HEALTH_LABEL, STATUS_LABEL } from "./format.js";

export function statusBadge(status: TaskStatus): HTMLElement {
  const label = STATUS_LABEL[status] ?? "unknown";
  return h("span", { class: `badge status-${label}` }, label);
}

export function healthBadge(health: WorkerHealth): HTMLElement {
  const label = HEALTH_LABEL[health] ?? "unknown";
  return h("span", { class: `badge health-${label}` }, label);
}
