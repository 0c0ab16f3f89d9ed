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

# --- hoist-notify's interoperability tests: the Standard Webhooks reference library ---
# crates/hoist-notify/tests/standard_webhooks.rs verifies hoist's webhook requests with
# PyPI's `standardwebhooks`, run from a virtual environment at $HOIST_TEST_VENV (default
# ~/.cache/hoist/test-venv; the test looks there). A venv rather than `pip install --user`:
# Debian's Python refuses pip outside one (PEP 668, "externally managed").
hoist_test_venv="${HOIST_TEST_VENV:-$HOME/.cache/hoist/test-venv}"
if ! "$hoist_test_venv/bin/python" -c "import standardwebhooks" >/dev/null 2>&1; then
  echo "setup: installing standardwebhooks into $hoist_test_venv"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  fi
  rm -rf "$hoist_test_venv"
  python3 -m venv "$hoist_test_venv"
  "$hoist_test_venv/bin/python" -m pip install -q --disable-pip-version-check "standardwebhooks==1.1.0"
  "$hoist_test_venv/bin/python" -c "import standardwebhooks"
fi
# --- end of hoist-notify's block ---

# --- remote Docker hosts ---
# crates/hoist/tests/remote_hosts.rs reaches the engine as a remote one: through stunnel
# (TLS with client certificates in front of the socket) and through an sshd that the test
# starts itself on its own port, host key and config (the system's sshd is never started
# or changed here). `ssh`/`ssh-keygen` come with openssh-client, a dependency.
remote_missing=()
for p in openssh-server stunnel4; do
  dpkg -s "$p" >/dev/null 2>&1 || remote_missing+=("$p")
done
if [ ${#remote_missing[@]} -gt 0 ]; then
  echo "setup: installing ${remote_missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${remote_missing[@]}" >/dev/null
fi
# --- end of remote Docker hosts ---

# --- registry ---
# crates/hoist-registry and crates/hoist-build tests start Debian's docker-registry on
# loopback themselves (plain, and TLS with htpasswd under a CA made by the test with
# openssl), and check what hoist pushed with skopeo. The package's own service is not
# started: the tests run their own registries on ports 20150-20169 (and
# crates/hoist/tests/registry_deploy.rs, registry_prune.rs on 20800-20849).
registry_packages=(docker-registry skopeo apache2-utils openssl)
registry_missing=()
for p in "${registry_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || registry_missing+=("$p")
done
if [ ${#registry_missing[@]} -gt 0 ]; then
  echo "setup: installing ${registry_missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${registry_missing[@]}" >/dev/null
fi
# --- end of registry ---

# --- the proxy switch (issue 10 part 5) ---
# The Docker runtime's `switch = "proxy"` drives Caddy's admin API and starts `caddy run`
# itself when none answers (crates/hoist/tests/proxy.rs). Only the binary is needed: the
# package's own service (Caddy on :80) is not wanted and is stopped if it started.
if ! command -v caddy >/dev/null 2>&1; then
  echo "setup: installing caddy"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends caddy >/dev/null
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet caddy 2>/dev/null; then
    $sudo_cmd systemctl disable --now caddy >/dev/null 2>&1 || true
  fi
fi
# --- end of the proxy switch ---

# --- the dashboard's browser tests ---
# crates/hoist-server/tests/dashboard_browser.rs drives a real headless Chromium through
# WebDriver: it starts Debian's chromedriver itself on its own port (20700-20749).
dashboard_missing=()
for p in chromium chromium-driver; do
  dpkg -s "$p" >/dev/null 2>&1 || dashboard_missing+=("$p")
done
if [ ${#dashboard_missing[@]} -gt 0 ]; then
  echo "setup: installing ${dashboard_missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${dashboard_missing[@]}" >/dev/null
fi
# --- end of the dashboard's browser tests ---
# --- PostgreSQL for teams (issue 11 part 7) ---
# crates/hoist-store-pg (the store suite against both databases, locks across processes)
# and crates/hoist/tests/postgres_state.rs start their own throwaway clusters with
# Debian's server binaries (/usr/lib/postgresql/*/bin: initdb, pg_ctl, run as the
# `postgres` user under root) on ports 20750-20799. The package's own cluster is not
# used, and is stopped if the install started it.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup: installing postgresql"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet postgresql 2>/dev/null; then
    $sudo_cmd systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
fi
# --- end of PostgreSQL for teams ---

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
