#!/usr/bin/env python3
"""Print what a ClaudeCluster task changed, with plain gRPC from Python.

    clients/python/generate.sh                      # once: the stubs go to clients/python/gen
    python3 clients/python/cc_diff.py --target 127.0.0.1:8400 [--token T] [--stat | --name-only] TASK

Calls RouterService.GetChanges (a server stream: a header with the summary, then the patch in chunks) and writes the
patch to stdout byte for byte, ready for `git apply`. `--stat` and `--name-only` print the summary from the task's
record (RouterService.GetTask) instead: files with lines added and removed, or only their paths. A gRPC error (an
unknown task, one still running or without a git workspace, a wrong token...) prints one line `cc_diff: CODE:
details` on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
try:
    import grpc
    from claudecluster.v1 import router_pb2, router_pb2_grpc, run_pb2, transfer_pb2
except ImportError as err:
    sys.exit(f"cc_diff: {err}: install grpcio and protobuf, then run clients/python/generate.sh (see its README)")

from cc_run import channel_for  # noqa: E402  (after the path setup above)


def stat_lines(changes: run_pb2.ChangesSummary) -> list[str]:
    """One line a file, like `git diff --stat` without the bars, then the totals."""
    lines = []
    for f in changes.files:
        if f.binary:
            lines.append(f" {f.path} | Bin {f.old_size} -> {f.new_size} bytes")
        else:
            lines.append(f" {f.path} | {f.insertions + f.deletions} (+{f.insertions} -{f.deletions})")
    more = changes.files_total - len(changes.files)
    if more > 0:
        lines.append(f" ... and {more} more files")
    lines.append(f" {changes.files_total} files changed, {changes.insertions} insertions(+), {changes.deletions} deletions(-)")
    return lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default=os.environ.get("CC_ROUTER_URL", "127.0.0.1:8400"),
                        help="router: host:port, http://host:port or https://host (default $CC_ROUTER_URL or %(default)s)")
    parser.add_argument("--token", default=os.environ.get("CC_TOKEN", ""), help="bearer token (default $CC_TOKEN)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--stat", action="store_true", help="files changed with lines added and removed")
    which.add_argument("--name-only", action="store_true", help="only the paths of the files changed")
    parser.add_argument("task", help="the task id")
    args = parser.parse_args(argv)
    metadata = [("authorization", f"Bearer {args.token}")] if args.token else []

    with channel_for(args.target) as channel:
        router = router_pb2_grpc.RouterServiceStub(channel)
        try:
            if args.stat or args.name_only:
                task = router.GetTask(router_pb2.GetTaskRequest(task_id=args.task), metadata=metadata)
                if not task.exit.HasField("changes"):
                    print(f"cc_diff: task {args.task} has no recorded changes (it did not run in a git workspace of its own)",
                          file=sys.stderr)
                    return 1
                changes = task.exit.changes
                lines = [f.path for f in changes.files] if args.name_only else stat_lines(changes)
                print("\n".join(lines))
                return 0
            request = transfer_pb2.GetChangesRequest(task_id=args.task, format=transfer_pb2.CHANGES_FORMAT_PATCH)
            for chunk in router.GetChanges(request, metadata=metadata):
                if chunk.WhichOneof("part") == "data":
                    sys.stdout.buffer.write(chunk.data)
            sys.stdout.buffer.flush()
            return 0
        except grpc.RpcError as err:
            print(f"cc_diff: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
