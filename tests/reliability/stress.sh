#!/usr/bin/env bash
# Run a pytest target N times while two busy loops load both vCPUs of this 2-core machine.
# usage: tests/reliability/stress.sh N [pytest args...]   (default target: tests/reliability)
# Prints one line per run and a TOTAL line; exits non-zero if any run failed.
set -u
cd "$(dirname "$0")/../.."
n=${1:-20}
shift || true
[ $# -gt 0 ] || set -- tests/reliability
pids=()
for _ in 1 2; do (while :; do :; done) & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
pass=0
fail=0
for i in $(seq 1 "$n"); do
  out=$(.venv/bin/pytest -q -p no:cacheprovider "$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "$out" | grep -E "^E  |^FAILED" | head -20; fi
  echo "run $i rc=$rc $(echo "$out" | tail -1)"
done
echo "TOTAL pass=$pass fail=$fail"
[ "$fail" -eq 0 ]
