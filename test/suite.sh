#!/usr/bin/env bash
# The suite proper, run inside a cluster (test/run starts a throwaway one).
# Counts pg_regress tests one each, and the cases each test/*_test.py reports.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
PYTHON=/usr/bin/python3

count() {   # adds the "N passed, N failed" of a log to the totals
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

mkdir -p log
make -s installcheck PG_CONFIG="$PG_CONFIG" > log/regress.log 2>&1
cat log/regress.log
regress_ok=$(grep -cE '\.\.\. ok|^ok ' log/regress.log)
regress_bad=$(grep -cE '\.\.\. FAILED|^not ok |failed \(ignored\)' log/regress.log)
passed=$((passed + regress_ok))
failed=$((failed + regress_bad))
[ -f regression.diffs ] && head -c 20000 regression.diffs

for t in test/*_test.py; do
    [ -e "$t" ] || continue
    echo "== $t"
    $PYTHON "$t" > "log/$(basename "$t").log" 2>&1
    status=$?
    tail -n 30 "log/$(basename "$t").log"
    count "log/$(basename "$t").log"
    [ $status -ne 0 ] && ! grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' "log/$(basename "$t").log" && failed=$((failed + 1))
done

echo "$passed passed, $failed failed" | tee log/summary
[ "$failed" -eq 0 ]
