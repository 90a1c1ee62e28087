// `cc env ls|show|rm`: the workers' environment snapshots, through the router. The tables are pure (records and the
// current time in, text out); the command helpers make one call each.
import { toJson } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { UsageError } from "clipanion";
import { EnvironmentSnapshotSchema, type EnvironmentSnapshot } from "../../gen/claudecluster/v1/environment_pb.js";
import { ExitCode } from "../exit-codes.js";
import { outputWidth } from "./io.js";
import { humanBytes } from "./numbers.js";
import { formatAge, formatTable } from "./table.js";
import type { TaskCommandContext } from "./task-commands.js";

/** The key as listings show it: enough to name it in `cc env rm`. */
export const SHORT_KEY = 12;

const ms = (t: EnvironmentSnapshot["createdAt"]) => (t ? timestampMs(t) : 0);

export function environmentsTable(snapshots: readonly EnvironmentSnapshot[], now: number, width = Infinity): string {
  const rows = snapshots.map((s) => [
    s.key.slice(0, SHORT_KEY),
    s.workerId,
    humanBytes(Number(s.sizeBytes)),
    formatAge(now - ms(s.createdAt)),
    formatAge(now - ms(s.lastUsedAt)),
    String(s.uses),
    s.repository,
  ]);
  return formatTable(["KEY", "WORKER", "SIZE", "AGE", "USED", "USES", "REPOSITORY"], rows, width);
}

export function environmentsJson(snapshots: readonly EnvironmentSnapshot[]): string {
  return JSON.stringify(snapshots.map((s) => toJson(EnvironmentSnapshotSchema, s)), null, 2) + "\n";
}

/** One snapshot, field by field, as `cc env show` prints it. */
export function environmentDetails(s: EnvironmentSnapshot, now: number): string {
  const when = (t: EnvironmentSnapshot["createdAt"], future = false) => {
    const at = ms(t);
    return `${new Date(at).toISOString()} (${future ? `in ${formatAge(at - now)}` : `${formatAge(now - at)} ago`})`;
  };
  return [
    `key:        ${s.key}`,
    `repository: ${s.repository}`,
    `worker:     ${s.workerId}`,
    `size:       ${humanBytes(Number(s.sizeBytes))} (${s.sizeBytes} bytes)`,
    `created:    ${when(s.createdAt)} by task ${s.taskId}`,
    `last used:  ${when(s.lastUsedAt)}`,
    `expires:    ${when(s.expiresAt, true)}`,
    `uses:       ${s.uses}`,
  ].join("\n") + "\n";
}

function warnUnreachable(c: TaskCommandContext, unreachable: readonly string[]): void {
  for (const u of unreachable) c.io.stderr.write(`cc: worker ${u} did not answer; its snapshots are not listed\n`);
}

export async function listEnvironments(c: TaskCommandContext, o: { json: boolean; worker: string | undefined }): Promise<number> {
  const res = await c.client.listEnvironments({ workerId: o.worker ?? "" });
  warnUnreachable(c, res.unreachable);
  if (o.json) {
    c.io.stdout.write(environmentsJson(res.snapshots));
    return ExitCode.Ok;
  }
  if (res.snapshots.length === 0) {
    c.io.stdout.write("no environment snapshots: a task on a repository with a .claudecluster/environment.yaml makes one\n");
    return ExitCode.Ok;
  }
  c.io.stdout.write(environmentsTable(res.snapshots, (c.now ?? Date.now)(), c.io.stdout.isTTY ? outputWidth(c.io.stdout) : Infinity));
  return ExitCode.Ok;
}

export async function showEnvironment(c: TaskCommandContext, o: { key: string; json: boolean; worker: string | undefined }): Promise<number> {
  const key = o.key.trim().toLowerCase();
  const res = await c.client.listEnvironments({ workerId: o.worker ?? "" });
  warnUnreachable(c, res.unreachable);
  const found = res.snapshots.filter((s) => s.key.startsWith(key));
  if (key === "" || found.length === 0) throw new UsageError(`no environment snapshot ${o.key}${o.worker ? ` on worker ${o.worker}` : ""}; list them with cc env ls`);
  if (o.json) {
    c.io.stdout.write(environmentsJson(found));
    return ExitCode.Ok;
  }
  const now = (c.now ?? Date.now)();
  c.io.stdout.write(found.map((s) => environmentDetails(s, now)).join("\n"));
  return ExitCode.Ok;
}

export async function removeEnvironment(c: TaskCommandContext, o: { key: string; worker: string | undefined }): Promise<number> {
  const res = await c.client.removeEnvironment({ key: o.key, workerId: o.worker ?? "" });
  for (const s of res.removed) c.io.stdout.write(`removed ${s.key.slice(0, SHORT_KEY)} (${humanBytes(Number(s.sizeBytes))}, ${s.repository}) from worker ${s.workerId}\n`);
  return ExitCode.Ok;
}
