// Tokens and TLS material read from files, the way container platforms hand out secrets (a Kubernetes secret
// volume, Docker/compose secrets under /run/secrets, Cloud Run secret mounts). Read once at start-up: a rotated
// secret takes effect on restart, which is how those platforms roll them out.
import { readFileSync } from "node:fs";
import { SettingsError } from "./settings.js";

function readSecretFile(variable: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new SettingsError(`${variable}=${JSON.stringify(path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * Tokens from a file: one per line or comma-separated; blank lines and `#` comments are skipped. An empty path
 * gives none. A file that holds no token is a mistake (an empty secret), not "accept anyone".
 */
export function readTokenFile(variable: string, path: string): string[] {
  if (!path) return [];
  const tokens = readSecretFile(variable, path)
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .flatMap((line) => line.split(","))
    .map((t) => t.trim())
    .filter(Boolean);
  if (tokens.length === 0) throw new SettingsError(`${variable}=${JSON.stringify(path)}: the file holds no token`);
  return tokens;
}

export interface TlsFiles {
  cert: string;
  key: string;
}

/** Certificate chain and key (PEM) for serving TLS, or undefined for cleartext (h2c). Both or neither. */
export function readTlsFiles(certPath: string, keyPath: string): { cert: Buffer; key: Buffer } | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) throw new SettingsError("CC_TLS_CERT and CC_TLS_KEY go together: set both to serve TLS, or neither for cleartext h2c");
  return {
    cert: Buffer.from(readSecretFile("CC_TLS_CERT", certPath)),
    key: Buffer.from(readSecretFile("CC_TLS_KEY", keyPath)),
  };
}
