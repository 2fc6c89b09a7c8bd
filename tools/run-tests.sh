#!/usr/bin/env bash
# Runs the xunit suite and prints its result as the last line: "N passed, N failed, N skipped".
# Extra arguments go to dotnet test (e.g. --filter).
set -uo pipefail
cd "$(dirname "$0")/.."
results=build/test-results
rm -rf "$results"; mkdir -p "$results"
dotnet test tests/Tap.Tests -c "${CONFIG:-Release}" --nologo \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$results" --blame-hang-timeout 8m "$@"
rc=$?
trx=$(find "$results" -name '*.trx' | head -n1)
if [ -z "$trx" ]; then
  echo "no test results (dotnet test exited $rc)" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
counters=$(grep -o '<Counters [^>]*>' "$trx")
get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
total=$(get total); passed=$(get passed); failed=$(get failed); executed=$(get executed)
errors=$(get error)
failed=$((failed + ${errors:-0}))
skipped=$((total - executed))
# A build or runner failure with no failed test still fails the run.
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
