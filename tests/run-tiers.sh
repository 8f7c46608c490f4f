#!/usr/bin/env bash
# Run test tiers one after the other (make TIER), time each, and fail if any failed.
# Every tier runs even after a failure, so one CI log shows the whole picture.
# Closes with the plain line "tiers: N passed, N failed".
set -uo pipefail
passed=0 failed=0 report=()
for tier in "$@"; do
  echo "=================== tier: $tier"
  start=$(date +%s)
  if make --no-print-directory "$tier"; then
    passed=$((passed + 1)); result=passed
  else
    failed=$((failed + 1)); result=FAILED
  fi
  secs=$(( $(date +%s) - start ))
  report+=("$(printf '%-10s %-7s %5d s' "$tier" "$result" "$secs")")
  echo "=================== tier $tier $result in $secs s"
done
echo "=================== summary"
printf '%s\n' "${report[@]}"
echo "tiers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
