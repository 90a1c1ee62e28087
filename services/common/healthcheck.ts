#!/usr/bin/env node
// Probe for container HEALTHCHECKs: `node dist/services/common/healthcheck.js [url]` asks grpc.health.v1.Health/Check
// for the whole server (service ""), prints the status, and exits 0 only if it is SERVING.
//
// A probe runs every few seconds for the life of a container, so it imports nothing: it speaks the Connect protocol
// (a unary call is a plain JSON POST over HTTP/1.1) with Node's built-in fetch, which the server's single port
// accepts next to gRPC. Health needs no token, so there is nothing to configure but the address.

const TIMEOUT_MS = 3000;

interface CheckAnswer {
  /** The ServingStatus name; absent means UNKNOWN (the zero value is left out of JSON). */
  status?: string;
  /** Set instead when the call failed (Connect error JSON). */
  code?: string;
  message?: string;
}

async function check(baseUrl: string): Promise<{ ok: boolean; line: string }> {
  const url = `${baseUrl.replace(/\/+$/, "")}/grpc.health.v1.Health/Check`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": String(TIMEOUT_MS) },
      body: JSON.stringify({ service: "" }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === "TimeoutError") return { ok: false, line: `no answer from ${baseUrl} within ${TIMEOUT_MS / 1000} s` };
    return { ok: false, line: `cannot reach ${baseUrl}: ${e.cause?.code ?? e.cause?.message ?? e.message}` };
  }
  let answer: CheckAnswer;
  try {
    answer = (await res.json()) as CheckAnswer;
  } catch {
    return { ok: false, line: `${baseUrl} answered HTTP ${res.status} without a health answer; is it a ClaudeCluster worker or router?` };
  }
  if (!res.ok || answer.code) return { ok: false, line: `health check failed: ${answer.code ?? `HTTP ${res.status}`}: ${answer.message ?? ""}`.trimEnd() };
  const status = answer.status ?? "UNKNOWN";
  return { ok: status === "SERVING", line: status === "SERVING" ? status : `${status}: ${baseUrl} is not serving (draining, or claude is unusable)` };
}

const target = process.argv[2] ?? `http://127.0.0.1:${process.env["PORT"] || "8080"}`;
const { ok, line } = await check(target);
(ok ? process.stdout : process.stderr).write(`${line}\n`);
process.exit(ok ? 0 : 1);
