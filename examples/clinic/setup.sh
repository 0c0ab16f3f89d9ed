#!/usr/bin/env bash
# Prepare the clinic example on this machine. Idempotent; safe to run before every deploy.
#
#  1. The root image hoist-example/python:bookworm (Debian bookworm + python3 + venv), made
#     locally by scripts/example-image.sh with debootstrap: the Docker engine here cannot
#     pull images.
#  2. wheelhouse/: every pinned wheel of requirements.txt, downloaded on the HOST from PyPI
#     for the image's Python (cp311, manylinux). Dockerfile.base installs from it with
#     `pip install --no-index`, because HTTPS from inside a docker build is not available on
#     these machines (and we never bake a local proxy CA into the example). The download is
#     skipped when the wheelhouse already satisfies requirements.txt; wheels no longer
#     required are removed, so the wheelhouse (part of hoist's base fingerprint) holds
#     exactly what requirements.txt pins.
#
# Environment: PYTHON (host interpreter with pip, default python3); PIP_* settings of the
# host (index URL, certificates) apply to the download.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
IMAGE="${HOIST_EXAMPLE_IMAGE:-hoist-example/python:bookworm}"
PYTHON="${PYTHON:-python3}"
log() { printf '[clinic setup] %s\n' "$*" >&2; }
start=$(date +%s)

HOIST_EXAMPLE_IMAGE="$IMAGE" "$repo/scripts/example-image.sh"

# Target the interpreter of the image, not the host's.
pyver=$(docker run --rm --network none "$IMAGE" \
    python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
abi="cp${pyver/./}"
case "$(docker image inspect --format '{{.Architecture}}' "$IMAGE")" in
    amd64) platform=manylinux2014_x86_64 ;;
    arm64) platform=manylinux2014_aarch64 ;;
    *) log "unsupported image architecture"; exit 1 ;;
esac
[[ "$pyver" == 3.11 ]] || log "warning: requirements.txt is pinned for Python 3.11, the image has $pyver"

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    # Debian's pip is fine for `pip download` (PEP 668 only restricts installing).
    if [[ "$PYTHON" == python3 ]] && command -v apt-get >/dev/null; then
        log "installing python3-pip with apt-get (for pip download)"
        sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    fi
    "$PYTHON" -m pip --version >/dev/null 2>&1 || {
        log "$PYTHON has no pip: install it (apt-get install python3-pip) or set PYTHON"
        exit 1
    }
fi
pip_download() {
    "$PYTHON" -m pip download --disable-pip-version-check --quiet \
        --only-binary=:all: --platform "$platform" --python-version "$pyver" \
        --implementation cp --abi "$abi" -r "$here/requirements.txt" "$@"
}

wheelhouse="$here/wheelhouse"
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
mkdir -p "$wheelhouse"
if pip_download --no-index --find-links "$wheelhouse" -d "$check" >/dev/null 2>&1; then
    log "wheelhouse/ already satisfies requirements.txt; no download"
else
    log "downloading wheels for $abi/$platform into wheelhouse/"
    rm -rf "$check"/*
    pip_download -d "$check"
    # Replace the wheelhouse only once the download succeeded.
    rm -f "$wheelhouse"/*.whl
    cp "$check"/*.whl "$wheelhouse"/
fi
# Keep exactly the wheels requirements.txt resolves to ($check holds that set now).
for whl in "$wheelhouse"/*.whl; do
    [[ -e "$check/$(basename "$whl")" ]] || { log "removing stale $(basename "$whl")"; rm -f "$whl"; }
done
count=$(find "$wheelhouse" -name '*.whl' | wc -l)
log "wheelhouse/: $count wheels, $(du -sh "$wheelhouse" | cut -f1); ready in $(( $(date +%s) - start ))s"
log "next: hoist --config examples/clinic/hoist.toml deploy staging"
