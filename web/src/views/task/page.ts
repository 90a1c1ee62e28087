// A task's page: its record at the top (status, phase, worker, times, cost; Cancel), and its events below in the
// panels for it (panels.ts: the transcript or the terminal, the permission requests, the changes). One Attach stream while the page is visible; it resumes from the last seq the
// page has seen after a hidden tab, a dropped connection or a router restart, and an event already seen is never
// applied again. A reload replays the task from its first event.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Task } from "../../../../gen/claudecluster/v1/router_pb.js";
import type { ChangesSummary, RunEvent } from "../../../../gen/claudecluster/v1/run_pb.js";
import { api, describeError, isUnreachable } from "../../app/api.js";
import { h, replace } from "../../app/dom.js";
import { cost, duration, elapsed, EXIT_REASON_LABEL, isActive, labelList, modeLabel, taskPhase } from "../../app/format.js";
import { LiveStream, type LiveState } from "../../app/live.js";
import type { View, ViewContext } from "../../app/view.js";
import { statusBadge } from "../../app/badges.js";
import { panelsFor, type TaskPanel } from "./panels.js";

/** The router's own words when the start of a log was trimmed (services/router/task-log.ts). */
const TRIMMED = /attach with after_seq of at least (\d+)/;

export const taskView: View = {
  mount(main, ctx) {
    const id = ctx.params["id"] ?? "";
    ctx.title(`Task ${id}`);
    let left = false;
    let cleanup: (() => void) | undefined;
    const load = () => {
      replace(main, h("p", { class: "loading", role: "status" }, "Loading the task…"));
      api.getTask({ taskId: id }).then(
        async (task) => {
          if (left) return;
          const panels = await panelsFor(task, api);
          if (left) return panels.forEach((p) => p.dispose());
          cleanup = showTask(main, ctx, task, panels);
        },
        (err: unknown) => {
          if (!left) showProblem(main, ctx, id, ConnectError.from(err), load);
        },
      );
    };
    load();
    return () => {
      left = true;
      cleanup?.();
    };
  },
};

function showProblem(main: HTMLElement, ctx: ViewContext, id: string, err: ConnectError, retry: () => void): void {
  if (err.code === Code.Unauthenticated) return ctx.signIn(describeError(err));
  let title = "This task could not be loaded";
  let detail = describeError(err);
  if (err.code === Code.NotFound) {
    title = "No such task";
    detail = `The router has no task ${id}. Routers keep ended tasks only for a while (CC_RETAIN_TASKS, CC_RETAIN_AGE), and a task id is only known to the router that ran it.`;
  } else if (err.code === Code.InvalidArgument) {
    title = "Not a task id";
    detail = `“${id}” is not a task id: ${err.rawMessage.replace(/^task_id: /, "")}.`.replace(/; list tasks.*\.$/, ".");
  }
  replace(
    main,
    h(
      "div",
      { class: "problem", role: "alert" },
      h("h1", {}, title),
      h("p", {}, detail),
      h("p", {}, h("a", { href: "/", class: "button secondary" }, "All tasks"), " ", isUnreachable(err) || err.code === Code.Unavailable ? h("button", { type: "button", onclick: retry }, "Try again") : ""),
    ),
  );
}

