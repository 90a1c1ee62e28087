// When `cc run` uploads, and what it shows and sends when it does (against a fake router that takes the stream).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { UsageError } from "clipanion";
import { afterAll, describe, expect, it } from "vitest";
import { RunRequestSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { UploadKind, type UploadWorkspaceRequest, UploadWorkspaceResponseSchema } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { Capture } from "../../testing/fixtures.js";
import { uploadDirFor, uploadForRun } from "./for-run.js";

const root = mkdtempSync(join(tmpdir(), "cc-for-run-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repo = join(root, "repo");
const env = { ...process.env, HOME: root, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" };
execFileSync("git", ["init", "-q", repo], { env });
writeFileSync(join(repo, "a.txt"), "a\n");
execFileSync("git", ["add", "."], { cwd: repo, env });
execFileSync("git", ["commit", "-qm", "a"], { cwd: repo, env });
const plain = mkdtempSync(join(tmpdir(), "cc-for-run-plain-"));
afterAll(() => rmSync(plain, { recursive: true, force: true }));

describe("uploadDirFor", () => {
  it("uploads a git checkout by default against a router, and not otherwise", async () => {
    expect(await uploadDirFor({}, false, repo)).toBe(repo);
    expect(await uploadDirFor({}, true, repo)).toBeUndefined();
    expect(await uploadDirFor({ cwd: "shared" }, false, repo)).toBeUndefined();
    expect(await uploadDirFor({ repo: "https://example.com/r" }, false, repo)).toBeUndefined();
    expect(await uploadDirFor({}, false, plain)).toBeUndefined();
  });

  it("--upload, --upload=DIR and --no-upload decide, and --upload with --cwd is a usage error", async () => {
    expect(await uploadDirFor({ upload: true }, true, repo)).toBe(repo);
    expect(await uploadDirFor({ upload: true, repo: "https://example.com/r" }, false, repo)).toBe(repo);
    expect(await uploadDirFor({ upload: "../elsewhere" }, false, repo)).toBe("../elsewhere");
    expect(await uploadDirFor({ upload: false }, false, repo)).toBeUndefined();
    await expect(uploadDirFor({ upload: true, cwd: "x" }, false, repo)).rejects.toBeInstanceOf(UsageError);
    await expect(uploadDirFor({ upload: "" }, false, repo)).rejects.toThrow("--upload= needs a directory");
  });
});

describe("uploadForRun", () => {
  it("sends the header and the bundle in chunks, shows progress on a terminal, and names the upload in the workspace", async () => {
    const received: UploadWorkspaceRequest[] = [];
    const client = {
      async uploadWorkspace(messages: AsyncIterable<UploadWorkspaceRequest>) {
        for await (const m of messages) received.push(m);
        return create(UploadWorkspaceResponseSchema, { uploadId: "u-1", workerId: "w9" });
      },
    };
    const stderr = new Capture(true);
    const io = { env: {}, stdin: process.stdin, stdout: new Capture(), stderr };
    const request = create(RunRequestSchema, {
      prompt: "x",
      labels: { region: "eu" },
      workspace: { source: { case: "repository", value: { url: "https://example.com/r.git", ref: "main" } }, push: { branch: "b" } },
    });
    const workspace = await uploadForRun(io as never, client as never, repo, request, true);
    expect(workspace.source).toMatchObject({ case: "upload", value: { uploadId: "u-1", origin: { url: "https://example.com/r.git", ref: "main" } } });
    expect(workspace.push?.branch).toBe("b");
    const header = received[0]!.part;
    expect(header.case).toBe("header");
    if (header.case !== "header") return;
    expect(header.value).toMatchObject({ kind: UploadKind.GIT_BUNDLE, labels: { region: "eu" }, snapshot: false });
    const data = Buffer.concat(received.slice(1).map((m) => (m.part.case === "chunk" ? m.part.value : new Uint8Array())));
    expect(data.length).toBe(Number(header.value.size));
    expect(createHash("sha256").update(data).digest("hex")).toBe(header.value.sha256);
    expect(data.subarray(0, 16).toString()).toBe("# v2 git bundle\n");
    expect(stderr.text).toContain("uploading ");
    expect(stderr.text).toMatch(/uploaded the checkout at [0-9a-f]{12} on \w+, [\d.]+ \w*B git bundle to worker w9\n/);
  });
});
