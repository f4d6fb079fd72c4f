#!/usr/bin/env bash
# Runs every test program in $BUILD/tests. Exit codes: 0 pass, 77 skip, anything else fail.
# Ends with the one summary line "N passed, N failed" (skips are listed and counted apart).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
pass=0; fail=0; skip=0; failed=()
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  log="$BUILD/tests/$name.log"
  start=$(date +%s.%N)
  "$t" >"$log" 2>&1
  rc=$?
  dur=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
  if [ $rc -eq 0 ]; then pass=$((pass+1)); printf 'PASS  %-32s %6ss\n' "$name" "$dur"
  elif [ $rc -eq 77 ]; then skip=$((skip+1)); printf 'SKIP  %-32s %s\n' "$name" "$(tail -n1 "$log")"
  else fail=$((fail+1)); failed+=("$name"); printf 'FAIL  %-32s (exit %d)\n' "$name" "$rc"; tail -n 20 "$log" | sed 's/^/      /'
  fi
done
[ $skip -gt 0 ] && echo "($skip skipped)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
