// The task list, live: one WatchTasks stream (a snapshot, then each change) while the page is visible. Status, worker
// and label filters go to the router (and into the URL, so a filtered list can be shared); the search box narrows
// what is shown. Rows are keyed by task id and redrawn only when their task changed, at most once a frame.
import { Code } from "@connectrpc/connect";
import { TaskStatus, type Task, type TaskChange } from "../../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, Phase } from "../../../gen/claudecluster/v1/run_pb.js";
import { api, describeError } from "../app/api.js";
import { statusBadge } from "../app/badges.js";
import { h, replace } from "../app/dom.js";
import { cost, duration, elapsed, EXIT_REASON_LABEL, isActive, labelList, millis, modeLabel, parseLabels, STATUS_LABEL, taskPhase } from "../app/format.js";
import { LiveStream, type LiveState } from "../app/live.js";
import type { View } from "../app/view.js";

/** Tasks kept on the page: the snapshot's size, and the bound when new ones keep coming. */
const MAX_ROWS = 200;

const STATUS_FILTERS: Record<string, { label: string; statuses: TaskStatus[] }> = {
  "": { label: "All statuses", statuses: [] },
  active: { label: "Active (queued or running)", statuses: [TaskStatus.QUEUED, TaskStatus.RUNNING] },
  queued: { label: "Queued", statuses: [TaskStatus.QUEUED] },
  running: { label: "Running", statuses: [TaskStatus.RUNNING] },
  succeeded: { label: "Succeeded", statuses: [TaskStatus.SUCCEEDED] },
  failed: { label: "Failed", statuses: [TaskStatus.FAILED] },
  cancelled: { label: "Cancelled", statuses: [TaskStatus.CANCELLED] },
};

