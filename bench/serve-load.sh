#!/usr/bin/env bash
# The load check of `hoist serve` (docs/benchmark.md, "hoist serve under webhook load"):
# builds hoist and the load client in release mode, then sends RATE (default 200) signed
# GitHub push deliveries a second for DURATION seconds (default 10) to a real `hoist serve` on
# 127.0.0.1:20950, and checks the server's state database afterwards. Exits non-zero if
# a delivery went unanswered or was lost, a replay was taken, or a release ran twice at once.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hoist -p hoist-bench
target="${CARGO_TARGET_DIR:-target}/release"
mkdir -p bench/results
"$target/serve-load" --hoist "$target/hoist" --rate "${RATE:-200}" --seconds "${DURATION:-10}" \
  --tags "${TAGS:-50}" --port 20950 --json bench/results/serve-load.json
