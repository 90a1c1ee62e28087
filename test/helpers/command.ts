// Runs a command line tool (buf, node scripts) to completion and keeps what it printed and how it exited.
import { spawn } from "node:child_process";

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCommand(cmd: string, args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** buf curl prints each message of a stream as its own JSON document. */
export function jsonDocuments<T>(stdout: string): T[] {
  const text = stdout.trim();
  return text ? text.split(/\n(?=\{)/).map((doc) => JSON.parse(doc) as T) : [];
}
