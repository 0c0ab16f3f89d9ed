#!/usr/bin/env bash
# Produce the root image the hoist examples build FROM: hoist-example/python:bookworm.
#
# This machine's Docker engine cannot pull images, so the image is made locally: a minimal
# Debian bookworm root file system (debootstrap --variant=minbase, with python3 and
# python3-venv) imported with `docker import`. debootstrap fetches from its own default
# mirror, which serves the suite, and no mirror's address is written here: the image's apt
# sources (main, updates, security) are derived from the one debootstrap wrote, over plain
# HTTP, which works from inside `docker build` here (HTTPS from inside a build does not: an
# intercepting proxy's CA is trusted by the host only, and the example never bakes that CA
# in).
#
# Idempotent: if the image already exists, it does nothing and exits 0.
#
# Environment:
#   HOIST_EXAMPLE_IMAGE   image to produce        (default hoist-example/python:bookworm)
#   DEBIAN_MIRROR         a Debian mirror, http://...  (default: debootstrap's own)
#   FORCE=1               rebuild even if the image exists
set -euo pipefail

IMAGE="${HOIST_EXAMPLE_IMAGE:-hoist-example/python:bookworm}"
# Empty: debootstrap picks its default mirror.
MIRROR="${DEBIAN_MIRROR:-}"
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates

log() { printf '[example-image] %s\n' "$*" >&2; }

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists; nothing to do"
    exit 0
fi

start=$(date +%s)

SUDO=()
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || { log "debootstrap needs root (or sudo)"; exit 1; }
    SUDO=(sudo)
fi

if ! command -v debootstrap >/dev/null 2>&1 && [[ ! -x /usr/sbin/debootstrap ]]; then
    log "installing debootstrap with apt-get"
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
DEBOOTSTRAP=$(command -v debootstrap || echo /usr/sbin/debootstrap)

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/hoist-example-rootfs.XXXXXX")
cleanup() { "${SUDO[@]}" rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

MIRROR_ARG=()
[[ -n "$MIRROR" ]] && MIRROR_ARG=("$MIRROR")
log "debootstrap --variant=minbase --include=$PACKAGES $SUITE $rootfs ${MIRROR:-(default mirror)}"
"${SUDO[@]}" "$DEBOOTSTRAP" --variant=minbase --include="$PACKAGES" \
    "$SUITE" "$rootfs" "${MIRROR_ARG[@]}" >"$rootfs.log" 2>&1 || {
    log "debootstrap failed; its log:"
    tail -n 40 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    exit 1
}
rm -f "$rootfs.log"
log "debootstrap done after $(( $(date +%s) - start ))s"

log "configuring apt (plain HTTP sources, no caches or docs) and trimming the root"
"${SUDO[@]}" sh -eu -c '
root=$1; suite=$2
# The mirror debootstrap used, as it wrote it into the root (its own default, or
# DEBIAN_MIRROR).
mirror=$(awk "\$1 == \"deb\" { print \$2; exit }" "$root/etc/apt/sources.list")
[ -n "$mirror" ] || { echo "debootstrap wrote no apt source" >&2; exit 1; }
# Plain-HTTP sources: main, updates and security. Builds run `apt-get update` first.
security=$(printf %s "$mirror" | sed "s#/debian/*\$#/debian-security#")
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
# Like the official Debian images: never keep downloaded .debs or translations, and skip
# docs/man pages/locales when packages are installed later in a build.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<EOF
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$root/etc/apt/apt.conf.d/docker-no-languages" <<EOF
Acquire::Languages "none";
EOF
cat >"$root/etc/apt/apt.conf.d/docker-no-recommends" <<EOF
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-excludes" <<EOF
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
       "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* \
       "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/tmp/* "$root"/var/tmp/*
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# The host'"'"'s resolver and hostname do not belong in the image; Docker provides both.
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"
' sh "$rootfs" "$SUITE"

log "size of the root: $("${SUDO[@]}" du -sh "$rootfs" | cut -f1)"
log "docker import -> $IMAGE"
"${SUDO[@]}" tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase --include=$PACKAGES $SUITE" \
    - "$IMAGE" >/dev/null

python=$(docker run --rm "$IMAGE" python3 --version 2>&1 || true)
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "made $IMAGE ($python, $((size / 1000000)) MB) in $(( $(date +%s) - start ))s"
