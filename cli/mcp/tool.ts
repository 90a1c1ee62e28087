// What a tool of `cc mcp` is: a name, words a model can act on, JSON schemas for its input and output (declared
// with zod, which the MCP SDK turns into JSON Schema and checks calls against), and a function over the narrow
// client below. Each tool lives in a file of its own under tools/; server.ts registers them all.
import type { z } from "zod";
import type { RouterClient } from "../lib/client.js";

/** The part of the router a tool may use: plain RPCs, so tests can hand in a fake router. */
export type ClusterClient = Pick<
  RouterClient,
  "run" | "attach" | "getTask" | "listTasks" | "listWorkers" | "cancelTask" | "sendInput" | "answerPermission" | "uploadWorkspace" | "getChanges"
>;

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface ToolContext {
  client: ClusterClient;
  /** Aborts when the MCP client cancels the call or goes away. */
  signal: AbortSignal;
  /** Sends an MCP progress notification, when the client asked for them (a progressToken); otherwise nothing. */
  progress(progress: number, total: number | undefined, message: string): Promise<void>;
  clock: Clock;
  /** Defaults for new tasks (the embedded cluster runs them in the directory cc mcp started in). */
  taskDefaults: { directory?: string };
  /** The directory cc mcp runs in: a relative `upload` is taken from here. */
  cwd: string;
}

export interface ToolAnswer<O> {
  /** The structured result, matching the tool's output schema; also sent as JSON text for older clients. */
  structured: O;
}

export interface Tool<I extends z.ZodRawShape = z.ZodRawShape, O extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  /** Reads only: Claude Code may run several at once. */
  readOnly: boolean;
  /** May stop or undo work (cancel_task). */
  destructive?: boolean;
  run(args: z.infer<z.ZodObject<I>>, ctx: ToolContext): Promise<ToolAnswer<z.infer<z.ZodObject<O>>>>;
}

/** Declares a tool with its types checked against its schemas. */
export function defineTool<I extends z.ZodRawShape, O extends z.ZodRawShape>(tool: Tool<I, O>): Tool<I, O> {
  return tool;
}
