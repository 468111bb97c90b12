# Shared by the pgbench benchmarks, sourced once the script runs inside its
# cluster with DB set: a fresh scratch database DB, WORK (a directory for the
# <script>.sql files, removed on exit), and the helpers below.
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
PGBENCH=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"

tps() {   # tps of one pgbench run: script, clients, more pgbench options
    "$PGBENCH" -n -c "$2" -j "$2" -T "$SECONDS_PER_RUN" ${3:-} -f "$WORK/$1.sql" "$DB" 2>&1 |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

best_tps() {   # best of 3 runs: script, clients, more pgbench options
    local best=0 t
    for _ in 1 2 3; do
        t=$(tps "$1" "$2" "${3:-}")
        [ -n "$t" ] || { echo "pgbench $1 failed" >&2; exit 1; }
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
    done
    echo "$best"
}

verdict() {   # value target, and "<=" when smaller is better (default ">=")
    awk -v r="$1" -v t="$2" -v op="${3:->=}" 'BEGIN { good = (op == "<=") ? r <= t : r >= t; print (good ? "ok" : "BELOW TARGET") }'
}
