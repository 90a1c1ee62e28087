// A worker or router as its own process (`node dist/services/<name>/main.js`) on a free loopback port, for tests that
// signal, stop or kill it. Resolves once it logs that it is listening.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** What it printed, line by line (pino JSON on stdout, anything else on stderr). */
  logs: string[];
}

/** `prefix`: a command that runs the service, e.g. `unshare --user ... sh -c '...; exec "$@"' sh`. */
export async function spawnServiceProcess(service: "worker" | "router", env: Record<string, string>, prefix: string[] = []): Promise<ServiceProcess> {
  const main = new URL(`../../dist/services/${service}/main.js`, import.meta.url).pathname;
  const argv = [...prefix, process.execPath, main];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, PORT: "0", CC_HOST: "127.0.0.1", CC_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const listening = new RegExp(`"port":(\\d+).*"${service} listening"`);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Nothing else holds this process: it must not outlive the failed start.
      child.kill("SIGKILL");
      reject(new Error(`${service} did not start within 40 s: ${logs.join("\n")}`));
      // A loaded 2-core machine (the main suite runs end-to-end files side by side) took more than 15 s in CI.
    }, 40_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      logs.push(line);
      const m = listening.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    createInterface({ input: child.stderr! }).on("line", (line) => logs.push(line));
    child.once("exit", () => reject(new Error(`${service} exited early: ${logs.join("\n")}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child, exited, logs };
}
