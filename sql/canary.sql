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
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', NULL, 0.1)$$);
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

-- a candidate whose arms changed since the start: choose(prod) never serves
-- an arm prod does not have (the policy serves that call itself), the
-- status recommends rollback, and promote refuses
SELECT bandit.set_mode('prod', 'active');
SELECT bandit.start_canary('prod', 'cand', 0.999999);
SELECT bandit.add_arm('cand', 'e');
SELECT bandit.set_seed(11);
CREATE TEMP TABLE diverged AS SELECT c.* FROM generate_series(1, 200) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT d.policy, d.arm = 'e' AS new_arm, count(*) > 0 AS served FROM diverged v JOIN bandit.decision d ON d.id = v.decision_id
GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS served_e FROM bandit.decision d WHERE d.arm = 'e';
SELECT recommendation, reason FROM bandit.canary_status('prod');
SELECT pg_temp.err($$SELECT bandit.promote_canary('prod')$$);
SELECT bandit.stop_canary('prod');

-- only an active policy routes to an active candidate: off is the kill switch
-- (every call the default arm), shadow serves the default arm too, and a
-- candidate in shadow or off mode would serve its own default arm (b here)
SELECT bandit.create_policy('gone', 'thompson', '{a,b,c}', '{"default_arm": "b"}');
SELECT bandit.start_canary('prod', 'gone', 0.999999);
SELECT bandit.set_mode('prod', 'off');
CREATE TEMP TABLE modes AS SELECT 'off' AS prod, 'active' AS cand, c.* FROM generate_series(1, 10) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT bandit.set_mode('prod', 'shadow');
INSERT INTO modes SELECT 'shadow', 'active', c.* FROM generate_series(1, 10) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT bandit.set_mode('prod', 'active');
SELECT bandit.set_mode('gone', 'shadow');
INSERT INTO modes SELECT 'active', 'shadow', c.* FROM generate_series(1, 10) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT bandit.set_mode('gone', 'off');
INSERT INTO modes SELECT 'active', 'off', c.* FROM generate_series(1, 10) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT bandit.set_mode('gone', 'active');
INSERT INTO modes SELECT 'active', 'active', c.* FROM generate_series(1, 10) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT m.prod, m.cand, d.policy, d.mode, count(*) FROM modes m JOIN bandit.decision d ON d.id = m.decision_id
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;
SELECT count(*) FILTER (WHERE arm = (SELECT default_arm FROM bandit.policy WHERE name = 'prod')) AS default_arm, count(*) AS calls
FROM modes WHERE prod <> 'active';

-- a canary whose candidate was deleted by hand: choose serves every call
-- itself, and start_canary clears the leftover
DELETE FROM bandit.arm WHERE policy = 'gone';
DELETE FROM bandit.policy WHERE name = 'gone';
CREATE TEMP TABLE orphan AS SELECT c.* FROM generate_series(1, 10) i, LATERAL bandit.choose('prod' || left(i::text, 0)) c;
SELECT d.policy, d.canary_of, count(*) FROM orphan o JOIN bandit.decision d ON d.id = o.decision_id GROUP BY 1, 2;
SELECT pg_temp.err($$SELECT bandit.start_canary('prod', 'two', 0.1)$$);
SELECT bandit.start_canary('prod', 'four', 0.1);
SELECT policy, candidate FROM bandit.canary;
-- canary_status compares two sides only if they expire alike (reward_wait
-- and default_reward, as an interval and a number): default_reward credited on
-- one side only would decide it.  The same world on both sides, half the
-- visitors click, the others never answer and expire on the policy's side only.
SELECT bandit.create_policy('exp_p', 'thompson', '{a,b}', '{"reward_wait": "30 minutes", "default_reward": 0}');
SELECT bandit.create_policy('exp_none', 'thompson', '{a,b}');
SELECT bandit.create_policy('exp_other', 'thompson', '{a,b}', '{"reward_wait": "30 minutes", "default_reward": 0.5}');
SELECT bandit.create_policy('exp_same', 'thompson', '{a,b}', '{"reward_wait": "1800 seconds", "default_reward": 0.0}');
SELECT bandit.start_canary('exp_p', 'exp_none', 0.5, '{"min_decisions": 20}');
SELECT bandit.set_seed(12);
CREATE TEMP TABLE exp_served AS SELECT c.* FROM generate_series(1, 200) i, LATERAL bandit.choose('exp_p' || left(i::text, 0)) c;
SELECT count(bandit.reward(decision_id, 1)) > 0 AS clicked FROM exp_served WHERE decision_id % 2 = 0;
UPDATE bandit.decision SET created_at = created_at - interval '1 hour' WHERE id IN (SELECT decision_id FROM exp_served);
UPDATE bandit.canary SET started_at = started_at - interval '1 hour' WHERE policy = 'exp_p';
SELECT bandit.expire_decisions('exp_p') > 0 AS expired;
SELECT production_mean < 1 AS production_has_zeros, candidate_mean = 1 AS candidate_only_clicks, recommendation, reason
FROM bandit.canary_status('exp_p');
SELECT bandit.stop_canary('exp_p');
SELECT bandit.start_canary('exp_p', 'exp_other', 0.5, '{"min_decisions": 2}');
SELECT recommendation, reason LIKE 'the two sides expire decisions differently%' AS expiry_differs FROM bandit.canary_status('exp_p');
SELECT bandit.stop_canary('exp_p');
SELECT bandit.start_canary('exp_p', 'exp_same', 0.5, '{"min_decisions": 2}');
SELECT recommendation, reason FROM bandit.canary_status('exp_p');
SELECT bandit.stop_canary('exp_p');
-- two policies may not canary each other
SELECT pg_temp.err($$SELECT bandit.start_canary('four', 'prod', 0.1)$$);
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

