// A page of the app. Each view is a module of its own behind this one interface, so a new page (a task's changes,
// permission prompts) is a new module and a line in app/routes.ts, not an edit of the others.
export interface ViewContext {
  /** Named groups of the route's pattern, e.g. `id` for /tasks/:id. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Goes to another page of the app (history.pushState), `replace` to not leave this one in the history. */
  navigate(path: string, options?: { replace?: boolean }): void;
  /** The router refused the token: back to the login form, with this message. */
  signIn(message: string): void;
  /** The document's title: "<title> · ClaudeCluster". */
  title(text: string): void;
}

export interface View {
  /** Draws the page into `main`; returns what to do when the page is left (close streams, stop timers). */
  mount(main: HTMLElement, ctx: ViewContext): (() => void) | void;
}
