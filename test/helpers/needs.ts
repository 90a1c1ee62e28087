// Tests that need something npm does not install (Debian packages, a container engine). Where it is missing they are
// skipped with a message saying what to install — but not in CI (CI=true), where a skip would let CI pass without
// the test running: there they fail with the same message. `npm test` installs the Debian packages first
// (scripts/system-packages.txt), so on a machine where it can, nothing is skipped.
import { describe, it } from "vitest";

const IN_CI = process.env["CI"] === "true";

/** `describe`, when `missing` is ""; otherwise skipped (locally) or one failing test (CI) naming what is missing. */
export function describeNeeding(missing: string, name: string, body: () => void): void {
  if (!missing) {
    describe(name, body);
    return;
  }
  if (IN_CI) {
    describe(name, () => it("has what it needs to run", () => {
      throw new Error(`${missing} — in CI these tests must run, not be skipped`);
    }));
    return;
  }
  console.warn(`${name}: skipped: ${missing}`);
  describe.skip(`${name} (skipped: ${missing})`, body);
}

/** `it`, when `missing` is ""; otherwise skipped (locally) or failing (CI) with what is missing. */
export function itNeeding(missing: string, name: string, fn: () => unknown, timeout?: number): void {
  if (!missing) it(name, fn, timeout);
  else if (IN_CI) it(name, () => {
    throw new Error(`${missing} — in CI this test must run, not be skipped`);
  });
  else it.skip(`${name} (skipped: ${missing})`, fn);
}
