#!/usr/bin/env bash
# The main job README.md gives: on a fresh machine, prepare the bundled example and deploy
# it for real to its three staging tenants, then show their status.
#
# --registry: the same, with images going through a registry, as they do for remote
# hosts and swarms: a loopback `docker-registry` (Debian's package; plain HTTP, which the
# Docker engine allows for 127.0.0.1) is started, the example's hoist.toml plus a
# `[registry]` table is written to examples/clinic/hoist.registry.toml, and hoist pushes
# the base and the app image there and has the engine pull each release by digest.
# HOIST_DEMO_REGISTRY_PORT (default 18150) picks its port; it keeps running afterwards
# (its pid is printed) so later deploys and rollbacks pull from it.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=local
case "${1:-}" in
"") ;;
--registry) mode=registry ;;
*)
    echo "usage: $0 [--registry]" >&2
    exit 2
    ;;
esac
bash scripts/setup-machine.sh
bash examples/clinic/setup.sh
cargo build --release --locked -p hoist
hoist="${CARGO_TARGET_DIR:-target}/release/hoist"
config=examples/clinic/hoist.toml
state=()
if [[ $mode == registry ]]; then
    port="${HOIST_DEMO_REGISTRY_PORT:-18150}"
    store=examples/clinic/.hoist/registry
    mkdir -p "$store"
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        cat >"$store/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $PWD/$store/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
        nohup docker-registry serve "$store/config.yml" >"$store/registry.log" 2>&1 &
        echo "docker-registry runs on 127.0.0.1:$port as pid $! (stop it with: kill $!)"
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
    fi
    config=examples/clinic/hoist.registry.toml
    {
        echo "# Written by scripts/demo.sh --registry: hoist.toml plus a loopback registry."
        cat examples/clinic/hoist.toml
        printf '\n[registry]\nimage = "127.0.0.1:%s/clinic/app"\ninsecure = true\n' "$port"
    } >"$config"
    # Its own history: releases recorded by the local mode have no digest.
    state=(--state examples/clinic/.hoist/registry-state.db)
fi
"$hoist" --config "$config" "${state[@]}" plan staging
"$hoist" --config "$config" "${state[@]}" deploy staging
"$hoist" --config "$config" "${state[@]}" status staging
echo
echo "The tenants answer on http://127.0.0.1:18101/ .. :18103/; try: curl -s 127.0.0.1:18101/version"
if [[ $mode == registry ]]; then
    echo "They run 127.0.0.1:$port/clinic/app@sha256:...; try: skopeo inspect --tls-verify=false docker://127.0.0.1:$port/clinic/app:<version>"
fi
