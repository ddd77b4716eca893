#!/usr/bin/env bash
# The static gates CI runs before the tests: formatting, clippy and the docs, each with the
# default features (what most users compile) and with all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo fmt --check"
cargo fmt --all -- --check
for features in "" "--all-features"; do
  echo "== cargo clippy --all-targets ${features:-(default features)}"
  cargo clippy --all-targets $features -- -D warnings
  echo "== cargo doc ${features:-(default features)}"
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps $features
done
