#!/usr/bin/env bash
# Runs every compiled test with tap and ends with one plain line "N passed, N failed" (tap's totals of
# assertions), so a run that executed nothing is visible as such.
set -uo pipefail
cd "$(dirname "$0")/.."
# --only: the paths given and nothing else (the SD image's slow test); otherwise every suite.
if [ "${1:-}" = --only ]; then
  shift
  dirs=()
else
  # The fuzz suite by its test files: its generators and harness beside them are modules, not tests.
  mapfile -t dirs < <(ls -d build/*/test build/test/e2e build/test/fuzz/*.test.js 2>/dev/null)
fi
out=$(mktemp)
npx tap --reporter=terse "${dirs[@]}" "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
line=$(grep -E '^Asserts:' "$out" | tail -n 1)
rm -f "$out"
passed=$(sed -nE 's/.* ([0-9]+) pass.*/\1/p' <<<"$line")
failed=$(sed -nE 's/.* ([0-9]+) fail.*/\1/p' <<<"$line")
if [ -z "$passed" ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
[ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ] && failed=1
echo "${passed} passed, ${failed:-0} failed"
exit "$status"