function showTask(main: HTMLElement, ctx: ViewContext, first: Task, panels: TaskPanel[]): () => void {
  let task = first;
  let lastSeq = 0n;
  let ended = false;
  const title = h("h1", { class: "task-title" });
  const facts = h("dl", { class: "facts" });
  const live = h("span", { class: "live-state", role: "status", "aria-live": "polite" });
  const note = h("div", { class: "task-note", role: "status" });
  const cancelButton = h("button", { type: "button", class: "danger" }, "Cancel task");
  const dialog = cancelDialog(async () => {
    cancelButton.disabled = true;
    cancelButton.textContent = "Cancelling…";
    try {
      task = await api.cancelTask({ taskId: task.id, reason: "cancelled from the web UI" });
      recorded();
    } catch (err) {
      replace(note, h("span", { class: "error" }, `Not cancelled: ${describeError(err)}`));
      cancelButton.disabled = false;
      cancelButton.textContent = "Cancel task";
    }
  });
  cancelButton.addEventListener("click", () => dialog.showModal());

  const draw = () => {
    const prompt = task.promptSummary.length >= 200 ? `${task.promptSummary}…` : task.promptSummary;
    ctx.title(task.promptSummary ? `${task.promptSummary.slice(0, 60)} · task` : `Task ${task.id}`);
    replace(title, prompt || h("em", {}, `${modeLabel(task.mode)} task, no prompt`));
    const now = Date.now();
    const entries: [string, Node | string][] = [
      ["Status", statusBadge(task.status)],
      ...(isActive(task.status) ? ([["Activity", taskPhase(task)]] as [string, string][]) : []),
      ["Mode", modeLabel(task.mode)],
      ["Worker", task.workerId || "—"],
      ["Time", `${duration(elapsed(task, now))}${task.endedAt ? "" : isActive(task.status) ? " so far" : ""}`],
      ["Cost", cost(task.costUsd) || "—"],
    ];
    if (task.agent?.model) entries.push(["Model", task.agent.model]);
    if (Object.keys(task.labels).length) entries.push(["Labels", labelList(task.labels)]);
    if (task.exit && task.exit.message) entries.push(["Ended", `${EXIT_REASON_LABEL[task.exit.reason] ?? "ended"}: ${task.exit.message}`]);
    if (task.exit?.changes) entries.push(["Changes", changesLink(task.exit.changes)]);
    entries.push(["Id", h("code", {}, task.id)]);
    replace(facts, entries.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
    cancelButton.hidden = !isActive(task.status);
    if (!isActive(task.status)) cancelButton.disabled = true;
  };

  const recorded = () => {
    draw();
    for (const p of panels) p.record?.(task);
  };

  // The record changes with a few events (started, status, exited); it is fetched again then, at most every 300 ms.
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  const refresh = () => {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined;
      api.getTask({ taskId: task.id }).then(
        (t) => {
          task = t;
          recorded();
        },
        () => undefined,
      );
    }, 300);
  };

  const onEvent = (event: RunEvent) => {
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    for (const p of panels) p.apply(event);
    const kind = event.event.case;
    if (kind === "started" || kind === "status" || kind === "exited") refresh();
    if (kind === "exited") {
      ended = true;
      const exit = event.event.value;
      const words = `Task ${EXIT_REASON_LABEL[exit.reason] ?? "ended"}${exit.message ? `: ${exit.message}` : exit.exitCode > 0 ? ` (exit code ${exit.exitCode})` : ""}.`;
      for (const p of panels) p.ended(words);
    }
  };

  let stream: LiveStream<RunEvent>;
  const onState = (state: LiveState) => {
    live.className = `live-state ${state.kind}`;
    switch (state.kind) {
      case "connecting":
        live.textContent = lastSeq > 0n ? "Reconnecting…" : "Connecting…";
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
        live.textContent = ended ? "" : "Stream ended";
        if (!ended) for (const p of panels) p.ended("The task's stream ended.");
        refresh();
        return;
      case "failed": {
        const skip = TRIMMED.exec(state.error.rawMessage);
        if (state.error.code === Code.OutOfRange && skip) {
          // The oldest events were dropped from the router's log (CC_TASK_LOG_BYTES): show the rest, and say so.
          lastSeq = BigInt(skip[1]!);
          replace(note, `The first ${skip[1]} events of this task were dropped from the router's log; this shows the rest.`);
          stream = follow();
          return;
        }
        if (state.error.code === Code.Unauthenticated) return ctx.signIn(describeError(state.error));
        live.textContent = "";
        replace(note, h("span", { class: "error" }, `Not following the task: ${describeError(state.error)}`));
        return;
      }
    }
  };
  const follow = () => {
    const s = new LiveStream<RunEvent>({
      open: (signal, opened) => api.attach({ taskId: task.id, afterSeq: lastSeq }, { signal, onHeader: opened }),
      onMessage: onEvent,
      onState,
    });
    s.start();
    return s;
  };

  replace(
    main,
    h(
      "div",
      { class: "task-head" },
      h("p", { class: "crumbs" }, h("a", { href: "/" }, "Tasks"), " / ", h("code", {}, task.id)),
      h("div", { class: "page-head" }, title, live, cancelButton),
      facts,
      note,
    ),
    panels.map((p) => p.element),
    dialog,
  );
  draw();
  for (const p of panels) p.attached();
  stream = follow();
  const ticker = setInterval(() => {
    if (!document.hidden && isActive(task.status)) draw();
  }, 1000);
  return () => {
    stream.stop();
    clearInterval(ticker);
    clearTimeout(refreshTimer);
    for (const p of panels) p.dispose();
  };
}

/** "3 files, +12 −4", leading to the changes panel below (scrolled to by hand: a fragment would redraw the page). */
function changesLink(changes: ChangesSummary): HTMLElement {
  const n = changes.filesTotal;
  const a = h("a", { href: "#changes" }, n === 0 ? "none" : `${n} ${n === 1 ? "file" : "files"}, +${changes.insertions} −${changes.deletions}`);
  a.addEventListener("click", (e) => {
    e.preventDefault();
    document.getElementById("changes")?.scrollIntoView({ block: "start" });
  });
  return a;
}

/** "Cancel this task?" as a modal dialog: Escape or "Keep running" closes it. */
function cancelDialog(confirm: () => void): HTMLDialogElement {
  const dialog: HTMLDialogElement = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "cancel-title" },
    h("h2", { id: "cancel-title" }, "Cancel this task?"),
    h("p", {}, "claude and everything it started are stopped, and the task ends as cancelled."),
    h(
      "form",
      { method: "dialog", class: "actions" },
      h("button", { value: "cancel", class: "danger" }, "Cancel task"),
      h("button", { value: "keep", class: "secondary", autofocus: true }, "Keep running"),
    ),
  );
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "cancel") confirm();
    dialog.returnValue = "";
  });
  return dialog;
}

