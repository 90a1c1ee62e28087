// The bubblewrap command line for one launch. Pure: the system layout and the host's settings come in, argv goes out,
// so every mount is unit-tested. What the command sees:
//   - the system read-only (/usr, /etc, /opt and the /bin, /lib... links or directories as the host has them), with
//     /etc/shadow, /etc/gshadow and every path the worker names as secret (token files, its TLS key, the workspace
//     root, claude's shared HOME) hidden even when they lie under a bound directory;
//   - a private /tmp and /var/tmp, a minimal /dev, a /proc of its own PID namespace;
//   - its workspace, HOME and extra directories read-write and the launch's read-only paths, each at the same path
//     as outside;
//   - nothing else: no other HOME, no other task's workspace, no /run (where container secrets live), no worker.
// Mount order matters to bwrap: later mounts go on top of earlier ones, so system → hidden → private tmp → binds,
// and binds sorted by depth so a parent never covers its child.
import { isAbsolute, sep } from "node:path";
import { BRIDGE_SCRIPT } from "./bridge.js";
import type { LaunchSpec, SandboxCommand } from "./launch-spec.js";

/** How the host's root directory is laid out: what to bind, what to link. */
export interface SystemLayout {
  /** Directories bound read-only as they are (e.g. /usr, /etc, /opt, and /bin where it is not a link). */
  directories: string[];
  /** Top-level links recreated inside (`/bin -> usr/bin` on merged-/usr systems). */
  links: { path: string; target: string }[];
}

export interface BwrapHost {
  bin: string;
  /** An empty, read-only regular file bound over hidden files (a bound /dev/null would be a device, unreadable there). */
  emptyFile: string;
  layout: SystemLayout;
  /** Existing paths kept invisible even under a bound directory: files read as empty, directories as empty. */
  hidden: { path: string; directory: boolean }[];
  /** Read-only paths every launch gets (CC_SANDBOX_BIND). */
  readOnly: string[];
  /**
   * The worker runs as root, which needs no user namespace. Any other user gets one (unprivileged bubblewrap), with
   * further user namespaces disabled inside.
   */
  root: boolean;
}

export function bwrapCommand(spec: LaunchSpec, host: BwrapHost): SandboxCommand {
  const args: string[] = [
    // Ends with the worker: if the worker dies, bwrap gets SIGKILL and, with it, every process of the namespace.
    "--die-with-parent",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    // Even a worker running as root gives its tasks no capability: no mounts to undo, no devices to make.
    "--cap-drop",
    "ALL",
  ];
  if (!host.root) args.push("--unshare-user", "--disable-userns");
  if (spec.network === "isolated") args.push("--unshare-net");
  // A terminal's session is claude's to lead; elsewhere a new session also stops TIOCSTI into the worker's terminal.
  if (spec.newSession) args.push("--new-session");

  for (const dir of host.layout.directories) args.push("--ro-bind", dir, dir);
  for (const link of host.layout.links) args.push("--symlink", link.target, link.path);
  const bound = host.layout.directories;
  for (const { path, directory } of host.hidden) {
    if (!bound.some((dir) => isUnder(path, dir))) continue;
    if (directory) args.push("--tmpfs", path);
    else args.push("--ro-bind", host.emptyFile, path);
  }
  args.push("--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp");

  const binds: { path: string; writable: boolean }[] = [
    { path: spec.workspace, writable: true },
    { path: spec.home, writable: true },
    ...(spec.readWrite ?? []).map((path) => ({ path, writable: true })),
    ...[...host.readOnly, ...(spec.readOnly ?? [])].map((path) => ({ path, writable: false })),
  ];
  const bridges = spec.network === "isolated" ? (spec.bridges ?? []) : [];
  // A unix socket can be connected to on a read-only mount.
  for (const bridge of bridges) binds.push({ path: bridge.socket, writable: false });
  binds.sort((a, b) => depth(a.path) - depth(b.path));
  for (const { path, writable } of binds) {
    if (!isAbsolute(path)) throw new Error(`sandbox: ${path} is not an absolute path`);
    args.push(writable ? "--bind" : "--ro-bind", path, path);
  }
  // The root bwrap builds the mount points in is made read-only last: the only writable places are the binds and tmpfs.
  args.push("--remount-ro", "/", "--chdir", spec.cwd, "--");

  if (bridges.length > 0) {
    // The bridges start inside the namespace, then the command replaces the shell (so it keeps the shell's pid).
    args.push("/bin/sh", "-c", BRIDGE_SCRIPT, "sh", ...bridges.flatMap((b) => [String(b.port), b.socket]), "--");
  }
  args.push(...spec.argv);
  return { file: host.bin, args, cwd: spec.cwd, env: spec.env };
}

function depth(path: string): number {
  return path.split(sep).filter(Boolean).length;
}

export function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}
