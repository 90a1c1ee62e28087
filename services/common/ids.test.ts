import { describe, expect, it } from "vitest";
import { isValidTaskId, newTaskId } from "./ids.js";

const CROCKFORD = /^[0-9a-hjkmnp-tv-z]{26}$/;

describe("newTaskId", () => {
  it("is 26 lower-case Crockford base32 characters and a valid task id", () => {
    for (let i = 0; i < 100; i++) {
      const id = newTaskId();
      expect(id).toHaveLength(26);
      expect(id).toMatch(CROCKFORD);
      expect(isValidTaskId(id)).toBe(true);
    }
  });

  it("starts with the time in 10 base32 digits", () => {
    expect(newTaskId(0).slice(0, 10)).toBe("0000000000");
    expect(newTaskId(31).slice(0, 10)).toBe("000000000z");
    expect(newTaskId(32).slice(0, 10)).toBe("0000000010");
    // JavaScript's base 32 digits are 0-9a-v; Crockford's skip i, l, o and u.
    const t = Date.UTC(2025, 0, 1);
    const crockford = [...t.toString(32).padStart(10, "0")].map((d) => "0123456789abcdefghjkmnpqrstvwxyz"[parseInt(d, 32)]).join("");
    expect(newTaskId(t).slice(0, 10)).toBe(crockford);
  });

  it("sorts by creation time as plain strings", () => {
    const times = [0, 1, 31, 32, 33, 1023, 1024, 1_000_000, Date.UTC(2020, 0, 1), Date.UTC(2025, 5, 1), Date.UTC(2025, 5, 1) + 1, 2 ** 45];
    const ids = times.map((t) => newTaskId(t));
    expect([...ids].reverse().sort()).toEqual(ids);
  });

  it("ids of the same millisecond differ", () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 1000 }, () => newTaskId(now)));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id.slice(0, 10)).toBe(newTaskId(now).slice(0, 10));
  });

  it("uses the current time by default", () => {
    const before = newTaskId(Date.now()).slice(0, 10);
    const id = newTaskId().slice(0, 10);
    const after = newTaskId(Date.now()).slice(0, 10);
    expect(id >= before && id <= after).toBe(true);
  });
});

describe("isValidTaskId", () => {
  it.each([["a"], ["A-z_09"], ["x".repeat(64)], ["01hx3k9m2n4p5q6r7s8t9v0w1x"]])("accepts %j", (id) => {
    expect(isValidTaskId(id)).toBe(true);
  });

  it.each([[""], ["x".repeat(65)], ["a b"], ["a/b"], [".."], ["a.b"], ["ü"], ["a\n"], ["a\0"]])("refuses %j", (id) => {
    expect(isValidTaskId(id)).toBe(false);
  });
});
