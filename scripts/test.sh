#!/usr/bin/env bash
# The test command README.md gives: set up the machine, then run every test, including
# the ones that build images and run containers on the real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
# One test at a time: the Docker suites build base images from the same cached steps, and
# Docker 20.10's classic builder loses a cache layer when several builds share it at once
# ("unable to find image sha256:..."), which failed fresh-clone CI runs.
cargo test --workspace --locked "$@" -- --test-threads=1
