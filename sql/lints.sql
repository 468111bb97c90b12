-- LinTS and forgetting for linear policies (issue 14).  LinTS draws each arm's
-- score x.theta, theta ~ N(A^-1 b, v^2 A^-1), on LinUCB's state; discount
-- gamma < 1 makes a reward A <- gamma A + x x', b <- gamma b + r x, and every
-- fold (every min(2 dim, floor(ln 2 / -ln gamma)) rewards, at least 1) adds
-- back (1 - gamma^k) I.  Expected states are worked out by hand (dim 1 and 2).
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE FUNCTION pg_temp.near(got float8[], want float8[]) RETURNS boolean LANGUAGE sql AS $f$
    SELECT cardinality(got) = cardinality(want) AND bool_and(abs(g - w) < 1e-12)
    FROM unnest(got, want) u(g, w) $f$;

-- bad parameters: nothing is created
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lints', '{x}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lints', '{x}', '{"dim": 2, "v": -1}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lints', '{x}', '{"dim": 2, "v": 2e6}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lints', '{x}', '{"dim": 2, "v": "wide"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lints', '{x}', '{"dim": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lints', '{x}', '{"dim": 2, "discount": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lints', '{x}', '{"dim": 2, "discount": 1.01}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'linucb', '{x}', '{"dim": 2, "v": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'thompson', '{x}', '{"v": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'thompson', '{x}', '{"dim": 2}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('lt_bad', 'lin_ts', '{x}', '{"dim": 2}')$$);
SELECT count(*) AS created FROM bandit.policy WHERE name = 'lt_bad';
-- the algorithm column takes lints
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'policy_algorithm_check';

-- v defaults to 1 and is stored; discount is allowed
SELECT bandit.create_policy('lt', 'lints', '{p,q}', '{"dim": 2}');
SELECT params->'v' AS v, params->'discount' AS discount FROM bandit.policy WHERE name = 'lt';
SELECT bandit.create_policy('lt_v0', 'lints', '{p,q}', '{"dim": 2, "v": 0, "discount": 0.9}');
SELECT params->'v' AS v, params->'discount' AS discount FROM bandit.policy WHERE name = 'lt_v0';

-- a LinTS policy needs a context, and learns from a decision's
SELECT pg_temp.err($$SELECT * FROM bandit.choose('lt')$$);
SELECT pg_temp.err($$SELECT bandit.reward('lt', 'p', 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose('lt', '{"features": [1, 2, 3]}')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose('lt', '{"features": [1e200, 1e200]}')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('lt', 'r')$$);
SELECT bandit.create_policy('lt_thompson', 'thompson', '{p,q}');
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('lt_thompson', 'p')$$);

-- two fresh arms are alike: either is chosen with probability 1/2, exactly
SELECT arm IN ('p', 'q') AS an_arm, propensity = 0.5 AS half FROM bandit.choose('lt', '{"features": [1, 0]}');
-- bandit.set_seed makes the draws repeat
SELECT bandit.set_seed(42);
CREATE TEMP TABLE first_draws AS
    SELECT g, c.arm FROM generate_series(1, 20) g,
    LATERAL bandit.choose('lt', jsonb_build_object('features', ARRAY[1, 0 * g])) c;
SELECT bandit.set_seed(42);
CREATE TEMP TABLE second_draws AS
    SELECT g, c.arm FROM generate_series(1, 20) g,
    LATERAL bandit.choose('lt', jsonb_build_object('features', ARRAY[1, 0 * g])) c;
SELECT count(*) FILTER (WHERE f.arm = s.arm) AS same, count(DISTINCT f.arm) AS arms_seen
FROM first_draws f JOIN second_draws s USING (g);

-- learning is LinUCB's: A = I + x x' = [[2, 2], [2, 5]], A^-1 = [[5, -2], [-2, 2]] / 6, b = 3 x
INSERT INTO bandit.decision (id, policy, arm, propensity, mode, context) VALUES
    (910001, 'lt', 'p', 1, 'active', '{"features": [1, 2]}');
SELECT bandit.reward(910001, 3);
SELECT pg_temp.near(a_inv, ARRAY[5/6.0, -2/6.0, -2/6.0, 2/6.0]::float8[]) AS a_inv_ok, b, pending
FROM bandit.linucb_state('lt', 'p');
-- recommend ranks by the posterior mean x.A^-1 b: theta = (0.5, 1); at x = (1, 1), 1.5 (q: 0)
SELECT arm, abs(score - CASE arm WHEN 'p' THEN 1.5 ELSE 0 END) < 1e-12 AS score_ok, rank
FROM bandit.recommend('lt', 2, '{"features": [1, 1]}') ORDER BY rank;
-- v = 0 is greedy: the posterior means decide, with probability 1
INSERT INTO bandit.decision (id, policy, arm, propensity, mode, context) VALUES
    (910002, 'lt_v0', 'q', 1, 'active', '{"features": [0, 1]}');
SELECT bandit.reward(910002, 1);
SELECT arm, propensity FROM bandit.choose('lt_v0', '{"features": [0, 1]}');
SELECT arm, propensity FROM bandit.choose('lt_v0', '{"features": [0, -1]}');

-- forgetting, dim 1, discount 0.5: folds every floor(ln 2 / ln 2) = 1 reward.
-- A = 0.5 * 1 + 1 + (1 - 0.5) = 2, b = 1; then A = 0.5 * 2 + 4 + 0.5 = 5.5, b = 0.5 + 2 = 2.5
SELECT bandit.create_policy('lf', 'linucb', '{p}', '{"dim": 1, "discount": 0.5}');
INSERT INTO bandit.decision (id, policy, arm, propensity, mode, context) VALUES
    (920001, 'lf', 'p', 1, 'active', '{"features": [1]}'),
    (920002, 'lf', 'p', 1, 'active', '{"features": [2]}');
SELECT bandit.reward(920001, 1);
SELECT pg_temp.near(a_inv, '{0.5}') AS a_inv_ok, b, pending FROM bandit.linucb_state('lf', 'p');
SELECT bandit.reward(920002, 1);
SELECT pg_temp.near(a_inv, ARRAY[1 / 5.5]::float8[]) AS a_inv_ok, b, pending FROM bandit.linucb_state('lf', 'p');
SELECT pg_temp.near(a_inv, ARRAY[1 / 5.5]::float8[]) AS stored_ok FROM bandit.arm WHERE policy = 'lf';

-- discount 0.9 (lints, dim 4): folds every min(8, floor(ln 2 / -ln 0.9) = 6) rewards; reward 1
-- at x = e1.  A is diagonal: after k < 6 rewards (pending) A_11 = 0.9^k + sum_{j<k} 0.9^j and
-- A_22 = 0.9^k; the 6th folds and adds 1 - 0.9^6 to each
SELECT bandit.create_policy('lg', 'lints', '{p}', '{"dim": 4, "discount": 0.9}');
INSERT INTO bandit.decision (id, policy, arm, propensity, mode, context)
SELECT 930000 + k, 'lg', 'p', 1, 'active', '{"features": [1, 0, 0, 0]}' FROM generate_series(1, 7) k;
CREATE TEMP TABLE lg_states (k int, a_inv float8[], b float8[], pending int);
DO $$
BEGIN
    FOR k IN 1..7 LOOP
        PERFORM bandit.reward(930000 + k, 1);
        INSERT INTO lg_states SELECT k, s.a_inv, s.b, s.pending FROM bandit.linucb_state('lg', 'p') s;
    END LOOP;
END
$$;
SELECT k, pending,
       pg_temp.near(ARRAY[a_inv[1], a_inv[6]],
                    ARRAY[1 / CASE WHEN k < 6 THEN 0.9 ^ k + (1 - 0.9 ^ k) / 0.1
                                   WHEN k = 6 THEN 1 + (1 - 0.9 ^ 6) / 0.1
                                   ELSE 0.9 * (1 + (1 - 0.9 ^ 6) / 0.1) + 1 END,
                          1 / CASE WHEN k < 6 THEN 0.9 ^ k WHEN k = 6 THEN 1 ELSE 0.9 END]::float8[]) AS a_inv_ok,
       pg_temp.near(b, ARRAY[(1 - 0.9 ^ k) / 0.1, 0, 0, 0]::float8[]) AS b_ok
FROM lg_states ORDER BY k;

-- export and import carry a LinTS arm's state
SELECT pg_temp.near(ARRAY(SELECT jsonb_array_elements_text(bandit.export_policy('lg', false)->'arms'->0->'a_inv')::float8), a_inv)
       AS exported_ok
FROM lg_states WHERE k = 7;
SELECT bandit.import_policy(bandit.export_policy('lg', false), 'lg_copy');
SELECT p.algorithm, pg_temp.near(c.a_inv, o.a_inv) AND c.b = o.b AS same_state
FROM bandit.linucb_state('lg_copy', 'p') c, bandit.linucb_state('lg', 'p') o, bandit.policy p WHERE p.name = 'lg_copy';

-- a LinTS candidate needs a linear policy of its dim
SELECT pg_temp.err($$SELECT bandit.start_canary('lt_thompson', 'lt', 0.5)$$);
