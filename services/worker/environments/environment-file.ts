// A repository's environment definition, `.claudecluster/environment.yaml`: the scripts that prepare its workspace
// (`setup` once, `maintenance` on each reuse of the snapshot), the variables tasks get, the secrets only setup
// gets, and how long the snapshot lives. Parsed strictly: an unknown field or a wrong type is an error naming its
// line, so a typo never silently turns into an environment without its setup.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readFileSync, realpathSync } from "node:fs";
import { isAbsolute, join, normalize, sep } from "node:path";
import { envNameProblem } from "../../common/task-env.js";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";

/** Where the file lives in a workspace. */
export const ENVIRONMENT_FILE = ".claudecluster/environment.yaml";
/** Larger files are refused (it holds two scripts and a few names). */
const MAX_FILE_BYTES = 256 * 1024;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** How long a snapshot lives when the file does not say. */
export const DEFAULT_TTL_MS = 12 * 60 * 60 * 1000;

export interface EnvironmentFile {
  /** Runs once, in the task's sandbox, in the fresh workspace, before claude. */
  setup: string;
  /** Runs each time a task starts from the snapshot (e.g. `npm install` after a pull). */
  maintenance: string;
  /** Variables for setup, maintenance and claude. */
  env: Record<string, string>;
  /** Names of secrets setup needs (values come with the task, RunRequest.setup_secrets); never given to claude. */
  secrets: string[];
  /** Workspace-relative files whose contents are part of the snapshot's key (package-lock.json...). */
  lockfiles: string[];
  /** How long a snapshot of this environment may be reused. */
  ttlMs: number;
  /** Longest setup may run (capped by the worker's CC_ENV_SETUP_TIMEOUT); undefined for the worker's. */
  setupTimeoutMs: number | undefined;
  /** sha256 of the file's bytes and of each lockfile's (in order): what a snapshot is keyed by. */
  inputsHash: string;
}

/** The file is malformed; `message` names the file and the line. */
export class EnvironmentFileError extends Error {}

const FIELDS = ["setup", "maintenance", "env", "secrets", "lockfiles", "cache", "setup_timeout"] as const;

/** The workspace's environment file, parsed; undefined when it has none. */
export function readEnvironmentFile(workspace: string): EnvironmentFile | undefined {
  const path = join(workspace, ENVIRONMENT_FILE);
  if (!existsSync(path)) return undefined;
  const stat = lstatSync(path);
  // The repository's own file: not a link, nor reached through a linked directory out of the workspace.
  if (!stat.isFile() || !inside(workspace, path)) throw new EnvironmentFileError(`${ENVIRONMENT_FILE}: must be a regular file in the repository`);
  if (stat.size > MAX_FILE_BYTES) throw new EnvironmentFileError(`${ENVIRONMENT_FILE}: is ${stat.size} bytes, more than ${MAX_FILE_BYTES}`);
  const bytes = readFileSync(path);
  const parsed = parseEnvironmentFile(bytes.toString("utf8"));
  const hash = createHash("sha256").update(bytes);
  for (const lockfile of parsed.lockfiles) {
    const file = join(workspace, lockfile);
    hash.update(`\0${lockfile}\0`);
    if (existsSync(file) && lstatSync(file).isFile() && inside(workspace, file)) hash.update(readFileSync(file));
    else hash.update("(missing)");
  }
  return { ...parsed, inputsHash: hash.digest("hex") };
}

/** Whether `path` (resolved through links) is under `dir`. */
function inside(dir: string, path: string): boolean {
  const root = realpathSync(dir);
  const real = realpathSync(path);
  return real === root || real.startsWith(root + sep);
}

