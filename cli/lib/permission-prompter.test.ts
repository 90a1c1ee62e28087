// How cc answers permission requests, against a fake router and a scripted person at the terminal.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { PermissionDecision, PermissionRequestSchema, PermissionResolution, PermissionResolvedSchema } from "../../gen/claudecluster/v1/permissions_pb.js";
import { ClaudeMessageSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { ev, FakeRouter } from "../testing/fake-router.js";
import { parseApproveRules } from "./approve-rules.js";
import { parseReply, PermissionPrompter, type Question } from "./permission-prompter.js";
import { PLAIN } from "./style.js";

const request = (id: string, command = "rm -rf build") =>
  create(PermissionRequestSchema, { requestId: id, toolName: "Bash", inputJson: JSON.stringify({ command }), summary: `Bash(${command})`, toolUseId: `toolu_${id}` });
const requestEv = (seq: number, id: string, command?: string) => ev(seq, { case: "permissionRequest", value: request(id, command) });
const resolvedEv = (seq: number, id: string, decision = PermissionDecision.ALLOW, resolution = PermissionResolution.ANSWERED) =>
  ev(seq, { case: "permissionResolved", value: create(PermissionResolvedSchema, { requestId: id, decision, resolution, toolName: "Bash" }) });

/** A person who types the scripted answers in turn; each question waits until answered or withdrawn. */
class ScriptedPerson implements Question {
  readonly asked: string[] = [];
  private pending: ((answer: string | undefined) => void)[] = [];
  constructor(private readonly answers: string[] = []) {}
  ask(text: string, signal: AbortSignal): Promise<string | undefined> {
    this.asked.push(text);
    const next = this.answers.shift();
    if (next !== undefined) return Promise.resolve(next);
    return new Promise((resolve) => {
      this.pending.push(resolve);
      signal.addEventListener("abort", () => resolve(undefined), { once: true });
    });
  }
  type(answer: string): void {
    this.pending.shift()?.(answer);
  }
}

function setup(o: { approve?: string[]; person?: ScriptedPerson; otherwise?: "deny" | "leave"; replay?: { untilSeq: bigint; pending: Set<string> } } = {}) {
  const router = new FakeRouter();
  const stderr: string[] = [];
  let interjections = 0;
  const prompter = new PermissionPrompter({
    client: router.client,
    rules: parseApproveRules(o.approve),
    ...(o.person ? { question: o.person } : {}),
    otherwise: o.otherwise ?? "deny",
    stderr: { write: (s: string) => stderr.push(s) },
    style: PLAIN,
    interject: () => void interjections++,
    ...(o.replay ? { replay: o.replay } : {}),
  });
  const answers = () => router.calls.filter((c) => c.method === "answerPermission").map((c) => c.request as { requestId: string; decision: PermissionDecision; message: string });
  return { router, prompter, stderr, answers, interjections: () => interjections };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("cc's answers to permission requests", () => {
  it("reads y, n and a (and their words), nothing else", () => {
    expect(["y", "Yes", " n ", "NO", "a", "always"].map(parseReply)).toEqual([
      PermissionDecision.ALLOW,
      PermissionDecision.ALLOW,
      PermissionDecision.DENY,
      PermissionDecision.DENY,
      PermissionDecision.ALLOW_ALWAYS,
      PermissionDecision.ALLOW_ALWAYS,
    ]);
    expect(parseReply("")).toBeUndefined();
    expect(parseReply("sure")).toBeUndefined();
  });

  it("asks on the terminal and sends y, n or a as the decision", async () => {
    const person = new ScriptedPerson(["y", "n", "a"]);
    const { prompter, answers } = setup({ person });
    prompter.event(requestEv(1, "r1"));
    await settle();
    prompter.event(requestEv(2, "r2"));
    await settle();
    prompter.event(requestEv(3, "r3"));
    await settle();
    await prompter.close();
    expect(person.asked).toEqual(["Allow Bash(rm -rf build)? [y]es / [n]o / [a]lways ", "Allow Bash(rm -rf build)? [y]es / [n]o / [a]lways ", "Allow Bash(rm -rf build)? [y]es / [n]o / [a]lways "]);
    expect(answers()).toMatchObject([
      { taskId: "t1", requestId: "r1", decision: PermissionDecision.ALLOW, message: "" },
      { requestId: "r2", decision: PermissionDecision.DENY },
      { requestId: "r3", decision: PermissionDecision.ALLOW_ALWAYS },
    ]);
  });

  it("asks again after an answer it cannot read, and asks about one request at a time", async () => {
    const person = new ScriptedPerson(["maybe"]);
    const { prompter, answers } = setup({ person });
    prompter.event(requestEv(1, "r1", "one"));
    prompter.event(requestEv(2, "r2", "two"));
    await settle();
    expect(person.asked).toEqual(["Allow Bash(one)? [y]es / [n]o / [a]lways ", "Please answer y (allow this call), n (deny it) or a (allow Bash for the rest of the task): "]);
    person.type("y");
    await settle();
    expect(person.asked.at(-1)).toBe("Allow Bash(two)? [y]es / [n]o / [a]lways ");
    person.type("n");
    await settle();
    await prompter.close();
    expect(answers().map((a) => [a.requestId, a.decision])).toEqual([
      ["r1", PermissionDecision.ALLOW],
      ["r2", PermissionDecision.DENY],
    ]);
  });

  it("takes a question off the screen when the request is settled elsewhere, and says how", async () => {
    const person = new ScriptedPerson();
    const { prompter, answers, stderr } = setup({ person });
    prompter.event(requestEv(1, "r1"));
    await settle();
    prompter.event(resolvedEv(2, "r1", PermissionDecision.ALLOW_ALWAYS));
    await prompter.close();
    expect(answers()).toEqual([]);
    expect(stderr.join("")).toBe("cc: Bash was allowed elsewhere, for the rest of the task\n");
  });

  it("allows what an --approve rule covers without asking, and says which rule", async () => {
    const person = new ScriptedPerson();
    const { prompter, answers, stderr } = setup({ person, approve: ["Bash(npm test*)"] });
    prompter.event(requestEv(1, "r1", "npm test -- --watch=false"));
    await prompter.close();
    expect(person.asked).toEqual([]);
    expect(answers()).toMatchObject([{ requestId: "r1", decision: PermissionDecision.ALLOW }]);
    expect(stderr.join("")).toBe("cc: allowed Bash(npm test -- --watch=false) (--approve Bash(npm test*))\n");
  });

  it("without a terminal denies the rest, tells claude why and the user how to allow it", async () => {
    const { prompter, answers, stderr } = setup({ approve: ["Bash(npm test*)"] });
    prompter.event(requestEv(1, "r1", "rm -rf build"));
    prompter.event(resolvedEv(2, "r1", PermissionDecision.DENY));
    await prompter.close();
    expect(answers()).toMatchObject([{ decision: PermissionDecision.DENY, message: "cc denied this call: it had no terminal to ask the user on. The user can allow such calls with --approve 'Bash(rm -rf build)'." }]);
    expect(stderr.join("")).toBe("cc: denied Bash(rm -rf build): there is no terminal to ask on; `--approve 'Bash(rm -rf build)'` (or --allowed-tools) would allow it\n");
  });

  it("attached without a terminal, leaves requests to others and says where to answer", async () => {
    const { prompter, answers, stderr } = setup({ otherwise: "leave" });
    prompter.event(requestEv(1, "r1"));
    await prompter.close();
    expect(answers()).toEqual([]);
    expect(stderr.join("")).toBe("cc: task t1 waits for approval of Bash(rm -rf build); answer it from a terminal with `cc attach t1`\n");
  });

  it("re-attached, asks again only about the requests the record says still wait", async () => {
    const person = new ScriptedPerson(["y"]);
    const { prompter, answers } = setup({ person, replay: { untilSeq: 3n, pending: new Set(["r2"]) } });
    prompter.event(requestEv(1, "r1", "old"));
    prompter.event(requestEv(2, "r2", "still waiting"));
    prompter.event(resolvedEv(3, "r1"));
    await settle();
    await prompter.close();
    expect(person.asked).toEqual(["Allow Bash(still waiting)? [y]es / [n]o / [a]lways "]);
    expect(answers().map((a) => a.requestId)).toEqual(["r2"]);
  });

  it("stays quiet when someone else answered first, and reports other failures", async () => {
    const { prompter, router, stderr } = setup({ approve: ["Bash"] });
    router.answerError = new ConnectError("was already answered", Code.FailedPrecondition);
    prompter.event(requestEv(1, "r1"));
    await settle();
    router.answerError = new ConnectError("the router is shutting down", Code.Unavailable);
    prompter.event(requestEv(2, "r2"));
    await prompter.close();
    expect(stderr).toEqual(["cc: allowed Bash(rm -rf build) (--approve Bash)\n", "cc: allowed Bash(rm -rf build) (--approve Bash)\n", "cc: could not answer for Bash(rm -rf build): the router is shutting down\n"]);
  });

  it("for a task that does not ask, notes what claude refused by itself, from its result", async () => {
    const router = new FakeRouter();
    const stderr: string[] = [];
    const prompter = new PermissionPrompter({ client: router.client, rules: [], otherwise: "deny", noteRefusals: true, stderr: { write: (s: string) => stderr.push(s) }, style: PLAIN, interject: () => {} });
    const json = JSON.stringify({ type: "result", permission_denials: [{ tool_name: "Bash", tool_use_id: "x", tool_input: { command: "rm -rf build" } }, { tool_name: "WebFetch", tool_input: { url: "https://example.com/*" } }] });
    prompter.event(ev(1, { case: "message", value: create(ClaudeMessageSchema, { type: "result", json }) }));
    await prompter.close();
    expect(stderr).toEqual([
      "cc: claude was not allowed Bash(rm -rf build): run cc on a terminal to be asked, or allow it with `--approve 'Bash(rm -rf build)'` or --allowed-tools\n",
      "cc: claude was not allowed WebFetch(https://example.com/?): run cc on a terminal to be asked, or allow it with `--approve 'WebFetch(https://example.com/?)'` or --allowed-tools\n",
    ]);
    expect(router.calls).toEqual([]);
  });

  it("reports a timeout, even for a request it was not asking about", async () => {
    const { prompter, stderr } = setup({ otherwise: "leave" });
    prompter.event(resolvedEv(1, "r9", PermissionDecision.DENY, PermissionResolution.TIMED_OUT));
    await prompter.close();
    expect(stderr.join("")).toBe("cc: Bash was denied: nobody answered in time\n");
  });
});

describe("--approve rules", () => {
  it("match a tool, a tool with a pattern, or a family of tools", async () => {
    const { approvingRule } = await import("./approve-rules.js");
    const rules = parseApproveRules(["Write", "Bash(git status)", "Bash(npm *)", "mcp__github__*"]);
    const rule = (tool: string, input: unknown) => approvingRule(rules, tool, input)?.text;
    expect(rule("Write", { file_path: "/x" })).toBe("Write");
    expect(rule("Bash", { command: "git status" })).toBe("Bash(git status)");
    expect(rule("Bash", { command: "git status --short" })).toBeUndefined();
    expect(rule("Bash", { command: "npm run build && rm -rf /" })).toBe("Bash(npm *)");
    expect(rule("mcp__github__create_issue", {})).toBe("mcp__github__*");
    expect(rule("Edit", { file_path: "/x" })).toBeUndefined();
    expect(() => parseApproveRules(["Bash(unclosed"])).toThrow(/--approve expects a tool name/);
  });
});
