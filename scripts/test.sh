#!/usr/bin/env bash
# Runs every compiled test with tap and ends with one plain line "N passed, N failed" (tap's totals of
# assertions, summed over its runs), so a run that executed nothing is visible as such.
set -uo pipefail
cd "$(dirname "$0")/.."
# Each phase is one tap run: a list of test files and folders.
phases=()
if [ "${1:-}" = --only ]; then
  # --only: the paths given and nothing else (the SD image's slow test).
  shift
  phases+=("")
else
  # The browser tests time playback and staleness in seconds: they run after the rest, one at a time,
  # so they never share the two cores with qemu, a budget flood or each other. The fuzz suite, which
  # saturates both cores for three minutes, is its own target (`make fuzz-test`), run by .ci/run.
  # Two at a time (.taprc's jobs): three cut this phase from 14.6 to 12.4 min, but their load made tests
  # that time real servers (nginx reloads, uploads) fail. The slowest files are listed at the end of the run.
  # The benchmarks' smoke run (4 minutes of real servers, one benchmark after another) is its own target,
  # `make bench-smoke`, which .ci/run runs after this: it checks that every benchmark measures, not the product.
  phases+=("--jobs=2 $(ls -d build/*/test 2>/dev/null | grep -v '^build/bench/test$' | tr '\n' ' ') $(ls build/bench/test/*.test.js 2>/dev/null | grep -v '/smoke\.test\.js$' | tr '\n' ' ')")
  phases+=("--jobs=1 build/test/e2e")
fi
passed=0
failed=0
status=0
out=$(mktemp)
# Marks the start, so the timing summary at the end lists this run's files only.
started=$(mktemp)
first=1
for phase in "${phases[@]}"; do
  read -r -a paths <<<"$phase"
  # The arguments (more paths, tap options) belong to the first phase.
  if [ "$first" -eq 1 ]; then paths+=("$@"); first=0; fi
  # tap given no path would look for tests on its own: a phase with nothing to run counts as a failure.
  if [ "${#paths[@]}" -eq 0 ]; then
    failed=$(( failed + 1 )); status=1
    continue
  fi
  npx tap --reporter=terse "${paths[@]}" 2>&1 | tee "$out"
  run_status=${PIPESTATUS[0]}
  line=$(grep -E '^Asserts:' "$out" | tail -n 1)
  p=$(sed -nE 's/.* ([0-9]+) pass.*/\1/p' <<<"$line")
  f=$(sed -nE 's/.* ([0-9]+) fail.*/\1/p' <<<"$line")
  if [ -z "$p" ]; then
    # A phase that ran no test at all counts as a failure.
    p=0
    f=$(( ${f:-0} + 1 ))
    [ "$run_status" -eq 0 ] && run_status=1
  fi
  [ "$run_status" -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1
  passed=$(( passed + p ))
  failed=$(( failed + ${f:-0} ))
  [ "$run_status" -ne 0 ] && status=$run_status
done
rm -f "$out"
# Where the time went: the slowest test files of this run by tap's own clock (each file's last "# time="
# in .tap/test-results), so a run that got slower names its culprits in CI's log.
if [ -d .tap/test-results ]; then
  echo "slowest test files (s):"
  find .tap/test-results -name '*.tap' -newer "$started" 2>/dev/null | while read -r f; do
    ms=$(sed -nE 's/^# time=([0-9.]+)ms$/\1/p' "$f" | tail -n 1)
    [ -n "$ms" ] && awk -v ms="$ms" -v f="${f#.tap/test-results/}" 'BEGIN { sub(/\.tap$/, "", f); printf "%8.1f %s\n", ms / 1000, f }'
  done \
    | sort -rn | head -n 15
fi
rm -f "$started"
echo "${passed} passed, ${failed} failed"
exit "$status"
