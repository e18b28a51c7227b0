#!/usr/bin/env bash
# base-image.sh - the base image the Dockerfile names, node:24-bookworm-slim, made here because no
# registry is reachable: Debian bookworm (debootstrap --variant=minbase, trimmed like debian:bookworm-slim)
# plus Node 24 laid out as the official image has it (/usr/local/bin/node, npm and npx,
# /usr/local/include/node, /usr/local/lib/node_modules/npm), taken from NODE_PREFIX (default
# /opt/node-24, installed by .ci/install-node.sh when missing), then `docker import`ed under that name.
# The Dockerfile stays the one users build against the official image.
# Cached: the root file system tarball in $PPTP_LAB_CACHE/docker (a second run skips debootstrap), the
# image itself by a label holding this script's and Node's key (nothing to do when it matches).
# Env: DOCKER (client, default docker), DOCKER_HOST (dockerd.sh start prints both), DEBIAN_MIRROR,
#      NODE_PREFIX.  Usage: base-image.sh [--force]
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

TAG=node:24-bookworm-slim
DOCKER="${DOCKER:-docker}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE_PREFIX="${NODE_PREFIX:-/opt/node-24}"
STATE="${PPTP_LAB_CACHE:-/var/cache/pptp-lab}/docker"
FORCE=0; [ "${1:-}" = --force ] && FORCE=1
log() { echo "[base-image] $*" >&2; }
[ "$(id -u)" = 0 ] || lab_die "must run as root"

bash "$LAB_DIR/../../.ci/install-node.sh" "$NODE_PREFIX" >&2
NODE_VERSION="$("$NODE_PREFIX/bin/node" --version)"
NODE_VERSION="${NODE_VERSION#v}"
ROOTFS_KEY="$(sed -n '/^# --- rootfs/,/^# --- end rootfs/p' "$0" | { cat; echo "$MIRROR"; } | sha256sum | cut -c1-16)"
# A machine whose HTTPS goes through an intercepting proxy trusts its CA through NODE_EXTRA_CA_CERTS (as
# this one does): the base gets the same bundle, as a company's own base image would, so that `npm ci` in
# the build stage reaches the registry. The Dockerfile knows nothing of it.
CA_BUNDLE=""
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$NODE_EXTRA_CA_CERTS" ]; then CA_BUNDLE="$NODE_EXTRA_CA_CERTS"; fi
KEY="$( { cat "$0"; echo "$MIRROR $NODE_VERSION"; [ -z "$CA_BUNDLE" ] || cat "$CA_BUNDLE"; } | sha256sum | cut -c1-16)"

have="$("$DOCKER" image inspect --format '{{index .Config.Labels "org.portico.lab.base"}}' "$TAG" 2>/dev/null || true)"
if [ "$FORCE" = 0 ] && [ "$have" = "$KEY" ]; then
  log "cached: $TAG (key $KEY, Node $NODE_VERSION)"
  exit 0
fi

mkdir -p "$STATE"
TARBALL="$STATE/bookworm-minbase-$ROOTFS_KEY.tar"
work="$(mktemp -d "$STATE/base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"

# --- rootfs: Debian bookworm minbase, trimmed as debian:bookworm-slim is
if [ "$FORCE" = 1 ] || [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -q --no-install-recommends debootstrap >&2
  log "debootstrap --variant=minbase bookworm ($MIRROR)"
  t0=$SECONDS
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >&2
  # The slim image's dpkg filters: no documentation, manual pages or translations from later installs.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
DPKG
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$root"/usr/share/{man,info,locale,groff,lintian,linda}/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # What a container brings itself (the runtime mounts them); the hostname is debootstrap's host's.
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
  tar -C "$root" --numeric-owner -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
  rm -f "$STATE"/bookworm-minbase-*.tar.partial
  find "$STATE" -maxdepth 1 -name 'bookworm-minbase-*.tar' ! -name "$(basename "$TARBALL")" -delete
  rm -rf "$root"
  log "rootfs in $((SECONDS - t0)) s: $TARBALL ($(du -m "$TARBALL" | cut -f1) MB)"
fi
# --- end rootfs

# Node as the official image lays it out, added to the cached tarball.
mkdir -p "$work/node/usr/local/bin" "$work/node/usr/local/include" "$work/node/usr/local/lib/node_modules"
cp -a "$NODE_PREFIX/bin/node" "$work/node/usr/local/bin/"
cp -a "$NODE_PREFIX/include/node" "$work/node/usr/local/include/"
cp -a "$NODE_PREFIX/lib/node_modules/npm" "$work/node/usr/local/lib/node_modules/"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/node/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/node/usr/local/bin/npx"
extra=()
ca_env=()
if [ -n "$CA_BUNDLE" ]; then
  mkdir -p "$work/node/usr/local/share/ca-certificates-node"
  cp "$CA_BUNDLE" "$work/node/usr/local/share/ca-certificates-node/bundle.crt"
  extra=(./usr/local/share/ca-certificates-node)
  ca_env=(--change "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates-node/bundle.crt")
  log "with the CA bundle of NODE_EXTRA_CA_CERTS ($CA_BUNDLE)"
fi
cp "$TARBALL" "$work/image.tar"
# Only what the root file system lacks: docker import refuses a path twice (its usr/local/{bin,include,lib}).
tar -C "$work/node" --numeric-owner --owner=0 --group=0 -rf "$work/image.tar" \
  ./usr/local/bin/node ./usr/local/bin/npm ./usr/local/bin/npx ./usr/local/include/node ./usr/local/lib/node_modules "${extra[@]}"
log "docker import as $TAG (Node $NODE_VERSION)"
"$DOCKER" import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change "LABEL org.portico.lab.base=$KEY" "${ca_env[@]}" \
  --change 'CMD ["node"]' \
  "$work/image.tar" "$TAG" >&2
log "$TAG: $("$DOCKER" image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1 / 1e6}')"
