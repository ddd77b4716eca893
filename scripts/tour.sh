#!/usr/bin/env bash
# Runs the tour (examples/tour.rs). With ETCDCTL_ENDPOINTS set (or ETCD_ENDPOINTS, its
# older alias) it talks to that etcd only, taking etcdctl's other variables too
# (ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY, ETCDCTL_USER...). Otherwise it installs
# etcd 3.5.1 into .etcd/ if needed, and the tour starts it on 127.0.0.1 and stops it
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
endpoints="${ETCDCTL_ENDPOINTS:-${ETCD_ENDPOINTS:-}}"
if [ -n "$endpoints" ]; then
  export ETCDCTL_ENDPOINTS="$endpoints"
  exec cargo run --quiet --features testkit,tls --example tour
fi
scripts/install-etcd.sh 3.5.1 >&2
exec cargo run --quiet --features testkit,tls --example tour
