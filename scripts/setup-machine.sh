#!/usr/bin/env bash
# Installs what hoist's tests and example need on a fresh Debian machine, and checks that
# the Docker engine answers. Safe to run again: it installs only what is missing.
set -euo pipefail

# Every Debian package the tests and the example need, with the suite that needs it. They
# are installed in one `apt-get` run (one index update), and only those missing.
packages=(
  busybox-static debootstrap git ca-certificates ripgrep
  # hoist-bench reads hoist's peak RSS from GNU time (`/usr/bin/time -f %M`).
  time
  # crates/hoist-notify/tests/standard_webhooks.rs: a venv for PyPI's `standardwebhooks`.
  python3 python3-venv
  # crates/hoist/tests/remote_hosts.rs reaches the engine as a remote one: through stunnel
  # (TLS with client certificates in front of the socket) and through an sshd the test
  # starts itself on its own port, host key and config (the system's sshd is never started
  # or changed). `ssh`/`ssh-keygen` come with openssh-client, a dependency.
  openssh-server stunnel4
  # crates/hoist-registry, hoist-build and hoist's registry tests start Debian's
  # docker-registry on loopback themselves (plain, and TLS with htpasswd under a CA made by
  # the test with openssl) and check what hoist pushed with skopeo. The package's own
  # service is not used.
  docker-registry skopeo apache2-utils openssl
  # The Docker runtime's `switch = "proxy"` drives Caddy's admin API and starts `caddy run`
  # itself when none answers (crates/hoist/tests/proxy.rs): only the binary is needed.
  caddy
  # crates/hoist-server/tests/dashboard_browser.rs drives a real headless Chromium through
  # WebDriver, starting Debian's chromedriver on its own port (20700-20749).
  chromium chromium-driver
  # crates/hoist-store-pg and crates/hoist/tests/postgres_state.rs start their own
  # throwaway clusters with Debian's server binaries (/usr/lib/postgresql/*/bin, run as the
  # `postgres` user under root) on ports 20750-20799.
  postgresql
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages' own services (Caddy on :80, the default PostgreSQL cluster) are not wanted:
# the tests start their own on their own ports. Stopped if an install started them.
if command -v systemctl >/dev/null 2>&1; then
  for service in caddy postgresql; do
    if systemctl is-active --quiet "$service" 2>/dev/null; then
      $sudo_cmd systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
fi

# Caddy 2.6 opens a new listening socket (SO_REUSEPORT) at each config change and closes
# the old one; without this Linux (5.14+) setting, a connection queued at the old socket in
# that moment is reset, which the proxy's zero-downtime test sees as a failed request
# (docs/zero-downtime.md). hoist warns when it is off on a host whose proxy it drives.
migrate_req=/proc/sys/net/ipv4/tcp_migrate_req
if [ -e "$migrate_req" ] && [ "$(cat "$migrate_req")" != 1 ]; then
  echo "setup: sysctl net.ipv4.tcp_migrate_req=1"
  $sudo_cmd sysctl -qw net.ipv4.tcp_migrate_req=1 \
    || echo "setup: could not set net.ipv4.tcp_migrate_req; the proxy test may see a reset connection" >&2
fi

# hoist-notify's interoperability tests verify hoist's webhook requests with PyPI's
# `standardwebhooks`, run from a virtual environment at $HOIST_TEST_VENV (default
# ~/.cache/hoist/test-venv; the test looks there). A venv rather than `pip install --user`:
# Debian's Python refuses pip outside one (PEP 668, "externally managed").
hoist_test_venv="${HOIST_TEST_VENV:-$HOME/.cache/hoist/test-venv}"
if ! "$hoist_test_venv/bin/python" -c "import standardwebhooks" >/dev/null 2>&1; then
  echo "setup: installing standardwebhooks into $hoist_test_venv"
  rm -rf "$hoist_test_venv"
  python3 -m venv "$hoist_test_venv"
  "$hoist_test_venv/bin/python" -m pip install -q --disable-pip-version-check "standardwebhooks==1.1.0"
  "$hoist_test_venv/bin/python" -c "import standardwebhooks"
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
