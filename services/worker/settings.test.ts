import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { AgentOptionsSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { SettingsError } from "../common/settings.js";
import { parseEgressSetting } from "./egress/index.js";
import { readWorkerSettings, WORKER_SETTINGS } from "./settings.js";

function errorOf(env: Record<string, string>): string {
  try {
    readWorkerSettings(env);
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return (err as Error).message;
  }
  throw new Error("no SettingsError thrown");
}

describe("worker settings", () => {
  it("has these defaults", () => {
    expect(readWorkerSettings({})).toEqual({
      port: 8080,
      host: "0.0.0.0",
      workerId: hostname(),
      routerUrl: "",
      advertiseUrl: "",
      workerTokens: [],
      workerTokenFile: "",
      tlsCert: "",
      tlsKey: "",
      claudeBin: "",
      claudeHome: "",
      claudeConfigDir: "",
      cloneTimeoutMs: 300_000,
      permissionTimeoutMs: 600_000,
      workspaceRoot: join(tmpdir(), "claudecluster", "workspaces"),
      maxSessions: 4,
      labels: {},
      taskTimeoutMs: 3_600_000,
      maxTaskTimeoutMs: 86_400_000,
      idleTimeoutMs: 1_800_000,
      disconnectGraceMs: 10_000,
      routerGraceMs: 300_000,
      replayBytes: 4_194_304,
      shutdownGraceMs: 30_000,
      killGraceMs: 5_000,
      maxPromptBytes: 1_048_576,
      maxTranscriptBytes: 16_777_216,
      streamBufferBytes: 1_048_576,
      maxOutputBytes: 33_554_432,
      warmPool: 0,
      warmProfile: create(AgentOptionsSchema),
      rootWorkspace: false,
      sandbox: "auto",
      sandboxBind: [],
      egress: parseEgressSetting("@anthropic,@package-registries,@git-hosts"),
      maxUploadBytes: 536_870_912,
      uploadStagingBytes: 2_147_483_648,
      uploadTtlMs: 900_000,
      uploadDir: join(tmpdir(), "claudecluster", "workspaces", ".uploads"),
      changesDir: join(tmpdir(), "claudecluster", "workspaces", ".changes"),
      changesRetainAgeMs: 86_400_000,
      changesRetainBytes: 2_147_483_648,
      maxChangesBytes: 268_435_456,
      changesTimeoutMs: 120_000,
      pushTimeoutMs: 300_000,
      gitAuthor: "ClaudeCluster <claudecluster@localhost>",
      workspaceRetainAgeMs: 86_400_000,
      workspaceRetainBytes: 10_737_418_240,
      maxCopyBytes: 536_870_912,
      environmentCacheDir: join(tmpdir(), "claudecluster", "workspaces", ".environments", hostname()),
      environmentCacheCount: 8,
      environmentCacheBytes: 10_737_418_240,
      setupTimeoutMs: 900_000,
      logLevel: "info",
      logFormat: "auto",
      metrics: true,
    });
  });

  it("reads every variable from the environment", () => {
    const s = readWorkerSettings({
      PORT: "9000",
      CC_HOST: "127.0.0.1",
      CC_WORKER_ID: "w-7",
      CC_ROUTER_URL: "http://router:8080",
      CC_WORKER_URL: "http://w7:9000",
      CC_WORKER_TOKEN: "s3cret, older",
      CC_TLS_CERT: "/run/tls/cert.pem",
      CC_TLS_KEY: "/run/tls/key.pem",
      CC_CLAUDE_BIN: "/opt/claude",
      CC_CLAUDE_HOME: "/home/claude",
      CC_CLAUDE_CONFIG: "/run/secrets/claude",
      CC_CLONE_TIMEOUT: "90s",
      CC_PERMISSION_TIMEOUT: "45s",
      CC_WORKSPACE_ROOT: "/srv/ws",
      CC_MAX_SESSIONS: "16",
      CC_LABELS: "region=eu, gpu=true",
      CC_TASK_TIMEOUT: "90",
      CC_MAX_TASK_TIMEOUT: "2h",
      CC_IDLE_TIMEOUT: "0",
      CC_DISCONNECT_GRACE: "250ms",
      CC_ROUTER_GRACE: "90s",
      CC_REPLAY_BYTES: "3145728",
      CC_SHUTDOWN_GRACE: "1m",
      CC_KILL_GRACE: "2s",
      CC_MAX_PROMPT_BYTES: "2048",
      CC_MAX_TRANSCRIPT_BYTES: "4096",
      CC_STREAM_BUFFER_BYTES: "16384",
      CC_MAX_OUTPUT_BYTES: "0",
      CC_WARM_POOL: "2",
      CC_WARM_PROFILE: '{"allowedTools":["Bash"],"model":"sonnet"}',
      CC_ROOT_WORKSPACE: "on",
      CC_SANDBOX: "bwrap",
      CC_SANDBOX_BIND: "/nix/store, /opt/tools",
      CC_EGRESS: "none",
      CC_MAX_UPLOAD_BYTES: "1048576",
      CC_UPLOAD_STAGING_BYTES: "4194304",
      CC_UPLOAD_TTL: "1m",
      CC_UPLOAD_DIR: "/srv/uploads",
      CC_CHANGES_DIR: "/srv/changes",
      CC_CHANGES_RETAIN_AGE: "2h",
      CC_CHANGES_RETAIN_BYTES: "2097152",
      CC_MAX_CHANGES_BYTES: "65536",
      CC_CHANGES_TIMEOUT: "30s",
      CC_PUSH_TIMEOUT: "45s",
      CC_GIT_AUTHOR: "Bot <bot@example.com>",
      CC_WORKSPACE_RETAIN_AGE: "3h",
      CC_WORKSPACE_RETAIN_BYTES: "0",
      CC_MAX_COPY_BYTES: "1000",
      CC_ENV_CACHE_DIR: "/srv/environments",
      CC_ENV_CACHE_COUNT: "3",
      CC_ENV_CACHE_BYTES: "4096",
      CC_ENV_SETUP_TIMEOUT: "90s",
      CC_LOG_LEVEL: "debug",
      CC_LOG_FORMAT: "json",
      CC_METRICS: "off",
    });
    expect(s).toEqual({
      port: 9000,
      host: "127.0.0.1",
      workerId: "w-7",
      routerUrl: "http://router:8080",
      advertiseUrl: "http://w7:9000",
      workerTokens: ["s3cret", "older"],
      workerTokenFile: "",
      tlsCert: "/run/tls/cert.pem",
      tlsKey: "/run/tls/key.pem",
      claudeBin: "/opt/claude",
      claudeHome: "/home/claude",
      claudeConfigDir: "/run/secrets/claude",
      cloneTimeoutMs: 90_000,
      permissionTimeoutMs: 45_000,
      workspaceRoot: "/srv/ws",
      maxSessions: 16,
      labels: { region: "eu", gpu: "true" },
      taskTimeoutMs: 90_000,
      maxTaskTimeoutMs: 7_200_000,
      idleTimeoutMs: 0,
      disconnectGraceMs: 250,
      routerGraceMs: 90_000,
      replayBytes: 3_145_728,
      shutdownGraceMs: 60_000,
      killGraceMs: 2_000,
      maxPromptBytes: 2048,
      maxTranscriptBytes: 4096,
      streamBufferBytes: 16_384,
      maxOutputBytes: 0,
      warmPool: 2,
      warmProfile: create(AgentOptionsSchema, { allowedTools: ["Bash"], model: "sonnet" }),
      rootWorkspace: true,
      sandbox: "bwrap",
      sandboxBind: ["/nix/store", "/opt/tools"],
      egress: { mode: "none" },
      maxUploadBytes: 1_048_576,
      uploadStagingBytes: 4_194_304,
      uploadTtlMs: 60_000,
      uploadDir: "/srv/uploads",
      changesDir: "/srv/changes",
      changesRetainAgeMs: 7_200_000,
      changesRetainBytes: 2_097_152,
      maxChangesBytes: 65_536,
      changesTimeoutMs: 30_000,
      pushTimeoutMs: 45_000,
      gitAuthor: "Bot <bot@example.com>",
      workspaceRetainAgeMs: 10_800_000,
      workspaceRetainBytes: 0,
      maxCopyBytes: 1000,
      environmentCacheDir: "/srv/environments",
      environmentCacheCount: 3,
      environmentCacheBytes: 4096,
      setupTimeoutMs: 90_000,
      logLevel: "debug",
      logFormat: "json",
      metrics: false,
    });
  });

  it.each([
    [{ PORT: "70000" }, 'PORT="70000": expected a whole number from 0 to 65535'],
    [{ PORT: "http" }, 'PORT="http": expected a whole number from 0 to 65535'],
    [{ CC_MAX_SESSIONS: "0" }, 'CC_MAX_SESSIONS="0": expected a whole number from 1 to 1000'],
    [{ CC_MAX_SESSIONS: "2.5" }, 'CC_MAX_SESSIONS="2.5": expected a whole number from 1 to 1000'],
    [{ CC_LABELS: "eu" }, 'CC_LABELS="eu": expected key=value pairs separated by commas, got "eu"'],
    [{ CC_TASK_TIMEOUT: "soon" }, 'CC_TASK_TIMEOUT="soon": expected a duration such as 30s, 5m or 1h'],
    [{ CC_MAX_TASK_TIMEOUT: "1d" }, 'CC_MAX_TASK_TIMEOUT="1d": expected a duration such as 30s, 5m or 1h'],
    [{ CC_IDLE_TIMEOUT: "-1" }, 'CC_IDLE_TIMEOUT="-1": expected a duration such as 30s, 5m or 1h'],
    [{ CC_KILL_GRACE: "" }, 'CC_KILL_GRACE="": expected a duration such as 30s, 5m or 1h'],
    [{ CC_LOG_FORMAT: "text" }, 'CC_LOG_FORMAT="text": expected one of json, pretty, auto'],
    [{ CC_METRICS: "maybe" }, 'CC_METRICS="maybe": expected true or false'],
    [{ CC_MAX_PROMPT_BYTES: "0" }, 'CC_MAX_PROMPT_BYTES="0": expected a whole number from 1 to 67108864'],
    [{ CC_STREAM_BUFFER_BYTES: "1024" }, 'CC_STREAM_BUFFER_BYTES="1024": expected a whole number from 16384 to 268435456'],
    [{ CC_WARM_POOL: "100" }, 'CC_WARM_POOL="100": expected a whole number from 0 to 64'],
    [{ CC_SANDBOX: "docker" }, 'CC_SANDBOX="docker": expected one of auto, bwrap, off'],
    [{ CC_EGRESS: "@internet" }, 'CC_EGRESS="@internet": unknown preset @internet; the presets are @anthropic, @package-registries, @git-hosts; expected open, none, or hosts and @presets separated by commas'],
    [{ CC_EGRESS: " , " }, 'CC_EGRESS=" , ": an allowlist needs at least one entry (or say none); expected open, none, or hosts and @presets separated by commas'],
  ])("refuses %j", (env, message) => {
    expect(errorOf(env)).toBe(message);
  });

  it("refuses a warm profile that is not AgentOptions JSON, with an example", () => {
    expect(errorOf({ CC_WARM_PROFILE: '{"tools":1}' })).toMatch(/^CC_WARM_PROFILE=.*: expected the JSON of claudecluster.v1.AgentOptions, e.g. \{"allowedTools":\["Bash"\]\}/);
  });

  it("an empty CC_EGRESS is the default", () => {
    expect(readWorkerSettings({ CC_EGRESS: "" }).egress).toEqual(readWorkerSettings({}).egress);
  });

  it("ignores variables that are not its own", () => {
    expect(readWorkerSettings({ HOME: "/root", CC_TOKEN: "x", PATH: "/bin" })).toEqual(readWorkerSettings({}));
  });

  it("every setting has its own variable, a description, and a default that parses", () => {
    const envs = Object.values(WORKER_SETTINGS).map((s) => s.env);
    expect(new Set(envs).size).toBe(envs.length);
    for (const s of Object.values(WORKER_SETTINGS)) {
      expect(s.env).toMatch(/^(PORT|CC_[A-Z_]+)$/);
      expect(s.description.length).toBeGreaterThan(0);
      expect(() => s.parse(s.default)).not.toThrow();
    }
  });
});
