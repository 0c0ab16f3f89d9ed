#!/usr/bin/env bash
# Quality of the built-in ruleset on the labelled corpus
# (crates/hoist-scan/corpus/*.txt): recall per rule family and overall,
# false-alarm rate on the near-miss negatives, and every miss.
#
#   bench/scan-quality.sh [--per-rule] [--rules EXTRA.toml] [CORPUS_DIR]
#
# Exit status 0 when the targets are met (recall >= 0.85 overall and >= 0.9
# on provider keys, false alarms <= 5% of negatives, no unmarked case
# failing), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p hoist-scan --example quality -- "$@"
