import { existsSync } from "node:fs";

// claude sees an allowlisted environment: its own settings, credentials, locale and proxies, never the worker's
// secrets (CC_TOKEN, CC_WORKER_TOKEN) or anything else the worker happened to inherit; plus the task's own
// variables (RunRequest.env), which can never replace what the worker sets or guards (services/common/task-env.ts).

const EXACT = new Set([
  "PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SHELL", "USER", "LOGNAME",
  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
  "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
  "IS_SANDBOX", "DISABLE_AUTOUPDATER", "DISABLE_TELEMETRY", "DISABLE_ERROR_REPORTING",
  "CLAUDE_CONFIG_DIR", "MCP_TIMEOUT", "MAX_THINKING_TOKENS", "BASH_DEFAULT_TIMEOUT_MS", "BASH_MAX_TIMEOUT_MS",
  "AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
  "GOOGLE_APPLICATION_CREDENTIALS", "CLOUD_ML_REGION",
]);
const PREFIXES = ["ANTHROPIC_", "CLAUDE_CODE_", "LC_", "VERTEX_REGION_"];

// claude runs its Bash tool in $SHELL when that is bash or zsh, and otherwise in the first zsh it finds, so a worker
// started without SHELL (a CI job, a service manager) would give its tasks zsh on one machine and bash on the next.
// A task gets bash unless the worker's operator chose a shell.
const DEFAULT_SHELL = "/bin/bash";

export interface ClaudeEnvOptions {
  /** The HOME claude uses: where its .claude.json, settings and session transcripts live. */
  home: string;
  /** The task's own variables (RunRequest.env, checked by services/common/task-env.ts): never a reserved name. */
  taskEnv?: Readonly<Record<string, string>>;
  /** Extra variables set by the worker itself (e.g. the hook events file). */
  extra?: Record<string, string>;
  /** Terminal type for interactive sessions. */
  term?: string;
}

export function claudeEnv(source: NodeJS.ProcessEnv, options: ClaudeEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (EXACT.has(key) || PREFIXES.some((p) => key.startsWith(p))) env[key] = value;
  }
  env["HOME"] = options.home;
  env["PATH"] ??= "/usr/local/bin:/usr/bin:/bin";
  if (!env["SHELL"] && existsSync(DEFAULT_SHELL)) env["SHELL"] = DEFAULT_SHELL;
  // No auto-updates of the pinned claude on a worker.
  env["DISABLE_AUTOUPDATER"] ??= "1";
  if (options.term) {
    env["TERM"] = options.term;
    env["COLORTERM"] = "truecolor";
  }
  return { ...env, ...options.taskEnv, ...options.extra };
}
