-- Canaries and versions: bad inputs, routing of choose and reward, gates with
-- too little data, promote (state equal to the candidate's), stop, lineage of
-- snapshot / restore / promote.  Shares and gate verdicts on known values are
-- in test/canary_test.py.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
TRUNCATE bandit.policy, bandit.arm, bandit.arm_count, bandit.decision, bandit.snapshot, bandit.audit, bandit.canary RESTART IDENTITY;

SELECT bandit.create_policy('prod', 'thompson', '{a,b,c}');
SELECT bandit.create_policy('cand', 'epsilon_greedy', '{c,b,a}', '{"epsilon": 0.3}');
SELECT bandit.create_policy('two', 'thompson', '{a,b}');
SELECT bandit.create_policy('four', 'ucb1', '{a,b,c,d}');
SELECT bandit.retire_arm('four', 'd');

-- bad inputs change nothing
SELECT pg_temp.err($$SELECT bandit.start_canary('nope', 'cand', 0.1)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'nope', 0.1)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary(NULL, 'cand', 0.1)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'prod', 0.1)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 1)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', -0.5)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '{"min_decision": 10}')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '[1]')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '{"min_value": "high"}')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '{"min_decisions": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '{"min_decisions": 20.5}')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '{"max_std_error": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '{"max_regression": -0.1}')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1, '{"min_value": 1e200}')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'two', 0.1)$$);
SELECT pg_temp.err($$SELECT bandit.canary_status('prod')$$);
SELECT pg_temp.err($$SELECT bandit.canary_status('nope')$$);
SELECT pg_temp.err($$SELECT bandit.promote_canary('prod')$$);
SELECT pg_temp.err($$SELECT bandit.stop_canary('prod')$$);
SELECT pg_temp.err($$SELECT bandit.stop_canary(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.policy_versions('nope')$$);
SELECT count(*) AS canaries FROM bandit.canary;
SELECT count(*) AS audited FROM bandit.audit WHERE action LIKE 'canary%';

-- the same active arms: a retired arm does not count
SELECT bandit.start_canary('prod', 'four', 0.25, '{"min_decisions": 50, "min_value": null}');
SELECT policy, candidate, share, gates FROM bandit.canary;
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'cand', 0.1)$$);
SELECT bandit.stop_canary('prod');
SELECT action, detail - 'started_at' AS detail FROM bandit.audit WHERE action LIKE 'canary%' ORDER BY id;

-- choose(prod) serves about share of its calls from the candidate, logged under it
SELECT bandit.start_canary('prod', 'cand', 0.5);
SELECT bandit.set_seed(7);
CREATE TEMP TABLE served AS
SELECT i, c.* FROM generate_series(1, 400) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT d.policy, d.canary_of, d.mode, count(*) BETWEEN 150 AND 250 AS about_half
FROM served s JOIN bandit.decision d ON d.id = s.decision_id GROUP BY 1, 2, 3 ORDER BY 1;
-- a candidate's decision has the candidate's propensity (epsilon-greedy over 3 tied arms: 1/3)
SELECT bool_and(abs(d.propensity - 1.0 / 3) < 1e-12) AS candidate_propensity
FROM served s JOIN bandit.decision d ON d.id = s.decision_id WHERE d.policy = 'cand';
-- set_seed replays the draws
SELECT bandit.set_seed(7);
CREATE TEMP TABLE replay AS
SELECT i, c.* FROM generate_series(1, 40) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT array_agg(d.policy ORDER BY s.i) = (SELECT array_agg(d2.policy ORDER BY s2.i) FROM served s2 JOIN bandit.decision d2 ON d2.id = s2.decision_id WHERE s2.i <= 40) AS replayed
FROM replay s JOIN bandit.decision d ON d.id = s.decision_id;

-- a reward of a candidate's decision teaches the candidate, not the policy
SELECT bandit.reward(min(d.id), 1) FROM bandit.decision d WHERE d.policy = 'cand';
SELECT policy, sum(pulls) AS pulls FROM bandit.arm WHERE policy IN ('prod', 'cand') GROUP BY 1 ORDER BY 1;
SELECT pg_temp.err($$SELECT bandit.reward(min(d.id), 1) FROM bandit.decision d WHERE d.policy = 'cand'$$);

