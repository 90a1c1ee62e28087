// The workers the router knows: health, load, labels, claude version and warm pool. Read with ListWorkers while the
// page is visible, again every few seconds (the router has no stream of worker changes; a unary call holds no
// connection between refreshes).
import { Code, ConnectError } from "@connectrpc/connect";
import type { WorkerRecord } from "../../../gen/claudecluster/v1/router_pb.js";
import { api, describeError, isUnreachable } from "../app/api.js";
import { healthBadge } from "../app/badges.js";
import { connection } from "../app/connection.js";
import { h, replace } from "../app/dom.js";
import { count, duration, labelList, millis } from "../app/format.js";
import type { View } from "../app/view.js";

const REFRESH_MS = 5000;

export const workersView: View = {
  mount(main, ctx) {
    ctx.title("Workers");
    const body = h("div", { class: "workers" }, h("p", { class: "loading", role: "status" }, "Loading workers…"));
    const updated = h("span", { class: "live-state", role: "status", "aria-live": "polite" });
    replace(main, h("div", { class: "page-head" }, h("h1", {}, "Workers"), updated), body);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let left = false;
    const load = async () => {
      clearTimeout(timer);
      if (left || document.hidden) return;
      try {
        const { workers } = await api.listWorkers({});
        if (left) return;
        connection.reached();
        draw(body, workers);
        updated.className = "live-state live";
        updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code === Code.Unauthenticated) return ctx.signIn(describeError(e));
        if (isUnreachable(e)) connection.lost(Date.now() + REFRESH_MS, () => void load());
        updated.className = "live-state retrying";
        updated.textContent = describeError(e);
      }
      timer = setTimeout(() => void load(), REFRESH_MS);
    };
    const visibility = () => void load();
    document.addEventListener("visibilitychange", visibility);
    void load();
    return () => {
      left = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", visibility);
    };
  },
};

function draw(body: HTMLElement, workers: WorkerRecord[]): void {
  if (workers.length === 0) {
    replace(body, h("p", { class: "empty" }, "No workers. Start one with ", h("code", {}, "npm run worker"), " and CC_ROUTER_URL pointing at this router, or list workers in the router's CC_WORKERS."));
    return;
  }
  const now = Date.now();
  replace(
    body,
    workers.map((w) => {
      const info = w.info;
      const capacity = w.poolCapacity || info?.capacity || 0;
      const active = info?.activeSessions ?? 0;
      const load = capacity ? Math.min(100, Math.round((100 * active) / capacity)) : 0;
      const pool = info?.warmPool;
      const seen = millis(w.lastSeen);
      const rows: [string, Node | string][] = [
        ["Load", h("span", {}, h("meter", { min: 0, max: capacity || 1, value: active, "aria-label": `${active} of ${capacity} sessions` }), ` ${active} / ${capacity} sessions${w.assigned ? ` (${w.assigned} placed)` : ""}`)],
        ["Labels", info && Object.keys(info.labels).length ? labelList(info.labels) : "none"],
        ["claude", info?.claudeVersion || "not found"],
        ["Warm pool", pool && pool.size ? `${pool.ready} of ${pool.size} ready${pool.starting ? ` (${pool.starting} starting)` : ""} · ${plural(pool.hits, "hit", "hits")}, ${plural(pool.misses, "miss", "misses")}` : "off"],
        ["Version", info?.version || "—"],
        ["Seen", seen ? `${duration(now - seen)} ago` : "never"],
        ["Address", h("code", {}, w.url)],
      ];
      return h(
        "article",
        { class: `worker-card${load >= 100 ? " full" : ""}`, "aria-label": `Worker ${w.id}` },
        h("header", {}, h("h2", {}, w.id), healthBadge(w.health), w.static ? h("span", { class: "muted" }, "static") : h("span", { class: "muted" }, "registered")),
        w.problem ? h("p", { class: "error" }, w.problem) : "",
        h("dl", { class: "facts" }, rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
      );
    }),
  );
}

function plural(n: bigint, one: string, many: string): string {
  return `${count(n)} ${n === 1n ? one : many}`;
}
