#!/usr/bin/env bash
# Runs the tour (examples/tour.rs). With ETCD_ENDPOINTS set it talks to that
# etcd; otherwise it installs etcd 3.5.1 into .etcd/ if needed, and the tour
# starts it on 127.0.0.1 and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${ETCD_ENDPOINTS:-}" ]; then
  exec cargo run --quiet --features testkit,tls --example tour -- ${ETCD_ENDPOINTS//,/ }
fi
scripts/install-etcd.sh 3.5.1 >&2
exec cargo run --quiet --features testkit,tls --example tour