-- too little data: continue
SELECT candidate, share, production_n, candidate_n, method, recommendation, reason FROM bandit.canary_status('prod');

-- versions: a snapshot descends from the current version and becomes it
SELECT bandit.snapshot('two', 'v1');
SELECT bandit.snapshot('two', 'v2');
SELECT snapshot_id, parent, status, label FROM bandit.policy_versions('two');
SELECT bandit.restore(1);
SELECT snapshot_id, parent, status, label FROM bandit.policy_versions('two');
SELECT bandit.snapshot('two', 'v3');
SELECT snapshot_id, parent, status, label FROM bandit.policy_versions('two');
SELECT detail->'previous_version' AS previous_version FROM bandit.audit WHERE action = 'restore';

-- promote: the candidate's configuration and state become the policy's (its mode stays)
SELECT count(bandit.reward(d.id, (d.id % 3 = 0)::int)) FROM bandit.decision d WHERE d.reward IS NULL;
SELECT bandit.set_mode('prod', 'shadow');
CREATE TEMP TABLE cand_arms AS SELECT arm, alpha, beta, pulls, weight, mean_reward, m2, retired FROM bandit.arm WHERE policy = 'cand';
SELECT bandit.promote_canary('prod');
SELECT p.algorithm = c.algorithm AND p.params = c.params AND p.default_arm = c.default_arm AS same_configuration, p.mode
FROM bandit.policy p, bandit.policy c WHERE p.name = 'prod' AND c.name = 'cand';
SELECT count(*) AS arms_differing FROM (
    (SELECT arm, alpha, beta, pulls, weight, mean_reward, m2, retired FROM bandit.arm WHERE policy = 'prod'
     EXCEPT SELECT * FROM cand_arms)
    UNION ALL
    (SELECT * FROM cand_arms
     EXCEPT SELECT arm, alpha, beta, pulls, weight, mean_reward, m2, retired FROM bandit.arm WHERE policy = 'prod')) x;
SELECT count(*) AS canaries FROM bandit.canary;
SELECT snapshot_id, parent, status, label FROM bandit.policy_versions('prod');
SELECT snapshot_id, parent, status, label FROM bandit.policy_versions('cand');
SELECT detail - 'started_at' AS detail FROM bandit.audit WHERE action = 'canary_promoted';
-- promote twice: no canary any more
SELECT pg_temp.err($$SELECT bandit.promote_canary('prod')$$);
-- the policy serves alone again
CREATE TEMP TABLE alone AS SELECT c.* FROM generate_series(1, 20) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT count(*) FILTER (WHERE d.policy = 'prod') AS own, count(*) FILTER (WHERE d.policy <> 'prod') AS other
FROM alone c JOIN bandit.decision d ON d.id = c.decision_id;

-- promote refuses a candidate whose arms changed since the start
SELECT bandit.set_mode('prod', 'active');
SELECT bandit.start_canary('prod', 'cand', 0.2);
SELECT bandit.add_arm('cand', 'e');
SELECT pg_temp.err($$SELECT bandit.promote_canary('prod')$$);
SELECT bandit.stop_canary('prod');

-- a canary whose candidate was deleted by hand: its share of choose is 42704,
-- and start_canary clears the leftover
SELECT bandit.create_policy('gone', 'thompson', '{a,b,c}');
SELECT bandit.start_canary('prod', 'gone', 0.999999);
DELETE FROM bandit.arm WHERE policy = 'gone';
DELETE FROM bandit.policy WHERE name = 'gone';
SELECT pg_temp.err($$SELECT bandit.choose('prod')$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'two', 0.1)$$);
SELECT bandit.start_canary('prod', 'four', 0.1);
SELECT policy, candidate FROM bandit.canary;

