#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs etcd into .etcd/ if needed (3.7.3, 3.6.16
# and 3.5.35 built from etcd's Go modules; 3.5.1 from PyPI; 3.4.23 from Debian), then:
#   - on the newest 3.7: unit, doc and every integration test, and the rolling upgrade
#     3.5 -> 3.6 -> 3.7 -> 3.6 under load (tests/upgrade.rs);
#   - on 3.6.16, 3.5.35, 3.5.1 and 3.4.23: every integration test again.
# Without Go (so without the built versions) it runs the unit, doc and integration tests on
# 3.5.1 and 3.4.23 and says what it skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-etcd.sh
# The default features alone must build too (what most users compile).
cargo build --lib
cargo build --features testkit,tls --tests --examples

# Every integration test file but the upgrade, which picks its own versions.
per_version=()
for file in tests/*.rs; do
  name="$(basename "$file" .rs)"
  [ "$name" = upgrade ] || per_version+=(--test "$name")
done

if [ -x .etcd/3.7.3/etcd ]; then
  echo "== etcd 3.7.3: unit, doc and integration tests, and the rolling upgrade"
  ETCD_VERSION=3.7.3 cargo test --features testkit,tls
  others=(3.6.16 3.5.35 3.5.1 3.4.23)
else
  echo "== etcd 3.5.1: unit, doc and integration tests (no etcd 3.7 installed: see above)"
  ETCD_VERSION=3.5.1 cargo test --features testkit,tls -- --skip rolling_upgrade
  others=(3.4.23)
fi
for version in "${others[@]}"; do
  if [ ! -x ".etcd/$version/etcd" ]; then
    echo "== etcd $version: skipped, not installed (see scripts/install-etcd.sh above)"
    continue
  fi
  echo "== etcd $version: integration tests"
  ETCD_VERSION="$version" cargo test --features testkit,tls "${per_version[@]}"
done
