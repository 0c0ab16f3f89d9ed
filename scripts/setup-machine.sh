#!/usr/bin/env bash
# Installs what hoist's tests and example need on a fresh Debian machine, and checks that
# the Docker engine answers. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(busybox-static debootstrap git ca-certificates ripgrep)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The engine is started by the machine; give it a moment if it is still coming up.
for _ in $(seq 1 30); do
  docker info >/dev/null 2>&1 && break
  sleep 1
done
docker info >/dev/null 2>&1 || { echo "setup: the Docker engine does not answer (is dockerd running?)" >&2; exit 1; }

# hoist's Swarm runtime (and its tests) need the engine to manage a swarm; one node is
# enough. Only an inactive engine is initialised: a swarm that exists is left as it is.
swarm_state=$(docker info --format '{{.Swarm.LocalNodeState}}')
case "$swarm_state" in
  active) ;;
  inactive)
    echo "setup: initialising a single-node swarm"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    ;;
  *) echo "setup: the engine's swarm is $swarm_state; leaving it as it is" >&2 ;;
esac
