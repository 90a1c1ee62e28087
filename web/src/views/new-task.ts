// The "new task" form: the options of `cc run` that people reach for (prompt, repository and ref, model, tools,
// permission mode, asking before tools, interactive, worker labels). It starts the task with Run and `detach`, so the task keeps running
// when the tab closes or hides, reads the first event for the task id, closes that stream and opens the task's page,
// which follows it with Attach.
import { Code, ConnectError } from "@connectrpc/connect";
import { RunMode } from "../../../gen/claudecluster/v1/run_pb.js";
import { api, describeError } from "../app/api.js";
import { h, replace } from "../app/dom.js";
import { parseLabels, parseTools } from "../app/format.js";
import type { View } from "../app/view.js";

const PERMISSION_MODES: [string, string][] = [
  ["", "default: claude asks (headless: denied)"],
  ["acceptEdits", "acceptEdits: file edits without asking"],
  ["auto", "auto"],
  ["manual", "manual"],
  ["plan", "plan: read and plan, change nothing"],
  ["dontAsk", "dontAsk: deny what is not allowed"],
  ["bypassPermissions", "bypassPermissions: everything (sandboxed workers only)"],
];

/** A first guess at the terminal's size from the window; the task page resizes it once it is drawn. */
function terminalGuess(): { cols: number; rows: number } {
  const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.floor(v)));
  return { cols: clamp((Math.min(window.innerWidth, 1280) - 64) / 7.8, 40, 220), rows: clamp((window.innerHeight - 240) / 15, 12, 60) };
}

