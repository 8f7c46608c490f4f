#!/usr/bin/env bash
# Run test tiers one after the other (make TIER), time each, and fail if any failed.
# Every tier runs even after a failure, so one CI log shows the whole picture.
# Each tier's output is also kept in $TIER_LOG_DIR (default .cache/tiers); for a failed tier
# the lines that say why (pytest's FAILED/ERROR lines and assertion lines, Ansible's fatal
# lines, make's errors) are repeated in the summary, because a CI log is often read from its
# end and a tier's own cleanup (lab down, molecule destroy) prints after its failure.
# Closes with the plain line "tiers: N passed, N failed".
set -uo pipefail
logdir=${TIER_LOG_DIR:-$(pwd)/.cache/tiers}
mkdir -p "$logdir"
passed=0 failed=0 report=() digests=()
for tier in "$@"; do
  echo "=================== tier: $tier"
  start=$(date +%s)
  log="$logdir/$tier.log"
  make --no-print-directory "$tier" 2>&1 | tee "$log"
  if [ "${PIPESTATUS[0]}" -eq 0 ]; then
    passed=$((passed + 1)); result=passed
  else
    failed=$((failed + 1)); result=FAILED
    digests+=("--- why tier $tier failed (whole output: $log)"
              "$(grep -E -a '^(FAILED|ERROR) |^E  |^fatal: |^failed: |^ERROR |^CRITICAL |^labctl: ERROR|Error [0-9]+$|^[=_]+ .*(failed|error).* [=_]+$' "$log" \
                 | cut -c1-400 | tail -n 40)")
  fi
  secs=$(( $(date +%s) - start ))
  report+=("$(printf '%-10s %-7s %5d s' "$tier" "$result" "$secs")")
  echo "=================== tier $tier $result in $secs s"
done
echo "=================== summary"
[ ${#digests[@]} -eq 0 ] || printf '%s\n' "${digests[@]}"
printf '%s\n' "${report[@]}"
echo "tiers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
