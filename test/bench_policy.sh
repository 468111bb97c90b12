#!/usr/bin/env bash
# Benchmarks of the policy layer, run by hand (not by the suite):
#   (a) one choose + reward round, Thompson over 10 arms, 1 client: bandit
#       against the same policy in PL/pgSQL (Beta draws by Marsaglia-Tsang
#       Gamma draws; the propensity of the choice, which bandit logs exactly,
#       estimated from 1000 more Thompson draws), against that PL/pgSQL
#       without any propensity, and against bare SQL statements in one
#       transaction; SELECT 1 shows the floor of any round;
#   (b) 8 clients on one 2-arm policy against 8 clients on a policy each;
#   (c) LinUCB with dim 64 and 10 arms: ms per choose (and per reward), and a
#       choose whose arms' state is not in the backend's cache (a new
#       connection per call, less a new connection per SELECT 1).
# (a) runs its scripts interleaved, compared by mean latency (mean_latencies
# in bench_lib.sh), median of 3 runs; (b) is the best of 3 runs of each.
# Starts its own throwaway cluster unless $PGDATABASE is set.  BENCH_SECONDS (10) sets the
# length of each pgbench run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGDATABASE:-}" ]; then
    exec pg_virtualenv -t -v "${PG_MAJOR:-15}" bash "$0" "$@"
fi
DB=bandit_bench
. test/bench_lib.sh

psql -qX -o /dev/null -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE EXTENSION bandit;
SELECT bandit.create_policy('bench10', 'thompson', array_agg('a' || i ORDER BY i)) FROM generate_series(0, 9) i;
SELECT bandit.create_policy('bench10e', 'epsilon_greedy', array_agg('a' || i ORDER BY i)) FROM generate_series(0, 9) i;
SELECT bandit.create_policy('shared', 'thompson', ARRAY['a', 'b']);
SELECT bandit.create_policy('own' || i, 'thompson', ARRAY['a', 'b']) FROM generate_series(0, 7) i;

-- Thompson sampling the way a user writes it in PL/pgSQL
CREATE TABLE plpg_arm (policy text, arm text, alpha float8 NOT NULL, beta float8 NOT NULL,
                       pulls bigint NOT NULL DEFAULT 0, PRIMARY KEY (policy, arm)) WITH (fillfactor = 50);
CREATE TABLE plpg_decision (id bigserial PRIMARY KEY, policy text NOT NULL, arm text NOT NULL, propensity float8,
                            created_at timestamptz NOT NULL DEFAULT now(), reward float8, rewarded_at timestamptz);
CREATE INDEX ON plpg_decision (policy, created_at);
INSERT INTO plpg_arm SELECT 'bench10', 'a' || i, 1, 1 FROM generate_series(0, 9) i;

-- Gamma(shape, 1) by Marsaglia and Tsang; shape < 1 through Gamma(shape + 1) U^(1/shape)
CREATE FUNCTION plpg_gamma(shape float8) RETURNS float8 LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    d float8;
    c float8;
    x float8;
    v float8;
    u float8;
BEGIN
    IF shape < 1 THEN
        RETURN plpg_gamma(shape + 1) * power(1 - random(), 1 / shape);
    END IF;
    d := shape - 1.0 / 3;
    c := 1 / sqrt(9 * d);
    LOOP
        LOOP
            x := sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random());
            v := 1 + c * x;
            EXIT WHEN v > 0;
        END LOOP;
        v := v * v * v;
        u := 1 - random();
        IF u < 1 - 0.0331 * x ^ 4 OR ln(u) < 0.5 * x * x + d * (1 - v + ln(v)) THEN
            RETURN d * v;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION plpg_beta(a float8, b float8) RETURNS float8 LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    x float8 := plpg_gamma(a);
BEGIN
    RETURN x / (x + plpg_gamma(b));
END $$;

