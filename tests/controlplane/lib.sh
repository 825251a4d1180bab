# Helpers shared by up.sh and down.sh. Sourced, not run.

PROGRAMS=(kube-controller-manager kube-apiserver etcd)

say() { echo "controlplane: $*" >&2; }

pid_alive() { # pidfile
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

all_running() { # dir
  local name
  for name in "${PROGRAMS[@]}"; do
    pid_alive "$1/$name.pid" || return 1
  done
  [ -s "$1/kubeconfig" ]
}

any_running() { # dir
  local name
  for name in "${PROGRAMS[@]}"; do
    pid_alive "$1/$name.pid" && return 0
  done
  return 1
}

port_in_use() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

fail_start() { # dir, message
  say "$2"
  local name
  for name in "${PROGRAMS[@]}"; do
    if [ -s "$1/logs/$name.log" ]; then
      say "last lines of $1/logs/$name.log:"
      tail -n 15 "$1/logs/$name.log" >&2
    fi
  done
  PLUMBLINE_CONTROLPLANE_LOCKED=1 "$(dirname "${BASH_SOURCE[0]}")/down.sh" --keep-logs >/dev/null 2>&1 || true
  exit 1
}

check_alive() { # dir, programs...
  local dir="$1" name; shift
  for name in "$@"; do
    pid_alive "$dir/$name.pid" || fail_start "$dir" "$name exited during start-up"
  done
}
