// A router as its own process (`node dist/services/router/main.js`), for tests that signal it.
import { spawnServiceProcess, type ServiceProcess } from "./service-process.js";

export type RouterProcess = ServiceProcess;

export function spawnRouterProcess(env: Record<string, string> = {}): Promise<RouterProcess> {
  return spawnServiceProcess("router", env);
}
