// GetTranscript: hands a session's kept transcript to the router when its task has ended, so the session can
// continue on any worker (the router keeps it: services/router/sessions/). The worker keeps its own copy as well
// (task-home/transcripts.ts), for tasks that resume here without the router's.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { SessionTranscriptSchema } from "../../gen/claudecluster/v1/run_pb.js";
import type { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { invalidArgument, notFound, resourceExhausted } from "../common/errors.js";
import { isSessionId, type TranscriptStore, TranscriptTooLarge } from "./task-home/index.js";

export type TranscriptMethod = "getTranscript";

export function transcriptService(transcripts: TranscriptStore, maxTranscriptBytes: number): Pick<ServiceImpl<typeof WorkerService>, TranscriptMethod> {
  return {
    getTranscript(req) {
      if (!isSessionId(req.sessionId)) throw invalidArgument("session_id", "must be a claude session id (letters, digits and '-')");
      const maxBytes = req.maxBytes > 0n && req.maxBytes < BigInt(maxTranscriptBytes) ? Number(req.maxBytes) : maxTranscriptBytes;
      let jsonl: Buffer | undefined;
      try {
        jsonl = transcripts.read(req.sessionId, maxBytes);
      } catch (err) {
        if (err instanceof TranscriptTooLarge) {
          throw resourceExhausted(`the transcript of session ${req.sessionId} is ${err.bytes} bytes, over the ${err.maxBytes} bytes allowed (CC_MAX_TRANSCRIPT_BYTES)`);
        }
        throw err;
      }
      if (!jsonl) throw notFound(`session ${req.sessionId}`, "this worker has no transcript of it (it ran elsewhere, or has not ended yet)");
      return { transcript: create(SessionTranscriptSchema, { sessionId: req.sessionId, jsonl }) };
    },
  };
}
