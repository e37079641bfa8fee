#!/usr/bin/env bash
# `make compose-test`, as root: a dockerd of its own (scripts/compose/dockerd.sh, stopped at the end), the
# Debian base image (scripts/compose/base-image.sh), the images of deploy/compose.yaml,
# deploy/compose.publisher.yaml and deploy/compose.cluster.yaml, then test/compose/ (it brings each file
# up, registers two boxes and a publisher, checks the dashboard's API, kills one of the cluster's three
# entrances and brings everything down). Ends with tap's "N passed, N failed".
# Built layers are kept in build/docker/: a second run with the same sources builds nothing. (They are
# not pruned: `docker image prune` would drop the build stage's untagged image, the cache of npm ci.)
set -euo pipefail
cd "$(dirname "$0")/../.."
# Debian's docker and docker-compose, whatever else is on PATH.
export PATH="/usr/sbin:/usr/bin:$PATH"
start=$(date +%s)
elapsed() { echo "compose-test: $1 after $(( $(date +%s) - start )) s"; }

scripts/compose/dockerd.sh start
trap 'scripts/compose/dockerd.sh stop' EXIT
export DOCKER_HOST="unix://$PWD/build/docker/docker.sock"
scripts/compose/base-image.sh
elapsed "base image ready"

DANDELION_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export DANDELION_COMMIT
mkdir -p build/compose
for file in compose.yaml compose.publisher.yaml compose.cluster.yaml; do
  if ! docker-compose -f "deploy/$file" build >"build/compose/build-${file%.yaml}.log" 2>&1; then
    tail -n 60 "build/compose/build-${file%.yaml}.log"
    echo "compose-test: building the images of deploy/$file failed (build/compose/build-${file%.yaml}.log)" >&2
    exit 1
  fi
done
elapsed "images built"
status=0
# One file at a time: the cluster file alone runs eleven containers and three host processes on two cores.
scripts/test.sh --only build/test/compose/*.test.js --jobs=1 --timeout=600 || status=$?
elapsed "done"
exit "$status"
