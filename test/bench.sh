#!/usr/bin/env bash
# Benchmarks of bandit against baselines measured in the same run.  Not part
# of the test suite: run by hand after test/run (or make install), as
#     bash test/bench.sh
# It starts a throwaway cluster unless PGDATABASE is set, in which case it
# works in that database inside a schema bandit_bench that it creates and
# drops.  Each figure is the best of BENCH_RUNS runs (default 3) after one
# warm-up run, as the server's own "Execution Time" of EXPLAIN (ANALYZE,
# TIMING OFF).  JIT is off so that compile time does not blur the figures.
# BENCH_ROWS (default 10 million) sets the size of the table benchmarks;
# BENCH_PB_CALLS (200) and BENCH_FISHER_CALLS (1000) the per-call loops.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_MAJOR=${PG_MAJOR:-15}

if [ -z "${PGDATABASE:-}" ]; then
    # pg_virtualenv sets PGDATABASE, so the second pass runs the benchmarks.
    # Shared buffers above 4 times the table keep sequential scans out of the
    # small ring buffer, so the figures measure computation, not page copies.
    exec pg_virtualenv -t -v "$PG_MAJOR" -o shared_buffers=2GB -o max_worker_processes=8 \
        -o max_parallel_workers=8 bash "$0" "$@"
fi

ROWS=${BENCH_ROWS:-10000000}
RUNS=${BENCH_RUNS:-3}
PB_CALLS=${BENCH_PB_CALLS:-200}
FISHER_CALLS=${BENCH_FISHER_CALLS:-1000}

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
COMMON="SET jit = off; SET search_path = pg_catalog;"
SERIAL="SET max_parallel_workers_per_gather = 0;"
# A parallel plan whatever the table size; $1 workers may be launched.
parallel() {
    echo "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
          SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
          SET max_parallel_workers = $1;"
}

