// task_output: what a task printed, as text a model can read: the end of its transcript (the assistant's text,
// one line per tool call, tool errors), bounded, or its whole final answer.
import { z } from "zod";
import { OutputStream, RunMode } from "../../../gen/claudecluster/v1/run_pb.js";
import { TextRenderer } from "../../lib/render.js";
import { PLAIN, stripAnsi } from "../../lib/style.js";
import { ended, head, statusWord } from "../shapes.js";
import { defineTool } from "../tool.js";

const DEFAULT_TAIL = 4000;
const MAX_TAIL = 50_000;
const MAX_RESULT = 200_000;

/** Keeps the last `max` characters of what is written, and counts the rest. */
class Tail {
  private text = "";
  total = 0;
  constructor(private readonly max: number) {}
  write(s: string): void {
    this.total += s.length;
    this.text += s;
    // Trimmed now and then, not on every write: the kept text stays under twice the bound.
    if (this.text.length > this.max * 2) this.text = this.text.slice(this.text.length - this.max);
  }
  value(): { text: string; truncated: boolean; omittedChars: number } {
    const text = this.text.length > this.max ? this.text.slice(this.text.length - this.max) : this.text;
    return { text, truncated: this.total > text.length, omittedChars: this.total - text.length };
  }
}

export const taskOutput = defineTool({
  name: "task_output",
  title: "Read a task's output",
  description: [
    "Returns the end of a task's transcript so far (its text, one line per tool call, tool errors), at most tail_chars characters; truncated and omitted_chars say what was left out.",
    "With full_result=true it returns the task's whole final answer instead (up to 200000 characters), once the task has ended.",
  ].join(" "),
  input: {
    task_id: z.string().min(1),
    tail_chars: z.number().int().min(100).max(MAX_TAIL).default(DEFAULT_TAIL).describe(`Characters from the end of the transcript (default ${DEFAULT_TAIL}, at most ${MAX_TAIL}).`),
    full_result: z.boolean().default(false).describe("Return the whole final answer instead of the transcript's end."),
  },
  output: {
    task_id: z.string(),
    status: z.string(),
    text: z.string().describe("The transcript's end, or the final answer with full_result."),
    truncated: z.boolean().describe("Part of the text was left out (see omitted_chars)."),
    omitted_chars: z.number(),
  },
  readOnly: true,
  async run(args, ctx) {
    const task = await ctx.client.getTask({ taskId: args.task_id }, { signal: ctx.signal });
    const base = { task_id: task.id, status: statusWord(task.status) };
    if (args.full_result) {
      if (!ended(task)) throw new Error(`task ${task.id} is still ${statusWord(task.status)}: its final answer exists once it ends (wait_tasks waits for that)`);
      const result = head(task.exit?.result?.result ?? "", MAX_RESULT);
      return { structured: { ...base, text: result.text, truncated: result.truncated, omitted_chars: result.omittedChars } };
    }
    const out = new Tail(args.tail_chars);
    const renderer = new TextRenderer(out, { style: PLAIN, width: 200 });
    if (task.lastSeq > 0n) {
      // The log as it stands now: read up to the task's last event, then stop (a running task is not followed).
      const abort = new AbortController();
      const stop = () => abort.abort();
      ctx.signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const event of ctx.client.attach({ taskId: task.id, afterSeq: 0n }, { signal: abort.signal })) {
          const e = event.event;
          if (e.case === "message") renderer.line(e.value.json);
          else if (e.case === "output" && e.value.stream === OutputStream.TERMINAL && task.mode === RunMode.INTERACTIVE) out.write(stripAnsi(Buffer.from(e.value.data).toString("utf8")));
          if (event.seq >= task.lastSeq) break;
        }
      } finally {
        ctx.signal.removeEventListener("abort", stop);
        abort.abort();
      }
      renderer.finish();
    }
    const tail = out.value();
    return { structured: { ...base, text: tail.text, truncated: tail.truncated, omitted_chars: tail.omittedChars } };
  },
});
