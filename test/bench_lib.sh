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

ratio() {   # a / b with digits decimals (2)
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf("%." d "f", a / b) }'
}

verdict() {   # value target, and "<=" when smaller is better (default ">=")
    awk -v r="$1" -v t="$2" -v op="${3:->=}" 'BEGIN { good = (op == "<=") ? r <= t : r >= t; print (good ? "ok" : "BELOW TARGET") }'
}

# Scripts compared by speed run interleaved, in one pgbench run that draws
# each transaction's script at random: this machine's speed drifts by 20-50 %
# between runs seconds apart, and interleaving gives every script the same
# share of each slow and fast moment.  With 1 client a script's throughput
# alone is 1 / its mean latency.
mean_latencies() {   # mean latency (ms) of each script, in order: clients, "more options", script[@weight]...
    local clients=$1 options=$2 files=()
    shift 2
    for script in "$@"; do
        case $script in
            *@*) files+=(-f "$WORK/${script%@*}.sql@${script#*@}") ;;
            *) files+=(-f "$WORK/$script.sql") ;;
        esac
    done
    rm -f "$WORK"/log.*
    "$PGBENCH" -n -c "$clients" -j "$clients" -T "$SECONDS_PER_RUN" $options -l --log-prefix="$WORK/log" \
        "${files[@]}" "$DB" >/dev/null || return 1
    # a transaction's log line: client, number, latency (us), script, ...
    cat "$WORK"/log.* | awk -v k=$# '{ sum[$4] += $3; n[$4]++ }
        END { for (i = 0; i < k; i++) printf "%.4f ", n[i] ? sum[i] / n[i] / 1000 : 0 }'
}

median() {   # of numbers
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
