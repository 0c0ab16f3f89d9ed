#!/usr/bin/env bash
# The main job README.md gives: on a fresh machine, prepare the bundled example and deploy
# it for real to its three staging tenants, then show their status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
bash examples/clinic/setup.sh
cargo build --release --locked -p hoist
hoist="${CARGO_TARGET_DIR:-target}/release/hoist"
config=examples/clinic/hoist.toml
"$hoist" --config "$config" plan staging
"$hoist" --config "$config" deploy staging
"$hoist" --config "$config" status staging
echo
echo "The tenants answer on http://127.0.0.1:18101/ .. :18103/; try: curl -s 127.0.0.1:18101/version"
