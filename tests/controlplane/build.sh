#!/usr/bin/env bash
# Builds the multi-call control-plane binary (etcd, kube-apiserver,
# kube-controller-manager, kubectl) from the Go modules pinned in go.mod, and
# caches it outside the clone so that later runs and other clones reuse it.
#
# Prints the directory holding the four program names on stdout.
# The Kubernetes release is pinned once: the k8s.io/kubernetes line of go.mod.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${PLUMBLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plumbline}"

if ! command -v go >/dev/null 2>&1; then
  echo "controlplane: Go is not installed; install Go 1.26 or newer (see README prerequisites)" >&2
  exit 1
fi

cd "$here"
k8s_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
key="$(cat go.mod go.sum main.go build.sh | sha256sum | cut -c1-16)"
out="$cache_root/controlplane/$k8s_version-$key"

if [ ! -x "$out/controlplane" ]; then
  mkdir -p "$out.tmp"
  minor="${k8s_version#v1.}"; minor="${minor%%.*}"
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  echo "controlplane: building Kubernetes $k8s_version and etcd (first time only; several minutes)" >&2
  go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out.tmp/controlplane" . >&2
  for name in etcd kube-apiserver kube-controller-manager kubectl; do
    ln -sf controlplane "$out.tmp/$name"
  done
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out"
