-- Paths that only long values and large contexts reach, for test/valgrind_test.py,
-- which runs the whole regress suite under valgrind memcheck: 10,000-character
-- names (a palloc chunk that large gets a block of its own, which valgrind sees
-- freed when SPI's memory goes, where a small one would sit in a kept block)
-- through every SpiEnd site: choose, reward, recommend, arm management (policy.c),
-- assign hashed and stratified, record_metric (experiment.c), q_learn, q_learn_batch,
-- q_replay, q_select (qlearn.c), priors and tuning values (SQL), the selection
-- aggregates; and LinUCB contexts of 200 hashed keys.  (500 keys and NULL policy
-- names take the server down in 0.1.0: test/valgrind_paths.sql runs those.)
-- Outputs compare what comes back with what was passed in (lengths, equality),
-- so every expected value here follows from the contract, not from our output.
-- A database of its own, so that the tests after this one see none of its state.
SET client_min_messages = warning;
SELECT current_database() AS regress_database \gset
DROP DATABASE IF EXISTS bandit_harden_paths;
CREATE DATABASE bandit_harden_paths;
\c bandit_harden_paths
SET client_min_messages = warning;
CREATE EXTENSION bandit;
SET extra_float_digits = 0;
SELECT bandit.set_seed(20261207);

-- three arm names of 10,000 characters that differ only at their ends
CREATE TEMP TABLE names AS
SELECT repeat('x', 9999) || 'a' AS a, repeat('x', 9999) || 'b' AS b, repeat('y', 9999) || 'c' AS c;
CREATE TEMP TABLE algs AS
SELECT alg FROM unnest('{thompson,ucb1,epsilon_greedy,softmax,linucb}'::text[]) alg;
-- LinUCB's context: a feature vector, or keys hashed into dim features
CREATE TEMP VIEW ctx AS
SELECT alg, CASE alg WHEN 'linucb' THEN '{"features": [1, 0.5, 0, 2]}'::jsonb END AS context FROM algs;
CREATE TEMP VIEW is_arm AS SELECT a AS arm FROM names UNION ALL SELECT b FROM names UNION ALL SELECT c FROM names;

-- policies over the long names
SELECT count(*) AS created FROM (
  SELECT bandit.create_policy('long_' || alg, alg, ARRAY[a, b, c],
                              CASE alg WHEN 'linucb' THEN '{"dim": 4}' ELSE '{}' END::jsonb)
  FROM names, algs) s;
SELECT p.name, length(p.default_arm) AS default_arm_length, count(r.arm) AS arms,
       bool_and(length(r.arm) = 10000) AS all_10000
FROM bandit.policy p JOIN bandit.arm r ON r.policy = p.name WHERE p.name LIKE 'long\_%' GROUP BY 1, 2 ORDER BY 1;

-- choose serves one of the arms, as logged
CREATE TEMP TABLE served AS
SELECT c.alg, d.decision_id, d.arm, d.propensity
FROM ctx c, generate_series(1, 4) i, LATERAL bandit.choose('long_' || c.alg, c.context) d;
SELECT s.alg, count(*) AS decisions, bool_and(s.arm IN (SELECT arm FROM is_arm)) AS served_an_arm,
       bool_and(l.arm = s.arm) AS served_as_logged, bool_and(s.propensity > 0 AND s.propensity <= 1) AS propensity_ok
FROM served s LEFT JOIN bandit.decision l ON l.id = s.decision_id GROUP BY 1 ORDER BY 1;

-- rewards: by decision (LinUCB learns from the logged context), in a batch, by arm
SELECT count(*) AS rewarded FROM (SELECT bandit.reward(decision_id, 1) FROM served WHERE decision_id % 2 = 0) s;
SELECT bandit.reward(array_agg(decision_id ORDER BY decision_id), array_agg(0.5::float8 ORDER BY decision_id)) AS batch
FROM served WHERE decision_id % 2 = 1;
SELECT count(*) AS by_arm FROM (SELECT bandit.reward('long_' || alg, b, 0.25) FROM names, algs WHERE alg <> 'linucb') s;
SELECT p.alg, sum(r.pulls) AS pulls, count(*) FILTER (WHERE r.arm IN (SELECT arm FROM is_arm)) AS arms
FROM algs p JOIN bandit.arm r ON r.policy = 'long_' || p.alg GROUP BY 1 ORDER BY 1;
SELECT count(*) AS all_decisions_rewarded FROM bandit.decision d JOIN served s ON s.decision_id = d.id WHERE d.reward IS NOT NULL;

-- recommend: the top 2 of the 3 arms, each one of them
SELECT c.alg, count(*) AS rows, count(DISTINCT r.arm) AS distinct_arms,
       bool_and(r.arm IN (SELECT arm FROM is_arm)) AS arms_returned, array_agg(r.rank ORDER BY r.rank) AS ranks
FROM ctx c, LATERAL bandit.recommend('long_' || c.alg, 2, c.context) r GROUP BY 1 ORDER BY 1;

-- arm_stats, snapshot and restore, arm management and modes, budgets
SELECT count(*) AS arms, bool_and(arm IN (SELECT arm FROM is_arm)) AS named
FROM bandit.arm_stats('long_thompson');
SELECT bandit.restore(bandit.snapshot('long_thompson', repeat('s', 10000)));
SELECT bandit.add_arm('long_ucb1', repeat('z', 10000), 5, 100);
SELECT bandit.set_arm_budget('long_ucb1', a, 1, 10) FROM names;
SELECT bandit.set_arm_budget('long_ucb1', b, 9, 10) FROM names;
SELECT bandit.retire_arm('long_ucb1', c) FROM names;
-- within the budget only a (cost 1) and z (cost 5) fit; UCB1 serves the unpulled z
SELECT bandit.reward('long_ucb1', a, 0.5) FROM names;
SELECT length(arm) AS length, arm = repeat('z', 10000) AS is_z
FROM bandit.choose('long_ucb1', '{"max_cost": 6}');
SELECT count(*) AS rows, bool_and(arm IN (SELECT a FROM names UNION ALL SELECT repeat('z', 10000))) AS within_budget
FROM bandit.recommend('long_ucb1', 3, '{"max_cost": 6}');
SELECT bandit.set_mode('long_softmax', 'shadow');
CREATE TEMP TABLE shadow AS SELECT * FROM bandit.choose('long_softmax');
SELECT s.arm = n.a AS serves_default, l.arm = n.a AS logs_default, l.policy_arm IN (SELECT arm FROM is_arm) AS logs_policy_arm
FROM names n, shadow s JOIN bandit.decision l ON l.id = s.decision_id;
SELECT bandit.set_mode('long_softmax', 'off');
SELECT d.arm = n.a AS serves_default FROM names n, bandit.choose('long_softmax') d;

-- LinUCB over 200 hashed keys, one of them long, one holding a long string
CREATE TEMP VIEW wide AS
SELECT jsonb_object_agg('key' || i, i) || jsonb_build_object(repeat('k', 10000), 1, 'long', repeat('v', 10000)) AS context
FROM generate_series(1, 200) i;
SELECT length(d.arm) AS length, d.arm IN (SELECT arm FROM is_arm) AS served_an_arm
FROM wide w, bandit.choose('long_linucb', w.context) d;
SELECT count(*) AS rewarded FROM (SELECT bandit.reward(d.decision_id, 1) FROM wide w, bandit.choose('long_linucb', w.context) d) s;
SELECT count(*) AS rows, bool_and(r.arm IN (SELECT arm FROM is_arm)) AS arms_returned
FROM wide w, bandit.recommend('long_linucb', 3, w.context) r;
SELECT cardinality(bandit.hash_features(context, 16)) AS features FROM wide;

-- the selection aggregates over the long names
SELECT bandit.thompson_choice(arm, 1, 1) IN (SELECT arm FROM is_arm) AS thompson,
       bandit.ucb1_choice(arm, 3, 0.5) IN (SELECT arm FROM is_arm) AS ucb1,
       bandit.epsilon_greedy_choice(arm, 0.5, 0.1) IN (SELECT arm FROM is_arm) AS epsilon_greedy,
       bandit.softmax_choice(arm, 0.5, 0.1) IN (SELECT arm FROM is_arm) AS softmax,
       bandit.ensemble_choice(arm, 1) IN (SELECT arm FROM is_arm) AS ensemble
FROM is_arm;

-- experiments: long variant names, unit ids and strata; hashed and stratified
SELECT bandit.create_experiment(repeat('e', 10000), ARRAY[a, b, c]) FROM names;
SELECT bandit.start_experiment(repeat('e', 10000));
CREATE TEMP TABLE assigned AS
SELECT i, repeat('u', 9990) || i AS unit, bandit.assign(repeat('e', 10000), repeat('u', 9990) || i) AS variant
FROM generate_series(1, 30) i;
SELECT count(*) AS units, count(*) FILTER (WHERE variant IN (SELECT arm FROM is_arm)) AS got_a_variant,
       count(*) FILTER (WHERE bandit.assign(repeat('e', 10000), unit) = variant) AS sticky
FROM assigned;
SELECT count(*) AS units, count(*) FILTER (WHERE a.variant = s.variant) AS stored_as_returned
FROM assigned a JOIN bandit.assignment s ON s.unit_id = a.unit;
CREATE TEMP TABLE stratified AS
SELECT i, repeat('w', 9990) || i AS unit, repeat('s', 9999) || (i % 2) AS stratum,
       bandit.assign(repeat('e', 10000), repeat('w', 9990) || i, repeat('s', 9999) || (i % 2)) AS variant
FROM generate_series(1, 12) i;
SELECT count(*) AS units, count(*) FILTER (WHERE variant IN (SELECT arm FROM is_arm)) AS got_a_variant,
       count(*) FILTER (WHERE bandit.assign(repeat('e', 10000), unit, stratum) = variant) AS sticky,
       count(*) FILTER (WHERE bandit.assign(repeat('e', 10000), unit) = variant) AS sticky_unstratified
FROM stratified;
-- a stratum's 6 units are dealt from blocks of the 3 variants: 2 each
SELECT right(stratum, 1) AS stratum, count(*) AS units, count(DISTINCT variant) AS variants,
       max(n) AS most, min(n) AS fewest
FROM (SELECT stratum, variant, count(*) OVER (PARTITION BY stratum, variant) AS n FROM stratified) s GROUP BY 1 ORDER BY 1;
SELECT count(*) AS recorded FROM (SELECT bandit.record_metric(repeat('e', 10000), unit, repeat('m', 10000), i % 2)
                                 FROM assigned) s;
SELECT bandit.record_metrics(repeat('e', 10000), repeat('m', 10000), array_agg(unit), array_agg(1::float8)) FROM stratified;
SELECT count(*) AS variants, sum(n) AS n, bool_and(variant IN (SELECT arm FROM is_arm)) AS named
FROM bandit.analyze(repeat('e', 10000), repeat('m', 10000));
SELECT sum(n) AS assigned, bool_and(variant IN (SELECT arm FROM is_arm)) AS named FROM bandit.assignment_counts(repeat('e', 10000));
SELECT decision IN ('continue', 'stop_success', 'stop_failure', 'stop_futility') AS decided
FROM bandit.decide(repeat('e', 10000), repeat('m', 10000));
SELECT count(*) > 0 AS reported FROM bandit.report(repeat('e', 10000), repeat('m', 10000));
SELECT bandit.stop_experiment(repeat('e', 10000), repeat('r', 10000));

-- Q-learning with long agent, state and action names
CREATE TEMP VIEW q AS SELECT repeat('g', 10000) AS agent, repeat('s', 9999) || '1' AS s1, repeat('s', 9999) || '2' AS s2,
       repeat('a', 9999) || 'L' AS l, repeat('a', 9999) || 'R' AS r;
-- Q(s1, L) = 0 + 0.5 (1 + 0.9 * 0 - 0) = 0.5
SELECT bandit.q_learn(agent, s1, l, 1, s2, 0.5, 0.9) FROM q;
-- Q(s2, R) = 0.5 (2 + 0.9 * max Q(s1, .) = 0.45) = 1.225
SELECT bandit.q_learn(agent, s2, r, 2, s1, 0.5, 0.9) FROM q;
SELECT bandit.q_select(agent, s1, ARRAY[r, l], 0) = l AS greedy_is_l FROM q;
SELECT bandit.q_select(agent, s2, ARRAY[l, r], 0) = r AS greedy_is_r FROM q;
SELECT bandit.q_select(agent, s1, ARRAY[l, r], 1) IN (l, r) AS random_is_one FROM q;
SELECT bandit.q_learn_batch(agent, ARRAY[s1, s2, s1], ARRAY[l, r, r], '{1,0,-1}', ARRAY[s2, NULL, NULL], 0.1, 0.9) FROM q;
SELECT count(*) AS remembered FROM (SELECT bandit.q_remember(agent, s1, l, 1, s2, 5) FROM q, generate_series(1, 7)) s;
SELECT bandit.q_replay(agent, 40, 0.1, 0.9) AS replayed FROM q;
SELECT count(*) AS rows, bool_and(state IN (s1, s2) AND action IN (l, r)) AS named, sum(update_count) AS updates
FROM bandit.q_table t, q WHERE t.agent = q.agent;
SELECT count(*) AS greedy_rows, bool_and(g.action IN (q.l, q.r)) AS named FROM q, bandit.q_greedy(q.agent) g;
SELECT bandit.q_import(repeat('h', 10000), bandit.q_export(agent)) AS imported FROM q;
SELECT count(*) AS same FROM bandit.q_table a JOIN bandit.q_table b USING (state, action, q_value)
WHERE a.agent = repeat('g', 10000) AND b.agent = repeat('h', 10000);
SELECT bandit.q_forget(repeat('h', 10000)) AS forgotten;

-- priors and tuning values under long keys
SELECT bandit.apply_signal(jsonb_build_object('aggregation_round', 1, 'cluster_hash', repeat('c', 10000),
  'participant_count', 2, 'reward_signals', jsonb_build_object(repeat('p', 10000),
  '{"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 4}'::jsonb))) AS applied;
SELECT length(key) AS length, sample_count FROM bandit.prior WHERE key = repeat('p', 10000);
SELECT bandit.prior_adjusted_score(repeat('p', 10000), 1, 10, 0.5, 0) IS NOT NULL AS scored;
SELECT bandit.cleanup_priors('1 hour') AS cleaned;
SELECT bandit.define_tuning_value(repeat('t', 10000), repeat('n', 10000), 500, 100, 2000, 50, 0);
SELECT bandit.snapshot_tuning(repeat('t', 10000), repeat('l', 10000)) > 0 AS snapshot;
SELECT bandit.apply_adjustment(repeat('t', 10000), repeat('n', 10000), 540, repeat('r', 10000), 25, 0.8) > 0 AS applied;
SELECT bandit.tuned_value(repeat('t', 10000), repeat('n', 10000));
SELECT proposed_value IS NOT NULL AS proposed FROM bandit.propose_value(repeat('t', 10000), repeat('n', 10000), 560, 10);
SELECT bool_or(old_value = 500 AND new_value = 540 AND reason = repeat('r', 10000) AND name = repeat('n', 10000)) AS adjustment_logged FROM bandit.tuning_history(repeat('t', 10000), 10);

\c :regress_database
DROP DATABASE bandit_harden_paths;