-- canary_status weighs production's log by the candidate's propensities,
-- computed in SQL: each equals the propensity the candidate's choose logs
SELECT bandit.create_policy('pt_' || alg, alg, '{a,b,c,d}', CASE alg WHEN 'softmax' THEN '{"temperature": 0.5}' WHEN 'epsilon_greedy' THEN '{"epsilon": 0.5}' ELSE '{}' END::jsonb)
FROM unnest('{thompson,epsilon_greedy,softmax,ucb1}'::text[]) alg;
SELECT count(bandit.reward('pt_' || alg, arm, r)) FROM unnest('{thompson,epsilon_greedy,softmax,ucb1}'::text[]) alg,
    (VALUES ('a', 0.2), ('a', 0.6), ('b', 0.9), ('c', 0.1), ('b', 0.4), ('d', 0.9), ('b', 1)) v(arm, r)
WHERE alg <> 'ucb1' OR arm <> 'd';
SELECT bandit.set_seed(3);
CREATE TEMP TABLE logged AS
SELECT alg, c.* FROM unnest('{thompson,epsilon_greedy,softmax,ucb1}'::text[]) alg, generate_series(1, 20) i,
     LATERAL bandit.choose('pt_' || alg || left(i::text, 0)) c;
SELECT l.alg, count(*) AS chooses, count(DISTINCT l.arm) AS arms, max(abs(l.propensity - p.propensity)) < 1e-12 AS same_propensity
FROM logged l, LATERAL (SELECT * FROM bandit.canary_propensities('pt_' || l.alg)) p
WHERE p.arm = l.arm GROUP BY l.alg ORDER BY l.alg;
SELECT alg, count(*) AS arms, abs(sum(p.propensity) - 1) < 1e-12 AS sums_to_one
FROM unnest('{thompson,epsilon_greedy,softmax,ucb1}'::text[]) alg, LATERAL bandit.canary_propensities('pt_' || alg) p
GROUP BY alg ORDER BY alg;
SELECT arm, propensity FROM bandit.canary_propensities('pt_ucb1') ORDER BY arm;
-- LinUCB's depends on the context: none
SELECT bandit.create_policy('pt_linucb', 'linucb', '{a,b,c,d}', '{"dim": 2}');
SELECT count(*) AS linucb_rows FROM bandit.canary_propensities('pt_linucb');

-- promote of a LinUCB candidate with pending rewards (each names a decision of
-- the candidate): the policy gets the state its choose would use, nothing pending
SELECT bandit.create_policy('lin_prod', 'linucb', '{a,b}', '{"dim": 3}');
SELECT bandit.create_policy('lin_cand', 'linucb', '{a,b}', '{"dim": 3, "alpha": 0.5}');
SELECT bandit.start_canary('lin_prod', 'lin_cand', 0.5);
SELECT bandit.set_seed(9);
CREATE TEMP TABLE lin_served AS
SELECT c.* FROM generate_series(1, 12) i, LATERAL bandit.choose('lin_prod', jsonb_build_object('features', ARRAY[1, i % 3, i % 2])) c;
SELECT count(bandit.reward(s.decision_id, 0.25 * (s.decision_id % 4))) FROM lin_served s;
SELECT count(*) > 0 AS candidate_has_pending FROM bandit.linucb_pending WHERE policy = 'lin_cand';
CREATE TEMP TABLE lin_state AS SELECT arm, (bandit.linucb_state('lin_cand', arm)).* FROM unnest('{a,b}'::text[]) arm;
SELECT bandit.promote_canary('lin_prod');
SELECT c.arm, p.a_inv = c.a_inv AND p.b = c.b AS same_state, p.pending
FROM lin_state c, LATERAL bandit.linucb_state('lin_prod', c.arm) p ORDER BY 1;
SELECT params->>'alpha' AS alpha FROM bandit.policy WHERE name = 'lin_prod';

-- leave the tables as found (later tests look at bandit.arm's physical layout)
DELETE FROM bandit.object WHERE kind = 'policy' AND name IN (SELECT name FROM bandit.policy);
TRUNCATE bandit.policy, bandit.arm, bandit.arm_count, bandit.decision, bandit.snapshot, bandit.audit, bandit.canary, bandit.linucb_pending;
