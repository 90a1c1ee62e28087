// A router as its own process (`node dist/services/router/main.js`), for tests that signal it.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

const ROUTER_MAIN = new URL("../../dist/services/router/main.js", import.meta.url).pathname;

export interface RouterProcess {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** Log lines the router printed (pino JSON). */
  logs: string[];
}

export async function spawnRouterProcess(env: Record<string, string> = {}): Promise<RouterProcess> {
  const child = spawn(process.execPath, [ROUTER_MAIN], {
    env: { ...process.env, PORT: "0", CC_HOST: "127.0.0.1", CC_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`router did not start: ${logs.join("\n")}`)), 15_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      logs.push(line);
      const m = /"port":(\d+).*"router listening"/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    createInterface({ input: child.stderr! }).on("line", (line) => logs.push(line));
    child.once("exit", () => reject(new Error(`router exited early: ${logs.join("\n")}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child, exited, logs };
}
