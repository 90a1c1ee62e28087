#!/usr/bin/env python3
"""Run one Claude Code task on a ClaudeCluster router and stream it, with plain gRPC from Python.

    clients/python/generate.sh                      # once: the stubs go to clients/python/gen
    python3 clients/python/cc_run.py --target 127.0.0.1:8400 [--token T] "explain this repository"

Calls RouterService.Run (a server stream of RunEvent) and prints, as they arrive: the assistant's text on stdout,
each tool call as a `-> Tool {input}` line on stdout, and the task's start, queueing and end on stderr. Exits with
claude's exit code (1 when claude was stopped by a signal or never started). A gRPC error (unreachable router, wrong
token, bad request...) prints one line `cc_run: CODE: details` on stderr and exits 1; Ctrl-C cancels the call and
exits 130 (the router cancels the task after its grace period unless another caller attaches).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Iterator, Optional, Sequence

# The generated modules: clients/python/gen by default; entries on PYTHONPATH come first and win.
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
try:
    import grpc
    from claudecluster.v1 import router_pb2_grpc, run_pb2
except ImportError as err:
    sys.exit(f"cc_run: {err}: install grpcio and protobuf, then run clients/python/generate.sh (see its README)")


def channel_for(target: str) -> grpc.Channel:
    """`host:port` or `http://host:port` is gRPC over cleartext HTTP/2 (h2c); `https://host` uses TLS."""
    if target.startswith("https://"):
        host = target[len("https://"):].rstrip("/")
        return grpc.secure_channel(host if ":" in host else host + ":443", grpc.ssl_channel_credentials())
    return grpc.insecure_channel(target.removeprefix("http://").rstrip("/"))


def print_event(event: run_pb2.RunEvent) -> None:
    """Prints one event: what the model writes on stdout, the rest on stderr."""
    case = event.WhichOneof("event")
    if case == "started":
        s = event.started
        print(f"[started task {event.task_id} on {s.worker_id}, claude {s.claude_version}]", file=sys.stderr)
    elif case == "status" and event.status.phase == run_pb2.PHASE_QUEUED:
        print(f"[queued, position {event.status.queue_position}: {event.status.detail}]", file=sys.stderr)
    elif case == "output" and event.output.stream == run_pb2.OUTPUT_STREAM_STDERR:
        sys.stderr.flush()
        sys.stderr.buffer.write(event.output.data)
        sys.stderr.buffer.flush()
    elif case == "message" and event.message.WhichOneof("body") == "assistant":
        for block in event.message.assistant.content:
            kind = block.WhichOneof("block")
            if kind == "text":
                print(block.text.text, flush=True)
            elif kind == "tool_use":
                print(f"-> {block.tool_use.name} {block.tool_use.input_json}", flush=True)
    elif case == "message" and event.message.WhichOneof("body") == "result":
        r = event.message.result
        print(f"[result: {r.subtype}, {r.num_turns} turn(s), ${r.total_cost_usd:.4f}, session {r.session_id}]",
              file=sys.stderr)
        if r.is_error and r.result:
            print(r.result, file=sys.stderr)
    elif case == "exited":
        e = event.exited
        reason = run_pb2.ExitReason.Name(e.reason).removeprefix("EXIT_REASON_").lower()
        extra = f": {e.message}" if e.message else ""
        print(f"[exited {e.exit_code} ({reason}){extra}]", file=sys.stderr)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default=os.environ.get("CC_ROUTER_URL", "127.0.0.1:8400"),
                        help="router: host:port, http://host:port or https://host (default $CC_ROUTER_URL or %(default)s)")
    parser.add_argument("--token", default=os.environ.get("CC_TOKEN", ""), help="bearer token (default $CC_TOKEN)")
    parser.add_argument("--allowed-tools", default="", help="comma-separated tools claude may use, e.g. Bash,Edit")
    parser.add_argument("prompt", help="the prompt for claude")
    args = parser.parse_args(argv)

    request = run_pb2.RunRequest(prompt=args.prompt)
    request.agent.allowed_tools.extend(t for t in args.allowed_tools.split(",") if t)
    metadata = [("authorization", f"Bearer {args.token}")] if args.token else []

    with channel_for(args.target) as channel:
        events: Iterator[run_pb2.RunEvent] = router_pb2_grpc.RouterServiceStub(channel).Run(request, metadata=metadata)
        exited: Optional[run_pb2.Exited] = None
        try:
            for event in events:
                print_event(event)
                if event.HasField("exited"):  # always the last event
                    exited = event.exited
        except grpc.RpcError as err:
            print(f"cc_run: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            events.cancel()  # type: ignore[attr-defined]  # the call object is also a grpc.Future
            return 130
    if exited is None:
        print("cc_run: the stream ended without an exited event", file=sys.stderr)
        return 1
    return exited.exit_code if exited.exit_code >= 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
