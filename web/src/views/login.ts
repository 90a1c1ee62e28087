// Signing in: the router's client token (CC_TOKEN), checked with one call before it is kept for this tab
// (app/session.ts). A refused token says so next to the field; a router that does not answer says that instead.
import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, routerClient } from "../app/api.js";
import { h, replace } from "../app/dom.js";
import { session } from "../app/session.js";

/** Draws the form into `main`; `done` runs once a token is accepted. */
export function showLogin(main: HTMLElement, message: string, done: () => void): void {
  document.title = "Sign in · ClaudeCluster";
  const token = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true, spellcheck: "false", "aria-describedby": "login-help login-error" });
  const problem = h("p", { class: "form-error", id: "login-error", role: "alert" }, message);
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to this cluster"),
    h("div", { class: "field" }, h("label", { for: "token" }, "Router token"), token, h("p", { class: "help", id: "login-help" }, "The token in the router's CC_TOKEN (or CC_TOKEN_FILE). It is kept for this tab only.")),
    problem,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (!value) {
      problem.textContent = "Enter the router's token.";
      token.setAttribute("aria-invalid", "true");
      token.focus();
      return;
    }
    submit.disabled = true;
    problem.textContent = "";
    routerClient(value)
      .listWorkers({})
      .then(
        () => {
          session.token = value;
          done();
        },
        (err: unknown) => {
          const e = ConnectError.from(err);
          problem.textContent = e.code === Code.Unauthenticated ? "The router refused this token. Check it against the router's CC_TOKEN." : describeError(e);
          token.setAttribute("aria-invalid", "true");
          token.select();
        },
      )
      .finally(() => (submit.disabled = false));
  });
  replace(main, form);
  token.focus();
}