-- one Thompson draw: the arm whose Beta draw is largest
CREATE FUNCTION plpg_draw(p text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r record;
    draw float8;
    best float8 := -1;
    winner text;
BEGIN
    FOR r IN SELECT a.arm, a.alpha, a.beta FROM plpg_arm a WHERE a.policy = p LOOP
        draw := plpg_beta(r.alpha, r.beta);
        IF draw > best THEN
            best := draw;
            winner := r.arm;
        END IF;
    END LOOP;
    RETURN winner;
END $$;

CREATE FUNCTION plpg_choose(p text, OUT d_id bigint, OUT d_arm text) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    d_arm := plpg_draw(p);
    INSERT INTO plpg_decision (policy, arm) VALUES (p, d_arm) RETURNING id INTO d_id;
END $$;

-- the same policy as bandit's, which logs the propensity of each choice:
-- here the share of 1000 more Thompson draws that the chosen arm wins
-- (standard error <= 0.016; an IPS weight of an arm at 5 % is off by 14 %)
CREATE FUNCTION plpg_choose_propensity(p text, OUT d_id bigint, OUT d_arm text) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    wins int := 0;
BEGIN
    d_arm := plpg_draw(p);
    FOR i IN 1..1000 LOOP
        IF plpg_draw(p) = d_arm THEN
            wins := wins + 1;
        END IF;
    END LOOP;
    INSERT INTO plpg_decision (policy, arm, propensity) VALUES (p, d_arm, wins / 1000.0) RETURNING id INTO d_id;
END $$;

CREATE FUNCTION plpg_reward(decision bigint, r float8) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p text;
    a text;
BEGIN
    UPDATE plpg_decision SET reward = r, rewarded_at = now() WHERE id = decision AND reward IS NULL
    RETURNING policy, arm INTO p, a;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decision % unknown or already rewarded', decision;
    END IF;
    UPDATE plpg_arm SET alpha = alpha + r, beta = beta + 1 - r, pulls = pulls + 1 WHERE policy = p AND arm = a;
END $$;

-- bare SQL: the same tables, statements sent one by one
CREATE TABLE bare_arm (LIKE plpg_arm INCLUDING ALL) WITH (fillfactor = 50);
CREATE TABLE bare_decision (LIKE plpg_decision INCLUDING ALL);
INSERT INTO bare_arm SELECT * FROM plpg_arm;

-- LinUCB, dim 64, 10 arms, a little trained
SELECT bandit.create_policy('lin64', 'linucb', array_agg('a' || i ORDER BY i), '{"dim": 64}') FROM generate_series(0, 9) i;
SQL

# the PL/pgSQL sampler must be right for the comparison to mean anything: Beta(2, 3) and Beta(0.5, 0.5)
psql -qXAt -d "$DB" -c "SELECT format('    PL/pgSQL Beta sampler check: mean %s (0.4), variance %s (0.04); mean %s (0.5), variance %s (0.125)',
    round(avg(x)::numeric, 3), round(var_samp(x)::numeric, 4), round(avg(y)::numeric, 3), round(var_samp(y)::numeric, 4))
    FROM (SELECT plpg_beta(2, 3) x, plpg_beta(0.5, 0.5) y FROM generate_series(1, 20000)) s"

cat > "$WORK/bandit.sql" <<'EOF'
SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('bench10');
EOF
cat > "$WORK/bandit_eps.sql" <<'EOF'
SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('bench10e');
EOF
cat > "$WORK/prob_best.sql" <<'EOF'
SELECT bandit.prob_best(alpha, beta) FROM (SELECT array_agg(alpha) alpha, array_agg(beta) beta FROM bandit.arm WHERE policy = 'bench10') a;
EOF
cat > "$WORK/plpgsql.sql" <<'EOF'
SELECT plpg_reward(d_id, (random() < 0.3)::int) FROM plpg_choose('bench10');
EOF
cat > "$WORK/plpgsql_propensity.sql" <<'EOF'
SELECT plpg_reward(d_id, (random() < 0.3)::int) FROM plpg_choose_propensity('bench10');
EOF
cat > "$WORK/select1.sql" <<'EOF'
SELECT 1;
EOF
cat > "$WORK/bare.sql" <<'EOF'
\set k random(0, 9)
\set r random(0, 9) / 7
BEGIN;
SELECT arm, alpha, beta FROM bare_arm WHERE policy = 'bench10';
INSERT INTO bare_decision (policy, arm) VALUES ('bench10', 'a' || :k) RETURNING id \gset
UPDATE bare_decision SET reward = :r, rewarded_at = now() WHERE id = :id AND reward IS NULL;
UPDATE bare_arm SET alpha = alpha + :r, beta = beta + 1 - :r, pulls = pulls + 1 WHERE policy = 'bench10' AND arm = 'a' || :k;
END;
EOF
cat > "$WORK/shared.sql" <<'EOF'
SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('shared');
EOF
cat > "$WORK/own.sql" <<'EOF'
SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('own' || :client_id);
EOF


