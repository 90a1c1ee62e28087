// GetTranscript over a real store: the kept transcript, within the smaller of the caller's and the worker's bound,
// and each refusal's code.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GetTranscriptRequestSchema } from "../../gen/claudecluster/v1/worker_pb.js";
import { TranscriptStore } from "./task-home/index.js";
import { transcriptService } from "./transcript-service.js";

describe("GetTranscript", () => {
  let root: string;
  let service: ReturnType<typeof transcriptService>;
  const ask = async (sessionId: string, maxBytes = 0n) => service.getTranscript(create(GetTranscriptRequestSchema, { sessionId, maxBytes }), {} as HandlerContext);
  const refusal = async (p: Promise<unknown>) => {
    const err = (await p.then(() => undefined, (e: unknown) => e)) as ConnectError;
    expect(err).toBeInstanceOf(ConnectError);
    return [Code[err.code], err.rawMessage];
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cc-transcript-service-"));
    mkdirSync(join(root, "projects", "-ws-a"), { recursive: true });
    writeFileSync(join(root, "projects", "-ws-a", "s1.jsonl"), "x".repeat(2000));
    service = transcriptService(new TranscriptStore(join(root, "projects")), 4096);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("answers with the kept transcript", async () => {
    const answer = await ask("s1");
    expect([answer.transcript?.sessionId, answer.transcript?.jsonl?.length]).toEqual(["s1", 2000]);
  });

  it("refuses one over the caller's bound, an unknown session and a malformed id", async () => {
    expect(await refusal(ask("s1", 1999n))).toEqual(["ResourceExhausted", "the transcript of session s1 is 2000 bytes, over the 1999 bytes allowed (CC_MAX_TRANSCRIPT_BYTES)"]);
    expect(await refusal(ask("s2"))).toEqual(["NotFound", "session s2 not found; this worker has no transcript of it (it ran elsewhere, or has not ended yet)"]);
    expect(await refusal(ask("../s1"))).toEqual(["InvalidArgument", "session_id: must be a claude session id (letters, digits and '-')"]);
  });

  it("never hands out more than the worker's own bound, whatever the caller asks", async () => {
    service = transcriptService(new TranscriptStore(join(root, "projects")), 1024);
    expect((await refusal(ask("s1", 1_000_000n)))[0]).toBe("ResourceExhausted");
  });
});
