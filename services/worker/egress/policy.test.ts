import { describe, expect, it } from "vitest";
import { EgressMode } from "../../../gen/claudecluster/v1/run_pb.js";
import { allowlist, allowingRule, EgressError, fromMessage, narrow, parseEgressSetting, refusal, toMessage } from "./policy.js";
import { DEFAULT_EGRESS } from "./index.js";

describe("egress policy", () => {
  it("CC_EGRESS: open, none, or an allowlist of hosts and presets", () => {
    expect(parseEgressSetting("open")).toEqual({ mode: "open" });
    expect(parseEgressSetting(" none ")).toEqual({ mode: "none" });
    const policy = parseEgressSetting("example.com, *.corp.example:8443,@git-hosts");
    expect(policy.mode).toBe("allowlist");
    expect(policy.mode === "allowlist" && policy.entries).toEqual(["example.com", "*.corp.example:8443", "@git-hosts"]);
    expect(parseEgressSetting(DEFAULT_EGRESS).mode).toBe("allowlist");
  });

  it("refuses unknown presets and malformed entries, naming them", () => {
    expect(() => parseEgressSetting("@nope")).toThrow(/unknown preset @nope; the presets are @anthropic, @package-registries, @git-hosts/);
    expect(() => parseEgressSetting("exa mple.com")).toThrow(EgressError);
    expect(() => parseEgressSetting("example.com:0")).toThrow(/the port must be 1-65535/);
    expect(() => parseEgressSetting("*.10.0.0.1")).toThrow(/a wildcard takes a domain/);
    expect(() => allowlist([])).toThrow(/at least one entry/);
  });

  it("matches names exactly, wildcards on subdomains only, ports when given; case and a trailing dot do not matter", () => {
    const policy = allowlist(["example.com", "*.example.org", "api.test:8443", "10.0.0.7", "[::1]:9000"]);
    expect(refusal(policy, "example.com", 443)).toBeUndefined();
    expect(refusal(policy, "EXAMPLE.com.", 80)).toBeUndefined();
    expect(refusal(policy, "www.example.com", 443)).toBe("www.example.com:443 is not in the task's egress allowlist");
    expect(refusal(policy, "a.b.example.org", 443)).toBeUndefined();
    expect(refusal(policy, "example.org", 443)).toBeDefined();
    expect(refusal(policy, "api.test", 8443)).toBeUndefined();
    expect(refusal(policy, "api.test", 443)).toBeDefined();
    expect(refusal(policy, "10.0.0.7", 22)).toBeUndefined();
    expect(refusal(policy, "[::1]", 9000)).toBeUndefined();
    expect(refusal({ mode: "none" }, "example.com", 443)).toBe("the task's egress policy is none");
    expect(refusal({ mode: "open" }, "anything", 1)).toBeUndefined();
  });

  it("presets expand to their hosts, which never count as naming a host exactly", () => {
    const policy = allowlist(["@package-registries", "github.com"]);
    expect(allowingRule(policy, "registry.npmjs.org", 443)).toMatchObject({ exact: false });
    expect(allowingRule(policy, "github.com", 443)).toMatchObject({ exact: true });
    expect(allowingRule(allowlist(["*.example.com"]), "a.example.com", 443)).toMatchObject({ exact: false });
  });

  it("a task narrows the worker's policy and cannot widen it", () => {
    const worker = allowlist(["*.example.com", "github.com", "@package-registries"]);
    expect(narrow(worker, undefined)).toBe(worker);
    expect(narrow(worker, { mode: "none" })).toEqual({ mode: "none" });
    expect(narrow(worker, allowlist(["api.example.com", "github.com:443"])).mode).toBe("allowlist");
    expect(() => narrow(worker, { mode: "open" })).toThrow(/cannot ask for open/);
    expect(() => narrow(worker, allowlist(["evil.test"]))).toThrow(/evil.test is not allowed by this worker's egress policy/);
    expect(() => narrow(allowlist(["github.com:443"]), allowlist(["github.com"]))).toThrow(/github.com is not allowed/);
    expect(() => narrow({ mode: "none" }, allowlist(["github.com"]))).toThrow(/cannot ask for an allowlist/);
    expect(narrow({ mode: "open" }, allowlist(["anything.test"])).mode).toBe("allowlist");
    // A host the worker allows only through a wildcard does not become "named exactly" by the task naming it.
    const narrowed = narrow(worker, allowlist(["api.example.com"]));
    expect(allowingRule(narrowed, "api.example.com", 443)).toMatchObject({ exact: false });
  });

  it("round-trips through the protobuf message", () => {
    expect(fromMessage({ mode: EgressMode.UNSPECIFIED, allow: [] } as never)).toBeUndefined();
    expect(fromMessage({ mode: EgressMode.NONE, allow: [] } as never)).toEqual({ mode: "none" });
    expect(toMessage(allowlist(["a.test", "@git-hosts"]))).toEqual({ mode: EgressMode.ALLOWLIST, allow: ["a.test", "@git-hosts"] });
    expect(toMessage({ mode: "open" })).toEqual({ mode: EgressMode.OPEN, allow: [] });
    expect(() => fromMessage({ mode: 7, allow: [] } as never)).toThrow(/unknown mode 7/);
  });
});
