// How the servers tell a quiet HTTP/2 connection from a dead one. A task can print nothing for an hour (a long model
// turn, `npm test` in a Bash call, an interactive task at its prompt), so silence on a stream is never a reason to end
// it. Instead each session is pinged: a peer that does not answer within the timeout is gone (crashed, unplugged, its
// host asleep) and the session is destroyed, which ends its streams the way a reset connection would. A session with
// no stream open for the idle timeout is closed with GOAWAY, as a keep-alive connection would be.
//
// Node's own `Http2Server.setTimeout` cannot be used for either: it measures inactivity of the whole session, open
// streams or not, and so cut quiet streams after two minutes.
import type * as http2 from "node:http2";

export interface SessionLiveness {
  /** A session with no open stream for this long is closed (GOAWAY). */
  idleTimeoutMs: number;
  /** A PING is sent this long after the previous one was answered. */
  pingIntervalMs: number;
  /** A PING unanswered for this long means the peer is gone: the session and its streams are destroyed. */
  pingTimeoutMs: number;
}

export const DEFAULT_LIVENESS: SessionLiveness = { idleTimeoutMs: 120_000, pingIntervalMs: 30_000, pingTimeoutMs: 20_000 };

/** Why a session was ended, for the caller's log or test. */
export type SessionEnd = "idle" | "ping-timeout";

/** Watches one server session until it closes; `ended` is told when this module ends it. */
export function watchSession(session: http2.ServerHttp2Session, o: SessionLiveness, ended?: (why: SessionEnd) => void): void {
  let open = 0;
  let idle: NodeJS.Timeout | undefined;
  let nextPing: NodeJS.Timeout | undefined;
  let unanswered: NodeJS.Timeout | undefined;
  const armIdle = () => {
    idle = setTimeout(() => {
      ended?.("idle");
      session.close();
    }, o.idleTimeoutMs);
  };
  const schedulePing = () => {
    nextPing = setTimeout(ping, o.pingIntervalMs);
  };
  const ping = () => {
    if (session.closed || session.destroyed) return;
    unanswered = setTimeout(() => {
      ended?.("ping-timeout");
      session.destroy();
    }, o.pingTimeoutMs);
    // An error means the session is closing; the close handler clears the timers.
    session.ping((err) => {
      clearTimeout(unanswered);
      if (!err) schedulePing();
    });
  };
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open += 1;
    clearTimeout(idle);
    stream.once("close", () => {
      open -= 1;
      if (open === 0 && !session.closed) armIdle();
    });
  });
  session.once("close", () => {
    clearTimeout(idle);
    clearTimeout(nextPing);
    clearTimeout(unanswered);
  });
  armIdle();
  schedulePing();
}