# Runs the queries "$2" and (if given) "$3" alternately, 1 + RUNS times each,
# in one session after the settings "$1", so that both see the same load.
# Sets BEST[j] to the fastest timed run of query j (ms; the first round is a
# warm-up) and LAUNCHED[j] to the parallel workers its last run launched.
measure() {
    local k=$(($# - 1)) q out
    out=$({ echo "$COMMON $1"
            for ((r = 0; r <= RUNS; r++)); do
                for q in "${@:2}"; do
                    echo "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $q;"
                done
            done; } | "${PSQL[@]}")
    BEST=() LAUNCHED=()
    for ((j = 1; j <= k; j++)); do
        # Each EXPLAIN ends with its Execution Time line; number them n = 1, 2, ...
        BEST[j]=$(echo "$out" | awk -v k="$k" -v j="$j" '
            /^Execution Time:/ { n++; if (n > k && (n - j) % k == 0) print $3 }' | sort -g | head -n 1)
        LAUNCHED[j]=$(echo "$out" | awk -v k="$k" -v j="$j" '
            /Workers Launched:/ { w = $3 }
            /^Execution Time:/ { n++; if ((n - j) % k == 0) last = w; w = 0 }
            END { print last + 0 }')
    done
}

div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
row() { printf '%-46s %12s %12s %8s  %s\n' "$@"; }

echo "== setting up (PostgreSQL $(${PSQL[@]} -c 'SHOW server_version'), $(nproc) CPUs:" \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))"
"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS bandit" -c "CREATE SCHEMA bandit_bench"
trap '"${PSQL[@]}" -c "DROP SCHEMA bandit_bench CASCADE" >/dev/null 2>&1 || true' EXIT
"${PSQL[@]}" >/dev/null <<SQL
SELECT setseed(0.5);
CREATE TABLE bandit_bench.rows AS
    SELECT 100 + 15 * (random() - 0.5) AS x, i % 2 = 0 AS g
    FROM generate_series(1, $ROWS) AS i;
VACUUM ANALYZE bandit_bench.rows;
-- prob_best inputs: the sample size n runs from 10 to 10^7 over the calls,
-- the click rates of the arms lie between 0.100 and 0.105.
CREATE FUNCTION bandit_bench.arms(k int, calls int) RETURNS TABLE(i int, a float8[], b float8[])
LANGUAGE sql AS \$\$
    SELECT i, array_agg(1 + round(n * p) ORDER BY j), array_agg(1 + n - round(n * p) ORDER BY j)
    FROM (SELECT i, j, round(10 ^ (1 + 6.0 * (i - 1) / greatest(calls - 1, 1)))::float8 AS n,
                 0.1 + 0.005 * ((7 * j + i) % k) / k AS p
          FROM generate_series(1, calls) AS i, generate_series(1, k) AS j) AS s
    GROUP BY i
\$\$;
CREATE TABLE bandit_bench.arms10 AS SELECT * FROM bandit_bench.arms(10, $PB_CALLS);
CREATE TABLE bandit_bench.arms50 AS SELECT * FROM bandit_bench.arms(50, $PB_CALLS);
-- A function call that does nothing (STRICT and not using its arguments,
-- so it is called rather than inlined): the cost of a call from SQL.
CREATE FUNCTION bandit_bench.empty(bigint, bigint, bigint, bigint) RETURNS float8
    LANGUAGE sql IMMUTABLE STRICT AS 'SELECT 0::float8';
SQL
echo "   $ROWS rows, best of $RUNS runs after a warm-up, jit off"
echo

T=bandit_bench.rows
NATIVE="SELECT count(x), avg(x), var_samp(x) FROM $T"
SUMMARIZE="SELECT bandit.summarize(x) FROM $T"

row "benchmark" "bandit ms" "native ms" "ratio" "target"
row "---------" "---------" "---------" "-----" "------"

# a) summarize against count/avg/var_samp, serial and parallel.
measure "$SERIAL" "$SUMMARIZE" "$NATIVE"; s_serial=${BEST[1]}; n_serial=${BEST[2]}
row "a) summarize(x), serial" "$s_serial" "$n_serial" "$(div "$s_serial" "$n_serial")" "<= 1.30"
declare -A s_par n_par
for w in 0 1 2; do
    measure "$(parallel $w)" "$SUMMARIZE" "$NATIVE"; s_par[$w]=${BEST[1]}; n_par[$w]=${BEST[2]}
    row "   parallel plan, $w worker(s) (launched ${LAUNCHED[1]}/${LAUNCHED[2]})" \
        "${s_par[$w]}" "${n_par[$w]}" "$(div "${s_par[$w]}" "${n_par[$w]}")" ""
done
for w in 1 2; do
    row "   speedup, $w worker(s) vs serial" "$(div "$s_serial" "${s_par[$w]}")x" \
        "$(div "$n_serial" "${n_par[$w]}")x" "" ""
done

# d) the raw-row t-test aggregate against the native per-group statistics.
TTEST="SELECT bandit.t_test(x, g) FROM $T"
GROUPED="SELECT g, count(x), avg(x), var_samp(x) FROM $T GROUP BY g"
measure "$SERIAL" "$TTEST" "$GROUPED"
row "d) t_test(x, g), serial" "${BEST[1]}" "${BEST[2]}" "$(div "${BEST[1]}" "${BEST[2]}")" ""
measure "$(parallel 2)" "$TTEST" "$GROUPED"
row "   parallel plan, 2 worker(s) (launched ${LAUNCHED[1]}/${LAUNCHED[2]})" \
    "${BEST[1]}" "${BEST[2]}" "$(div "${BEST[1]}" "${BEST[2]}")" ""
echo

row "per call" "bandit ms" "baseline ms" "" "target"
row "--------" "---------" "-----------" "" "------"

# b) prob_best and expected_loss, ms per call.
for k in 10 50; do
    measure "$SERIAL" "SELECT sum((bandit.prob_best(a, b))[1]) FROM bandit_bench.arms$k" \
        "SELECT sum((bandit.expected_loss(a, b))[1]) FROM bandit_bench.arms$k"
    row "b) prob_best, $k arms" "$(per "${BEST[1]}" "$PB_CALLS")" "" "" "$([ $k = 10 ] && echo '< 5')"
    row "   expected_loss, $k arms" "$(per "${BEST[2]}" "$PB_CALLS")" "" "" ""
done

# c) fisher_exact with cells near 10^6 (and 10^7), ms per call, against an
#    empty SQL function called with the same arguments.
for scale in 1000000 10000000; do
    cells="$scale + (37 * i) % 2000, $scale - (53 * i) % 3000, $scale - 1000 + (11 * i) % 2500, $scale + 500 - (29 * i) % 1500"
    measure "$SERIAL" \
        "SELECT sum((bandit.fisher_exact($cells)).p_value) FROM generate_series(1, $FISHER_CALLS) AS i" \
        "SELECT sum(bandit_bench.empty($cells)) FROM generate_series(1, $FISHER_CALLS) AS i"
    row "c) fisher_exact, cells near $scale" "$(per "${BEST[1]}" "$FISHER_CALLS")" \
        "$(per "${BEST[2]}" "$FISHER_CALLS")" "" "$([ $scale = 1000000 ] && echo '< 1')"
done
