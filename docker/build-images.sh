#!/usr/bin/env bash
# Build every image spec under docker/ (selma3d/rootfs, selma3d/python, the baselines images) in
# dependency order, without a registry. Cached: a spec whose image carries the hash of its folder,
# staged files and base is skipped, so a second run takes seconds.
#   bash docker/build-images.sh                  # debootstrap + docker import + offline builds
#   bash docker/build-images.sh --from-registry  # build on python:3.11-slim instead (needs a registry)
#   bash docker/build-images.sh --force          # rebuild everything
#   bash docker/build-images.sh --only python    # one spec folder (repeatable)
# It runs `selma3d images build` (SELMA3D names another selma3d executable than .venv/bin/selma3d).
set -euo pipefail
cd "$(dirname "$0")/.."
selma3d=${SELMA3D:-.venv/bin/selma3d}
# A checkout keeps its downloaded wheels and root file system here (gitignored); an installed
# selma3d without this variable uses $XDG_CACHE_HOME/selma3d or ~/.cache/selma3d.
export SELMA3D_CACHE=${SELMA3D_CACHE:-$PWD/docker/.cache}

from_registry=${SELMA3D_FROM_REGISTRY:-0}
for arg in "$@"; do [ "$arg" = "--from-registry" ] && from_registry=1; done

# The root file system needs debootstrap; install Debian's package when we can.
if [ "$from_registry" = 0 ] && ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "images: installing Debian's debootstrap"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
  else
    echo "images: debootstrap is missing (apt-get install debootstrap, as root)," \
         "or use --from-registry where Docker reaches a registry" >&2
  fi
fi

exec "$selma3d" images build "$@"