export const tasksView: View = {
  mount(main, ctx) {
    ctx.title("Tasks");
    const status = STATUS_FILTERS[ctx.query.get("status") ?? ""] ? (ctx.query.get("status") ?? "") : "";
    const worker = ctx.query.get("worker") ?? "";
    const labelsText = ctx.query.get("labels") ?? "";
    const search = ctx.query.get("q") ?? "";

    const statusSelect = h("select", { id: "filter-status", name: "status" }, Object.entries(STATUS_FILTERS).map(([value, f]) => h("option", { value, selected: value === status }, f.label)));
    const workerInput = h("input", { id: "filter-worker", name: "worker", value: worker, placeholder: "any", autocomplete: "off", spellcheck: "false" });
    const labelsInput = h("input", { id: "filter-labels", name: "labels", value: labelsText, placeholder: "region=eu", autocomplete: "off", spellcheck: "false" });
    const searchInput = h("input", { id: "filter-search", name: "q", type: "search", value: search, placeholder: "prompt, id, activity", autocomplete: "off" });
    const filterError = h("p", { class: "field-error", id: "filter-error", role: "alert" });
    const live = h("span", { class: "live-state", role: "status", "aria-live": "polite" }, "Connecting…");
    const tbody = h("tbody");
    const empty = h("p", { class: "empty" });
    const table = h(
      "table",
      { class: "tasks" },
      h("caption", { class: "visually-hidden" }, "Tasks, newest first"),
      h("thead", {}, h("tr", {}, ["Status", "Task", "Activity", "Worker", "Time", "Cost"].map((c) => h("th", { scope: "col" }, c)))),
      tbody,
    );

    const apply = (event: Event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      if (statusSelect.value) params.set("status", statusSelect.value);
      if (workerInput.value.trim()) params.set("worker", workerInput.value.trim());
      if (labelsInput.value.trim()) params.set("labels", labelsInput.value.trim());
      if (searchInput.value.trim()) params.set("q", searchInput.value.trim());
      const query = params.toString();
      ctx.navigate(query ? `/?${query}` : "/", { replace: true });
    };
    const filters = h(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter tasks", onsubmit: apply },
      field("Status", statusSelect),
      field("Worker", workerInput),
      field("Labels", labelsInput),
      field("Search", searchInput),
      h("button", { type: "submit", class: "secondary" }, "Apply"),
    );
    statusSelect.addEventListener("change", apply);
    searchInput.addEventListener("input", () => draw(true));

    replace(
      main,
      h("div", { class: "page-head" }, h("h1", {}, "Tasks"), live),
      filters,
      filterError,
      h("div", { class: "table-wrap" }, table),
      empty,
    );

    const parsedLabels = parseLabels(labelsText);
    if ("error" in parsedLabels) {
      filterError.textContent = `Labels: ${parsedLabels.error}; write them as key=value, separated by commas.`;
      labelsInput.setAttribute("aria-invalid", "true");
      labelsInput.setAttribute("aria-describedby", "filter-error");
      live.textContent = "";
      return;
    }

    let tasks = new Map<string, Task>();
    /** While a (re)connection's snapshot comes in: the new list, swapped in at `synced`. */
    let incoming: Map<string, Task> | undefined;
    let synced = false;
    const rows = new Map<string, { row: HTMLTableRowElement; task: Task; drawn: string }>();
    let frame: number | undefined;
    const schedule = () => (frame ??= requestAnimationFrame(() => draw(false)));

    function draw(all: boolean): void {
      if (frame !== undefined) cancelAnimationFrame(frame);
      frame = undefined;
      const words = searchInput.value.trim().toLowerCase();
      const shown = [...tasks.values()]
        .filter((t) => !words || `${t.id} ${t.promptSummary} ${t.latestLine} ${t.workerId}`.toLowerCase().includes(words))
        .sort((a, b) => (a.id < b.id ? 1 : -1));
      const now = Date.now();
      const keep = new Set(shown.map((t) => t.id));
      for (const [id, r] of rows) {
        if (!keep.has(id)) {
          r.row.remove();
          rows.delete(id);
        }
      }
      let before: ChildNode | null = tbody.firstChild;
      for (const task of shown) {
        let r = rows.get(task.id);
        const stamp = `${task.status}/${task.phase}/${task.queuePosition}/${task.latestLine}/${task.workerId}/${task.costUsd}/${task.lastSeq}`;
        if (!r) {
          r = { row: h("tr"), task, drawn: "" };
          rows.set(task.id, r);
        }
        if (all || r.drawn !== stamp || r.task !== task) {
          r.task = task;
          r.drawn = stamp;
          drawRow(r.row, task, now);
        }
        if (r.row !== before) tbody.insertBefore(r.row, before);
        before = r.row.nextSibling;
      }
      if (!synced) empty.textContent = "";
      else if (tasks.size === 0) replace(empty, "No tasks", status || worker || labelsText ? " match these filters." : " yet. ", !(status || worker || labelsText) && h("a", { href: "/tasks/new" }, "Start one."));
      else if (shown.length === 0) empty.textContent = "No task matches the search.";
      else empty.textContent = "";
      table.hidden = shown.length === 0;
    }

    const onChange = (change: TaskChange) => {
      const c = change.change;
      const target = incoming ?? tasks;
      if (c.case === "task") target.set(c.value.id, c.value);
      else if (c.case === "removed") target.delete(c.value);
      else if (c.case === "synced") {
        if (incoming) tasks = incoming;
        incoming = undefined;
        synced = true;
      }
      // Bounded: past MAX_ROWS, the oldest ended tasks leave the page (the router still has them).
      if (tasks.size > MAX_ROWS) {
        const ended = [...tasks.values()].filter((t) => !isActive(t.status)).sort((a, b) => (a.id < b.id ? -1 : 1));
        for (const t of ended.slice(0, tasks.size - MAX_ROWS)) tasks.delete(t.id);
      }
      if (incoming === undefined) schedule();
    };

    const stream = new LiveStream<TaskChange>({
      open: (signal, opened) => {
        incoming = new Map();
        return api.watchTasks(
          { statuses: STATUS_FILTERS[status]!.statuses, workerId: worker, labels: parsedLabels.labels, limit: MAX_ROWS },
          { signal, onHeader: opened },
        );
      },
      onMessage: onChange,
      onState: (state) => showState(state),
    });

    function showState(state: LiveState): void {
      live.className = `live-state ${state.kind}`;
      switch (state.kind) {
        case "connecting":
          live.textContent = "Connecting…";
          return;
        case "live":
          live.textContent = "Live";
          return;
        case "paused":
          live.textContent = "Paused while the tab is hidden";
          return;
        case "retrying":
          live.textContent = state.unreachable ? "Router unreachable: reconnecting…" : `Reconnecting (${describeError(state.error)})…`;
          return;
        case "ended":
          live.textContent = "The router closed the list";
          return;
        case "failed":
          if (state.error.code === Code.Unauthenticated) ctx.signIn(describeError(state.error));
          live.textContent = "";
          replace(empty, h("span", { class: "error" }, describeError(state.error)));
          return;
      }
    }

    stream.start();
    // Elapsed times of running tasks tick on the page; nothing is asked of the router for it.
    let ticks = 0;
    const ticker = setInterval(() => {
      if (document.hidden) return;
      const now = Date.now();
      for (const r of rows.values()) if (isActive(r.task.status)) updateTime(r.row, r.task, now);
      // Ages ("3 min ago") move on slowly: every row is drawn again twice a minute.
      if (++ticks % 30 === 0) draw(true);
    }, 1000);
    return () => {
      stream.stop();
      clearInterval(ticker);
      if (frame !== undefined) cancelAnimationFrame(frame);
    };
  },
};

