#!/usr/bin/env bash
# Stops the local control plane started by up.sh and removes its data.
# With --keep-logs, leaves the logs for a post-mortem.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${PLUMBLINE_CONTROLPLANE_DIR:-$repo/target/controlplane}"
# shellcheck source=tests/controlplane/lib.sh
source "$here/lib.sh"

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
# up.sh holds the lock while it starts, and calls this script on failure
# (already holding it): only wait for it when called from outside.
[ "${PLUMBLINE_CONTROLPLANE_LOCKED:-}" = 1 ] || flock 9

keep_logs=false
[ "${1:-}" = "--keep-logs" ] && keep_logs=true

if [ ! -d "$dir" ]; then
  say "not running (nothing in $dir)"
  exit 0
fi

stopped=()
# The operator `make demo` started, first: it needs the API server to release its Lease.
if pid_alive "$dir/operator.pid"; then
  kill -TERM "$(cat "$dir/operator.pid")" 2>/dev/null || true
  for _ in $(seq 1 100); do
    pid_alive "$dir/operator.pid" || break
    sleep 0.1
  done
  stopped+=(operator)
fi
for name in "${PROGRAMS[@]}"; do
  pidfile="$dir/$name.pid"
  if pid_alive "$pidfile"; then
    # setsid made each program a process-group leader: stop the whole group.
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    stopped+=("$name")
  fi
done
for name in "${stopped[@]}"; do
  pidfile="$dir/$name.pid"
  for _ in $(seq 1 100); do
    pid_alive "$pidfile" || break
    sleep 0.1
  done
  if pid_alive "$pidfile"; then
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
  fi
done

if $keep_logs; then
  find "$dir" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
else
  rm -rf "$dir"
fi
if [ ${#stopped[@]} -eq 0 ]; then
  say "not running (removed leftovers in $dir)"
else
  say "stopped ${stopped[*]}"
fi
