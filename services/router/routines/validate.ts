// What a saved routine must be: checked when it is saved, so a schedule never fails at 3 a.m. for a typo.
import { invalidArgument } from "../../common/errors.js";
import type { Routine } from "../../../gen/claudecluster/v1/routines_pb.js";
import { checkCron } from "./schedule.js";

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const MAX_RETRIES = 10;
export const MAX_BACKOFF_MS = 3_600_000;

export function checkName(name: string, field = "name"): void {
  if (!NAME.test(name)) throw invalidArgument(field, `"${name}" is not a routine name: use lowercase letters, digits and -, at most 63 characters, e.g. nightly-tests`);
}

export function checkRoutine(r: Routine): void {
  checkName(r.name, "routine.name");
  if (r.prompt.trim() === "") throw invalidArgument("routine.prompt", "is empty; give the prompt (a template: {{key}} is filled in when it runs)");
  if (r.task?.prompt) throw invalidArgument("routine.task.prompt", "is set; the prompt goes in routine.prompt");
  if (r.task && Object.keys(r.task.env).length > 0) throw invalidArgument("routine.task.env", "is set; a routine never keeps secrets: give variables to the worker instead");
  if (r.schedule) checkCron(r.schedule.cron, r.schedule.timeZone);
  if (r.retry) {
    if (r.retry.maxRetries > MAX_RETRIES) throw invalidArgument("routine.retry.max_retries", `is ${r.retry.maxRetries}; at most ${MAX_RETRIES}`);
    const backoffMs = Number(r.retry.backoff?.seconds ?? 0n) * 1000 + (r.retry.backoff?.nanos ?? 0) / 1e6;
    if (backoffMs < 0 || backoffMs > MAX_BACKOFF_MS) throw invalidArgument("routine.retry.backoff", "must be between 0 and 1h");
  }
  if (r.webhook) {
    let url: URL | undefined;
    try {
      url = new URL(r.webhook.url);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw invalidArgument("routine.webhook.url", `"${r.webhook.url}" is not an http:// or https:// URL`);
  }
}
