-- Selection aggregates: thompson_choice, ucb1_choice, epsilon_greedy_choice, softmax_choice.
-- Their frequencies are checked against theory in test/choice_test.py; here: cases whose
-- answer is certain, NULLs, extremes, errors, reproducibility and plans.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE TABLE arms(arm text, pulls bigint, mean float8, alpha float8, beta float8);
-- UCB1 by hand: N = 17; a: 0.5 + sqrt(2 ln 17 / 10) = 1.2528, b: 0.3 + sqrt(2 ln 17 / 2) = 1.9832,
-- c: 0.45 + sqrt(2 ln 17 / 5) = 1.5146; with c = 0.1: a 0.5753, b 0.4683, c 0.5565
INSERT INTO arms VALUES ('a', 10, 0.5, 1e6, 1), ('b', 2, 0.3, 1, 1e6), ('c', 5, 0.45, 1, 1e6);

-- certain answers
SELECT bandit.thompson_choice(arm, alpha, beta) AS thompson,
       bandit.ucb1_choice(arm, pulls, mean) AS ucb1,
       bandit.ucb1_choice(arm, pulls, mean, 0.1) AS ucb1_c01,
       bandit.ucb1_choice(arm, pulls, mean, 0) AS ucb1_greedy,
       bandit.epsilon_greedy_choice(arm, mean, 0) AS greedy,
       bandit.softmax_choice(arm, mean, 1e-4) AS cold_softmax
FROM arms;

-- an unpulled arm comes first, even with a NULL mean; a NULL mean with pulls > 0 skips the row
SELECT bandit.ucb1_choice(arm, pulls, mean) AS unpulled
FROM (VALUES ('x', 100::bigint, 0.9::float8), ('new', 0, NULL), ('y', 3, NULL)) v(arm, pulls, mean);
-- one arm, N = 1: ln N = 0
SELECT bandit.ucb1_choice('only', 1, 0.2) AS one_row;

-- stable softmax: exp(1e300) would overflow, the weights relative to the largest mean do not
SELECT bandit.softmax_choice(arm, mean, 1) AS huge_means
FROM (VALUES ('low', -1e300::float8), ('high', 1e300), ('mid', 0)) v(arm, mean);
SELECT bandit.softmax_choice(arm, mean, 1e-300) AS tiny_temperature
FROM (VALUES ('low', 0.5::float8), ('high', 0.5000001)) v(arm, mean);

-- Beta draws at extreme parameters
SELECT bandit.thompson_choice(arm, a, b) AS extreme_beta
FROM (VALUES ('sure', 1e7::float8, 1::float8), ('never', 1e-3, 1e7)) v(arm, a, b);

-- epsilon = 1 explores: over 2000 choices every arm appears
SELECT bandit.set_seed(1);
SELECT count(DISTINCT choice) AS arms_explored
FROM (SELECT bandit.epsilon_greedy_choice(arm, mean, 1) AS choice
      FROM arms, generate_series(1, 2000) g GROUP BY g) s;

-- one row per group and per decision; GROUP BY works
SELECT g % 2 AS grp, bandit.ucb1_choice(arm, pulls, mean + g % 2, 0) AS choice
FROM arms, generate_series(1, 2) g GROUP BY 1 ORDER BY 1;

-- as a window aggregate (the final function can run again)
SELECT arm, bandit.ucb1_choice(arm, pulls, mean, 0) OVER (ORDER BY arm) AS running_best
FROM arms ORDER BY arm;

-- many rows: UCB1 keeps them all (c = 0: the largest mean; c = 1: sqrt(2 ln(2e10) / 1) = 6.87
-- puts the once-pulled arm first), the others keep one
SELECT bandit.ucb1_choice('arm' || i, i, i / 200000.0, 0) AS ucb1_greedy,
       bandit.ucb1_choice('arm' || i, i, i / 200000.0) AS ucb1,
       bandit.thompson_choice('arm' || i, CASE WHEN i = 123456 THEN 1e7 ELSE 1 END, 1e3) AS thompson
FROM generate_series(1, 200000) i;

-- NULLs: rows with a NULL are skipped; no rows, or only skipped rows, give NULL
SELECT bandit.thompson_choice(arm, alpha, beta) IS NULL AS no_rows FROM arms WHERE false;
SELECT bandit.ucb1_choice(arm, pulls, mean) IS NULL AS no_rows FROM arms WHERE false;
SELECT bandit.epsilon_greedy_choice(arm, mean, 0.1) IS NULL AS no_rows FROM arms WHERE false;
SELECT bandit.softmax_choice(arm, mean, 0.1) IS NULL AS no_rows FROM arms WHERE false;
SELECT bandit.thompson_choice(NULL, alpha, beta) IS NULL AS null_arms FROM arms;
-- without b: N = 15, a 1.2359, c 1.4908
SELECT bandit.ucb1_choice(CASE WHEN arm = 'b' THEN NULL ELSE arm END, pulls, mean) AS null_arm_skipped FROM arms;
SELECT bandit.thompson_choice(arm, CASE WHEN arm = 'b' THEN NULL ELSE alpha END, beta) AS null_alpha_skipped FROM arms;
SELECT bandit.epsilon_greedy_choice(arm, CASE WHEN arm = 'a' THEN NULL ELSE mean END, 0) AS null_mean_skipped FROM arms;
SELECT bandit.softmax_choice(arm, mean, NULL) IS NULL AS null_temperature FROM arms;

