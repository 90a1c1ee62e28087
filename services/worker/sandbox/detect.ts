// What this machine allows, found out once at start by running the sandbox exactly as a task would be run (same
// namespaces, same mounts) around `true`. Container runtimes differ: some forbid new namespaces, some mount /proc so
// that a new one cannot be mounted; trying is the only reliable test.
import { execFile } from "node:child_process";
import { lstatSync, mkdtempSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bwrapCommand, type BwrapHost, type SystemLayout } from "./bwrap.js";
import type { LaunchSpec } from "./launch-spec.js";

/** Directories of the host bound read-only into every sandbox, where they exist. */
const SYSTEM_DIRECTORIES = ["/usr", "/etc", "/opt"];
/** Top-level entries that are links into /usr on merged-/usr systems and directories elsewhere. */
const SYSTEM_ROOTS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** Password hashes: readable by root, never by a task. */
const ALWAYS_HIDDEN = ["/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-"];

export function systemLayout(): SystemLayout {
  const layout: SystemLayout = { directories: [], links: [] };
  for (const dir of SYSTEM_DIRECTORIES) if (isDirectory(dir)) layout.directories.push(dir);
  for (const path of SYSTEM_ROOTS) {
    try {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) layout.links.push({ path, target: readlinkSync(path) });
      else if (st.isDirectory()) layout.directories.push(path);
    } catch {
      // Not on this system.
    }
  }
  return layout;
}

/** The paths given that exist, each marked file or directory, plus the password files. */
export function hiddenPaths(paths: string[]): BwrapHost["hidden"] {
  const out: BwrapHost["hidden"] = [];
  for (const path of [...ALWAYS_HIDDEN, ...paths]) {
    try {
      out.push({ path, directory: statSync(path).isDirectory() });
    } catch {
      // Absent: nothing to hide.
    }
  }
  return out;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface ProbeResult {
  ok: boolean;
  /** What failed, in bwrap's words, when not ok. */
  detail: string;
}

/** Runs `true` in a sandbox built like a task's (with an isolated network when `isolated`). Never throws. */
export async function probeBwrap(host: BwrapHost, isolated: boolean): Promise<ProbeResult> {
  const dir = mkdtempSync(join(tmpdir(), "cc-sandbox-probe-"));
  try {
    const spec: LaunchSpec = { argv: ["true"], cwd: dir, env: { PATH: "/usr/bin:/bin" }, workspace: dir, home: dir, network: isolated ? "isolated" : "host", newSession: true };
    const cmd = bwrapCommand(spec, host);
    return await new Promise<ProbeResult>((resolve) => {
      execFile(cmd.file, cmd.args, { env: cmd.env, timeout: 10_000 }, (err, _stdout, stderr) => {
        if (!err) return resolve({ ok: true, detail: "" });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return resolve({ ok: false, detail: `${host.bin} is not installed (Debian: apt-get install bubblewrap)` });
        resolve({ ok: false, detail: stderr.trim().split("\n").pop() || err.message.split("\n")[0] || "bwrap failed" });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether socat, the bridge into isolated networks, can run. */
export function probeSocat(): Promise<boolean> {
  return new Promise((resolve) => execFile("socat", ["-V"], { timeout: 10_000 }, (err) => resolve(!err)));
}
