// A stateful stand-in for the router, for the MCP tools' unit tests: Run creates a task and streams its events,
// Attach follows a task's events from a seq (waiting for new ones), UploadWorkspace keeps what it was sent, GetChanges
// streams the patch a test gave the task's end, and the test moves tasks along (finish, ask) by hand. It records
// every call. The end-to-end tests run the real router instead.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { PermissionDecision, PermissionRequestSchema, PermissionResolution, PermissionResolvedSchema, type PermissionRequest } from "../../gen/claudecluster/v1/permissions_pb.js";
import { TaskSchema, TaskStatus, WorkerHealth, WorkerRecordSchema, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { ChangesSummarySchema, ClaudeMessageSchema, ExitReason, ExitedSchema, RunEventSchema, StartedSchema, type RunEvent, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { ChangesChunkSchema, ChangesFormat, UploadWorkspaceResponseSchema, type ChangesChunk, type UploadHeader, type UploadWorkspaceRequest } from "../../gen/claudecluster/v1/transfer_pb.js";
import type { ClusterClient } from "../mcp/tool.js";

interface FakeTask {
  task: Task;
  request: RunRequest;
  events: RunEvent[];
  wake: Set<() => void>;
  /** The patch GetChanges sends, once the task ended with changes. */
  patch?: Uint8Array;
}

/** What UploadWorkspace was sent. */
export interface FakeUpload {
  id: string;
  header: UploadHeader;
  data: Buffer;
  /** Messages it came in, header included. */
  messages: number;
}

export class FakeCluster {
  readonly calls: { method: string; request: unknown }[] = [];
  readonly tasks = new Map<string, FakeTask>();
  /** Workers: the first `capacity` tasks are placed on w1, w2 in turn; the rest queue. */
  workers = ["w1", "w2"];
  readonly uploads: FakeUpload[] = [];
  /** Bytes of a patch GetChanges sends in one message. */
  changesChunkBytes = 1024;
  /** Messages GetChanges sent (a reader that stops early is sent fewer). */
  changesMessagesSent = 0;
  private next = 0;

  private notFound(taskId: string): ConnectError {
    return new ConnectError(`task ${taskId} not found; list tasks with \`cc ps --all\`; ended tasks are kept only for a while`, Code.NotFound);
  }

  private get(taskId: string): FakeTask {
    const t = this.tasks.get(taskId);
    if (!t) throw this.notFound(taskId);
    return t;
  }

  private append(t: FakeTask, event: RunEvent["event"]): void {
    const seq = BigInt(t.events.length + 1);
    t.events.push(create(RunEventSchema, { taskId: t.task.id, seq, time: timestampNow(), event }));
    t.task.lastSeq = seq;
    for (const wake of t.wake) wake();
  }

  /** Ends a task as claude would, with its final answer (and, in a git workspace, its changes and their patch). */
  finish(taskId: string, result: string, opts: { isError?: boolean; costUsd?: number; changes?: MessageInitShape<typeof ChangesSummarySchema>; patch?: string | Uint8Array } = {}): void {
    const t = this.get(taskId);
    const patch = typeof opts.patch === "string" ? Buffer.from(opts.patch) : opts.patch;
    if (patch) t.patch = patch;
    const exited = create(ExitedSchema, {
      exitCode: 0,
      reason: ExitReason.COMPLETED,
      result: { result, isError: opts.isError === true, totalCostUsd: opts.costUsd ?? 0.01, numTurns: 2, sessionId: `session-${taskId}` },
      ...(opts.changes ? { changes: create(ChangesSummarySchema, { ...opts.changes, patchBytes: BigInt(patch?.length ?? 0) }) } : {}),
    });
    t.task.exit = exited;
    t.task.status = opts.isError ? TaskStatus.FAILED : TaskStatus.SUCCEEDED;
    t.task.endedAt = timestampNow();
    t.task.pendingPermissions = [];
    this.append(t, { case: "exited", value: exited });
  }

  /** The task's claude asks to use a tool. */
  ask(taskId: string, requestId: string, summary = "Bash(rm -rf build)"): PermissionRequest {
    const t = this.get(taskId);
    const request = create(PermissionRequestSchema, { requestId, toolName: "Bash", inputJson: '{"command":"rm -rf build"}', summary, expiresAt: timestampNow() });
    t.task.pendingPermissions.push(request);
    this.append(t, { case: "permissionRequest", value: request });
    return request;
  }

  /** Some claude output, for task_output. */
  say(taskId: string, text: string): void {
    const json = JSON.stringify({ type: "assistant", message: { id: `m${this.get(taskId).events.length}`, content: [{ type: "text", text }] } });
    this.append(this.get(taskId), { case: "message", value: create(ClaudeMessageSchema, { type: "assistant", json }) });
  }

  private async *follow(t: FakeTask, afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    let next = Number(afterSeq);
    for (;;) {
      while (next < t.events.length) {
        const event = t.events[next++]!;
        yield event;
        if (event.event.case === "exited") return;
      }
      if (t.task.exit) return;
      await new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(new ConnectError("aborted", Code.Canceled));
        const wake = () => {
          t.wake.delete(wake);
          resolve();
        };
        t.wake.add(wake);
        signal?.addEventListener("abort", () => {
          t.wake.delete(wake);
          reject(new ConnectError("aborted", Code.Canceled));
        }, { once: true });
      });
    }
  }

  readonly client: ClusterClient = {
    run: ((request: RunRequest, opts?: { signal?: AbortSignal }) => {
      this.calls.push({ method: "run", request });
      const id = `t${++this.next}`;
      const upload = request.workspace?.source.case === "upload" ? request.workspace.source.value.uploadId : undefined;
      // A task on an upload runs where the upload is, as the router places it.
      const worker = upload ? "w1" : (this.workers[(this.next - 1) % this.workers.length] ?? "");
      const t: FakeTask = {
        task: create(TaskSchema, { id, status: TaskStatus.RUNNING, workerId: worker, promptSummary: request.prompt.slice(0, 200), agent: request.agent, createdAt: timestampNow(), detach: request.detach }),
        request,
        events: [],
        wake: new Set(),
      };
      this.tasks.set(id, t);
      this.append(t, { case: "started", value: create(StartedSchema, { workerId: worker, pid: 100 + this.next, attempt: 1 }) });
      return this.follow(t, 0n, opts?.signal);
    }) as unknown as ClusterClient["run"],
    attach: ((req: { taskId: string; afterSeq: bigint }, opts?: { signal?: AbortSignal }) => {
      this.calls.push({ method: "attach", request: req });
      return this.follow(this.get(req.taskId), req.afterSeq, opts?.signal);
    }) as unknown as ClusterClient["attach"],
    getTask: (async (req: { taskId: string }) => {
      this.calls.push({ method: "getTask", request: req });
      return create(TaskSchema, this.get(req.taskId).task);
    }) as unknown as ClusterClient["getTask"],
    listTasks: (async (req: { statuses: TaskStatus[]; limit: number }) => {
      this.calls.push({ method: "listTasks", request: req });
      const all = [...this.tasks.values()].map((t) => t.task).reverse();
      const tasks = all.filter((t) => req.statuses.length === 0 || req.statuses.includes(t.status)).slice(0, req.limit || 50);
      return { tasks };
    }) as unknown as ClusterClient["listTasks"],
    listWorkers: (async () => {
      this.calls.push({ method: "listWorkers", request: {} });
      return {
        workers: this.workers.map((id) => create(WorkerRecordSchema, { id, health: WorkerHealth.ONLINE, assigned: [...this.tasks.values()].filter((t) => t.task.workerId === id && !t.task.exit).length, info: { capacity: 2, claudeVersion: "2.1.330 (Claude Code)", labels: { zone: id } } })),
      };
    }) as unknown as ClusterClient["listWorkers"],
    cancelTask: (async (req: { taskId: string; reason: string }) => {
      this.calls.push({ method: "cancelTask", request: req });
      const t = this.get(req.taskId);
      if (!t.task.exit) {
        t.task.exit = create(ExitedSchema, { exitCode: -1, reason: ExitReason.CANCELLED, message: `cancelled: ${req.reason}` });
        t.task.status = TaskStatus.CANCELLED;
        this.append(t, { case: "exited", value: t.task.exit });
      }
      return create(TaskSchema, t.task);
    }) as unknown as ClusterClient["cancelTask"],
    uploadWorkspace: (async (messages: AsyncIterable<UploadWorkspaceRequest>) => {
      let header: UploadHeader | undefined;
      const chunks: Buffer[] = [];
      let count = 0;
      for await (const m of messages) {
        count += 1;
        if (m.part.case === "header") header = m.part.value;
        else if (m.part.case === "chunk") chunks.push(Buffer.from(m.part.value));
      }
      if (!header) throw new ConnectError("header: the first message of an upload must be its header", Code.InvalidArgument);
      const upload: FakeUpload = { id: `u${this.uploads.length + 1}`, header, data: Buffer.concat(chunks), messages: count };
      this.uploads.push(upload);
      this.calls.push({ method: "uploadWorkspace", request: header });
      return create(UploadWorkspaceResponseSchema, { uploadId: upload.id, workerId: "w1", size: BigInt(upload.data.length) });
    }) as unknown as ClusterClient["uploadWorkspace"],
    getChanges: ((req: { taskId: string; format: ChangesFormat }, opts?: { signal?: AbortSignal }) => {
      this.calls.push({ method: "getChanges", request: req });
      const t = this.get(req.taskId);
      const changes = t.task.exit?.changes;
      if (!changes) throw new ConnectError(`task ${req.taskId} did not run in a git workspace of its own, so it has no recorded changes`, Code.FailedPrecondition);
      const patch = t.patch ?? new Uint8Array();
      const self = this;
      return (async function* (): AsyncGenerator<ChangesChunk> {
        self.changesMessagesSent += 1;
        yield create(ChangesChunkSchema, { part: { case: "header", value: { summary: changes, format: ChangesFormat.PATCH, size: BigInt(patch.length) } } });
        for (let at = 0; at < patch.length; at += self.changesChunkBytes) {
          if (opts?.signal?.aborted) throw new ConnectError("aborted", Code.Canceled);
          self.changesMessagesSent += 1;
          yield create(ChangesChunkSchema, { part: { case: "data", value: patch.subarray(at, at + self.changesChunkBytes) } });
        }
      })();
    }) as unknown as ClusterClient["getChanges"],
    sendInput: (async (req: unknown) => {
      this.calls.push({ method: "sendInput", request: req });
      return {};
    }) as unknown as ClusterClient["sendInput"],
    answerPermission: (async (req: { taskId: string; requestId: string; decision: PermissionDecision; message: string }) => {
      this.calls.push({ method: "answerPermission", request: req });
      const t = this.get(req.taskId);
      const index = t.task.pendingPermissions.findIndex((p) => p.requestId === req.requestId);
      if (index === -1) throw new ConnectError(`task ${req.taskId} is not waiting for approval`, Code.FailedPrecondition);
      t.task.pendingPermissions.splice(index, 1);
      const resolved = create(PermissionResolvedSchema, { requestId: req.requestId, decision: req.decision, resolution: PermissionResolution.ANSWERED, message: req.message, toolName: "Bash" });
      this.append(t, { case: "permissionResolved", value: resolved });
      return { resolved };
    }) as unknown as ClusterClient["answerPermission"],
  };

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}
