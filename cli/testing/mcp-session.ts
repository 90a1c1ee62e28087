// cc mcp's server in memory for unit tests: a real MCP client (the SDK's) over an in-memory transport, the tools over
// a fake cluster (fake-cluster.ts), and a clock the test moves. Call closeMcpSessions after each test.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { createMcpServer } from "../mcp/server.js";
import type { Clock } from "../mcp/tool.js";
import { FakeCluster } from "./fake-cluster.js";

export class ManualClock implements Clock {
  time = 0;
  private sleepers: { due: number; resolve: () => void }[] = [];
  now = () => this.time;
  sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const sleeper = { due: this.time + ms, resolve };
      this.sleepers.push(sleeper);
      signal.addEventListener("abort", () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      }, { once: true });
    });
  /** Moves time on and wakes whoever's sleep is over. */
  advance(ms: number): void {
    this.time += ms;
    const due = this.sleepers.filter((s) => s.due <= this.time);
    this.sleepers = this.sleepers.filter((s) => s.due > this.time);
    for (const s of due) s.resolve();
  }
  get sleeping(): number {
    return this.sleepers.length;
  }
}

export type ToolResult = { isError?: boolean; content: { type: string; text: string }[]; structuredContent?: Record<string, unknown> };
export type Progress = { progress: number; total?: number; message?: string };

const tick = () => new Promise((r) => setTimeout(r, 0));
/** Lets the event loop turn until `condition` holds (a bounded number of turns, never a timer). */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await tick();
  if (!condition()) throw new Error(`condition not met: ${condition.toString()}`);
}

const cleanups: (() => Promise<void>)[] = [];

export async function closeMcpSessions(): Promise<void> {
  for (const c of cleanups.splice(0)) await c();
}

export async function connectMcp(options: { taskDefaults?: { directory?: string }; cwd?: string } = {}) {
  const cluster = new FakeCluster();
  const clock = new ManualClock();
  const server = createMcpServer({ client: cluster.client, clock, ...options });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "test", version: "1" });
  await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
  cleanups.push(async () => {
    await client.close();
    await server.close();
  });
  const call = async (name: string, args: Record<string, unknown> = {}, onprogress?: (p: Progress) => void): Promise<ToolResult> =>
    (await client.callTool({ name, arguments: args }, undefined, onprogress ? { onprogress } : {})) as ToolResult;
  return { cluster, clock, client, call };
}
