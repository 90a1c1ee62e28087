// The text header of a git bundle (gitformat-bundle(5)): its signature, capabilities, prerequisites ("-<id>") and
// refs ("<id> <name>"), up to the blank line before the pack. Read without git, to check an upload as it lands.
import { open } from "node:fs/promises";

export interface BundleHeader {
  version: 2 | 3;
  /** Commits the receiving repository must have already. */
  prerequisites: string[];
  refs: { commit: string; name: string }[];
}

const MAX_HEADER_BYTES = 1024 * 1024;
const ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** The header of the bundle in `file`, or undefined when it is not a bundle. */
export async function readBundleHeader(file: string): Promise<BundleHeader | undefined> {
  const handle = await open(file, "r");
  let text: string;
  try {
    const buf = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead);
    const end = head.indexOf("\n\n");
    if (end < 0) return undefined;
    text = head.subarray(0, end).toString("utf8");
  } finally {
    await handle.close();
  }
  return parseBundleHeader(text);
}

export function parseBundleHeader(text: string): BundleHeader | undefined {
  const lines = text.split("\n");
  const signature = lines.shift();
  const version = signature === "# v2 git bundle" ? 2 : signature === "# v3 git bundle" ? 3 : undefined;
  if (version === undefined) return undefined;
  const header: BundleHeader = { version, prerequisites: [], refs: [] };
  for (const line of lines) {
    if (line.startsWith("@") && version === 3) continue;
    if (line.startsWith("-")) {
      const id = line.slice(1).split(" ", 1)[0]!;
      if (!ID.test(id)) return undefined;
      header.prerequisites.push(id);
      continue;
    }
    const space = line.indexOf(" ");
    const id = line.slice(0, space);
    if (space < 0 || !ID.test(id)) return undefined;
    header.refs.push({ commit: id, name: line.slice(space + 1) });
  }
  return header;
}
