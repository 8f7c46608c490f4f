#!/usr/bin/env bash
# Run test tiers (make TIER), time each, and fail if any failed.
#   tests/run-tiers.sh unit sanity molecule+lab
# Tiers are run one after the other; tiers joined by '+' run side by side (independent ones: the
# Molecule hosts and the lab live on networks of their own), their output shown one after the other
# once all of them ended. The collection is built once before (make test does it): a tier run here
# never rebuilds it (make -o collection), so a tier running beside it never sees it replaced.
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

# record TIER RC SECONDS: count it, and keep why it failed
record() {
  local tier=$1 rc=$2 secs=$3 log="$logdir/$1.log" result
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); result=passed
  else
    failed=$((failed + 1)); result=FAILED
    digests+=("--- why tier $tier failed (whole output: $log)"
              "$(grep -E -a '^(FAILED|ERROR) |^E  |^fatal: |^failed: |^ERROR |^CRITICAL |^labctl: ERROR|Error [0-9]+$|^[=_]+ .*(failed|error).* [=_]+$' "$log" \
                 | cut -c1-400 | tail -n 40)")
  fi
  report+=("$(printf '%-10s %-7s %5d s' "$tier" "$result" "$secs")")
  echo "=================== tier $tier $result in $secs s"
}

for group in "$@"; do
  IFS='+' read -r -a tiers <<< "$group"
  if [ "${#tiers[@]}" -eq 1 ]; then
    tier=${tiers[0]}
    echo "=================== tier: $tier"
    start=$(date +%s)
    make --no-print-directory -o collection "$tier" 2>&1 | tee "$logdir/$tier.log"
    record "$tier" "${PIPESTATUS[0]}" $(( $(date +%s) - start ))
    continue
  fi
  echo "=================== tiers side by side: ${tiers[*]}"
  declare -A pids=() starts=()
  for tier in "${tiers[@]}"; do
    starts[$tier]=$(date +%s)
    ( make --no-print-directory -o collection "$tier" > "$logdir/$tier.log" 2>&1
      echo "$? $(date +%s)" > "$logdir/$tier.rc" ) &
    pids[$tier]=$!
  done
  for tier in "${tiers[@]}"; do
    wait "${pids[$tier]}"
  done
  for tier in "${tiers[@]}"; do
    echo "=================== tier: $tier (ran beside: ${tiers[*]})"
    cat "$logdir/$tier.log"
    read -r rc end < "$logdir/$tier.rc" || { rc=1; end=$(date +%s); }
    record "$tier" "$rc" $(( end - starts[$tier] ))
  done
  unset pids starts
done
echo "=================== summary"
[ ${#digests[@]} -eq 0 ] || printf '%s\n' "${digests[@]}"
printf '%s\n' "${report[@]}"
echo "tiers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
