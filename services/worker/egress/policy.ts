// Egress policies: parsing (CC_EGRESS, a request's `egress`), matching a host and port, and narrowing the worker's
// policy by a task's. Pure.
import { isIP } from "node:net";
import { EgressMode, type EgressPolicy as EgressPolicyMessage } from "../../../gen/claudecluster/v1/run_pb.js";
import { EGRESS_PRESETS } from "./presets.js";

export type EgressPolicy = { mode: "open" } | { mode: "none" } | { mode: "allowlist"; entries: string[]; rules: AllowRule[] };

export interface AllowRule {
  /** Lower-case host name or IP address; for a wildcard, the suffix after `*.`. */
  host: string;
  wildcard: boolean;
  /** Undefined: any port. */
  port: number | undefined;
  /** Written out by name (not a preset, not a wildcard): such a rule may reach loopback and link-local addresses. */
  exact: boolean;
}

export class EgressError extends Error {}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const MAX_ENTRIES = 500;

/** CC_EGRESS: `open`, `none`, or a comma-separated allowlist. */
export function parseEgressSetting(raw: string): EgressPolicy {
  const value = raw.trim();
  if (value === "open" || value === "none") return { mode: value };
  return allowlist(value.split(",").map((e) => e.trim()).filter(Boolean));
}

/** An allowlist from its entries (hosts, `*.` wildcards, `host:port`, `@preset`). Throws EgressError naming the bad one. */
export function allowlist(entries: string[]): EgressPolicy {
  if (entries.length === 0) throw new EgressError("an allowlist needs at least one entry (or say none)");
  if (entries.length > MAX_ENTRIES) throw new EgressError(`more than ${MAX_ENTRIES} entries`);
  const rules: AllowRule[] = [];
  for (const entry of entries) {
    if (entry.startsWith("@")) {
      const preset = EGRESS_PRESETS[entry.slice(1)];
      if (!preset) throw new EgressError(`unknown preset ${entry}; the presets are ${Object.keys(EGRESS_PRESETS).map((p) => `@${p}`).join(", ")}`);
      for (const host of preset) rules.push({ ...parseRule(host), exact: false });
    } else {
      rules.push(parseRule(entry));
    }
  }
  return { mode: "allowlist", entries, rules };
}

function parseRule(entry: string): AllowRule {
  let text = entry.toLowerCase();
  let port: number | undefined;
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    text = bracketed[1]!;
    port = bracketed[2] === undefined ? undefined : Number(bracketed[2]);
  } else if (isIP(text) !== 6) {
    const m = /^(.*):(\d+)$/.exec(text);
    if (m) {
      text = m[1]!;
      port = Number(m[2]);
    }
  }
  if (port !== undefined && !(port >= 1 && port <= 65535)) throw new EgressError(`${entry}: the port must be 1-65535`);
  const wildcard = text.startsWith("*.");
  const host = wildcard ? text.slice(2) : text.replace(/\.$/, "");
  if (!isIP(host) && !HOST_NAME.test(host)) throw new EgressError(`${entry}: not a host name, *.domain, IP address or @preset`);
  if (wildcard && isIP(host)) throw new EgressError(`${entry}: a wildcard takes a domain, not an address`);
  return { host, wildcard, port, exact: !wildcard };
}

/** The host as rules compare it: lower case, no trailing dot, no IPv6 brackets. */
export function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
}

/** The rule that lets `host:port` through, or undefined. */
export function allowingRule(policy: EgressPolicy, host: string, port: number): AllowRule | undefined {
  if (policy.mode !== "allowlist") return undefined;
  const h = normalizeHost(host);
  return policy.rules.find((r) => (r.port === undefined || r.port === port) && (r.wildcard ? h.endsWith(`.${r.host}`) : h === r.host));
}

/** Why `host:port` is refused, or undefined when it is allowed. */
export function refusal(policy: EgressPolicy, host: string, port: number): string | undefined {
  if (policy.mode === "open") return undefined;
  if (policy.mode === "none") return "the task's egress policy is none";
  return allowingRule(policy, host, port) ? undefined : `${normalizeHost(host)}:${port} is not in the task's egress allowlist`;
}

export function fromMessage(message: EgressPolicyMessage): EgressPolicy | undefined {
  switch (message.mode) {
    case EgressMode.UNSPECIFIED:
      return undefined;
    case EgressMode.OPEN:
      return { mode: "open" };
    case EgressMode.NONE:
      return { mode: "none" };
    case EgressMode.ALLOWLIST:
      return allowlist(message.allow);
    default:
      throw new EgressError(`unknown mode ${message.mode}; use EGRESS_MODE_OPEN, EGRESS_MODE_ALLOWLIST or EGRESS_MODE_NONE`);
  }
}

export function toMessage(policy: EgressPolicy): { mode: EgressMode; allow: string[] } {
  if (policy.mode === "allowlist") return { mode: EgressMode.ALLOWLIST, allow: policy.entries };
  return { mode: policy.mode === "open" ? EgressMode.OPEN : EgressMode.NONE, allow: [] };
}

/**
 * The policy a task gets: its own if it is within the worker's, the worker's if it asks for none. Throws EgressError
 * saying what the worker does not allow.
 */
export function narrow(worker: EgressPolicy, task: EgressPolicy | undefined): EgressPolicy {
  if (!task || worker.mode === "open" || task.mode === "none") return task ?? worker;
  if (task.mode === "open") throw new EgressError(`this worker's egress policy is ${describe(worker)}; a task cannot ask for open`);
  if (worker.mode === "none") throw new EgressError("this worker's egress policy is none; a task cannot ask for an allowlist");
  const rules = task.rules.map((rule) => {
    const cover = coveringRule(worker.rules, rule);
    if (!cover) throw new EgressError(`${rule.wildcard ? "*." : ""}${rule.host}${rule.port ? `:${rule.port}` : ""} is not allowed by this worker's egress policy (${describe(worker)})`);
    // Loopback and link-local addresses stay reachable only where the worker named the host itself.
    return { ...rule, exact: rule.exact && cover.exact };
  });
  return { ...task, rules };
}

/** A rule of `rules` that allows every host and port `rule` allows. */
function coveringRule(rules: AllowRule[], rule: AllowRule): AllowRule | undefined {
  return rules.find((r) => {
    if (r.port !== undefined && r.port !== rule.port) return false;
    if (!r.wildcard) return !rule.wildcard && r.host === rule.host;
    return rule.host.endsWith(`.${r.host}`);
  });
}

export function describe(policy: EgressPolicy): string {
  return policy.mode === "allowlist" ? `an allowlist (${policy.entries.join(",")})` : policy.mode;
}
