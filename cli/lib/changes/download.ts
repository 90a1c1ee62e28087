// Fetching a task's recorded changes (GetChanges) as they stream: each chunk is written before the next is read, so
// a patch or bundle of any size passes through cc without being held.
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import type { Writable } from "node:stream";
import { ChangesFormat, type ChangesHeader } from "../../../gen/claudecluster/v1/transfer_pb.js";
import type { RouterClient } from "../client.js";

export type ChangesClient = Pick<RouterClient, "getChanges">;

/** Streams the changes into `sink` (which is not ended); resolves with the header. */
export async function downloadChanges(client: ChangesClient, taskId: string, format: ChangesFormat, sink: (chunk: Uint8Array) => Promise<void> | void): Promise<ChangesHeader> {
  let header: ChangesHeader | undefined;
  for await (const message of client.getChanges({ taskId, format })) {
    if (message.part.case === "header") header = message.part.value;
    else if (message.part.case === "data") await sink(message.part.value);
  }
  if (!header) throw new Error(`the router sent the changes of task ${taskId} without a header`);
  return header;
}

/** A sink that writes to a stream, waiting for it to drain when it is full. */
export function streamSink(stream: Writable): (chunk: Uint8Array) => Promise<void> {
  return async (chunk) => {
    if (!stream.write(chunk)) await once(stream, "drain");
  };
}

export async function downloadToFile(client: ChangesClient, taskId: string, format: ChangesFormat, file: string): Promise<ChangesHeader> {
  const out = createWriteStream(file, { flags: "wx" });
  try {
    const header = await downloadChanges(client, taskId, format, streamSink(out));
    out.end();
    await once(out, "finish");
    return header;
  } catch (err) {
    out.destroy();
    throw err;
  }
}

export { ChangesFormat };
