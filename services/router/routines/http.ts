// `POST /routines/NAME/fire`: plain HTTP JSON for curl and CI systems, beside the RPCs on the router's server. The
// routine's own fire token authenticates it (`Authorization: Bearer <token>`), not the router's CC_TOKEN, so a CI
// secret can start that one routine and do nothing else. The body is optional JSON:
// `{"text": "appended to the prompt", "values": {"key": "value"}}`. The answer is `{"task_id": "..."}` (202), or
// `{"error": "...", "code": "..."}` with the status a Connect code maps to.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { ConnectError, Code } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { RequestHandler } from "../../common/serve.js";
import type { Routines } from "./routines.js";

const FIRE_PATH = /^\/routines\/([^/]+)\/fire$/;
const MAX_BODY_BYTES = 64 * 1024;

type Res = http.ServerResponse | http2.Http2ServerResponse;

function answer(res: Res, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}

const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.NotFound]: 404,
  [Code.FailedPrecondition]: 409,
  [Code.ResourceExhausted]: 429,
  [Code.Unavailable]: 503,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
};

function refuse(res: Res, code: Code, message: string): void {
  answer(res, HTTP_STATUS[code] ?? 500, { error: message, code: Code[code]?.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase() });
}

async function readBody(req: http.IncomingMessage | http2.Http2ServerRequest): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ConnectError(`the body is over ${MAX_BODY_BYTES} bytes`, Code.InvalidArgument);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseBody(text: string): { text: string; values: Record<string, string> } {
  if (text.trim() === "") return { text: "", values: {} };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ConnectError('the body is not JSON; send {"text": "...", "values": {"key": "value"}} or nothing', Code.InvalidArgument);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ConnectError("the body must be a JSON object", Code.InvalidArgument);
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o)) if (key !== "text" && key !== "values") throw new ConnectError(`unknown field "${key}" in the body; it takes "text" and "values"`, Code.InvalidArgument);
  if (o["text"] !== undefined && typeof o["text"] !== "string") throw new ConnectError('"text" must be a string', Code.InvalidArgument);
  const values: Record<string, string> = {};
  if (o["values"] !== undefined) {
    if (typeof o["values"] !== "object" || o["values"] === null || Array.isArray(o["values"])) throw new ConnectError('"values" must be an object of strings', Code.InvalidArgument);
    for (const [k, v] of Object.entries(o["values"] as Record<string, unknown>)) {
      if (typeof v !== "string") throw new ConnectError(`"values.${k}" must be a string`, Code.InvalidArgument);
      values[k] = v;
    }
  }
  return { text: (o["text"] as string | undefined) ?? "", values };
}

/** Answers `POST /routines/NAME/fire`; passes every other request to `next`. */
export function routineFireHandler(routines: Routines, logger: Logger, next: RequestHandler): RequestHandler {
  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0]!;
    const m = FIRE_PATH.exec(path);
    if (!m) return next(req, res);
    void (async () => {
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        return answer(res, 405, { error: "use POST", code: "method_not_allowed" });
      }
      const name = decodeURIComponent(m[1]!);
      const auth = String(req.headers["authorization"] ?? "");
      const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1] ?? "";
      const check = await routines.checkFireToken(name, token);
      // One answer for an unknown routine and a wrong token: the endpoint does not tell strangers which names exist.
      if (check === "no-token") return refuse(res, Code.PermissionDenied, `routine ${name} has no fire token; make one with \`cc routine save ${name} --fire-token …\` (or apply with --fire-token)`);
      if (check !== "ok") {
        logger.info({ routine: name }, "routine fire refused: wrong or missing fire token");
        return refuse(res, Code.Unauthenticated, "wrong or missing fire token: send Authorization: Bearer <the routine's fire token>");
      }
      const body = parseBody(await readBody(req));
      const taskId = await routines.fire(name, "http", body.values, body.text);
      answer(res, 202, { task_id: taskId, routine: name });
    })().catch((err) => {
      const e = ConnectError.from(err);
      if (e.code === Code.Internal || e.code === Code.Unknown) logger.error({ err: String(err) }, "routine fire failed");
      if (!res.headersSent) refuse(res, e.code, e.code === Code.Internal || e.code === Code.Unknown ? "internal error" : e.rawMessage);
    });
  };
}
