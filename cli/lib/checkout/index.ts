// What `cc run --upload` sends: the local checkout as a git bundle (snapshot.ts, bundle.ts), or a directory outside
// git as a tarball (tarball.ts); prepared in a temporary directory, sent with upload.ts, removed afterwards.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { UploadKind, type UploadHeaderSchema } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { ExitCode } from "../../exit-codes.js";
import { CliError } from "../errors.js";
import { humanBytes } from "../numbers.js";
import { writeBundle } from "./bundle.js";
import { workTreeTop } from "./git.js";
import { snapshotCheckout } from "./snapshot.js";
import { writeTarball } from "./tarball.js";

export { sendUpload, type UploadProgress } from "./upload.js";

export interface PreparedUpload {
  header: MessageInitShape<typeof UploadHeaderSchema>;
  file: string;
  /** What is sent, in a few words. */
  description: string;
  /** The top of the work tree, for a git checkout. */
  top: string | undefined;
  /** The branch checked out, for a git checkout ("" when detached). */
  branch: string;
  cleanup(): Promise<void>;
}

export interface PrepareOptions {
  /** The task's repository (`--repo`): what its branches hold already is left out of the bundle. */
  originUrl?: string | undefined;
}

export async function prepareUpload(dir: string, options: PrepareOptions = {}): Promise<PreparedUpload> {
  const root = resolve(dir);
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) throw new CliError(`--upload: ${dir} is not a directory`, ExitCode.Usage);
  const scratch = await mkdtemp(join(tmpdir(), "cc-upload-"));
  const cleanup = () => rm(scratch, { recursive: true, force: true });
  try {
    const top = await workTreeTop(root);
    if (top) {
      const snapshot = await snapshotCheckout(top);
      const bundle = await writeBundle(snapshot, scratch, options.originUrl);
      const parts = [
        snapshot.head ? `the checkout at ${snapshot.head.slice(0, 12)}${snapshot.branch ? ` on ${snapshot.branch}` : ""}` : "the checkout (no commits yet)",
        snapshot.synthetic && snapshot.head ? "with its uncommitted changes" : "",
        `${humanBytes(bundle.size)} git bundle`,
        bundle.prerequisites.length > 0 ? `without what ${bundle.remote} has` : "",
        bundle.prerequisites.length === 0 && bundle.shallow.length > 0 ? "history one commit deep" : "",
      ].filter(Boolean);
      return {
        header: {
          kind: UploadKind.GIT_BUNDLE,
          size: BigInt(bundle.size),
          sha256: bundle.sha256,
          commit: snapshot.commit,
          snapshot: snapshot.synthetic,
          shallow: bundle.shallow,
        },
        file: bundle.file,
        description: parts.join(", "),
        top,
        branch: snapshot.branch,
        cleanup,
      };
    }
    const tarball = await writeTarball(root, scratch);
    return {
      header: { kind: UploadKind.TARBALL, size: BigInt(tarball.size), sha256: tarball.sha256 },
      file: tarball.file,
      description: `${dir} (${tarball.files} files, ${humanBytes(tarball.size)} tarball)`,
      top: undefined,
      branch: "",
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
