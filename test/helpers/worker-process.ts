// A worker as its own process (`node dist/services/worker/main.js`), for tests that kill or signal it.
import { spawnServiceProcess, type ServiceProcess } from "./service-process.js";

export interface WorkerProcess extends ServiceProcess {
  id: string;
}

export async function spawnWorkerProcess(id: string, env: Record<string, string>, prefix: string[] = []): Promise<WorkerProcess> {
  return { id, ...(await spawnServiceProcess("worker", { CC_WORKER_ID: id, ...env }, prefix)) };
}
