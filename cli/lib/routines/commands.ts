// The logic of `cc routine …`, kept out of the command classes so it can be tested against a fake client.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { UsageError } from "clipanion";
import { MissedRunPolicy, OverlapPolicy, RoutineSchema, SaveRoutineRequestSchema, type Routine } from "../../../gen/claudecluster/v1/routines_pb.js";
import { ExitCode } from "../../exit-codes.js";
import type { CommandIO } from "../io.js";
import { attachTask, type TaskCommandContext } from "../task-commands.js";
import type { Format } from "../task-output.js";
import type { RoutineClient } from "./client.js";
import { readRoutineFile } from "./definition.js";

export type RoutineContext = TaskCommandContext & { routines: RoutineClient };

/** `key=value` pairs (`--set`, `--default`); UsageError for one without `=`. */
export function parsePairs(flag: string, values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const i = v.indexOf("=");
    if (i <= 0) throw new UsageError(`${flag} expects key=value, got "${v}"`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

export async function saveRoutine(c: RoutineContext, routine: Routine, o: { replace: boolean; fireToken: boolean }): Promise<number> {
  const res = await c.routines.saveRoutine(create(SaveRoutineRequestSchema, { routine, replace: o.replace, newFireToken: o.fireToken }));
  c.io.stdout.write(`routine ${routine.name} ${res.created ? "saved" : "replaced"}${res.routine?.nextRunAt ? `; next run ${when(res.routine.nextRunAt)}` : ""}\n`);
  if (res.fireToken) writeToken(c.io, routine.name, res.fireToken, c.router);
  return ExitCode.Ok;
}

function writeToken(io: CommandIO, name: string, token: string, router: string): void {
  io.stdout.write(`fire token (shown once; keep it as a CI secret): ${token}\n`);
  io.stdout.write(`  curl -X POST -H "Authorization: Bearer ${token}" ${router.replace(/\/$/, "")}/routines/${name}/fire\n`);
}

/** The YAML files a path names: the file, or a directory's *.yaml and *.yml (not recursive), by name. */
export function routineFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(`${path}: no such file or directory`);
  }
  if (!st.isDirectory()) return [path];
  const files = readdirSync(path)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(path, f));
  if (files.length === 0) throw new UsageError(`${path}: no .yaml or .yml files in it`);
  return files;
}

/** Every routine the files hold, all read and checked (before any is saved: a typo in one file changes nothing). */
export function readRoutines(paths: readonly string[], env: Record<string, string | undefined>): Routine[] {
  if (paths.length === 0) throw new UsageError("give a file or directory: cc routine apply -f FILE.yaml (or -f DIR)");
  const routines: { routine: Routine; file: string }[] = [];
  const seen = new Map<string, string>();
  for (const file of paths.flatMap(routineFiles)) {
    for (const routine of readRoutineFile(file, env)) {
      const other = seen.get(routine.name);
      if (other) throw new UsageError(`${file}: routine ${routine.name} is defined twice (also in ${other})`);
      seen.set(routine.name, file);
      routines.push({ routine, file });
    }
  }
  return routines.map((r) => r.routine);
}

export async function applyRoutines(c: RoutineContext, routines: readonly Routine[], o: { fireToken: boolean }): Promise<number> {
  for (const routine of routines) {
    const res = await c.routines.saveRoutine(create(SaveRoutineRequestSchema, { routine, replace: true, newFireToken: o.fireToken }));
    c.io.stdout.write(`routine ${routine.name} ${res.created ? "created" : "configured"}\n`);
    if (res.fireToken) writeToken(c.io, routine.name, res.fireToken, c.router);
  }
  return ExitCode.Ok;
}

const when = (t: { seconds: bigint; nanos: number } | undefined) => (t ? `${timestampDate(t as never).toISOString().slice(0, 16).replace("T", " ")}Z` : "-");

function scheduleText(r: Routine): string {
  if (!r.schedule) return "-";
  return `${r.schedule.cron}${r.schedule.timeZone ? ` (${r.schedule.timeZone})` : ""}`;
}

