// A task's permission requests on its page (tasks started with `agent.ask_permissions`): each request that waits is
// a card with the tool, what it would run (its input, highlighted and sanitised like the transcript's tool calls),
// the time left before the worker denies it, and Allow / Always allow / Deny (with an optional message to claude),
// which call AnswerPermission. A settled request becomes one line saying how: allowed, denied and what claude was
// told, timed out, or withdrawn. Several pages may watch one task: whichever answers first settles it, and the
// others say so. The state is model.ts's PermissionBoard; this file only draws it.
import { ConnectError } from "@connectrpc/connect";
import { PermissionDecision, type PermissionRequest } from "../../../gen/claudecluster/v1/permissions_pb.js";
import type { Task } from "../../../gen/claudecluster/v1/router_pb.js";
import type { RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { describeError, type RouterClient } from "../app/api.js";
import { h, replace } from "../app/dom.js";
import { isActive, millis } from "../app/format.js";
import { renderHighlighted } from "../transcript/markdown.js";
import type { TaskPanel } from "../views/task/panels.js";
import { outcome, PermissionBoard, timeLeft, type RequestEntry } from "./model.js";

/** The longest message to claude a deny may carry (the router's bound: services/common/permission-answer.ts). */
const MAX_MESSAGE_CHARS = 4096;

/** One request's card. Built once; its parts are redrawn, so a message being typed and the focus stay put. */
interface Card {
  readonly li: HTMLLIElement;
  readonly head: HTMLElement;
  readonly body: HTMLElement;
  readonly form: HTMLFormElement;
  readonly message: HTMLInputElement;
  readonly buttons: { allow: HTMLButtonElement; always: HTMLButtonElement; deny: HTMLButtonElement };
  readonly expiry: HTMLElement;
  readonly status: HTMLElement;
  bodyFor: PermissionRequest | undefined;
  /** The answer was given from this card with the keyboard's focus in it: the focus follows to its outcome. */
  keepFocus: boolean;
}

let panels = 0;

export class PermissionPanel implements TaskPanel {
  readonly element: HTMLElement;
  private readonly board = new PermissionBoard();
  private readonly list: HTMLOListElement;
  private readonly heading: HTMLElement;
  private readonly count: HTMLElement;
  private readonly announcer: HTMLElement;
  private readonly cards = new Map<string, Card>();
  private readonly prefix = `perm${++panels}`;
  private cardCount = 0;
  /** The task's last seq when the page loaded: requests asked before it are a replay, not news to announce. */
  private readonly loadedSeq: bigint;
  private frame: number | undefined;
  private readonly ticker: ReturnType<typeof setInterval>;
  /** Leads to the first waiting request while the panel is out of sight (scrolled up a long transcript). */
  private readonly jump: HTMLButtonElement;
  private readonly sight: IntersectionObserver;
  private inSight = true;

  constructor(
    private readonly task: Task,
    private readonly api: RouterClient,
  ) {
    const title = `${this.prefix}-title`;
    this.count = h("span", { class: "permission-count" });
    this.list = h("ol", { class: "permission-list" });
    // Says when claude asks; a replay of requests settled long ago says nothing.
    this.announcer = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    this.jump = h("button", { type: "button", class: "permission-jump", hidden: true }, "claude waits for your approval ", h("span", { "aria-hidden": "true" }, "↓"));
    this.jump.addEventListener("click", () => {
      const first = this.board.waiting[0];
      const card = first && this.cards.get(first.id);
      if (!card) return;
      card.li.scrollIntoView({ block: "center" });
      card.head.focus();
    });
    // The section stays in the page (empty, it takes no room) so that its live region is there before it speaks.
    this.heading = h("h2", { id: title, hidden: true }, "Permission requests", this.count);
    this.element = h("section", { class: "permissions", id: "permissions", "aria-labelledby": title }, this.heading, this.announcer, this.list, this.jump);
    this.sight = new IntersectionObserver((entries) => {
      this.inSight = entries.some((e) => e.isIntersecting);
      this.drawJump();
    });
    this.sight.observe(this.list);
    this.loadedSeq = task.lastSeq;
    this.board.record(task.pendingPermissions, task.lastSeq, !isActive(task.status));
    this.flush();
    this.ticker = setInterval(() => {
      if (!document.hidden) this.tick();
    }, 1000);
  }

  apply(event: RunEvent): void {
    const kind = event.event.case;
    if (kind !== "permissionRequest" && kind !== "permissionResolved") return;
    this.board.apply(event);
    this.schedule();
  }

  record(task: Task): void {
    this.board.record(task.pendingPermissions, task.lastSeq, !isActive(task.status));
    this.schedule();
  }

  attached(): void {}

  ended(): void {
    this.board.ended();
    this.flush();
  }

  dispose(): void {
    clearInterval(this.ticker);
    this.sight.disconnect();
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
  }

  /** Drawn once a frame: a replay's request and its resolution, a moment apart, are drawn (and announced) once. */
  private schedule(): void {
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    this.frame = undefined;
    const asking: string[] = [];
    for (const id of this.board.takeChanged()) {
      const entry = this.board.get(id)!;
      let card = this.cards.get(id);
      const fresh = !card;
      if (!card) {
        card = this.card(entry);
        this.cards.set(id, card);
        this.list.append(card.li);
      }
      this.draw(card, entry);
      if (fresh && entry.state.kind === "waiting" && entry.request && entry.seq >= this.loadedSeq) asking.push(entry.request.summary || entry.toolName);
    }
    for (const [id, card] of this.cards) {
      if (!this.board.get(id)) {
        card.li.remove();
        this.cards.delete(id);
      }
    }
    const waiting = this.board.waiting.length;
    this.heading.hidden = this.list.hidden = this.cards.size === 0;
    this.element.classList.toggle("asking", waiting > 0);
    this.count.textContent = waiting > 0 ? ` · ${waiting} waiting` : "";
    if (asking.length) this.announcer.textContent = `claude asks to use ${asking.join(", ")}. Answer below.`;
    this.drawJump();
    this.tick();
  }

  private drawJump(): void {
    this.jump.hidden = this.inSight || this.board.waiting.length === 0;
  }

  /** The time left to answer, on each waiting card. */
  private tick(): void {
    const now = Date.now();
    for (const entry of this.board.waiting) {
      const card = this.cards.get(entry.id);
      const expires = millis(entry.request?.expiresAt);
      if (!card || expires === undefined) continue;
      card.expiry.textContent = expires > now ? `Denied in ${timeLeft(expires - now)} unless answered` : "Denied unless answered now";
    }
  }

  private card(entry: RequestEntry): Card {
    const n = ++this.cardCount;
    const titleId = `${this.prefix}-${n}-title`;
    const messageId = `${this.prefix}-${n}-message`;
    const head = h("h3", { id: titleId, class: "permission-title", tabindex: -1 });
    const message = h("input", { id: messageId, name: "message", maxlength: MAX_MESSAGE_CHARS, autocomplete: "off", placeholder: "e.g. use the test database instead" });
    const button = (label: string, cls: string) => h("button", { type: "button", class: cls, "aria-describedby": titleId }, label);
    const buttons = { allow: button("Allow", ""), always: button("Always allow", "secondary"), deny: button("Deny", "danger") };
    buttons.deny.type = "submit";
    const form: HTMLFormElement = h(
      "form",
      { class: "permission-answer", "aria-label": "Answer" },
      h("div", { class: "field" }, h("label", { for: messageId }, "Message to claude if you deny ", h("span", { class: "muted" }, "(optional)")), message),
      h("div", { class: "actions" }, buttons.allow, buttons.always, buttons.deny),
    );
    // Enter in the message denies with it: that is what the message is for.
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.answer(entry.id, PermissionDecision.DENY, message.value.trim());
    });
    buttons.allow.addEventListener("click", () => void this.answer(entry.id, PermissionDecision.ALLOW, ""));
    buttons.always.addEventListener("click", () => void this.answer(entry.id, PermissionDecision.ALLOW_ALWAYS, ""));
    const expiry = h("span", { class: "permission-expiry" });
    const status = h("p", { class: "permission-status", tabindex: -1 });
    const body = h("div", { class: "permission-body" });
    const li = h("li", { class: "permission" }, h("article", { "aria-labelledby": titleId }, h("div", { class: "permission-head" }, head, expiry), body, form, status));
    return { li, head, body, form, message, buttons, expiry, status, bodyFor: undefined, keepFocus: false };
  }

  private draw(card: Card, entry: RequestEntry): void {
    const state = entry.state;
    const request = entry.request;
    const tool = entry.toolName || "a tool";
    const hadFocus = card.keepFocus || card.li.contains(document.activeElement);
    if (request && card.bodyFor !== request) {
      replace(card.body, requestBody(request));
      card.bodyFor = request;
    }
    card.buttons.always.textContent = `Always allow ${tool}`;
    const call = request?.summary || tool;
    if (state.kind === "waiting") {
      card.li.className = "permission waiting";
      replace(card.head, h("span", { class: "permission-mark", "aria-hidden": "true" }, "?"), "claude asks to use ", h("code", {}, call));
      card.form.hidden = false;
      card.body.hidden = false;
      const busy = state.answering !== undefined;
      for (const b of Object.values(card.buttons)) b.disabled = busy;
      card.message.disabled = busy;
      card.buttons.allow.textContent = state.answering === PermissionDecision.ALLOW ? "Allowing…" : "Allow";
      if (state.answering === PermissionDecision.ALLOW_ALWAYS) card.buttons.always.textContent = "Allowing…";
      card.buttons.deny.textContent = state.answering === PermissionDecision.DENY ? "Denying…" : "Deny";
      card.status.className = "permission-status error";
      card.status.setAttribute("role", "alert");
      card.status.textContent = state.problem ?? "";
      card.status.hidden = !state.problem;
      // An answer that failed: the focus goes to why, next to the buttons to try again.
      if (card.keepFocus && !busy && state.problem) {
        card.status.focus();
        card.keepFocus = false;
      }
      return;
    }
    // Settled, or gone: a line that says how (what claude asked for is in the transcript, at its tool call).
    card.form.hidden = true;
    card.expiry.textContent = "";
    card.status.hidden = false;
    card.status.removeAttribute("role");
    if (state.kind === "gone") {
      card.li.className = "permission gone";
      replace(card.head, h("span", { class: "permission-mark", "aria-hidden": "true" }, "–"), h("code", {}, call));
      card.status.className = "permission-status";
      card.status.textContent = state.why;
    } else {
      const o = outcome(state.resolved, state.answeredHere);
      card.li.className = `permission settled ${o.kind}`;
      const mark = o.kind === "allowed" ? "✓" : "✕";
      replace(card.head, h("span", { class: "permission-mark", "aria-hidden": "true" }, mark), h("span", { class: "permission-outcome" }, o.label), " ", h("code", {}, call));
      card.status.className = `permission-status${state.problem ? " note" : ""}`;
      replace(card.status, state.problem ? `${state.problem} ` : "", o.detail);
      card.status.hidden = !state.problem && !o.detail;
    }
    card.body.hidden = true;
    // The buttons just pressed are gone: the keyboard's focus moves to what replaced them.
    if (hadFocus) (card.status.hidden ? card.head : card.status).focus();
    card.keepFocus = false;
  }

  private async answer(id: string, decision: PermissionDecision, message: string): Promise<void> {
    const entry = this.board.get(id);
    if (entry?.state.kind !== "waiting" || entry.state.answering !== undefined) return;
    const card = this.cards.get(id);
    // Disabled while the answer is on its way, the focused button (or field) would drop the focus to the page.
    if (card) card.keepFocus = card.li.contains(document.activeElement);
    this.board.answering(id, decision);
    this.flush();
    try {
      const res = await this.api.answerPermission({ taskId: this.task.id, requestId: id, decision, message: decision === PermissionDecision.DENY ? message : "" });
      if (res.resolved) this.board.answered(res.resolved);
    } catch (reason) {
      const err = ConnectError.from(reason);
      this.board.answerFailed(id, err.code, err.rawMessage, describeError(err));
    }
    this.flush();
  }
}

