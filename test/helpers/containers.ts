// Builds and runs the project's images with whatever this machine has: Docker, or, on machines without a Docker
// engine, the buildah/podman scripts of ../shared/containers (they build the same Dockerfiles unchanged).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand, type CommandResult } from "./command.js";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ContainerTool {
  /** "docker" or "podman (shared/containers)". */
  readonly name: string;
  /** Prepares the base image if the tool needs to (the podman scripts import a stand-in for node:24-bookworm-slim). */
  prepare(): Promise<CommandResult>;
  build(dockerfile: string, tag: string): Promise<CommandResult>;
  /** `docker ARGS...` or `podman ARGS...`. */
  run(args: string[]): Promise<CommandResult>;
  /** Runs the image's HEALTHCHECK once: true when it passes. */
  healthy(container: string): Promise<boolean>;
  /** Frees what the tool holds after the tests (the podman scripts keep a holder process). */
  release(): Promise<void>;
}

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

function sharedScripts(): string | undefined {
  const candidates = [process.env["CC_CONTAINERS_DIR"], resolve(REPO_ROOT, "../shared/containers"), "/work/shared/containers"];
  return candidates.find((dir) => dir && existsSync(resolve(dir, "podman.sh")));
}

/** The tool to use, or why there is none. */
export function findContainerTool(): ContainerTool | string {
  const scripts = sharedScripts();
  if (onPath("docker") && spawnSync("docker", ["info"], { stdio: "ignore" }).status === 0) return dockerTool();
  if (scripts) return sharedTool(scripts);
  return "no container engine: install Docker (or set CC_CONTAINERS_DIR to the buildah/podman scripts of shared/containers)";
}

function dockerTool(): ContainerTool {
  return {
    name: "docker",
    prepare: () => Promise.resolve({ code: 0, stdout: "", stderr: "" }),
    build: (dockerfile, tag) => runCommand("docker", ["build", "-f", resolve(REPO_ROOT, dockerfile), "-t", tag, REPO_ROOT]),
    run: (args) => runCommand("docker", args),
    async healthy(container) {
      const r = await runCommand("docker", ["inspect", "--format", "{{.State.Health.Status}}", container]);
      return r.stdout.trim() === "healthy";
    },
    release: () => Promise.resolve(),
  };
}

function sharedTool(dir: string): ContainerTool {
  const script = (name: string) => resolve(dir, name);
  return {
    name: `podman (${dir})`,
    prepare: () => runCommand(script("base-image.sh"), ["24"]),
    build: (dockerfile, tag) => runCommand(script("build.sh"), ["-f", resolve(REPO_ROOT, dockerfile), "-t", tag, REPO_ROOT]),
    run: (args) => runCommand(script("podman.sh"), args),
    // podman cannot run HEALTHCHECK timers without systemd, so the check is run on demand.
    async healthy(container) {
      return (await runCommand(script("podman.sh"), ["healthcheck", "run", container])).code === 0;
    },
    async release() {
      await runCommand(script("podman.sh"), ["--stop-holder"]);
    },
  };
}