export function routinesTable(routines: readonly Routine[]): string {
  const rows = [["NAME", "SCHEDULE", "NEXT RUN", "LAST RUN", "OUTCOME", "TASK"]];
  for (const r of routines) {
    rows.push([r.name, scheduleText(r), when(r.nextRunAt), when(r.lastRun?.startedAt), r.lastRun?.outcome || "-", r.lastRun?.taskIds.at(-1) || "-"]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

export async function listRoutines(c: RoutineContext, json: boolean): Promise<number> {
  const { routines } = await c.routines.listRoutines({});
  if (json) c.io.stdout.write(`${JSON.stringify(routines.map((r) => toJson(RoutineSchema, r)), null, 2)}\n`);
  else if (routines.length === 0) c.io.stdout.write("no routines: save one with `cc routine save NAME \"prompt\"` or `cc routine apply -f FILE.yaml`\n");
  else c.io.stdout.write(routinesTable(routines));
  return ExitCode.Ok;
}

export function routineDetails(r: Routine): string {
  const lines: string[] = [`name:        ${r.name}`];
  if (r.description) lines.push(`description: ${r.description}`);
  lines.push(`prompt:      ${r.prompt.replace(/\n/g, "\n             ")}`);
  for (const [k, v] of Object.entries(r.defaults)) lines.push(`default:     ${k}=${v}`);
  if (r.schedule) {
    lines.push(`schedule:    ${scheduleText(r)}, overlap ${OverlapPolicy[r.schedule.overlap || OverlapPolicy.SKIP]!.toLowerCase()}, missed runs ${MissedRunPolicy[r.schedule.missed || MissedRunPolicy.SKIP]!.toLowerCase().replace("_", "-")}`);
    lines.push(`next run:    ${when(r.nextRunAt)}`);
    if (r.skippedRuns) lines.push(`skipped:     ${r.skippedRuns} scheduled run(s), a run still going`);
  }
  if (r.retry?.maxRetries) lines.push(`retries:     up to ${r.retry.maxRetries}, backoff ${r.retry.backoff ? `${Number(r.retry.backoff.seconds)}s` : "10s"} doubling`);
  if (r.webhook) lines.push(`webhook:     ${r.webhook.url}${r.webhook.hasSecret ? " (signed)" : " (unsigned)"}`);
  if (r.lastDelivery) lines.push(`delivery:    ${r.lastDelivery.outcome} (HTTP ${r.lastDelivery.httpStatus || "-"}, ${r.lastDelivery.attempts} attempt(s), ${when(r.lastDelivery.at)})`);
  lines.push(`fire token:  ${r.hasFireToken ? "set" : "none"}`);
  if (r.lastRun) {
    lines.push(`last run:    ${r.lastRun.outcome} (${r.lastRun.trigger}, started ${when(r.lastRun.startedAt)})`);
    if (r.lastRun.taskIds.length > 0) lines.push(`tasks:       ${r.lastRun.taskIds.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}

export async function showRoutine(c: RoutineContext, name: string, json: boolean): Promise<number> {
  const r = await c.routines.getRoutine({ name });
  c.io.stdout.write(json ? `${JSON.stringify(toJson(RoutineSchema, r), null, 2)}\n` : routineDetails(r));
  return ExitCode.Ok;
}

export async function removeRoutines(c: RoutineContext, names: readonly string[]): Promise<number> {
  for (const name of names) {
    await c.routines.deleteRoutine({ name });
    c.io.stdout.write(`routine ${name} removed\n`);
  }
  return ExitCode.Ok;
}

export async function runRoutine(
  c: RoutineContext,
  name: string,
  o: { values: Record<string, string>; append: string; detach: boolean; format: Format; includePartials: boolean },
): Promise<number> {
  const { taskId } = await c.routines.fireRoutine({ name, values: o.values, append: o.append });
  if (o.detach) {
    c.io.stdout.write(`${taskId}\n`);
    return ExitCode.Ok;
  }
  return attachTask(c, taskId, o.format, o.includePartials);
}
