// Inside an isolated network namespace there is only loopback. The worker's proxies (the model API, the egress proxy,
// the hook events) listen on unix sockets bound into the sandbox; this script, run by /bin/sh as the sandbox's first
// process, starts one socat per socket listening on 127.0.0.1:<port>, waits until every port listens (read from
// /proc/net/tcp, so nothing connects just to find out), then replaces itself with the command. socat is the same
// bridge @anthropic-ai/sandbox-runtime uses; about 1 MiB per listener.
//
// Arguments: pairs of port and socket path, then `--`, then the command and its arguments.

/** Ports inside a task's network namespace; each namespace has its own, so every task uses the same ones. */
export const BRIDGE_PORTS = { api: 41001, egress: 41002, hooks: 41003 } as const;

/** Exit status of the sandbox when a bridge did not come up (126 and 127 are the shell's own). */
export const BRIDGE_FAILED_EXIT = 125;

export const BRIDGE_SCRIPT = `ports=
while [ "$1" != "--" ]; do
  socat "TCP-LISTEN:$1,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$2" </dev/null >/dev/null 2>&1 &
  ports="$ports $1"
  shift 2
done
shift
for port in $ports; do
  hex=$(printf '%04X' "$port")
  tries=0
  until grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A" /proc/net/tcp; do
    tries=$((tries + 1))
    if [ "$tries" -gt 2000 ]; then
      echo "sandbox: the bridge to the worker on port $port did not start (is socat installed?)" >&2
      exit ${BRIDGE_FAILED_EXIT}
    fi
    sleep 0.005
  done
done
exec "$@"`;
