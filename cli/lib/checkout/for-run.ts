// `cc run --upload`: whether to send the local checkout, and sending it before the task is submitted.
//
// The default: inside a git work tree, against a router that is not the one started for this call, with neither
// --cwd nor --repo, the checkout is uploaded (a remote claude that cannot see the code it is asked about is of no
// use). --no-upload turns that off; --upload turns it on elsewhere (the embedded cluster, with --repo: then only what
// the repository lacks is sent); --upload=DIR sends another directory (a tarball when it is not in git).
import { Code, ConnectError } from "@connectrpc/connect";
import { UsageError } from "clipanion";
import type { RunRequest, Workspace } from "../../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../../exit-codes.js";
import type { RouterClient } from "../client.js";
import { CliError } from "../errors.js";
import type { CommandIO } from "../io.js";
import { humanBytes } from "../numbers.js";
import { StatusLine } from "../status-line.js";
import { styleFor } from "../style.js";
import { workTreeTop } from "./git.js";
import { uploadAsWorkspace } from "./workspace.js";

export interface UploadFlags {
  /** true: the current directory; a string: that directory; false: --no-upload; undefined: the default. */
  upload?: boolean | string | undefined;
  cwd?: string | undefined;
  repo?: string | undefined;
}

/** The directory to upload, or undefined for none. */
export async function uploadDirFor(flags: UploadFlags, embedded: boolean, here: string): Promise<string | undefined> {
  if (flags.upload === false) return undefined;
  if (flags.upload !== undefined && flags.cwd !== undefined) {
    throw new UsageError("--upload and --cwd do not go together: an upload is unpacked into a fresh directory of the task's own");
  }
  if (flags.upload === true) return here;
  if (typeof flags.upload === "string") {
    if (flags.upload === "") throw new UsageError("--upload= needs a directory, e.g. --upload=. or --upload=../other");
    return flags.upload;
  }
  if (embedded || flags.cwd !== undefined || flags.repo !== undefined) return undefined;
  return (await workTreeTop(here)) ? here : undefined;
}

/**
 * Prepares and sends the upload, with progress on a terminal, and returns the request's workspace naming it (the
 * `--repo` repository becomes its origin; `--push` stays).
 */
export async function uploadForRun(io: CommandIO, client: Pick<RouterClient, "uploadWorkspace">, dir: string, request: RunRequest, show: boolean): Promise<Workspace> {
  const status = new StatusLine(io.stderr, styleFor(io.stderr, io.env));
  if (show) status.set(`preparing the upload of ${dir === "." ? "the checkout" : dir}…`);
  let description = dir;
  let lastDraw = 0;
  try {
    const sent = await uploadAsWorkspace(client, dir, request, {
      onPrepared: (prepared) => (description = prepared.description),
      onProgress: (bytes, total) => {
        const now = Date.now();
        if (!show || (now - lastDraw < 100 && bytes < total)) return;
        lastDraw = now;
        status.set(`uploading ${humanBytes(bytes)} of ${humanBytes(total)} (${Math.floor((bytes / Math.max(1, total)) * 100)}%)`);
      },
    }).catch((err: unknown) => {
      // Too big: say how to send nothing at all, too.
      if (err instanceof ConnectError && err.code === Code.ResourceExhausted) {
        throw new CliError(`the upload of ${description} was refused: ${err.rawMessage}; or run with --no-upload to send nothing`, ExitCode.Refused);
      }
      throw err;
    });
    status.clear();
    if (show) io.stderr.write(styleFor(io.stderr, io.env).dim(`uploaded ${sent.description} to worker ${sent.response.workerId}\n`));
    return sent.workspace;
  } finally {
    status.clear();
  }
}
