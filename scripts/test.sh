#!/usr/bin/env bash
# The test command README.md gives: set up the machine, then run every test, including
# the ones that build images and run containers on the real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
cargo test --workspace --locked "$@"
