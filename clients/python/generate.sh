#!/usr/bin/env bash
# Generates the Python messages and gRPC stubs of proto/claudecluster/v1/*.proto.
#
#   clients/python/generate.sh [OUT_DIR]    # default: clients/python/gen
#
# OUT_DIR gets claudecluster/v1/{run,worker,router}_pb2.py (+ .pyi) and *_pb2_grpc.py, which import each other as
# `claudecluster.v1.*`: put OUT_DIR on sys.path (cc_run.py adds clients/python/gen itself; PYTHONPATH also works).
#
# The compiler: protoc with grpc_python_plugin (Debian: protobuf-compiler, protobuf-compiler-grpc) when both are
# on PATH, otherwise pip's grpcio-tools (`python -m grpc_tools.protoc`). The Python is PYTHON, else the first of
# python3 and /usr/bin/python3 that can import google.protobuf (Debian: python3-protobuf; pip: protobuf).
#
# The contracts import google/protobuf/{timestamp,duration}.proto. protoc finds them in its include directory when
# there is one (Debian's libprotobuf-dev; grpcio-tools bundles them); otherwise they come from the Python protobuf
# runtime that will load the generated code, written to a descriptor set that protoc falls back on.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/gen}"

python=""
candidates=(python3 /usr/bin/python3)
if [ -n "${PYTHON:-}" ]; then candidates=("$PYTHON"); fi
for candidate in "${candidates[@]}"; do
  if "$candidate" -c "import google.protobuf" 2>/dev/null; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  echo "generate.sh: no Python with the protobuf package; install python3-protobuf (Debian) or pip install protobuf" >&2
  exit 1
fi

if command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null; then
  compiler=(protoc --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)")
  grpc_out=--grpc_out
elif "$python" -c "import grpc_tools" 2>/dev/null; then
  compiler=("$python" -m grpc_tools.protoc)
  grpc_out=--grpc_python_out
else
  echo "generate.sh: need protoc and grpc_python_plugin (Debian: protobuf-compiler protobuf-compiler-grpc)" \
    "or grpcio-tools for $python (pip install grpcio-tools)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The well-known types the contracts import, as a FileDescriptorSet, from the runtime's own descriptors.
"$python" - "$tmp/wkt.binpb" <<'PY'
import sys
from google.protobuf import descriptor_pb2, duration_pb2, timestamp_pb2

files = descriptor_pb2.FileDescriptorSet()
for module in (duration_pb2, timestamp_pb2):
    files.file.add().ParseFromString(module.DESCRIPTOR.serialized_pb)
with open(sys.argv[1], "wb") as f:
    f.write(files.SerializeToString())
PY

mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -rf "$out/claudecluster"
cd "$root/proto"
"${compiler[@]}" \
  --proto_path=. \
  --descriptor_set_in="$tmp/wkt.binpb" \
  --python_out="$out" \
  --pyi_out="$out" \
  "$grpc_out=$out" \
  claudecluster/v1/*.proto
echo "generated $out/claudecluster/v1 with ${compiler[0]} ($("${compiler[@]}" --version))"
