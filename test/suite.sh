#!/usr/bin/env bash
# The suite proper, run inside a cluster (test/run starts a throwaway one).
# Counts pg_regress and isolation tests one each, the cases each
# test/*_test.py reports (a Python test that dies without its closing
# "N passed, N failed" line counts as one failure), and test/demo as one.  Prints one line per test
# file while it runs; then, if anything failed, what failed (diffs first);
# the last line is "N passed, N failed".  Full output: log/.
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
passed=0
failed=0
failures=()   # what to show at the end, in order: "regress", "isolation", test/x_test.py
declare -A exit_status
PYTHON=/usr/bin/python3
mkdir -p log

# pg_regress, then the isolation specs, each in its own make run: make stops
# at the first failing command, which would skip the isolation specs.
# $1: name, $2: the make variable to empty so that only the other kind runs.
regress() {
    local name=$1 ok bad status start=$SECONDS
    make -s installcheck PG_CONFIG="$PG_CONFIG" "$2=" > "log/$name.log" 2>&1
    status=$?
    ok=$(grep -cE '\.\.\. ok|^ok ' "log/$name.log")
    bad=$(grep -cE '\.\.\. FAILED|^not ok |failed \(ignored\)' "log/$name.log")
    # failed before any test ran (no server, CREATE EXTENSION failed...)
    [ "$status" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
    passed=$((passed + ok))
    failed=$((failed + bad))
    echo "== $name: $ok passed, $bad failed ($((SECONDS - start)) s)"
    [ "$bad" -eq 0 ] || failures+=("$name")
}
regress regress ISOLATION
regress isolation REGRESS

for t in test/*_test.py; do
    [ -e "$t" ] || continue
    log="log/$(basename "$t").log"
    start=$SECONDS
    $PYTHON "$t" > "$log" 2>&1
    status=$?
    exit_status[$t]=$status
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        echo "== $t: crashed, exit status $status ($((SECONDS - start)) s)"
        failures+=("$t")
        continue
    fi
    p=$(echo "$line" | cut -d' ' -f1)
    f=$(echo "$line" | cut -d' ' -f3)
    # a nonzero exit status with no failure counted is one failure
    [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    passed=$((passed + p))
    failed=$((failed + f))
    echo "== $t: $p passed, $f failed ($((SECONDS - start)) s)"
    [ "$f" -eq 0 ] || failures+=("$t")
done

# the newcomer's first command, against this cluster with what was installed
start=$SECONDS
if PGDATABASE=${PGDATABASE:-postgres} BANDIT_NO_INSTALL=1 bash test/demo > log/demo.log 2>&1; then
    passed=$((passed + 1))
    echo "== test/demo: 1 passed, 0 failed ($((SECONDS - start)) s)"
else
    exit_status[test/demo]=$?
    failed=$((failed + 1))
    echo "== test/demo: 0 passed, 1 failed ($((SECONDS - start)) s)"
    failures+=("test/demo")
fi

for what in "${failures[@]}"; do
    case $what in
    regress|isolation)
        [ "$what" = regress ] && diffs=regression.diffs || diffs=output_iso/regression.diffs
        echo
        echo "== FAILED $what:" $(grep -E 'FAILED|^not ok |failed \(ignored\)' "log/$what.log" |
                                  sed -E 's/^(test|not ok)? *//; s/ +\.\.\. .*//')
        if [ -f "$diffs" ]; then
            echo "-- $diffs (first 200 lines):"
            head -n 200 "$diffs"
        else
            tail -n 20 "log/$what.log"
        fi
        ;;
    *)
        log="log/$(basename "$what").log"
        echo
        echo "== FAILED $what (exit status ${exit_status[$what]}; whole output: $log)"
        if grep -qE '^FAIL|^Traceback' "$log"; then
            # the first failures, each line cut short (some print whole function bodies)
            grep -E -A2 '^FAIL' "$log" | head -n 40 | sed -E 's/^(.{300}).+/\1 [...]/'
            grep -q '^Traceback' "$log" && sed -n '/^Traceback/,$p' "$log" | tail -n 25
        else
            tail -n 15 "$log"
        fi
        ;;
    esac
done

[ "$failed" -eq 0 ] || echo
echo "$passed passed, $failed failed" | tee log/summary
[ "$failed" -eq 0 ]
