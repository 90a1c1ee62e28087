// The web UI's entry point: the page's frame (header, navigation, the connection banner, <main>), sign-in, and
// moving between pages without reloading (history.pushState). Each page is a view (app/view.ts, app/routes.ts).
import "./styles.css";
import { Code, ConnectError } from "@connectrpc/connect";
import { api, describeError, isUnreachable } from "./app/api.js";
import { connection, type ConnectionState } from "./app/connection.js";
import { h, replace } from "./app/dom.js";
import { match } from "./app/routes.js";
import { session } from "./app/session.js";
import type { ViewContext } from "./app/view.js";
import { showLogin } from "./views/login.js";

const main = h("main", { id: "main", tabindex: -1 });
const banner = h("div", { class: "banner", hidden: true });
const signOut = h("button", { type: "button", class: "link-button sign-out", hidden: true }, "Sign out");
const navLink = (href: string, label: string, section: string) => h("a", { href, "data-section": section }, label);
const nav = h("nav", { "aria-label": "Main" }, navLink("/", "Tasks", "tasks"), navLink("/workers", "Workers", "workers"));

document.body.append(
  h("a", { href: "#main", class: "skip-link" }, "Skip to content"),
  h(
    "header",
    { class: "top" },
    h("a", { href: "/", class: "brand", "aria-label": "ClaudeCluster, all tasks" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "ClaudeCluster"),
    nav,
    h("a", { href: "/tasks/new", class: "button small new-task-link" }, "New task"),
    signOut,
  ),
  banner,
  main,
);

let leave: (() => void) | void;
let generation = 0;
let firstPage = true;

async function show(): Promise<void> {
  leave?.();
  leave = undefined;
  const mine = ++generation;
  const { route, params, view } = match(location.pathname);
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset["section"] === route?.section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const ctx: ViewContext = {
    params,
    query: new URLSearchParams(location.search),
    navigate,
    signIn: (message) => login(message),
    title: (text) => (document.title = `${text} · ClaudeCluster`),
  };
  let v;
  try {
    v = await view();
  } catch {
    // A chunk that no longer exists: the router was updated under this page.
    replace(main, h("div", { class: "problem", role: "alert" }, h("h1", {}, "This page changed"), h("p", {}, "The router was updated. ", h("a", { href: location.href }, "Reload"), " to get the new version.")));
    return;
  }
  if (mine !== generation) return;
  main.replaceChildren();
  leave = v.mount(main, ctx);
  // Moving to a new page moves the keyboard and screen readers there too; the first page keeps the browser's focus.
  if (!firstPage) (main.querySelector("h1") as HTMLElement | null)?.setAttribute("tabindex", "-1");
  if (!firstPage) (main.querySelector("h1") as HTMLElement | null)?.focus();
  firstPage = false;
}

function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void show();
}

function login(message: string): void {
  leave?.();
  leave = undefined;
  generation += 1;
  session.token = "";
  signOut.hidden = true;
  // Signed out, the page offers nothing but the form.
  document.body.classList.add("signed-out");
  showLogin(main, message, () => {
    document.body.classList.remove("signed-out");
    signOut.hidden = false;
    void show();
  });
}

// Links inside the app change the page without a reload; others (new tab, modified clicks) behave as links do.
document.addEventListener("click", (event) => {
  const a = (event.target as Element | null)?.closest?.("a");
  if (!a || a.target || a.hasAttribute("download") || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || a.getAttribute("href")?.startsWith("#")) return;
  event.preventDefault();
  // A link to the page already shown draws it afresh (an empty form, a new stream), as a reload would.
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
  else void show();
});
window.addEventListener("popstate", () => void show());
signOut.addEventListener("click", () => login("Signed out."));

// The banner says when the router stops answering and counts down to the next try. Only its first words are an
// alert, so screen readers announce it once rather than every second of the countdown.
const bannerAlert = h("strong", { role: "alert" });
const bannerCountdown = h("span", {});
const retryNow = h("button", { type: "button", class: "small secondary" }, "Retry now");
banner.append(bannerAlert, " ", bannerCountdown, retryNow);
let countdown: ReturnType<typeof setInterval> | undefined;
function drawBanner(state: ConnectionState): void {
  clearInterval(countdown);
  if (state.reachable) {
    banner.hidden = true;
    bannerAlert.textContent = "";
    return;
  }
  const draw = () => {
    const seconds = state.retryAt ? Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000)) : 0;
    bannerCountdown.textContent = `Tasks keep running on their workers; this page reconnects ${seconds > 0 ? `in ${seconds} s` : "now"} and picks up where it left off.`;
  };
  if (!bannerAlert.textContent) bannerAlert.textContent = "The router is not answering.";
  retryNow.hidden = !state.retryNow;
  retryNow.onclick = () => state.retryNow?.();
  draw();
  banner.hidden = false;
  countdown = setInterval(draw, 1000);
}
connection.subscribe(drawBanner);

// First: does the router take this tab's token (or none at all)?
async function start(): Promise<void> {
  try {
    await api.listWorkers({});
    connection.reached();
    signOut.hidden = session.token === "";
    await show();
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code === Code.Unauthenticated) return login(session.token ? "The router refused the saved token; sign in again." : "");
    if (isUnreachable(e)) {
      const at = Date.now() + 3000;
      const timer = setTimeout(() => void start(), at - Date.now());
      connection.lost(at, () => {
        clearTimeout(timer);
        void start();
      });
      replace(main, h("p", { class: "loading", role: "status" }, "Waiting for the router…"));
      return;
    }
    replace(main, h("div", { class: "problem", role: "alert" }, h("h1", {}, "The router answered with an error"), h("p", {}, describeError(e))));
  }
}
void start();
