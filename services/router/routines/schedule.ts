// Cron schedules, read by croner (a well-kept cron library; no hand-written parser): validation with messages that
// say what is wrong, and the next time after a given one in the schedule's time zone.
import { Cron } from "croner";
import { invalidArgument } from "../../common/errors.js";

/** RangeError from Intl for an unknown zone: the one test of a zone that the runtime itself uses. */
export function checkTimeZone(zone: string, field = "schedule.time_zone"): void {
  if (zone === "") return;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
  } catch {
    throw invalidArgument(field, `unknown time zone "${zone}"; use an IANA name such as UTC, Europe/Paris or America/New_York`);
  }
}

function cron(expression: string, zone: string): Cron {
  return new Cron(expression, { timezone: zone || "UTC", paused: true, mode: "auto" });
}

/** INVALID_ARGUMENT naming the field for an expression croner refuses, or one that never fires. */
export function checkCron(expression: string, zone: string, field = "schedule.cron"): void {
  checkTimeZone(zone);
  if (expression.trim() === "") throw invalidArgument(field, 'is empty; give a cron expression such as "0 9 * * 1-5" (09:00 on weekdays)');
  let c: Cron;
  try {
    c = cron(expression, zone);
  } catch (err) {
    throw invalidArgument(field, `"${expression}" is not a cron expression (${err instanceof Error ? err.message : String(err)}); use five fields, minute hour day-of-month month day-of-week, e.g. "*/15 * * * *"`);
  }
  if (c.nextRun() === null) throw invalidArgument(field, `"${expression}" never fires`);
}

/** The first time strictly after `afterMs` the schedule fires (ms since the epoch), or undefined if never. */
export function nextRun(expression: string, zone: string, afterMs: number): number | undefined {
  const next = cron(expression, zone).nextRun(new Date(afterMs));
  return next ? next.getTime() : undefined;
}