-- a LinUCB candidate needs the policy's feature vectors: a thompson policy's
-- callers send none, a LinUCB policy of another dim sends others; choose(policy)
-- would fail on the candidate's share of the calls
SELECT bandit.create_policy('lin_two', 'linucb', '{a,b}', '{"dim": 2}');
SELECT bandit.create_policy('plain', 'thompson', '{a,b}');
SELECT pg_temp.err($$SELECT bandit.start_canary('plain', 'lin_two', 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.start_canary('lin_prod', 'lin_two', 0.5)$$);
SELECT count(*) AS canaries FROM bandit.canary WHERE policy IN ('plain', 'lin_prod');
-- the other way round is fine: a thompson candidate ignores the features
SELECT bandit.start_canary('lin_prod', 'plain', 0.999999);
SELECT arm IS NOT NULL AS served FROM bandit.choose('lin_prod', '{"features": [1, 2, 3]}');
SELECT bandit.stop_canary('lin_prod');
-- promote refuses such a candidate too (here one recreated by hand under the name)
SELECT bandit.create_policy('plain_v2', 'thompson', '{a,b}');
SELECT bandit.start_canary('plain', 'plain_v2', 0.1);
DELETE FROM bandit.arm WHERE policy = 'plain_v2';
DELETE FROM bandit.policy WHERE name = 'plain_v2';
SELECT bandit.create_policy('plain_v2', 'linucb', '{a,b}', '{"dim": 2}');
SELECT pg_temp.err($$SELECT bandit.promote_canary('plain')$$);
SELECT algorithm FROM bandit.policy WHERE name = 'plain';
SELECT bandit.stop_canary('plain');

-- promote is all or nothing: a failure at its last step (the audit row,
-- refused here by a trigger) leaves the policies, their arms, the versions
-- and the canary as they were
SELECT bandit.create_policy('plain_v3', 'ucb1', '{a,b}');
SELECT bandit.start_canary('plain', 'plain_v3', 0.1);
CREATE TEMP TABLE before_promote AS
SELECT (SELECT jsonb_agg(to_jsonb(s) ORDER BY id) FROM bandit.snapshot s) AS snapshots,
       (SELECT jsonb_agg(to_jsonb(p) ORDER BY name) FROM bandit.policy p WHERE name IN ('plain', 'plain_v3')) AS policies,
       (SELECT jsonb_agg(to_jsonb(a) ORDER BY policy, arm) FROM bandit.arm a WHERE policy IN ('plain', 'plain_v3')) AS arms;
CREATE FUNCTION public.refuse_promotion() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN RAISE EXCEPTION 'refused'; END $f$;
CREATE TRIGGER refuse_promotion BEFORE INSERT ON bandit.audit FOR EACH ROW
WHEN (NEW.action = 'canary_promoted') EXECUTE FUNCTION public.refuse_promotion();
SELECT pg_temp.err($$SELECT bandit.promote_canary('plain')$$);
DROP TRIGGER refuse_promotion ON bandit.audit;
DROP FUNCTION public.refuse_promotion();
SELECT b.snapshots IS NOT DISTINCT FROM (SELECT jsonb_agg(to_jsonb(s) ORDER BY id) FROM bandit.snapshot s) AS same_versions,
       b.policies = (SELECT jsonb_agg(to_jsonb(p) ORDER BY name) FROM bandit.policy p WHERE name IN ('plain', 'plain_v3')) AS same_policies,
       b.arms = (SELECT jsonb_agg(to_jsonb(a) ORDER BY policy, arm) FROM bandit.arm a WHERE policy IN ('plain', 'plain_v3')) AS same_arms,
       (SELECT candidate FROM bandit.canary WHERE policy = 'plain') AS canary
FROM before_promote b;
SELECT bandit.promote_canary('plain');
SELECT algorithm FROM bandit.policy WHERE name = 'plain';

-- leave the tables as found (later tests look at bandit.arm's physical layout)
DELETE FROM bandit.object WHERE kind = 'policy' AND name IN (SELECT name FROM bandit.policy);
TRUNCATE bandit.policy, bandit.arm, bandit.arm_count, bandit.decision, bandit.snapshot, bandit.audit, bandit.canary, bandit.linucb_pending;
