// Webhooks: a routine's run ends are POSTed as JSON to its URL, signed with HMAC-SHA256 over the exact body with
// the shared secret, in `X-ClaudeCluster-Signature-256: sha256=<hex>` (GitHub's X-Hub-Signature-256 scheme, so the
// same verification code works). A delivery that fails (unreachable, or not a 2xx) is tried again with backoff on
// the injected clock; the last delivery's outcome is what `cc routine show` prints.
import { createHmac, randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { WebhookDeliverySchema, type Webhook, type WebhookDelivery } from "../../../gen/claudecluster/v1/routines_pb.js";
import type { Clock } from "./clock.js";

export const SIGNATURE_HEADER = "x-claudecluster-signature-256";
export const EVENT_HEADER = "x-claudecluster-event";
export const DELIVERY_HEADER = "x-claudecluster-delivery";

/** Attempts per event, and the wait before the second (doubled for each next one). */
export const WEBHOOK_ATTEMPTS = 5;
export const WEBHOOK_FIRST_BACKOFF_MS = 1000;
const WEBHOOK_TIMEOUT_MS = 10_000;

/** `sha256=<hex>` of the body under the secret. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Sends one request; the HTTP status, or throws when the receiver cannot be reached. */
export type Post = (url: string, body: string, headers: Record<string, string>) => Promise<number>;

export const fetchPost: Post = async (url, body, headers) => {
  const res = await fetch(url, { method: "POST", body, headers, signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS), redirect: "manual" });
  await res.body?.cancel();
  return res.status;
};

/** Delivers one event, trying again with backoff until a 2xx or WEBHOOK_ATTEMPTS; resolves with the outcome. */
export async function deliver(hook: Webhook, event: string, payload: object, deps: { clock: Clock; post: Post }): Promise<WebhookDelivery> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "claudecluster-router", [EVENT_HEADER]: event, [DELIVERY_HEADER]: randomUUID() };
  if (hook.secret) headers[SIGNATURE_HEADER] = signature(hook.secret, body);
  let status = 0;
  let outcome = "";
  for (let attempt = 1; ; attempt++) {
    try {
      status = await deps.post(hook.url, body, headers);
      outcome = status >= 200 && status < 300 ? "delivered" : `the receiver answered HTTP ${status}`;
    } catch (err) {
      status = 0;
      outcome = `could not reach the receiver (${(err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err))})`;
    }
    if (outcome === "delivered" || attempt === WEBHOOK_ATTEMPTS) {
      return create(WebhookDeliverySchema, { at: timestampFromMs(deps.clock.now()), httpStatus: status, attempts: attempt, outcome, event });
    }
    await new Promise<void>((resolve) => deps.clock.after(WEBHOOK_FIRST_BACKOFF_MS * 2 ** (attempt - 1), resolve));
  }
}
