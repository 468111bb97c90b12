#!/usr/bin/env bash
# Benchmark of q_learn in instructions, run by hand (not by the suite): the
# statements of test/bench_qlearn.sh -- q_learn, the bare single-row upsert
# and the bare Bellman upsert -- prepared and executed with the same random
# (state, action, next state) sequence by a single-user backend under
# callgrind, each statement its own transaction.  Per statement: the
# instructions of 2200 executions minus those of 200, over 2000, so start-up
# cancels out.  Unlike pgbench's tps, the counts do not move with whatever
# else the machine is doing; they leave out what costs time but few
# instructions (the client round trip, the WAL flush at commit).
# Needs valgrind and the extension installed.
set -euo pipefail
SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
if [ "$(id -u)" = 0 ]; then   # initdb refuses root
    exec runuser -u postgres -- bash "$SCRIPT" "$@"
fi
BIN=$(pg_config --bindir)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$BIN/initdb" -D "$WORK/template" -A trust >/dev/null 2>&1
"$BIN/postgres" --single -D "$WORK/template" postgres >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION bandit;
INSERT INTO bandit.q_table (agent, state, action, q_value, update_count) SELECT 'bench', 's' || s, 'a' || a, random(), 1 FROM generate_series(0, 99) s, generate_series(0, 3) a;
CREATE TABLE bare_q (LIKE bandit.q_table INCLUDING ALL) WITH (fillfactor = 70);
INSERT INTO bare_q SELECT * FROM bandit.q_table;
VACUUM ANALYZE;
SQL
echo "SELECT count(*) FROM bandit.q_table JOIN bare_q USING (agent, state, action);" |
    "$BIN/postgres" --single -D "$WORK/template" postgres 2>/dev/null | grep -q '= "400"' ||
    { echo "setting up the tables failed (is the extension installed?)" >&2; exit 1; }

statement() {
    case $1 in
        bandit) echo "SELECT bandit.q_learn('bench', 's' || \$1, 'a' || \$2, 0.5, 's' || \$3)" ;;
        bare_upsert) echo "INSERT INTO bare_q AS q (agent, state, action, q_value, update_count, last_updated)
            VALUES ('bench', 's' || \$1, 'a' || \$2, 0.05, 1, now())
            ON CONFLICT (agent, state, action) DO UPDATE
            SET q_value = 0.9 * q.q_value + excluded.q_value, update_count = q.update_count + 1, last_updated = excluded.last_updated" ;;
        bare_bellman) echo "INSERT INTO bare_q AS q (agent, state, action, q_value, update_count, last_updated)
            VALUES ('bench', 's' || \$1, 'a' || \$2,
                    0.1 * (0.5 + 0.9 * coalesce((SELECT max(m.q_value) FROM bare_q m WHERE m.agent = 'bench' AND m.state = 's' || \$3), 0)),
                    1, now())
            ON CONFLICT (agent, state, action) DO UPDATE
            SET q_value = 0.9 * q.q_value + excluded.q_value, update_count = q.update_count + 1, last_updated = excluded.last_updated" ;;
    esac
}

instructions() {   # callgrind's count for: script, executions
    rm -rf "$WORK/data"
    cp -a "$WORK/template" "$WORK/data"
    {
        echo "PREPARE p(int, int, int) AS $(statement "$1" | tr '\n' ' ');"
        awk -v n="$2" 'BEGIN { srand(1); for (i = 0; i < n; i++) printf "EXECUTE p(%d, %d, %d);\n", int(rand() * 100), int(rand() * 4), int(rand() * 100) }'
    } > "$WORK/in.sql"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN/postgres" --single -D "$WORK/data" postgres \
        < "$WORK/in.sql" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

per_statement() {
    local few many
    few=$(instructions "$1" 200)
    many=$(instructions "$1" 2200)
    awk -v a="$few" -v b="$many" 'BEGIN { printf "%.0f", (b - a) / 2000 }'
}

echo "q_learn, 100 states x 4 actions, instructions per statement (callgrind, single-user backend)"
bandit=$(per_statement bandit)
upsert=$(per_statement bare_upsert)
bellman=$(per_statement bare_bellman)
printf '    bandit.q_learn                       %10d\n' "$bandit"
printf '    bare single-row upsert               %10d\n' "$upsert"
printf '    bare Bellman upsert (max over s'"'"')    %10d\n' "$bellman"
echo "    bare upsert / q_learn = $(awk -v a="$upsert" -v b="$bandit" 'BEGIN { printf "%.2f", a / b }') (throughput ratio if instructions were all)"
echo "    bare Bellman upsert / q_learn = $(awk -v a="$bellman" -v b="$bandit" 'BEGIN { printf "%.2f", a / b }')"
