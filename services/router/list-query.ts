// ListTasks' request as the task store's query, and the page token between pages. The token is opaque to callers:
// the id of the last task of the page, so the next page starts just below it whatever was added since.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { ListTasksRequest } from "../../gen/claudecluster/v1/router_pb.js";
import { invalidArgument } from "../common/errors.js";
import { isValidTaskId } from "../common/ids.js";
import { type Identity } from "./identity/index.js";
import type { TaskQuery } from "./tasks.js";

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 1000;
const TOKEN_PREFIX = "v1:";

/** ListTasks' query for `caller`: a `user` lists its own tasks only, whatever owner it names. */
export function taskQuery(req: ListTasksRequest, caller?: Identity): TaskQuery {
  const owner = caller?.role === "user" ? caller.name : req.owner;
  if (req.limit > MAX_LIST_LIMIT) throw invalidArgument("limit", `must be at most ${MAX_LIST_LIMIT}; read more with page_token`);
  if (req.workerId !== "" && !isValidTaskId(req.workerId)) throw invalidArgument("worker_id", "must be 1-64 letters, digits, '-' or '_'");
  const labels = Object.entries(req.labels);
  if (labels.length > 64) throw invalidArgument("labels", "more than 64 labels");
  for (const [k, v] of labels) {
    if (!/^[A-Za-z0-9._/-]{1,63}$/.test(k)) throw invalidArgument("labels", "keys must be 1-63 letters, digits, '.', '_', '/' or '-'");
    if (v.length > 256) throw invalidArgument("labels", "values must be at most 256 characters");
  }
  return {
    statuses: req.statuses,
    labels: req.labels,
    ...(req.workerId ? { workerId: req.workerId } : {}),
    ...(owner ? { owner } : {}),
    ...(req.createdAfter ? { createdAfterMs: timestampMs(req.createdAfter) } : {}),
    ...(req.pageToken ? { olderThan: pageTokenId(req.pageToken) } : {}),
    limit: req.limit || DEFAULT_LIST_LIMIT,
  };
}

export function pageToken(lastTaskId: string): string {
  return Buffer.from(TOKEN_PREFIX + lastTaskId, "utf8").toString("base64url");
}

function pageTokenId(token: string): string {
  const text = token.length <= 200 ? Buffer.from(token, "base64url").toString("utf8") : "";
  const id = text.startsWith(TOKEN_PREFIX) ? text.slice(TOKEN_PREFIX.length) : "";
  if (!isValidTaskId(id)) throw invalidArgument("page_token", "is not a token ListTasks returned; leave it empty for the first page");
  return id;
}
