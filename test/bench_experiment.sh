#!/usr/bin/env bash
# Benchmarks of the experiments layer, run by hand (not by the suite):
#   (a) bandit.analyze over BENCH_ROWS (10 million) observations of one
#       metric in 3 variants (1 million units, 10 values each) against the
#       native per-variant count/avg/var_samp over the same rows, serial and
#       with a parallel plan (target: ratio <= 1.3);
#   (b) assign throughput, a new unit id per call, 1 client, against a bare
#       INSERT ... ON CONFLICT DO NOTHING into a table of the same shape
#       (target: ratio >= 0.7).
# (a) is the best of 3 runs of each query in one session, by the server's
# "Execution Time"; (b) the median of 3 pgbench runs interleaving the two
# scripts, by mean latency (mean_latencies in bench_lib.sh).  Starts its own
# throwaway cluster unless $PGDATABASE is set.  BENCH_SECONDS (10) sets the
# length of each pgbench run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGDATABASE:-}" ]; then
    exec pg_virtualenv -t -v "${PG_MAJOR:-15}" -o shared_buffers=2GB -o max_worker_processes=8 \
        -o max_parallel_workers=8 bash "$0" "$@"
fi
ROWS=${BENCH_ROWS:-10000000}
UNITS=$((ROWS / 10))
DB=bandit_bench_experiment
. test/bench_lib.sh
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB")

echo "== loading $ROWS observations of $UNITS units (PostgreSQL $("${PSQL[@]}" -c 'SHOW server_version'), $(nproc) CPUs)"
SECONDS=0
"${PSQL[@]}" -o /dev/null <<SQL
CREATE EXTENSION bandit;
SELECT bandit.create_experiment('big', ARRAY['control', 'b', 'c'], ARRAY[0.5, 0.25, 0.25]);
SELECT bandit.start_experiment('big');
-- assignment the set-based way: one statement of assign calls
SELECT count(bandit.assign('big', 'u' || i)) FROM generate_series(1, $UNITS) i;
-- ten values per unit, in one INSERT ... SELECT
SELECT setseed(0.5);
INSERT INTO bandit.observation (experiment, unit_id, variant, metric, value)
SELECT 'big', a.unit_id, a.variant, 'revenue',
       10 + (a.variant = 'c')::int * 0.01 + 3 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())
FROM bandit.assignment a, generate_series(1, 10)
WHERE a.experiment = 'big';
VACUUM ANALYZE bandit.observation;
VACUUM ANALYZE bandit.assignment;
SQL
echo "   loaded in ${SECONDS} s"

ANALYZE_Q="SELECT * FROM bandit.analyze('big', 'revenue')"
NATIVE_Q="SELECT variant, count(value), avg(value), var_samp(value) FROM bandit.observation
          WHERE experiment = 'big' AND metric = 'revenue' GROUP BY variant"
SRM_Q="SELECT bandit.srm_check('big')"
SERIAL="SET max_parallel_workers_per_gather = 0;"
PARALLEL="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
          SET max_parallel_workers_per_gather = 2;"

# best_ms settings query...: the fastest of 3 timed runs (after a warm-up) of
# each query, alternated in one session; prints their times (ms) in order
best_ms() {
    local settings=$1
    shift
    { echo "SET jit = off; $settings"
      for _ in 0 1 2 3; do
          for q in "$@"; do echo "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $q;"; done
      done; } | "${PSQL[@]}" |
        awk -v k=$# '/^Execution Time:/ { n++; j = (n - 1) % k; if (n > k && (!(j in best) || $3 < best[j])) best[j] = $3 }
                     END { for (j = 0; j < k; j++) printf "%s%s", best[j], (j < k - 1 ? " " : "\n") }'
}


echo "(a) analyze over $ROWS observations, 3 variants, best of 3 after a warm-up, jit off"
for plan in serial parallel; do
    if [ $plan = serial ]; then set -- "$SERIAL"; else set -- "$PARALLEL"; fi
    read -r a n s < <(best_ms "$1" "$ANALYZE_Q" "$NATIVE_Q" "$SRM_Q")
    r=$(ratio "$a" "$n")
    printf '    %-8s analyze %9.1f ms   native GROUP BY %9.1f ms   ratio %s (target <= 1.3): %s\n' \
        "$plan" "$a" "$n" "$r" "$(verdict "$r" 1.3 '<=')"
    printf '             of which srm_check over the %s assignments %.1f ms\n' "$UNITS" "$s"
done
"${PSQL[@]}" -c "SELECT format('    analyze: %s', string_agg(format('%s n=%s mean=%s p=%s', variant, n, round(mean::numeric, 4),
                     round(p_value::numeric, 4)), '; ')) FROM bandit.analyze('big', 'revenue')"

echo "(b) assign, a new unit per call, 1 client, interleaved with the bare INSERT, ${SECONDS_PER_RUN} s runs"
"${PSQL[@]}" -o /dev/null <<'SQL'
SELECT bandit.create_experiment('fast', ARRAY['control', 'b', 'c'], ARRAY[0.5, 0.25, 0.25]);
SELECT bandit.start_experiment('fast');
CREATE TABLE bare_assignment (LIKE bandit.assignment INCLUDING ALL);
SQL
cat > "$WORK/assign.sql" <<'EOF'
\set u random(1, 1000000000000)
SELECT bandit.assign('fast', :client_id || '-' || :u);
EOF
cat > "$WORK/bare.sql" <<'EOF'
\set u random(1, 1000000000000)
INSERT INTO bare_assignment (experiment, unit_id, variant) VALUES ('fast', :client_id || '-' || :u, 'b') ON CONFLICT DO NOTHING;
EOF
ratios=()
for run in 1 2 3; do
    read -r -a l <<< "$(mean_latencies 1 "" assign bare)"
    [ "${#l[@]}" = 2 ] || { echo "pgbench failed" >&2; exit 1; }
    r=$(ratio "${l[1]}" "${l[0]}")
    printf '    run %s: bandit.assign %.4f ms, bare INSERT %.4f ms, ratio %s\n' "$run" "${l[@]}" "$r"
    ratios+=("$r")
done
r=$(median "${ratios[@]}")
echo "    assign / bare INSERT, throughput = $r (median of 3; target >= 0.7): $(verdict "$r" 0.7 '>=')"
"${PSQL[@]}" -c "SELECT format('    split of the %s units assigned by pgbench: %s (srm p = %s)', sum(n), string_agg(variant || ' ' || n, ', '),
                     round(bandit.srm_check('fast')::numeric, 4))
                 FROM (SELECT variant, count(*) n FROM bandit.assignment WHERE experiment = 'fast' GROUP BY variant ORDER BY variant) s"
psql -qX -d postgres -c "DROP DATABASE $DB"
