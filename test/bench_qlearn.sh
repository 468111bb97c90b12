#!/usr/bin/env bash
# Benchmark of Q-learning, run by hand (not by the suite): bandit.q_learn
# against a bare single-row INSERT ... ON CONFLICT DO UPDATE on a table of the
# same shape (the floor of any table-backed update), and against the whole
# Bellman update written by hand as one statement (with its max over the next
# state), all on 100 states x 4 actions already learned, random (state,
# action, next state), 1 client, -M prepared (the bare statements' best case);
# for reference, q_select with epsilon 0 over the 4 actions.
# The scripts run interleaved and are compared by mean latency
# (mean_latencies in bench_lib.sh); three runs, each after a VACUUM, and the
# median ratio is the result.
# Starts its own throwaway cluster unless $PGDATABASE is set.  BENCH_SECONDS
# (10) sets the length of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGDATABASE:-}" ]; then
    exec pg_virtualenv -t -v "${PG_MAJOR:-15}" bash "$0" "$@"
fi
DB=bandit_bench_qlearn
. test/bench_lib.sh

psql -qX -o /dev/null -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE EXTENSION bandit;
INSERT INTO bandit.q_table (agent, state, action, q_value, update_count)
SELECT 'bench', 's' || s, 'a' || a, random(), 1 FROM generate_series(0, 99) s, generate_series(0, 3) a;
CREATE TABLE bare_q (LIKE bandit.q_table INCLUDING ALL) WITH (fillfactor = 70);
INSERT INTO bare_q SELECT * FROM bandit.q_table;
VACUUM ANALYZE;
SQL

cat > "$WORK/bandit.sql" <<'EOF2'
\set s random(0, 99)
\set a random(0, 3)
\set n random(0, 99)
SELECT bandit.q_learn('bench', 's' || :s, 'a' || :a, 0.5, 's' || :n);
EOF2
cat > "$WORK/bare_upsert.sql" <<'EOF2'
\set s random(0, 99)
\set a random(0, 3)
INSERT INTO bare_q AS q (agent, state, action, q_value, update_count, last_updated)
VALUES ('bench', 's' || :s, 'a' || :a, 0.05, 1, now())
ON CONFLICT (agent, state, action) DO UPDATE
SET q_value = 0.9 * q.q_value + excluded.q_value, update_count = q.update_count + 1, last_updated = excluded.last_updated;
EOF2
cat > "$WORK/bare_bellman.sql" <<'EOF2'
\set s random(0, 99)
\set a random(0, 3)
\set n random(0, 99)
INSERT INTO bare_q AS q (agent, state, action, q_value, update_count, last_updated)
VALUES ('bench', 's' || :s, 'a' || :a,
        0.1 * (0.5 + 0.9 * coalesce((SELECT max(m.q_value) FROM bare_q m WHERE m.agent = 'bench' AND m.state = 's' || :n), 0)),
        1, now())
ON CONFLICT (agent, state, action) DO UPDATE
SET q_value = 0.9 * q.q_value + excluded.q_value, update_count = q.update_count + 1, last_updated = excluded.last_updated;
EOF2
cat > "$WORK/select.sql" <<'EOF2'
\set s random(0, 99)
SELECT bandit.q_select('bench', 's' || :s, '{a0,a1,a2,a3}', 0);
EOF2


echo "q_learn, 100 states x 4 actions, 1 client, -M prepared, the scripts interleaved; ${SECONDS_PER_RUN} s runs"
echo "    run   q_learn  bare upsert  bare Bellman  q_select (ms)   upsert/q_learn  Bellman/q_learn"
ratios1=() ratios2=()
for run in 1 2 3; do
    psql -qX -d "$DB" -c "VACUUM bandit.q_table, bare_q"
    read -r -a l <<< "$(mean_latencies 1 "-M prepared" bandit bare_upsert bare_bellman select)"
    [ "${#l[@]}" = 4 ] || { echo "pgbench failed" >&2; exit 1; }
    r1=$(ratio "${l[1]}" "${l[0]}")
    r2=$(ratio "${l[2]}" "${l[0]}")
    printf '    %-5s %7.4f  %11.4f  %12.4f  %8.4f       %14s  %15s\n' "$run" "${l[@]}" "$r1" "$r2"
    ratios1+=("$r1") ratios2+=("$r2")
done
r1=$(median "${ratios1[@]}")
r2=$(median "${ratios2[@]}")
echo "    q_learn / bare upsert, throughput = $r1 (median of 3; target >= 0.7): $(verdict "$r1" 0.7)"
echo "    q_learn / bare Bellman upsert, throughput = $r2 (median of 3; target >= 0.7): $(verdict "$r2" 0.7)"
psql -qX -d postgres -c "DROP DATABASE $DB"
