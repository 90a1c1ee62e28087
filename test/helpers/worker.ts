// A real worker on port 0 with its own temporary HOME and workspace root. Its teardown fails the test if any
// process is still working in that workspace root.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createWorker, type Worker } from "../../services/worker/server.js";
import { readWorkerSettings } from "../../services/worker/settings.js";
import { waitForNoProcessesUnder } from "./processes.js";

export interface TestWorker {
  url: string;
  worker: Worker;
  client: Client<typeof WorkerService>;
  /** Temporary directory holding home/ and workspaces/. */
  root: string;
  workspaces: string;
  close(): Promise<void>;
}

/** `env` holds worker settings (CC_*) and what claude should see (e.g. modelEnv()). */
export async function startTestWorker(env: Record<string, string> = {}): Promise<TestWorker> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-worker-")));
  const workspaces = join(root, "workspaces");
  const settings = readWorkerSettings({
    PORT: "0",
    CC_HOST: "127.0.0.1",
    CC_WORKER_ID: "test-worker",
    CC_CLAUDE_HOME: join(root, "home"),
    CC_WORKSPACE_ROOT: workspaces,
    CC_KILL_GRACE: "2s",
    CC_LOG_LEVEL: "silent",
    ...env,
  });
  const worker = await createWorker(settings, { logger: silentLogger(), env: { ...process.env, ...env } });
  const port = await worker.listen();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    worker,
    client: createClient(WorkerService, createGrpcTransport({ baseUrl: url })),
    root,
    workspaces,
    async close() {
      await worker.shutdown(0);
      const left = await waitForNoProcessesUnder(workspaces);
      rmSync(root, { recursive: true, force: true });
      if (left.length > 0) throw new Error(`processes left running in the workspace: ${left.join(", ")}`);
    },
  };
}

/** Reads a whole stream. */
export async function collect(stream: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The event bodies of one kind. */
export function ofCase<C extends NonNullable<RunEvent["event"]["case"]>>(events: RunEvent[], c: C) {
  return events.flatMap((e) => (e.event.case === c ? [e.event.value as Extract<RunEvent["event"], { case: C }>["value"]] : []));
}
