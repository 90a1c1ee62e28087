// Per-task environment variables (RunRequest.env): which names a task may set and how much it may send. The router
// and the worker check them (validate-run.ts), cc checks them before sending, and the worker adds them to claude's
// environment (services/worker/claude-env.ts). Messages name variables, never their values.

export const MAX_ENV_VARS = 64;
export const MAX_ENV_VALUE_BYTES = 32 * 1024;
export const MAX_ENV_TOTAL_BYTES = 64 * 1024;
const MAX_NAME_CHARS = 128;

/**
 * Names the worker sets itself (HOME, PATH, TERM, its task markers), and names that would let a task redirect or
 * read the worker's credentials or change how claude itself runs: API endpoints and keys, proxies and CA
 * certificates, the dynamic loader and Node.
 */
const RESERVED = new Set([
  "HOME", "PATH", "TERM", "COLORTERM", "SHELL", "USER", "LOGNAME", "PWD", "OLDPWD", "TMPDIR",
  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
  "SSL_CERT_FILE", "SSL_CERT_DIR", "IS_SANDBOX", "DISABLE_AUTOUPDATER",
]);
const RESERVED_PREFIXES = ["ANTHROPIC_", "CLAUDE_", "CC_", "AWS_", "GOOGLE_", "VERTEX_", "CLOUD_ML_", "LD_", "DYLD_", "NODE_"];

/** Why `name` cannot be a task's variable, or undefined when it can. */
export function envNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_NAME_CHARS || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return `${JSON.stringify(name.slice(0, 40))} is not a variable name: use letters, digits and _, not starting with a digit (at most ${MAX_NAME_CHARS})`;
  }
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (RESERVED.has(name) || prefix) {
    return `${name} is reserved by the worker${prefix ? ` (every ${prefix}* name is)` : ""}; tasks cannot set it`;
  }
  return undefined;
}

/** Why these variables cannot be sent, or undefined when they can. */
export function envProblem(env: Readonly<Record<string, string>>): string | undefined {
  const entries = Object.entries(env);
  if (entries.length > MAX_ENV_VARS) return `more than ${MAX_ENV_VARS} variables`;
  let total = 0;
  for (const [name, value] of entries) {
    const problem = envNameProblem(name);
    if (problem) return problem;
    const bytes = Buffer.byteLength(value, "utf8");
    if (bytes > MAX_ENV_VALUE_BYTES) return `the value of ${name} is over ${MAX_ENV_VALUE_BYTES / 1024} KiB`;
    if (value.includes("\0")) return `the value of ${name} contains a NUL character`;
    total += bytes + Buffer.byteLength(name, "utf8");
  }
  if (total > MAX_ENV_TOTAL_BYTES) return `the variables are over ${MAX_ENV_TOTAL_BYTES / 1024} KiB in all`;
  return undefined;
}
