// send_input: types into an interactive task's terminal.
import { z } from "zod";
import { defineTool } from "../tool.js";

export const sendInput = defineTool({
  name: "send_input",
  title: "Type into an interactive task",
  description: "Types text into an interactive task's terminal (a task started interactively, e.g. with `cc run -i`), followed by Enter unless enter=false. Headless tasks, the kind run_task starts, take no input.",
  input: {
    task_id: z.string().min(1),
    text: z.string().max(65_536).describe("What to type."),
    enter: z.boolean().default(true).describe("Press Enter after the text (default true)."),
  },
  output: {
    task_id: z.string(),
    sent_bytes: z.number(),
  },
  readOnly: false,
  async run(args, ctx) {
    const text = args.enter ? `${args.text}\r` : args.text;
    await ctx.client.sendInput({ taskId: args.task_id, input: { case: "text", value: text } }, { signal: ctx.signal });
    return { structured: { task_id: args.task_id, sent_bytes: Buffer.byteLength(text) } };
  },
});
