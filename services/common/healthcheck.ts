#!/usr/bin/env node
// Probe for container HEALTHCHECKs: `node dist/services/common/healthcheck.js [url]` asks grpc.health.v1.Health/Check
// for the whole server (service ""), prints the status, and exits 0 only if it is SERVING.
//
// A probe runs every few seconds for the life of a container, so it imports only Node's http and https: it speaks the
// Connect protocol (a unary call is a plain JSON POST over HTTP/1.1), which the server's single port accepts next to
// gRPC. Health needs no token, so there is nothing to configure but the address.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

const TIMEOUT_MS = 3000;

interface CheckAnswer {
  /** The ServingStatus name; absent means UNKNOWN (the zero value is left out of JSON). */
  status?: string;
  /** Set instead when the call failed (Connect error JSON). */
  code?: string;
  message?: string;
}

/** POSTs the Check call; resolves with the HTTP status and body, or rejects with the transport error. */
function post(url: URL, body: string): Promise<{ status: number; text: string }> {
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  const options = {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": String(TIMEOUT_MS) },
    timeout: TIMEOUT_MS,
    // A probe of the server's own port over TLS: the certificate names the service's public host, not localhost, and
    // what is checked is liveness, not identity. Remote targets are verified as usual.
    rejectUnauthorized: !loopback,
  };
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        // A health answer is tiny; whatever talks back at length is not one.
        if (text.length < 64 * 1024) text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { name: "TimeoutError" })));
    req.on("error", reject);
    req.end(body);
  });
}

async function check(baseUrl: string): Promise<{ ok: boolean; line: string }> {
  let res: { status: number; text: string };
  try {
    res = await post(new URL(`${baseUrl.replace(/\/+$/, "")}/grpc.health.v1.Health/Check`), JSON.stringify({ service: "" }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.name === "TimeoutError") return { ok: false, line: `no answer from ${baseUrl} within ${TIMEOUT_MS / 1000} s` };
    return { ok: false, line: `cannot reach ${baseUrl}: ${e.code ?? e.message}` };
  }
  let answer: CheckAnswer;
  try {
    answer = JSON.parse(res.text) as CheckAnswer;
  } catch {
    return { ok: false, line: `${baseUrl} answered HTTP ${res.status} without a health answer; is it a ClaudeCluster worker or router?` };
  }
  const httpOk = res.status >= 200 && res.status < 300;
  if (!httpOk || answer.code) return { ok: false, line: `health check failed: ${answer.code ?? `HTTP ${res.status}`}: ${answer.message ?? ""}`.trimEnd() };
  const status = answer.status ?? "UNKNOWN";
  return { ok: status === "SERVING", line: status === "SERVING" ? status : `${status}: ${baseUrl} is not serving (draining, or claude is unusable)` };
}

// The server's own port; https when it serves TLS (CC_TLS_CERT set).
const scheme = process.env["CC_TLS_CERT"] ? "https" : "http";
const target = process.argv[2] ?? `${scheme}://127.0.0.1:${process.env["PORT"] || "8080"}`;
const { ok, line } = await check(target);
(ok ? process.stdout : process.stderr).write(`${line}\n`);
process.exit(ok ? 0 : 1);
