# Sourced by tests/{health,helm,prometheus}/build.sh and bench/kube-score/build.sh: builds one
# tool from the Go module of the calling script's directory, pinned by its
# go.mod, and caches it outside the clone so that later runs and other
# clones reuse it. Prints the path of the binary on stdout.
#
#   go_tool NAME LABEL [go build arguments, without -o]
#
# LABEL starts the cache directory's name (e.g. the tool's version).

go_tool() {
  local name="$1" label="$2"
  shift 2
  if ! command -v go >/dev/null 2>&1; then
    echo "$name: Go is not installed; install Go 1.26 or newer (see README prerequisites)" >&2
    exit 1
  fi
  local cache_root="${PLUMBLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plumbline}"
  local key
  key="$(cat go.mod go.sum ./*.go build.sh "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
  local out="$cache_root/$name/$label$key"
  if [ ! -x "$out/$name" ]; then
    mkdir -p "$out.tmp"
    echo "$name: building it from its Go module (first time only; a few minutes)" >&2
    # Called inside $(...), where errexit does not reach: fail explicitly.
    if ! go build -trimpath -buildvcs=false -o "$out.tmp/$name" "$@" >&2; then
      echo "$name: go build failed (see above)" >&2
      return 1
    fi
    rm -rf "$out"
    mv "$out.tmp" "$out"
  fi
  echo "$out/$name"
}
