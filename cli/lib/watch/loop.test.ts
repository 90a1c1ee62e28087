import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../services/router/routines/clock.js";
import { WatchLoop } from "./loop.js";
import { watchPrompt } from "./run.js";

function setup() {
  const clock = new ManualClock();
  const runs: string[][] = [];
  let finish: (() => void) | undefined;
  const loop = new WatchLoop({
    debounceMs: 500,
    clock,
    filter: async (paths) => paths.filter((p) => !p.endsWith(".log")),
    run: (paths) => {
      runs.push(paths);
      return new Promise<void>((resolve) => (finish = resolve));
    },
    onError: (err) => {
      throw err;
    },
  });
  return { clock, runs, loop, finish: () => finish?.() };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("cc watch's loop", () => {
  it("runs once for a burst of changes, after the debounce, with every path once", async () => {
    const { clock, runs, loop } = setup();
    for (const p of ["b.txt", "a.txt", "b.txt", "debug.log"]) {
      loop.change(p);
      clock.advance(100);
    }
    expect(runs).toHaveLength(0);
    // The last change was at 300 ms: the run is due at 800 ms, and it is 400 ms now.
    clock.advance(399);
    await tick();
    expect(runs).toHaveLength(0);
    clock.advance(1);
    await tick();
    expect(runs).toEqual([["a.txt", "b.txt"]]);
  });

  it("runs one at a time: changes during a run make one more run after it", async () => {
    const { clock, runs, loop, finish } = setup();
    loop.change("a");
    clock.advance(500);
    await tick();
    expect(runs).toHaveLength(1);
    loop.change("b");
    loop.change("c");
    clock.advance(5000);
    await tick();
    expect(runs).toHaveLength(1);
    finish();
    await tick();
    await tick();
    clock.advance(500);
    await tick();
    expect(runs).toEqual([["a"], ["b", "c"]]);
  });

  it("an ignored-only burst runs nothing", async () => {
    const { clock, runs, loop } = setup();
    loop.change("x.log");
    clock.advance(500);
    await tick();
    await loop.settled();
    expect(runs).toHaveLength(0);
  });

  it("fills {{changed}}, or lists the paths after the prompt", () => {
    expect(watchPrompt("Fix {{changed}} now", ["a", "b"], {})).toBe("Fix a\nb now");
    expect(watchPrompt("Review for {{who}}", ["a"], { who: "me" })).toBe("Review for me\n\nFiles changed:\n- a");
  });
});
