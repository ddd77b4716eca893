#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs etcd 3.5.1 and 3.4.23 into
# .etcd/ if needed, then runs every test against each version. Unit and doc
# tests run once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-etcd.sh
# The default features alone must build too (what most users compile).
cargo build --lib
cargo build --features testkit,tls --tests --examples
echo "== etcd 3.5.1: unit, doc and integration tests"
ETCD_VERSION=3.5.1 cargo test --features testkit,tls
echo "== etcd 3.4.23: integration tests"
ETCD_VERSION=3.4.23 cargo test --features testkit,tls --tests