export const newTaskView: View = {
  mount(main, ctx) {
    ctx.title("New task");
    const prompt = h("textarea", { id: "prompt", name: "prompt", rows: 7, "aria-describedby": "prompt-help", placeholder: "What should claude do?" });
    const headless = h("input", { type: "radio", name: "mode", id: "mode-headless", value: "headless", checked: true });
    const interactive = h("input", { type: "radio", name: "mode", id: "mode-interactive", value: "interactive" });
    const repo = h("input", { id: "repo", name: "repo", type: "url", placeholder: "https://github.com/org/repo.git", autocomplete: "off", spellcheck: "false" });
    const ref = h("input", { id: "ref", name: "ref", placeholder: "default branch", autocomplete: "off", spellcheck: "false" });
    const model = h("input", { id: "model", name: "model", list: "models", placeholder: "worker's default", autocomplete: "off", spellcheck: "false" });
    const tools = h("input", { id: "tools", name: "tools", placeholder: "Bash, Edit, Write, Bash(git *)", autocomplete: "off", spellcheck: "false", "aria-describedby": "tools-help" });
    const permission = h("select", { id: "permission-mode", name: "permission-mode" }, PERMISSION_MODES.map(([value, label]) => h("option", { value }, label)));
    // On by default: the task's page is where a person answers, and without it a headless claude refuses every
    // call its allowed tools and permission mode do not cover. An interactive claude asks in its own terminal.
    const ask = h("input", { type: "checkbox", id: "ask-permissions", name: "ask-permissions", checked: true, "aria-describedby": "ask-help" });
    const askHelp = h("p", { class: "help", id: "ask-help" });
    const drawAsk = () => {
      ask.disabled = interactive.checked;
      askHelp.textContent = interactive.checked
        ? "An interactive claude asks in its own terminal."
        : "claude asks on the task's page before a tool call that the allowed tools and permission mode do not cover. Unanswered, the call is denied after the worker's CC_PERMISSION_TIMEOUT. Off: claude refuses such calls itself.";
    };
    headless.addEventListener("change", drawAsk);
    interactive.addEventListener("change", drawAsk);
    const labels = h("input", { id: "labels", name: "labels", placeholder: "region=eu, gpu=true", autocomplete: "off", spellcheck: "false", "aria-describedby": "labels-help" });
    const submit = h("button", { type: "submit" }, "Start task");
    const problem = h("div", { class: "form-error", id: "form-error", role: "alert" });

    const fail = (message: string, control?: HTMLElement) => {
      replace(problem, message);
      for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
      if (control) {
        control.setAttribute("aria-invalid", "true");
        control.focus();
      }
    };

    const start = async (event: Event) => {
      event.preventDefault();
      const mode = interactive.checked ? RunMode.INTERACTIVE : RunMode.HEADLESS;
      const text = prompt.value;
      if (mode === RunMode.HEADLESS && text.trim() === "") {
        return fail("Write a prompt: a headless task needs one. (An interactive task may start without one, at claude's input box.)", prompt);
      }
      const parsedLabels = parseLabels(labels.value);
      if ("error" in parsedLabels) return fail(`Worker labels: ${parsedLabels.error}; write them as key=value, separated by commas.`, labels);
      if (ref.value.trim() && !repo.value.trim()) return fail("A ref needs a repository to check it out from.", repo);
      replace(problem);
      submit.disabled = true;
      submit.textContent = "Starting…";
      const abort = new AbortController();
      try {
        const stream = api.run(
          {
            prompt: text,
            mode,
            detach: true,
            labels: parsedLabels.labels,
            agent: { model: model.value.trim(), allowedTools: parseTools(tools.value), permissionMode: permission.value, askPermissions: mode === RunMode.HEADLESS && ask.checked },
            ...(repo.value.trim() ? { workspace: { source: { case: "repository", value: { url: repo.value.trim(), ref: ref.value.trim() } } } } : {}),
            ...(mode === RunMode.INTERACTIVE ? { terminal: terminalGuess() } : {}),
          },
          { signal: abort.signal },
        );
        for await (const first of stream) {
          abort.abort();
          ctx.navigate(`/tasks/${encodeURIComponent(first.taskId)}`);
          return;
        }
        fail("The router ended the stream before the task started; try again.");
      } catch (err) {
        if (abort.signal.aborted) return;
        const e = ConnectError.from(err);
        if (e.code === Code.Unauthenticated) return ctx.signIn(describeError(e));
        const field = /^(prompt|agent\.permission_mode|agent\.ask_permissions|agent\.model|workspace\.repository\.url|workspace\.repository\.ref|labels)/.exec(e.rawMessage)?.[1];
        const control = { prompt, "agent.permission_mode": permission, "agent.ask_permissions": ask, "agent.model": model, "workspace.repository.url": repo, "workspace.repository.ref": ref, labels }[field ?? ""];
        fail(`The router did not start the task: ${describeError(e)}`, control);
      } finally {
        submit.disabled = false;
        submit.textContent = "Start task";
      }
    };

    const form: HTMLFormElement = h(
      "form",
      { class: "new-task", "aria-labelledby": "new-task-title", novalidate: true, onsubmit: (e: Event) => void start(e) },
      h("div", { class: "field" }, h("label", { for: "prompt" }, "Prompt"), prompt, h("p", { class: "help", id: "prompt-help" }, "Ctrl+Enter starts the task.")),
      h(
        "fieldset",
        { class: "modes" },
        h("legend", {}, "Mode"),
        h("label", { class: "choice", for: "mode-headless" }, headless, h("span", {}, h("strong", {}, "Headless"), " — a transcript: claude works through the prompt and reports")),
        h("label", { class: "choice", for: "mode-interactive" }, interactive, h("span", {}, h("strong", {}, "Interactive"), " — claude's terminal UI, here in the page, for you to type into")),
      ),
      h("div", { class: "field-row" }, h("div", { class: "field grow" }, h("label", { for: "repo" }, "Repository"), repo), h("div", { class: "field" }, h("label", { for: "ref" }, "Ref"), ref)),
      h(
        "div",
        { class: "field-row" },
        h("div", { class: "field" }, h("label", { for: "model" }, "Model"), model, h("datalist", { id: "models" }, ["sonnet", "opus", "haiku"].map((m) => h("option", { value: m })))),
        h("div", { class: "field grow" }, h("label", { for: "permission-mode" }, "Permission mode"), permission),
      ),
      h("div", { class: "field" }, h("label", { for: "tools" }, "Allowed tools"), tools, h("p", { class: "help", id: "tools-help" }, "Tools claude may use without asking, separated by commas.")),
      h("div", { class: "field" }, h("label", { class: "check", for: "ask-permissions" }, ask, "Ask before running tools"), askHelp),
      h("div", { class: "field" }, h("label", { for: "labels" }, "Worker labels"), labels, h("p", { class: "help", id: "labels-help" }, "Run only on a worker with these labels.")),
      problem,
      h("div", { class: "actions" }, submit, h("a", { href: "/", class: "button secondary" }, "Back to tasks")),
    );
    prompt.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
    });
    replace(main, h("div", { class: "page-head" }, h("h1", { id: "new-task-title" }, "New task")), form);
    drawAsk();
    prompt.focus();
  },
};
