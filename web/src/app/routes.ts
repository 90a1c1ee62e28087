// Which view answers which path. A view module is loaded when its page is first opened when it is large (the task
// page brings the transcript and terminal renderers); the rest are in the first bundle.
import { newTaskView } from "../views/new-task.js";
import { notFoundView } from "../views/not-found.js";
import { tasksView } from "../views/tasks.js";
import { workersView } from "../views/workers.js";
import type { View } from "./view.js";

export interface Route {
  pattern: RegExp;
  /** The nav entry this page belongs to, for aria-current. */
  section: "tasks" | "workers" | "";
  view: () => View | Promise<View>;
}

export const ROUTES: Route[] = [
  { pattern: /^\/$/, section: "tasks", view: () => tasksView },
  { pattern: /^\/tasks\/new$/, section: "tasks", view: () => newTaskView },
  { pattern: /^\/tasks\/(?<id>[^/]+)$/, section: "tasks", view: () => import("../views/task/page.js").then((m) => m.taskView) },
  { pattern: /^\/workers$/, section: "workers", view: () => workersView },
];

export function match(path: string): { route: Route | undefined; params: Record<string, string>; view: () => View | Promise<View> } {
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.groups ?? {})) {
      try {
        params[k] = decodeURIComponent(v);
      } catch {
        params[k] = v;
      }
    }
    return { route, params, view: route.view };
  }
  return { route: undefined, params: {}, view: () => notFoundView };
}