function field(label: string, control: HTMLInputElement | HTMLSelectElement): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
}

function drawRow(row: HTMLTableRowElement, task: Task, now: number): void {
  row.className = `task-row status-${STATUS_LABEL[task.status]}`;
  row.dataset["taskId"] = task.id;
  const labels = labelList(task.labels);
  replace(
    row,
    h("td", { "data-label": "Status" }, statusBadge(task.status)),
    h(
      "td",
      { class: "task-cell", "data-label": "Task" },
      h("a", { href: `/tasks/${encodeURIComponent(task.id)}`, class: "task-link" }, task.promptSummary || h("em", {}, `(${modeLabel(task.mode)}, no prompt)`)),
      h("div", { class: "task-meta" }, h("code", {}, task.id), ` · ${modeLabel(task.mode)}`, task.agent?.model ? ` · ${task.agent.model}` : "", labels ? ` · ${labels}` : ""),
    ),
    h("td", { class: "activity", "data-label": "Activity" }, activity(task)),
    h("td", { "data-label": "Worker" }, task.workerId || h("span", { class: "muted" }, "—")),
    h("td", { class: "time", "data-label": "Time" }, h("span", { class: "elapsed" }, duration(elapsed(task, now))), h("span", { class: "age" }, ago(task, now))),
    h("td", { class: "cost", "data-label": "Cost" }, cost(task.costUsd) || h("span", { class: "muted" }, "—")),
  );
}

function updateTime(row: HTMLTableRowElement, task: Task, now: number): void {
  const cell = row.querySelector(".time .elapsed");
  if (cell) cell.textContent = duration(elapsed(task, now));
}

/** Running: what it does now and its latest line. Ended: its latest line, or why it ended when not by itself. */
function activity(task: Task): (HTMLElement | string)[] {
  const line = (text: string) => h("span", { class: "latest-line", title: text }, text);
  if (isActive(task.status)) {
    // A task waiting for approval waits for a person: its phase stands out, and links to where it is answered.
    const phase = task.phase === Phase.WAITING_FOR_APPROVAL ? h("a", { class: "phase waiting-approval", href: `/tasks/${encodeURIComponent(task.id)}` }, taskPhase(task)) : h("span", { class: "phase" }, taskPhase(task));
    return [phase, task.latestLine ? line(task.latestLine) : ""];
  }
  const exit = task.exit;
  if (exit && exit.reason !== ExitReason.COMPLETED) return [line(exit.message || EXIT_REASON_LABEL[exit.reason] || "ended")];
  return [task.latestLine ? line(task.latestLine) : h("span", { class: "muted" }, "—")];
}

/** "created 3 min ago", from the task's creation. */
function ago(task: Task, now: number): string {
  const created = millis(task.createdAt);
  if (created === undefined) return "";
  const s = Math.max(0, Math.round((now - created) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

