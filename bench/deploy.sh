#!/usr/bin/env bash
# The deploy benchmark (README.md, "Benchmark"): prepares the example, builds hoist and the
# benchmark in release mode, and runs every row RUNS times (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
bash examples/clinic/setup.sh
cargo build --release --locked -p hoist -p hoist-bench
target="${CARGO_TARGET_DIR:-target}/release"
"$target/hoist-bench" --hoist "$target/hoist" --example examples/clinic --runs "${RUNS:-3}" --json bench/results/deploy.json
# The registry rows (f), (g), (h) with (b) measured again beside them: docs/benchmark.md.
"$target/hoist-bench" --hoist "$target/hoist" --example examples/clinic --runs "${RUNS:-3}" --registry-only --json bench/results/deploy-registry.json
