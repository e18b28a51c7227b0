#!/usr/bin/env bash
# dockerd.sh install|start|stop|status - the lab's own Docker daemon (Debian's docker.io), for the
# Docker image test (test/interop/docker.test.ts). Never another dockerd's state or network:
#   - its own data root (images, build cache, volumes) in $PPTP_LAB_CACHE/docker/data-root, kept
#     between runs so that a second image build is served from the cache;
#   - its own exec root, unix socket, pid file and log in /run/pptp-lab/docker;
#   - --bridge=none --iptables=false --ip-masq=false --ip-forward=false: no docker0, no iptables rule,
#     no sysctl changed in the root namespace. Containers run with --network none; the test gives them
#     a veth into its own namespace.
# `start` prints DOCKER=<client> and DOCKER_HOST=unix://<socket> (also when it was already running) and
# DOCKERD_PID=<pid>; STARTED=1 when this call started it. `stop` ends that daemon by its PID.
# `install` installs docker.io with apt-get when dockerd is missing, without starting a system
# daemon (policy-rc.d) on a machine whose init would.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

STATE="${PPTP_LAB_CACHE:-/var/cache/pptp-lab}/docker"
RUN=/run/pptp-lab/docker
SOCK="$RUN/docker.sock"
PIDFILE="$RUN/dockerd.pid"
LOG="$RUN/dockerd.log"

[ "$(id -u)" = 0 ] || lab_die "must run as root"

install_engine() {
  command -v dockerd >/dev/null && return 0
  export DEBIAN_FRONTEND=noninteractive
  # No system daemon started by the package (its docker0 bridge and iptables rules would change the
  # root namespace): policy-rc.d 101 = "action forbidden", honoured by invoke-rc.d and deb-systemd-invoke.
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; added=1; fi
  apt-get install -y -q --no-install-recommends docker.io >&2 || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends docker.io >&2; } || {
    [ "$added" = 0 ] || rm -f "$policy"; lab_die "cannot install docker.io"; }
  [ "$added" = 0 ] || rm -f "$policy"
  command -v dockerd >/dev/null || lab_die "docker.io installed but no dockerd"
}

# The client of the same package (docker.io: /usr/bin/docker), before any other docker in PATH.
client() {
  local c
  for c in /usr/bin/docker "$(dirname "$(command -v dockerd)")/docker"; do [ -x "$c" ] && { echo "$c"; return; }; done
  command -v docker
}

running_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}

start() {
  install_engine
  mkdir -p "$STATE/data-root" "$RUN/exec"
  local started=0 pid
  pid="$(running_pid || true)"
  if [ -z "$pid" ]; then
    echo '{}' >"$RUN/daemon.json" # not /etc/docker/daemon.json: nothing of another daemon's settings
    # setsid: the daemon outlives the shell that started it; stopped by its PID (stop).
    setsid dockerd --config-file "$RUN/daemon.json" --data-root "$STATE/data-root" --exec-root "$RUN/exec" \
      -H "unix://$SOCK" --pidfile "$PIDFILE" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
      --ip-forward=false --userland-proxy=false --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs \
      --log-level=warn </dev/null >"$LOG" 2>&1 &
    started=1
    local deadline=$((SECONDS + 60))
    until "$(client)" -H "unix://$SOCK" version >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || { tail -n 20 "$LOG" >&2; lab_die "dockerd did not answer within 60 s (log: $LOG)"; }
      sleep 0.5
    done
    pid="$(running_pid)"
  fi
  echo "DOCKER=$(client)"
  echo "DOCKER_HOST=unix://$SOCK"
  echo "DOCKERD_PID=$pid"
  echo "STARTED=$started"
}

stop() {
  local pid
  pid="$(running_pid || true)"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid"
  for _ in $(seq 1 60); do [ -d "/proc/$pid" ] || return 0; sleep 0.5; done
  lab_die "dockerd $pid still running 30 s after SIGTERM"
}

case "${1:-status}" in
  install) install_engine ;;
  start) start ;;
  stop) stop ;;
  status) pid="$(running_pid || true)"; if [ -n "$pid" ]; then echo "dockerd $pid, DOCKER_HOST=unix://$SOCK"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
