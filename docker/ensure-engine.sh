#!/usr/bin/env bash
# Make sure a container engine answers: Docker by default, Podman with SELMA3D_ENGINE=podman.
#
# Docker: when none answers and we are root on Debian, install Debian's docker.io and start
# dockerd without a bridge or iptables rules: participant containers never get a network, so the
# engine needs none.
#
# Podman: when its API service does not answer and we are root on Debian, install Debian's
# podman (with catatonit, the init that --init runs, and runc), write
# /etc/containers/containers.conf if there is none (runc and cgroupfs, which work on cgroup v1
# and hybrid hosts where crun does not; default ulimits within the host's hard limits), and start
# `podman system service` on its rootful socket, /run/podman/podman.sock. A user (rootless) gets
# the service started at $XDG_RUNTIME_DIR/podman/podman.sock when podman is installed.
#
# Anywhere else, say how to fix it and fail. Podman runs beside a Docker engine with its own
# store (/var/lib/containers); neither is stopped or reconfigured.
set -euo pipefail

engine=${SELMA3D_ENGINE:-docker}

debian_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

ensure_docker() {
  local log=${SELMA3D_DOCKERD_LOG:-/var/log/selma3d-dockerd.log}
  engine_answers() { docker info >/dev/null 2>&1; }

  if command -v docker >/dev/null 2>&1 && engine_answers; then
    echo "docker engine: answering"
    return 0
  fi

  if ! debian_root; then
    cat >&2 <<'MSG'
selma3d: no Docker engine answers, and this is not a root shell on Debian, so it was not set up.
  Start your engine (e.g. `sudo systemctl start docker`) or add your user to the `docker` group,
  then check with `docker info`.
MSG
    return 1
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
      return 0
    fi
    sleep 1
  done
  echo "selma3d: dockerd did not answer within 60 s; its log ends with:" >&2
  tail -n 20 "$log" >&2
  return 1
}

ensure_podman() {
  local sock log
  if [ "$(id -u)" = 0 ]; then
    sock=/run/podman/podman.sock
    log=${SELMA3D_PODMAN_LOG:-/var/log/selma3d-podman.log}
  else
    sock=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/podman/podman.sock
    log=${SELMA3D_PODMAN_LOG:-${XDG_RUNTIME_DIR:-/tmp}/selma3d-podman.log}
  fi
  service_answers() { curl -sf --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }

  if [ -S "$sock" ] && service_answers; then
    echo "podman engine: answering at unix://$sock"
    return 0
  fi

  if ! command -v podman >/dev/null 2>&1 || ! command -v catatonit >/dev/null 2>&1 \
     || ! command -v runc >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    if ! debian_root; then
      cat >&2 <<'MSG'
selma3d: Podman (with catatonit and runc) is not installed, and this is not a root shell on
  Debian, so it was not set up. Ask for `apt-get install podman catatonit runc`, then run this
  again, or start `podman system service --time=0 unix://SOCKET &` and set DOCKER_HOST.
MSG
      return 1
    fi
    echo "podman engine: installing Debian's podman, catatonit (the --init binary) and runc"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman catatonit runc curl
  fi

  local conf=/etc/containers/containers.conf
  if [ "$(id -u)" = 0 ] && [ ! -e "$conf" ]; then
    # Within the host's hard limits: containers that state no ulimits of their own (selma3d's
    # state theirs) start with these rather than Podman's built-in ones.
    local nofile nproc
    nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -gt 1024 ] && nofile=1024
    nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 1024 ] && nproc=1024
    echo "podman engine: writing $conf (runc, cgroupfs, nofile=$nofile, nproc=$nproc)"
    mkdir -p /etc/containers
    cat >"$conf" <<CONF
# Written by selma3d's docker/ensure-engine.sh. runc and cgroupfs: crun does not support
# cgroup v1/hybrid hosts, and systemd is not this machine's init. Explicit default ulimits:
# Podman's built-in ones may exceed the host's hard limits (error setting rlimit).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
  elif [ -e "$conf" ]; then
    echo "podman engine: keeping $conf as it is"
  fi

  mkdir -p "$(dirname "$sock")"
  echo "podman engine: starting \`podman system service --time=0 unix://$sock\` (log: $log)"
  # From /: conmon leaves an `oom` file in the service's working folder when a container is
  # killed for memory, which must not land in the caller's checkout.
  (cd / && exec nohup setsid podman system service --time=0 "unix://$sock") >"$log" 2>&1 </dev/null &

  for _ in $(seq 1 60); do
    if service_answers; then
      echo "podman engine: answering at unix://$sock (selma3d finds it with --engine podman" \
           "or SELMA3D_ENGINE=podman)"
      return 0
    fi
    sleep 1
  done
  echo "selma3d: podman's service did not answer within 60 s; its log ends with:" >&2
  tail -n 20 "$log" >&2
  return 1
}

case "$engine" in
  docker) ensure_docker ;;
  podman) ensure_podman ;;
  *) echo "selma3d: SELMA3D_ENGINE is '$engine'; expected docker or podman" >&2; exit 2 ;;
esac