-- same seed, same sequence of choices; another seed, another sequence
SELECT bandit.set_seed(42);
CREATE TABLE run1 AS SELECT g, bandit.thompson_choice(arm, 2, 2) AS t, bandit.softmax_choice(arm, mean, 0.1) AS s,
       bandit.epsilon_greedy_choice(arm, 0, 0.5) AS e, bandit.ucb1_choice(arm, 1, 0) AS u
FROM arms, generate_series(1, 300) g GROUP BY g;
SELECT bandit.set_seed(42);
CREATE TABLE run2 AS SELECT g, bandit.thompson_choice(arm, 2, 2) AS t, bandit.softmax_choice(arm, mean, 0.1) AS s,
       bandit.epsilon_greedy_choice(arm, 0, 0.5) AS e, bandit.ucb1_choice(arm, 1, 0) AS u
FROM arms, generate_series(1, 300) g GROUP BY g;
SELECT bandit.set_seed(43);
CREATE TABLE run3 AS SELECT g, bandit.thompson_choice(arm, 2, 2) AS t, bandit.softmax_choice(arm, mean, 0.1) AS s,
       bandit.epsilon_greedy_choice(arm, 0, 0.5) AS e, bandit.ucb1_choice(arm, 1, 0) AS u
FROM arms, generate_series(1, 300) g GROUP BY g;
SELECT count(*) FILTER (WHERE (r1.t, r1.s, r1.e, r1.u) = (r2.t, r2.s, r2.e, r2.u)) AS same_seed_same,
       count(*) FILTER (WHERE (r1.t, r1.s, r1.e, r1.u) = (r3.t, r3.s, r3.e, r3.u)) < 300 AS other_seed_differs,
       count(DISTINCT r1.t) AS thompson_arms, count(DISTINCT r1.u) AS ucb1_tie_arms
FROM run1 r1 JOIN run2 r2 USING (g) JOIN run3 r3 USING (g);
DROP TABLE run1, run2, run3;

-- bad input: 22003 for out-of-range numbers
SELECT pg_temp.err($$SELECT bandit.thompson_choice('a', 0, 1)$$);
SELECT pg_temp.err($$SELECT bandit.thompson_choice('a', 1, -1)$$);
SELECT pg_temp.err($$SELECT bandit.thompson_choice('a', 'NaN', 1)$$);
SELECT pg_temp.err($$SELECT bandit.thompson_choice('a', 1, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice('a', -1, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice('a', 1, 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice('a', 0, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice('a', 1, 0.5, -1)$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice('a', 1, 0.5, 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice('a', 1, 0.5, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.epsilon_greedy_choice('a', 0.5, 1.5)$$);
SELECT pg_temp.err($$SELECT bandit.epsilon_greedy_choice('a', 0.5, -0.1)$$);
SELECT pg_temp.err($$SELECT bandit.epsilon_greedy_choice('a', '-Infinity', 0.1)$$);
SELECT pg_temp.err($$SELECT bandit.softmax_choice('a', 0.5, 0)$$);
SELECT pg_temp.err($$SELECT bandit.softmax_choice('a', 0.5, -1)$$);
SELECT pg_temp.err($$SELECT bandit.softmax_choice('a', 0.5, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.softmax_choice('a', 'NaN', 1)$$);
-- a score or a total that overflows
SELECT pg_temp.err($$SELECT bandit.ucb1_choice(arm, pulls, 0, 1e308) FROM (VALUES ('a', 1::bigint), ('b', 1000000)) v(arm, pulls)$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice(arm, 9223372036854775807, 0) FROM (VALUES ('a'), ('b')) v(arm)$$);
-- 22023: a parameter that changes between rows
SELECT pg_temp.err($$SELECT bandit.epsilon_greedy_choice(arm, mean, pulls / 100.0) FROM arms$$);
SELECT pg_temp.err($$SELECT bandit.softmax_choice(arm, mean, pulls) FROM arms$$);
SELECT pg_temp.err($$SELECT bandit.ucb1_choice(arm, pulls, mean, pulls) FROM arms$$);

-- random aggregates never run in parallel workers: no Partial Aggregate even when forced
CREATE TABLE many AS SELECT 'arm' || (i % 10) AS arm, i % 10 AS mean FROM generate_series(1, 100000) i;
ANALYZE many;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT bandit.softmax_choice(arm, mean, 0.01) FROM many;
SELECT bandit.softmax_choice(arm, mean, 1e-3) AS best FROM many;
RESET ALL;
DROP TABLE many, arms;