echo "(a) choose + reward, Thompson, 10 arms, 1 client, the scripts interleaved, ${SECONDS_PER_RUN} s runs; mean ms per round"
echo "    run    bandit  PL/pgSQL+propensity  PL/pgSQL  bare SQL  SELECT 1   bandit eps-greedy  prob_best alone"
r1s=() r1ns=() r2s=()
for run in 1 2 3; do
    # the Monte Carlo propensity is slow: drawn less often, so that the others get their samples
    read -r -a l <<< "$(mean_latencies 1 "" bandit@40 plpgsql_propensity@1 plpgsql@40 bare@40 select1@40 bandit_eps@40 prob_best@40)"
    [ "${#l[@]}" = 7 ] || { echo "pgbench failed" >&2; exit 1; }
    printf '    %-4s %8.4f  %19.4f  %8.4f  %8.4f  %8.4f   %17.4f  %15.4f\n' "$run" "${l[@]}"
    r1s+=("$(ratio "${l[1]}" "${l[0]}" 1)")
    r1ns+=("$(ratio "${l[2]}" "${l[0]}")")
    r2s+=("$(ratio "${l[3]}" "${l[0]}")")
done
r1=$(median "${r1s[@]}")
r1n=$(median "${r1ns[@]}")
r2=$(median "${r2s[@]}")
echo "    throughput ratios, median of 3 (each run's in parentheses):"
echo "    bandit / PL/pgSQL with propensity = $r1 (${r1s[*]}) (target >= 5): $(verdict "$r1" 5)"
echo "    bandit / PL/pgSQL without propensity = $r1n (${r1ns[*]}) (a lesser policy: its log cannot serve off-policy evaluation)"
echo "    bandit / bare SQL = $r2 (${r2s[*]}) (target >= 0.7): $(verdict "$r2" 0.7)"

echo "(b) 8 clients, ${SECONDS_PER_RUN} s runs, best of 3"
shared=$(best_tps shared 8)
own=$(best_tps own 8)
r3=$(ratio "$shared" "$own")
printf '    one shared 2-arm policy %10.1f tps\n' "$shared"
printf '    a policy per client     %10.1f tps\n' "$own"
echo "    shared / own = $r3 (should not collapse; target >= 0.5): $(verdict "$r3" 0.5)"

echo "(c) LinUCB, dim 64, 10 arms: best of 3 loops of 500"
psql -qX -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE TEMP TABLE ctx AS
SELECT g, (SELECT jsonb_build_object('features', jsonb_agg(random() + g * 0 + i * 0)) FROM generate_series(1, 64) i) AS context
FROM generate_series(1, 700) g;
-- some learning first, so that A^-1 is a full matrix
SELECT count(bandit.reward(c.decision_id, random())) AS trained
FROM ctx, LATERAL bandit.choose('lin64', context) c WHERE g > 500 \gset
CREATE TEMP TABLE timing (what text, ms float8);
DO $$
DECLARE
    t0 timestamptz;
    t1 timestamptz;
    ids bigint[];
BEGIN
    FOR run IN 1..3 LOOP
        t0 := clock_timestamp();
        SELECT array_agg(c.decision_id) INTO ids FROM ctx, LATERAL bandit.choose('lin64', context) c WHERE g <= 500;
        INSERT INTO timing VALUES ('choose', extract(epoch FROM clock_timestamp() - t0) * 1000 / 500);
        t0 := clock_timestamp();
        PERFORM bandit.reward(id, 0.5) FROM unnest(ids) id;
        INSERT INTO timing VALUES ('reward', extract(epoch FROM clock_timestamp() - t0) * 1000 / 500);
        -- a choose after every arm changed elsewhere: new row versions, nothing
        -- cached, every A^-1 detoasted; less the cost of making the versions
        t0 := clock_timestamp();
        FOR i IN 1..200 LOOP
            UPDATE bandit.arm SET last_update = last_update WHERE policy = 'lin64';
            PERFORM bandit.choose('lin64', context) FROM ctx WHERE g = i;
        END LOOP;
        t1 := clock_timestamp();
        FOR i IN 1..200 LOOP
            UPDATE bandit.arm SET last_update = last_update WHERE policy = 'lin64';
        END LOOP;
        INSERT INTO timing VALUES ('choose, no state cached', extract(epoch FROM (t1 - t0) - (clock_timestamp() - t1)) * 1000 / 200);
    END LOOP;
END $$;
SELECT format('    %s: %s ms per call (best of 3)%s', what, round(min(ms)::numeric, 3),
              CASE WHEN what = 'choose' THEN CASE WHEN min(ms) < 0.5 THEN ' (target < 0.5): ok'
                                                  ELSE ' (target < 0.5): BELOW TARGET' END ELSE '' END)
FROM timing GROUP BY what ORDER BY what \g (format=unaligned tuples_only)
SQL
psql -qX -d postgres -c "DROP DATABASE $DB"