/** Parses the file's text; throws EnvironmentFileError naming the line of the first problem. */
export function parseEnvironmentFile(text: string): Omit<EnvironmentFile, "inputsHash"> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (node: Node | null | undefined) => (node?.range ? `line ${lines.linePos(node.range[0]).line}` : "the top");
  const fail = (node: Node | null | undefined, message: string): never => {
    throw new EnvironmentFileError(`${ENVIRONMENT_FILE}, ${at(node)}: ${message}`);
  };
  const first = doc.errors[0];
  if (first) throw new EnvironmentFileError(`${ENVIRONMENT_FILE}, line ${lines.linePos(first.pos[0]).line}: ${first.message.split("\n")[0]}`);
  const root = doc.contents;
  const result: Omit<EnvironmentFile, "inputsHash"> = { setup: "", maintenance: "", env: {}, secrets: [], lockfiles: [], ttlMs: DEFAULT_TTL_MS, setupTimeoutMs: undefined };
  if (root === null) return result;
  if (!isMap(root)) return fail(root, "expected a mapping of fields (setup, maintenance, env, secrets, lockfiles, cache, setup_timeout)");

  const string = (node: unknown, what: string): string => {
    if (!isScalar(node) || typeof node.value !== "string") return fail(node as Node, `${what} must be a string`);
    return node.value;
  };
  const names = (node: unknown, what: string): string[] => {
    if (!isSeq(node)) return fail(node as Node, `${what} must be a list`);
    return node.items.map((item) => {
      const name = string(item, `each entry of ${what}`);
      if (!NAME.test(name)) fail(item as Node, `${what}: ${JSON.stringify(name)} is not a variable name (letters, digits and _)`);
      return name;
    });
  };
  for (const pair of root.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : "";
    const value = pair.value;
    switch (key as (typeof FIELDS)[number]) {
      case "setup":
        result.setup = string(value, "setup");
        break;
      case "maintenance":
        result.maintenance = string(value, "maintenance");
        break;
      case "env": {
        if (!isMap(value)) return fail(value as Node, "env must be a mapping of NAME: value");
        for (const item of value.items) {
          const name = isScalar(item.key) ? String(item.key.value) : "";
          if (!NAME.test(name)) fail(item.key as Node, `env: ${JSON.stringify(name)} is not a variable name (letters, digits and _)`);
          // The same guard as a task's own variables: nothing that redirects claude or the worker's credentials.
          const reserved = envNameProblem(name);
          if (reserved) fail(item.key as Node, `env: ${reserved}`);
          const v = item.value;
          if (!isScalar(v) || v.value === null || typeof v.value === "object") fail((v ?? item.key) as Node, `env.${name} must be a string, number or boolean`);
          result.env[name] = String((v as { value: unknown }).value);
        }
        break;
      }
      case "secrets":
        result.secrets = names(value, "secrets");
        break;
      case "lockfiles":
        if (!isSeq(value)) return fail(value as Node, "lockfiles must be a list");
        result.lockfiles = value.items.map((item) => {
          const path = string(item, "each entry of lockfiles");
          if (isAbsolute(path) || normalize(path).startsWith("..")) fail(item as Node, `lockfiles: ${JSON.stringify(path)} must be a path inside the repository`);
          return normalize(path);
        });
        break;
      case "cache": {
        if (!isMap(value)) return fail(value as Node, "cache must be a mapping (ttl)");
        for (const item of value.items) {
          const name = isScalar(item.key) ? String(item.key.value) : "";
          if (name !== "ttl") fail(item.key as Node, `unknown field cache.${name} (known: ttl)`);
          result.ttlMs = durationOf(item.value, "cache.ttl", fail);
        }
        break;
      }
      case "setup_timeout":
        result.setupTimeoutMs = durationOf(value, "setup_timeout", fail);
        break;
      default:
        fail(keyNode, `unknown field ${JSON.stringify(key)} (known: ${FIELDS.join(", ")})`);
    }
  }
  return result;
}

/** `90s`, `10m`, `12h`, `1d` or a number of seconds. */
function durationOf(node: unknown, what: string, fail: (node: Node, message: string) => never): number {
  if (!isScalar(node)) return fail(node as Node, `${what} must be a duration such as 90s, 10m or 12h`);
  const raw = String(node.value).trim();
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw);
  if (!m) return fail(node, `${what}: ${JSON.stringify(raw)} is not a duration such as 90s, 10m or 12h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "s"];
  const ms = Math.round(Number(m[1]) * unit);
  if (ms <= 0) return fail(node, `${what} must be more than 0`);
  return ms;
}
