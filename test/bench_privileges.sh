#!/usr/bin/env bash
# Benchmark of access control, run by hand (not by the suite): one choose + reward
# round (Thompson, 10 arms, each round its own transaction) by the policy's owner
# (a plain role) against the same round by a role that holds only use on the
# policy, and by a superuser for reference.  The scripts run interleaved in one
# pgbench run (mean_latencies in bench_lib.sh), 1 client, median of 3 runs; each
# round switches role with SET LOCAL ROLE, the same cost in every script.
# Target (issue 10): app / owner <= 1.05.
# Starts its own throwaway cluster unless $PGDATABASE is set.  BENCH_SECONDS (10) sets the
# length of each pgbench run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGDATABASE:-}" ]; then
    exec pg_virtualenv -t -v "${PG_MAJOR:-15}" bash "$0" "$@"
fi
DB=bandit_bench_privileges
. test/bench_lib.sh

psql -qX -o /dev/null -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET client_min_messages = warning;
DROP ROLE IF EXISTS bench_priv_owner;
DROP ROLE IF EXISTS bench_priv_app;
CREATE ROLE bench_priv_owner;
CREATE ROLE bench_priv_app;
CREATE EXTENSION bandit;
GRANT EXECUTE ON FUNCTION bandit.create_policy(text, text, text[], jsonb) TO bench_priv_owner;
SET ROLE bench_priv_owner;
SELECT bandit.create_policy('bench10', 'thompson', array_agg('a' || i ORDER BY i)) FROM generate_series(0, 9) i;
SELECT bandit.grant('policy', 'bench10', 'bench_priv_app', 'use');
-- grants on other objects, so that the check finds the one it needs among several
SELECT bandit.create_policy('other' || i, 'thompson', ARRAY['a', 'b']) FROM generate_series(1, 50) i;
SELECT bandit.grant('policy', 'other' || i, 'bench_priv_app', p) FROM generate_series(1, 50) i, unnest('{use,read}'::text[]) p;
RESET ROLE;
SQL

# the app role really is refused what it was not granted
psql -qXAt -d "$DB" -c "SET ROLE bench_priv_app" -c "SELECT bandit.add_arm('bench10', 'z')" >/dev/null 2>&1 &&
    { echo "bench_priv_app may add an arm: access control is not in force" >&2; exit 1; }

for who in owner app; do
    cat > "$WORK/$who.sql" <<EOF
BEGIN;
SET LOCAL ROLE bench_priv_$who;
SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('bench10');
COMMIT;
EOF
done
cat > "$WORK/superuser.sql" <<'EOF'
BEGIN;
SET LOCAL ROLE NONE;
SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('bench10');
COMMIT;
EOF

echo "choose + reward, Thompson, 10 arms, 1 client, the scripts interleaved, ${SECONDS_PER_RUN} s runs; mean ms per round"
echo "    run     owner  app (use)  superuser"
rs=()
for run in 1 2 3; do
    read -r -a l <<< "$(mean_latencies 1 "" owner app superuser)"
    [ "${#l[@]}" = 3 ] || { echo "pgbench failed" >&2; exit 1; }
    printf '    %-4s %8.4f  %9.4f  %9.4f\n' "$run" "${l[@]}"
    rs+=("$(ratio "${l[1]}" "${l[0]}" 3)")
done
r=$(median "${rs[@]}")
echo "    app / owner mean latency = $r (${rs[*]}) (target <= 1.05): $(verdict "$r" 1.05 "<=")"
psql -qX -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE bench_priv_owner" -c "DROP ROLE bench_priv_app"
