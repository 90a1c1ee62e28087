// Reads another Node process's heap through its inspector (started with --inspect=127.0.0.1:0): a full garbage
// collection, then the heap in use. RSS says little about leaks (V8 gives pages back lazily); this does.
export function inspectorUrl(logs: readonly string[]): string | undefined {
  for (const line of logs) {
    const m = /Debugger listening on (ws:\/\/\S+)/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** Heap bytes in use after a full collection, in the process whose inspector listens at `url`. */
export async function heapUsedAfterGc(url: string): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const call = (method: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const mine = ++id;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer from the inspector`)), 10_000);
      ws.addEventListener("message", function onMessage(ev: MessageEvent) {
        const msg = JSON.parse(String(ev.data)) as { id?: number; result?: Record<string, unknown>; error?: unknown };
        if (msg.id !== mine) return;
        clearTimeout(timer);
        ws.removeEventListener("message", onMessage);
        if (msg.error) reject(new Error(`${method}: ${JSON.stringify(msg.error)}`));
        else resolve(msg.result ?? {});
      });
      ws.send(JSON.stringify({ id: mine, method }));
    });
  try {
    await call("HeapProfiler.collectGarbage");
    return Number((await call("Runtime.getHeapUsage"))["usedSize"]);
  } finally {
    ws.close();
  }
}