/** What the call would do: a command as a command, anything else as its JSON input; both highlighted and sanitised. */
function requestBody(request: PermissionRequest): Node[] {
  let input: Record<string, unknown> = {};
  try {
    input = JSON.parse(request.inputJson) as Record<string, unknown>;
  } catch {
    // Shown as it came, below.
  }
  const pretty = (() => {
    try {
      return JSON.stringify(JSON.parse(request.inputJson), null, 2);
    } catch {
      return request.inputJson;
    }
  })();
  const code = (text: string, language: string) => {
    const el = h("code", { class: "hljs" });
    el.append(renderHighlighted(text, language));
    return h("pre", { class: "permission-code", "data-language": language }, el);
  };
  const out: Node[] = [];
  if (request.reason) out.push(h("p", { class: "permission-reason" }, request.reason));
  const command = request.toolName === "Bash" && typeof input["command"] === "string" ? input["command"] : undefined;
  if (command !== undefined) {
    out.push(code(command, "bash"));
    out.push(h("details", { class: "permission-input" }, h("summary", {}, "Whole input"), code(pretty, "json")));
  } else {
    out.push(code(pretty, "json"));
  }
  if (request.inputTruncated) out.push(h("p", { class: "help" }, "Long strings of this input are cut short here; the call runs with the whole input."));
  return out;
}
