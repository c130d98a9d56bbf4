#!/usr/bin/env bash
# Builds the lab/Molecule base images without a container registry:
#   debootstrap (mirror taken from this host's apt sources) -> podman import -> systemd + python3 layer.
# Usage: build.sh [--rebuild] [12|13 ...]      (default: 12 13)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${CONTAINERS_CONF:=$(cd "$here/../.." && pwd)/containers.conf}"
export CONTAINERS_CONF

rebuild=0
releases=()
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=1 ;;
    12|13) releases+=("$arg") ;;
    *) echo "usage: $0 [--rebuild] [12|13 ...]" >&2; exit 2 ;;
  esac
done
[ ${#releases[@]} -gt 0 ] || releases=(12 13)

codename() {
  case "$1" in
    12) echo bookworm ;;
    13) echo trixie ;;
  esac
}

# The first Debian mirror URI in this host's apt sources (deb822 or one-line format).
host_mirror() {
  local uri
  uri=$(awk '
    /^[[:space:]]*#/ { next }
    tolower($1) == "uris:" { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }
    $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) { print $i; exit } }
  ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -m1 -i debian || true)
  if [ -z "$uri" ]; then
    echo "build.sh: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
    exit 1
  fi
  echo "${uri%/}"
}

build_one() {
  local release=$1 suite base image rootfs mirror
  suite=$(codename "$release")
  base="localhost/v6gate-debian-base:$release"
  image="localhost/v6gate-debian:$release"

  # The layer is rebuilt whenever the Containerfile changes; the debootstrap base only on --rebuild.
  layer_sum=$(sha256sum "$here/Containerfile" | cut -c1-16)
  if [ "$rebuild" -eq 0 ] && podman image exists "$image" &&
     [ "$(podman image inspect --format '{{ index .Labels "v6gate.layer" }}' "$image")" = "$layer_sum" ]; then
    echo "image $image is up to date (use --rebuild to build it again)"
    return 0
  fi

  if [ "$rebuild" -eq 1 ] || ! podman image exists "$base"; then
    mirror=$(host_mirror)
    rootfs=$(mktemp -d "/var/tmp/v6gate-rootfs-$release.XXXXXX")
    trap 'rm -rf "$rootfs"' RETURN
    echo "debootstrap $suite from $mirror"
    # debootstrap's bundled keyrings know trixie on bookworm hosts too.
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" \
      > "$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; return 1; }
    rm -f "$rootfs.log"
    printf 'deb %s %s main\n' "$mirror" "$suite" > "$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    echo "imported $base"
  fi

  podman build --pull=never --build-arg "BASE=$base" --label "v6gate.layer=$layer_sum" -t "$image" -f "$here/Containerfile" "$here"
  echo "built $image"
}

for release in "${releases[@]}"; do
  build_one "$release"
done
