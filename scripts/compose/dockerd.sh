#!/usr/bin/env bash
# A dockerd of `make compose-test`'s own (Debian's docker.io), as root: no bridge and no iptables rules
# (the containers use the host's network), its images, layers and volumes under build/docker/data (kept,
# so the next run reuses the built layers), its socket build/docker/docker.sock, its own containerd
# namespace, so it neither sees nor touches another dockerd on the machine.
#   dockerd.sh start   start it (or keep the one already started here) and wait until it answers
#   dockerd.sh stop    stop the one started here (SIGTERM: it stops its containers and containerd)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/sbin:/usr/bin:$PATH"
dir="$PWD/build/docker"
pidfile="$dir/dockerd.pid"
export DOCKER_HOST="unix://$dir/docker.sock"

# Exec-root holds containerd's sockets (107-byte path limit): short, and unique to this checkout.
exec_root="/var/lib/dandelion-docker/$(printf %s "$dir" | sha256sum | cut -c1-8)"

# dockerd mounts the host's network namespace at <exec-root>/netns/default and leaves it when it exits:
# unmounted, so a stopped run leaves no mount behind (it would hold the checkout's folder busy).
release_netns() { umount "$exec_root/netns/default" 2>/dev/null || true; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

case "${1:-}" in
  start)
    mkdir -p "$dir"
    if running && answers; then exit 0; fi
    setsid dockerd --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
      --data-root "$dir/data" --exec-root "$exec_root" --pidfile "$pidfile" -H "$DOCKER_HOST" \
      --containerd-namespace dandelion-compose --containerd-plugins-namespace dandelion-compose-plugins \
      --log-level warn >"$dir/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
      answers && exit 0
      sleep 0.5
    done
    tail -n 30 "$dir/dockerd.log" >&2
    echo "dockerd.sh: dockerd did not answer on $DOCKER_HOST within 60 s ($dir/dockerd.log)" >&2
    exit 1
    ;;
  stop)
    running || { release_netns; exit 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || { release_netns; exit 0; }
      sleep 0.5
    done
    echo "dockerd.sh: dockerd $pid still running 30 s after SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
    release_netns
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
