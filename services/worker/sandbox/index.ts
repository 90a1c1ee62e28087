// The sandbox a task runs in, behind one small interface: a launch spec in, the command to spawn out. `bwrap` puts
// each launch in its own mount, PID, IPC and UTS namespaces (and network namespace when asked), seeing only the
// system read-only, its workspace and HOME, and what the launch names; `none` spawns the command as it is.
//
// CC_SANDBOX=auto uses bubblewrap when this machine allows it and otherwise runs tasks unsandboxed, saying so loudly
// (the log at start, GetInfo's `sandbox: none`, /metrics); `bwrap` refuses to start without it; `off` never uses it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { SettingsError } from "../../common/settings.js";
import { bwrapCommand, type BwrapHost } from "./bwrap.js";
import { hiddenPaths, probeBwrap, probeSocat, systemLayout } from "./detect.js";
import type { LaunchSpec, SandboxCommand, SandboxKind } from "./launch-spec.js";

export type { Bridge, LaunchSpec, SandboxCommand, SandboxKind } from "./launch-spec.js";
export { BRIDGE_PORTS } from "./bridge.js";

export const SANDBOX_MODES = ["auto", "bwrap", "off"] as const;
export type SandboxMode = (typeof SANDBOX_MODES)[number];

export interface ExitStatus {
  exitCode: number | null;
  signal: string | null;
}

export interface Sandbox {
  readonly kind: SandboxKind;
  /** Why tasks are not sandboxed (kind `none` under `auto`), or why their network cannot be isolated; else empty. */
  readonly problem: string;
  /** Whether launches may ask for an isolated network (bubblewrap works and socat is installed). */
  readonly isolatesNetwork: boolean;
  /** The command that runs `spec` in the sandbox. */
  command(spec: LaunchSpec): SandboxCommand;
  /** The command's end as the launcher saw it, in claude's terms (bwrap reports "killed by signal N" as 128+N). */
  exitOf(exit: ExitStatus): ExitStatus;
  /** Removes the sandbox's own files. */
  close(): void;
}

export interface SandboxOptions {
  mode: SandboxMode;
  /** Paths a task must never see even if they lie under a bound system directory (tokens, TLS key, HOMEs). */
  hidden: string[];
  /** Read-only paths every launch gets (CC_SANDBOX_BIND). */
  readOnly: string[];
  /** Tasks will ask for isolated networks (an egress policy other than open): socat is then needed. */
  isolatedNetworks: boolean;
  bwrapBin?: string;
}

/** Probes the machine and returns the sandbox to use. Throws SettingsError when `bwrap` is asked for and cannot work. */
export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  if (options.mode === "off") return unsandboxed("");
  const own = mkdtempSync(join(tmpdir(), "cc-sandbox-"));
  const emptyFile = join(own, "empty");
  writeFileSync(emptyFile, "", { mode: 0o444 });
  const close = () => rmSync(own, { recursive: true, force: true });
  const host: BwrapHost = {
    bin: options.bwrapBin ?? "bwrap",
    emptyFile,
    layout: systemLayout(),
    hidden: hiddenPaths(options.hidden),
    readOnly: options.readOnly,
    root: process.getuid?.() === 0,
  };
  const probe = await probeBwrap(host, options.isolatedNetworks);
  if (!probe.ok) {
    const problem = `bubblewrap cannot create the task sandbox here: ${probe.detail}. ${DEPLOYMENT_HINT}`;
    close();
    if (options.mode === "bwrap") throw new SettingsError(`CC_SANDBOX=bwrap: ${problem}; or set CC_SANDBOX=auto to run tasks unsandboxed`);
    return unsandboxed(`${problem}; tasks run unsandboxed and can read what the worker can`);
  }
  let isolatesNetwork = true;
  let problem = "";
  if (options.isolatedNetworks && !(await probeSocat())) {
    const missing = "socat is not installed (Debian: apt-get install socat); it carries a task's connections out of its network namespace";
    if (options.mode === "bwrap") {
      close();
      throw new SettingsError(`CC_SANDBOX=bwrap with CC_EGRESS other than open: ${missing}`);
    }
    isolatesNetwork = false;
    problem = `${missing}, so CC_EGRESS is not enforced: tasks have the worker's network`;
  }
  return {
    kind: "bwrap",
    problem,
    isolatesNetwork,
    command: (spec) => bwrapCommand(isolatesNetwork ? spec : { ...spec, network: "host" }, host),
    exitOf: fromBwrapExit,
    close,
  };
}

const DEPLOYMENT_HINT =
  "In a container it needs user namespaces and a /proc it may mount: podman `--security-opt unmask=/proc/*`; docker `--security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined`; Kubernetes `hostUsers: false` with `procMount: Unmasked`; Cloud Run the second generation environment (deploy/README.md)";

function unsandboxed(problem: string): Sandbox {
  return {
    kind: "none",
    problem,
    isolatesNetwork: false,
    command: (spec) => ({ file: spec.argv[0]!, args: spec.argv.slice(1), cwd: spec.cwd, env: spec.env }),
    exitOf: (exit) => exit,
    close: () => {},
  };
}

/** bwrap exits with its command's status, and with 128+N when the command was killed by signal N. */
export function fromBwrapExit(exit: ExitStatus): ExitStatus {
  const code = exit.exitCode;
  if (exit.signal !== null || code === null || code <= 128 || code > 128 + 64) return exit;
  const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
  return name ? { exitCode: null, signal: name } : exit;
}
