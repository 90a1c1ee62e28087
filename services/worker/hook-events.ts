// Claude Code hooks tell us exactly when an interactive turn starts and ends, with no screen scraping. The worker
// passes claude `--settings` whose HTTP hooks POST each hook's JSON payload to the worker (claude makes the request
// itself: no shell, no environment variable, nothing a tool inherits). A task's commands can reach the same address,
// so an event is taken only from a connection claude's own process holds (connection-owner.ts): a command that posts
// a forged "Stop" is refused. (claude runs no HTTP hooks for SessionStart; the session id comes with every event.)
//
// One server for the worker: on 127.0.0.1 for tasks that share the worker's network, and on a unix socket per task
// bridged into a task's own network namespace.
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import type { Logger } from "../common/logger.js";

const HOOKED = ["UserPromptSubmit", "Stop"] as const;
const MAX_BODY_BYTES = 1024 * 1024;
const PATH_PREFIX = "/hooks/";
/** Hook connections over the worker's loopback at once, for every task together (claude holds one or two each). */
const MAX_LOOPBACK_CONNECTIONS = 1024;

/** The `--settings` JSON that installs the relay hooks, posting to `url`. */
export function hookSettingsJson(url: string): string {
  const relay = { type: "http", url, timeout: 10 };
  return JSON.stringify({ hooks: Object.fromEntries(HOOKED.map((name) => [name, [{ hooks: [relay] }]])) });
}

export interface HookEvent {
  /** `hook_event_name` from the payload: UserPromptSubmit, Stop. */
  name: string;
  sessionId: string;
  payload: Record<string, unknown>;
}

/** How the event reached the worker. */
export interface HookConnection {
  /** The client's port, for a connection over the worker's loopback (the worker is the other end). */
  remotePort?: number;
  /** The worker's own port it came in on. */
  localPort?: number;
}

export interface HookChannel {
  onEvent(event: HookEvent): void;
  /** Whether the connection is claude's own (not one of the commands it runs). */
  fromClaude(connection: HookConnection): boolean;
}

interface Registered {
  channel: HookChannel;
  socket?: { path: string; server: net.Server };
}

export class HookEvents {
  private readonly server: http.Server;
  private tcp: net.Server | undefined;
  private port = 0;
  private readonly channels = new Map<string, Registered>();
  /** Connections that came in through a task's socket, and whose they are. */
  private readonly socketTag = new WeakMap<net.Socket, string>();

  constructor(private readonly logger: Logger) {
    this.server = http.createServer((req, res) => this.receive(req, res));
  }

  async listen(): Promise<void> {
    const tcp = net.createServer((socket) => this.server.emit("connection", socket));
    tcp.maxConnections = MAX_LOOPBACK_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(0, "127.0.0.1", () => resolve());
    });
    this.tcp = tcp;
    this.port = (tcp.address() as AddressInfo).port;
  }

  /** The hook URL for `tag`: on the worker's loopback, or, with `bridgePort`, inside the task's own network. */
  url(tag: string, bridgePort?: number): string {
    return `http://127.0.0.1:${bridgePort ?? this.port}${PATH_PREFIX}${encodeURIComponent(tag)}`;
  }

  open(tag: string, channel: HookChannel): void {
    this.channels.set(tag, { channel });
  }

  /** Also takes `tag`'s events on a unix socket (bridged into the task's network namespace); bound when this returns. */
  listenForTask(tag: string, path: string): void {
    const registered = this.channels.get(tag);
    if (!registered) throw new Error(`hook events: ${tag} is not open`);
    const server = net.createServer((socket) => {
      this.socketTag.set(socket, tag);
      this.server.emit("connection", socket);
    });
    server.maxConnections = 16;
    server.on("error", (err) => this.logger.error({ tag, err }, "hook events: the task's socket failed"));
    server.listen(path);
    registered.socket = { path, server };
  }

  close(tag: string): void {
    const registered = this.channels.get(tag);
    this.channels.delete(tag);
    if (registered?.socket) {
      registered.socket.server.close();
      rmSync(registered.socket.path, { force: true });
    }
  }

  async closeAll(): Promise<void> {
    for (const tag of [...this.channels.keys()]) this.close(tag);
    this.tcp?.close();
    this.server.closeAllConnections();
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = (status: number) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end("{}");
    };
    const path = req.url ?? "";
    const tag = path.startsWith(PATH_PREFIX) ? decodeURIComponent(path.slice(PATH_PREFIX.length)) : "";
    const viaSocket = this.socketTag.get(req.socket);
    const registered = this.channels.get(tag);
    if (req.method !== "POST" || !registered || (viaSocket !== undefined && viaSocket !== tag)) {
      req.resume();
      return answer(404);
    }
    const connection: HookConnection = viaSocket === undefined ? { remotePort: req.socket.remotePort, localPort: req.socket.localPort } : {};
    // Checked while the request is open: the client's socket is still there to be found.
    if (!registered.channel.fromClaude(connection)) {
      req.resume();
      this.logger.warn({ tag }, "hook event refused: it did not come from the task's claude");
      return answer(403);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.once("end", () => {
      answer(size <= MAX_BODY_BYTES ? 200 : 413);
      if (size > MAX_BODY_BYTES) return;
      const event = parseHookEvent(Buffer.concat(chunks).toString("utf8"));
      if (event) registered.channel.onEvent(event);
    });
  }
}

export function parseHookEvent(text: string): HookEvent | undefined {
  try {
    const payload = JSON.parse(text) as Record<string, unknown>;
    if (!payload || typeof payload !== "object") return undefined;
    const name = typeof payload["hook_event_name"] === "string" ? payload["hook_event_name"] : "";
    const sessionId = typeof payload["session_id"] === "string" ? payload["session_id"] : "";
    return { name, sessionId, payload };
  } catch {
    return undefined; // not a payload of ours
  }
}
