import { describe, expect, it, vi } from "vitest";
import { EventQueue } from "./event-queue.js";

function stringQueue(high = 10, low = 5) {
  const onPressure = vi.fn<(pause: boolean) => void>();
  const queue = new EventQueue<string>({ highWaterBytes: high, lowWaterBytes: low, sizeOf: (s) => s.length, onPressure });
  return { queue, onPressure };
}

/** Takes `n` items from a drain, leaving the generator suspended. */
async function take<T>(it: AsyncGenerator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The queue's internal array, to check that drained slots are released and compacted. */
function internals<T>(q: EventQueue<T>): { items: unknown[]; head: number } {
  return q as unknown as { items: unknown[]; head: number };
}

describe("EventQueue pressure", () => {
  it("asks to pause exactly once when passing the high mark, and to resume once below the low mark", async () => {
    const { queue, onPressure } = stringQueue(10, 5);
    queue.push("aaaa"); // 4
    queue.push("bbbb"); // 8
    queue.push("cc"); // 10: at the mark, not past it
    expect(onPressure).not.toHaveBeenCalled();
    queue.push("d"); // 11
    expect(onPressure.mock.calls).toEqual([[true]]);
    queue.push("eeee"); // 15
    queue.push("f"); // 16
    expect(onPressure.mock.calls).toEqual([[true]]);
    expect(queue.queuedBytes).toBe(16);

    const drain = queue.drain();
    await take(drain, 2); // 8 left
    expect(onPressure.mock.calls).toEqual([[true]]);
    await take(drain, 1); // "cc": 6 left
    await take(drain, 1); // "d": 5 left, at the low mark, not below it
    expect(onPressure.mock.calls).toEqual([[true]]);
    await take(drain, 1); // "eeee": 1 left
    expect(onPressure.mock.calls).toEqual([[true], [false]]);
    await take(drain, 1);
    expect(onPressure.mock.calls).toEqual([[true], [false]]);
    expect(queue.queuedBytes).toBe(0);
    await drain.return(undefined);
  });

  it("pauses again on the next crossing of the high mark", async () => {
    const { queue, onPressure } = stringQueue(3, 2);
    const drain = queue.drain();
    queue.push("xxxx");
    await take(drain, 1);
    queue.push("yyyy");
    await take(drain, 1);
    expect(onPressure.mock.calls).toEqual([[true], [false], [true], [false]]);
    await drain.return(undefined);
  });

  it("works without an onPressure callback", async () => {
    const queue = new EventQueue<string>({ highWaterBytes: 1, lowWaterBytes: 1, sizeOf: (s) => s.length });
    queue.push("abc");
    queue.close();
    expect(await all(queue.drain())).toEqual(["abc"]);
  });
});

describe("EventQueue drain", () => {
  it("yields queued items in order and ends after close", async () => {
    const { queue } = stringQueue(100, 50);
    for (const s of ["a", "b", "c"]) queue.push(s);
    queue.close();
    expect(queue.isClosed).toBe(true);
    expect(await all(queue.drain())).toEqual(["a", "b", "c"]);
  });

  it("waits for items pushed later, in order, and ends when closed", async () => {
    const { queue } = stringQueue(100, 50);
    const got = all(queue.drain());
    queue.push("1");
    await Promise.resolve();
    queue.push("2");
    queue.push("3");
    queue.close();
    expect(await got).toEqual(["1", "2", "3"]);
  });

  it("a waiting drain ends when the queue is closed empty", async () => {
    const { queue } = stringQueue();
    const got = all(queue.drain());
    queue.close();
    expect(await got).toEqual([]);
  });

  it("ignores pushes after close", async () => {
    const { queue, onPressure } = stringQueue(1, 1);
    queue.push("a");
    queue.close();
    queue.push("bbbbbbbb");
    expect(queue.queuedBytes).toBe(1);
    expect(await all(queue.drain())).toEqual(["a"]);
    expect(onPressure).not.toHaveBeenCalled();
  });

  it("returns without throwing when aborted while waiting", async () => {
    const { queue } = stringQueue();
    const abort = new AbortController();
    const got = all(queue.drain(abort.signal));
    abort.abort();
    await expect(got).resolves.toEqual([]);
  });

  it("returns at once for a signal that is already aborted, leaving everything queued", async () => {
    const { queue } = stringQueue();
    queue.push("a");
    expect(await all(queue.drain(AbortSignal.abort()))).toEqual([]);
    expect(queue.queuedBytes).toBe(1);
  });

  it("stops between items on abort, leaving the rest queued; a second drain resumes where the first left off", async () => {
    const { queue } = stringQueue(100, 50);
    for (const s of ["a", "bb", "ccc", "dddd"]) queue.push(s);
    const abort = new AbortController();
    const first: string[] = [];
    for await (const s of queue.drain(abort.signal)) {
      first.push(s);
      if (s === "bb") abort.abort();
    }
    expect(first).toEqual(["a", "bb"]);
    expect(queue.queuedBytes).toBe(7);

    queue.push("e");
    queue.close();
    expect(await all(queue.drain())).toEqual(["ccc", "dddd", "e"]);
    expect(queue.queuedBytes).toBe(0);
  });

  it("a drain aborted while waiting does not swallow an item pushed afterwards", async () => {
    const { queue } = stringQueue();
    const abort = new AbortController();
    const first = all(queue.drain(abort.signal));
    abort.abort();
    expect(await first).toEqual([]);
    queue.push("later");
    queue.close();
    expect(await all(queue.drain())).toEqual(["later"]);
  });
});

describe("EventQueue memory", () => {
  it("compacts while draining 10k items and keeps no reference to drained ones", async () => {
    const queue = new EventQueue<{ n: number }>({ highWaterBytes: Infinity, lowWaterBytes: 0, sizeOf: () => 1 });
    for (let n = 0; n < 10_000; n++) queue.push({ n });
    expect(internals(queue).items).toHaveLength(10_000);
    queue.close();
    let expected = 0;
    for await (const item of queue.drain()) {
      expect(item.n).toBe(expected++);
    }
    expect(expected).toBe(10_000);
    const { items, head } = internals(queue);
    expect(items.length).toBeLessThanOrEqual(1024);
    expect(head).toBe(items.length);
    expect(items.every((x) => x === undefined)).toBe(true);
    expect(queue.queuedBytes).toBe(0);
  });

  it("stays bounded over many rounds of push then drain", async () => {
    const queue = new EventQueue<number>({ highWaterBytes: Infinity, lowWaterBytes: 0, sizeOf: () => 1 });
    const drain = queue.drain();
    for (let round = 0; round < 10; round++) {
      for (let n = 0; n < 10_000; n++) queue.push(n);
      const got = await take(drain, 10_000);
      expect(got[0]).toBe(0);
      expect(got.at(-1)).toBe(9_999);
      expect(internals(queue).items.length).toBeLessThanOrEqual(1024);
    }
    await drain.return(undefined);
  });
});
