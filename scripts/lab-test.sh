#!/usr/bin/env bash
# The home-network lab's tests (test/lab/, docs/lab.md), sealed: the test runner and everything it
# starts live in one new network namespace that has only loopback, with private tmpfs copies of
# /run/netns and /etc/netns, so the lab's namespaces, veths and public-range addresses can never touch
# the host's network, and nothing of a run (even a killed one) outlives it: it has its own pid namespace
# and its own /tmp (tmpfs) too. Ends with the "N passed, N failed" line of scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "make lab-test needs root (it creates network namespaces, veths and nftables rules): run it as root" >&2
  exit 2
fi
if [ -z "${DANDELION_HOST_NETNS:-}" ]; then
  # Installed before sealing (apt needs the network); the list is LAB_DEBS in the Makefile.
  # shellcheck disable=SC2086
  [ -n "${LAB_DEBS:-}" ] && scripts/ensure-debs.sh $LAB_DEBS
  # The mount points the private tmpfs copies go on (empty on the host; iproute2 uses them anyway).
  mkdir -p /run/netns /etc/netns
  # The host's namespace, so the sealed side (and test/lab/sealed.ts) can check it is elsewhere.
  DANDELION_HOST_NETNS=$(readlink /proc/self/ns/net)
  export DANDELION_HOST_NETNS
  # Its own pid namespace too: when the run ends or is killed, the kernel kills every process it
  # started (miniupnpd, pebble, servers), so none outlives it holding a lab namespace.
  exec unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc -- "$0" "$@"
fi

# From here on: inside the sealed namespace, which must be a new one holding only loopback. Checked
# before anything is mounted or created (/sys/class/net would still show the host's interfaces: ip asks
# the kernel about the current namespace).
if [ "$(readlink /proc/self/ns/net)" = "$DANDELION_HOST_NETNS" ] || [ "$(ip -o link show | cut -d: -f2 | tr -d ' ')" != lo ]; then
  echo "lab-test: not in a fresh network namespace: refusing to build the lab" >&2
  exit 1
fi
set -e
ip link set lo up
mount -t tmpfs -o mode=0755 dandelion-lab /run/netns
mount -t tmpfs -o mode=0755 dandelion-lab /etc/netns
mount -t tmpfs -o mode=1777 dandelion-lab /tmp
# Whatever a test left running in a lab namespace is killed here, so it cannot hold the namespace alive.
cleanup() {
  local left
  left=$(ip netns list | cut -d' ' -f1 | tr '\n' ' ')
  [ -n "$left" ] && echo "lab-test: removing namespaces a test left behind: $left" >&2
  for ns in $left; do
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
set +e
# Each test file builds its own lab; tap's 30 s default is too short for a lab with several homes on a
# loaded machine. Test files (and tap options) given as arguments run instead of all of them, in one tap
# run. Without arguments, household.test runs last and alone: it measures rates and round trips, which
# another lab test on the same two cores (Chromium, ffmpeg) would distort.
household=build/test/lab/household.test.js
phases=()
if [ $# -gt 0 ]; then
  phases+=("$*")
else
  phases+=("$(ls build/test/lab/*.test.js | grep -vxF "$household" | tr '\n' ' ')")
  phases+=("$household")
fi
# The household's figures table is printed after the run (tap's terse reporter hides comments), then
# the sum of the runs' "N passed, N failed" lines.
figures=build/test-output/household-figures.txt
rm -f "$figures"
passed=0
failed=0
status=0
out=$(mktemp)
for phase in "${phases[@]}"; do
  read -r -a paths <<<"$phase"
  scripts/test.sh --only "${paths[@]}" --timeout=540 | tee "$out"
  run_status=${PIPESTATUS[0]}
  [ "$run_status" -ne 0 ] && status=$run_status
  # test.sh's last line: "N passed, N failed".
  read -r p _ f _ < <(tail -n 1 "$out")
  passed=$(( passed + ${p:-0} ))
  failed=$(( failed + ${f:-1} ))
done
rm -f "$out"
[ -f "$figures" ] && cat "$figures"
echo "${passed} passed, ${failed} failed"
exit "$status"
