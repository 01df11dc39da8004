#!/usr/bin/env bash
# Make sure a Docker engine answers. When none does and we are root on Debian, install Debian's
# docker.io and start dockerd without a bridge or iptables rules: participant containers never get
# a network, so the engine needs none. Anywhere else, say how to fix it and fail.
set -euo pipefail

log=${SELMA3D_DOCKERD_LOG:-/var/log/selma3d-dockerd.log}

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  echo "docker engine: answering"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'MSG'
selma3d: no Docker engine answers, and this is not a root shell on Debian, so it was not set up.
  Start your engine (e.g. `sudo systemctl start docker`) or add your user to the `docker` group,
  then check with `docker info`.
MSG
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker engine: installing Debian's docker.io"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
fi

echo "docker engine: starting dockerd (log: $log)"
# --bridge=none and --iptables=false: no docker0 bridge and no NAT rules; containers run with
# network_mode=none, and the sandbox this may run in does not allow changing iptables.
nohup setsid dockerd --bridge=none --iptables=false --ip6tables=false >"$log" 2>&1 </dev/null &

for _ in $(seq 1 60); do
  if engine_answers; then
    echo "docker engine: answering"
    exit 0
  fi
  sleep 1
done
echo "selma3d: dockerd did not answer within 60 s; its log ends with:" >&2
tail -n 20 "$log" >&2
exit 1
