// The ClaudeCluster version, read once from package.json (two levels above services/common or dist/services/common).
import { readFileSync } from "node:fs";

function findVersion(): string {
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "claudecluster" && pkg.version) return pkg.version;
    } catch {
      // Not at this depth; try the next.
    }
  }
  return "0.0.0-unknown";
}

export const VERSION = findVersion();
