// Task ids sort by creation time (like ULIDs): 10 characters of milliseconds, then 16 random ones, in Crockford's
// base32, lower case. Sortable ids make "newest first" a string sort and keep logs readable.
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

export function newTaskId(now = Date.now()): string {
  let time = "";
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  let rand = "";
  for (const byte of randomBytes(16)) rand += ALPHABET[byte % 32];
  return time + rand;
}

/** Task ids are 1 to 64 characters of letters, digits, `-` and `_`, so they are safe in paths and logs. */
export function isValidTaskId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(id);
}
