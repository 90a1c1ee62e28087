// Egress: where a task's commands may connect. The policy (policy.ts) is the worker's (CC_EGRESS) narrowed by the
// task's; the proxy (proxy.ts) enforces it for a task whose network namespace has no other way out.
export { allowlist, describe, EgressError, fromMessage, narrow, parseEgressSetting, refusal, toMessage, type EgressPolicy } from "./policy.js";
export { EgressProxy, isPrivileged, type BlockedConnection } from "./proxy.js";
export { EGRESS_PRESETS } from "./presets.js";

/** The default: Anthropic's services, package registries and git hosts, as Claude Code on the web allows by default. */
export const DEFAULT_EGRESS = "@anthropic,@package-registries,@git-hosts";
