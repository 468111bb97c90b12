-- Learned budgets (reward with cost and latency) and batched learning
-- (learning = batched, bandit.learn_pending).  Expected values are worked
-- out by hand in the comments; test/learning_test.py checks the arithmetic
-- at large against an independent model.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
TRUNCATE bandit.policy, bandit.arm, bandit.arm_count, bandit.decision, bandit.snapshot, bandit.audit,
         bandit.linucb_pending RESTART IDENTITY;
SELECT bandit.set_seed(13);

-- == learned budgets: one arm, so that every decision is its
SELECT bandit.create_policy('one', 'ucb1', '{a}', '{"budget_smoothing": 0.5}');
SELECT count(*) FROM (SELECT (bandit.choose('one')).decision_id FROM generate_series(1, 4)) c;
-- decision 1: cost 10 (first: sets it), latency not observed
SELECT bandit.reward(1, 1, 10, NULL);
SELECT cost, latency_ms, pulls, rewarded, reward_sum FROM bandit.arm WHERE policy = 'one';
-- decision 2: cost 10 + 0.5 (20 - 10) = 15, latency 100 (first)
SELECT bandit.reward(2, 0, 20, 100);
-- decision 3: nothing observed; decision 4: cost 15 + 0.5 (5 - 15) = 10, latency 100 + 0.5 (40 - 100) = 70
SELECT bandit.reward(3, 3, NULL, NULL);
SELECT bandit.reward(4, 2, 5, 40);
SELECT cost, latency_ms, pulls, rewarded, reward_sum FROM bandit.arm WHERE policy = 'one';
SELECT id, reward, cost, latency_ms, to_learn FROM bandit.decision WHERE policy = 'one' ORDER BY id;
SELECT arm, cost, latency_ms FROM bandit.arm_stats('one');
-- a direct credit is no decision's reward: not counted in rewarded, reward_sum
SELECT bandit.reward('one', 'a', 7);
SELECT pulls, rewarded, reward_sum FROM bandit.arm WHERE policy = 'one';
-- set_arm_budget still overrides by hand, and the next observation moves from there: 2 + 0.5 (6 - 2) = 4
SELECT bandit.set_arm_budget('one', 'a', 2, NULL);
SELECT bandit.reward(id, 1, 6, 8) FROM bandit.choose('one') c(id);
SELECT cost, latency_ms FROM bandit.arm WHERE policy = 'one';
-- restore puts the learned state back but keeps the counters of the log
SELECT bandit.snapshot('one', 's') AS snap \gset
SELECT bandit.reward(id, 1, 100, 100) FROM bandit.choose('one') c(id);
SELECT bandit.restore(:snap);
SELECT pulls, cost, latency_ms, rewarded, reward_sum FROM bandit.arm WHERE policy = 'one';
-- a policy made before budget_smoothing existed learns with 0.1: 2 + 0.1 (12 - 2) = 3
UPDATE bandit.policy SET params = params - 'budget_smoothing' WHERE name = 'one';
SELECT bandit.set_arm_budget('one', 'a', 2, NULL);
SELECT bandit.reward(id, 1, 12, NULL) FROM bandit.choose('one') c(id);
SELECT cost FROM bandit.arm WHERE policy = 'one';

-- bad observations: 22003, nothing changes (decision 9 stays unrewarded)
SELECT decision_id AS fresh FROM bandit.choose('one') \gset
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 1, -1, NULL)', :fresh));
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 1, ''NaN'', NULL)', :fresh));
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 1, NULL, ''Infinity'')', :fresh));
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 1, 1, -0.5)', :fresh));
SELECT pg_temp.err(format('SELECT bandit.reward(%s, NULL, 1, 1)', :fresh));
SELECT pg_temp.err('SELECT bandit.reward(999999, 1, 1, 1)');
SELECT reward IS NULL AS unrewarded FROM bandit.decision WHERE id = :fresh;

-- shields choose by the learned estimates: UCB1 serves the unpulled arm
-- first, so two rounds teach both arms their costs
SELECT bandit.create_policy('shield', 'ucb1', '{cheap,dear}');
SELECT bandit.reward(c.id, 0.5, CASE c.arm WHEN 'cheap' THEN 1 ELSE 100 END, CASE c.arm WHEN 'cheap' THEN 5 ELSE 500 END)
FROM bandit.choose('shield') c(id, arm);
SELECT bandit.reward(c.id, 0.5, CASE c.arm WHEN 'cheap' THEN 1 ELSE 100 END, CASE c.arm WHEN 'cheap' THEN 5 ELSE 500 END)
FROM bandit.choose('shield') c(id, arm);
SELECT arm, pulls, cost, latency_ms FROM bandit.arm_stats('shield');
SELECT array_agg(DISTINCT arm) AS within_cost FROM (SELECT (bandit.choose('shield', '{"max_cost": 50}')).arm FROM generate_series(1, 30)) c;
SELECT array_agg(DISTINCT arm) AS within_latency FROM (SELECT (bandit.choose('shield', '{"max_latency_ms": 50}')).arm FROM generate_series(1, 30)) c;
SELECT arm FROM bandit.recommend('shield', 5, '{"max_cost": 50}');

-- == batched learning
SELECT bandit.create_policy('tb', 'thompson', '{x}', '{"learning": "batched", "budget_smoothing": 0.25}');
SELECT min(decision_id) AS first FROM (SELECT (bandit.choose('tb')).decision_id FROM generate_series(1, 5)) c \gset
-- rewards are checked as immediate learning checks them, and only recorded
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 1.5)', :first));
SELECT bandit.reward(:first, 1, 8, 80);
SELECT bandit.reward(:first + 1, 0, 4, NULL);
SELECT bandit.reward(ARRAY[:first + 2, :first + 3], ARRAY[1, 1]::float8[]);
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 0)', :first));
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 0, 1, 1)', :first + 2));
SELECT id - :first AS n, reward, cost, latency_ms, to_learn, rewarded_at IS NOT NULL AS stamped
FROM bandit.decision WHERE policy = 'tb' ORDER BY id;
-- nothing learned yet: the arm is as created
SELECT alpha, beta, pulls, cost, latency_ms, rewarded, reward_sum FROM bandit.arm WHERE policy = 'tb';
-- one at a time: the oldest first
SELECT bandit.learn_pending('tb', 1);
SELECT alpha, beta, pulls, cost, latency_ms, rewarded, reward_sum FROM bandit.arm WHERE policy = 'tb';
-- the rest: alpha 1 + 3 = 4, beta 1 + 1 = 2; cost 8 + 0.25 (4 - 8) = 7; latency 80
SELECT bandit.learn_pending('tb');
SELECT alpha, beta, pulls, cost, latency_ms, rewarded, reward_sum FROM bandit.arm WHERE policy = 'tb';
SELECT count(*) FILTER (WHERE to_learn) AS pending, count(reward) AS rewarded FROM bandit.decision WHERE policy = 'tb';
-- exactly once: nothing left to learn
SELECT bandit.learn_pending('tb');
SELECT bandit.learn_pending();
-- learn_pending also learns rewards recorded for an immediate policy (expired decisions)
UPDATE bandit.decision SET reward = 0.25, rewarded_at = now(), to_learn = true WHERE id = :fresh;
SELECT bandit.learn_pending('one');
SELECT pulls, rewarded, reward_sum FROM bandit.arm WHERE policy = 'one';

-- LinUCB: recorded, then learned through LinUCB's own learning
SELECT bandit.create_policy('lb', 'linucb', '{only}', '{"dim": 2, "learning": "batched"}');
SELECT decision_id AS lid FROM bandit.choose('lb', '{"features": [1, 2]}') \gset
SELECT pg_temp.err('SELECT bandit.reward(''lb'', ''only'', 1)');
SELECT bandit.reward(:lid, 3, 1, 1);
SELECT b, pending FROM bandit.linucb_state('lb', 'only');
SELECT bandit.learn_pending('lb');
-- b = 3 x = {3, 6}; A = I + x x^T = [[2, 2], [2, 5]], A^-1 = [[5, -2], [-2, 2]] / 6
SELECT b, pending, (SELECT array_agg(round(v::numeric, 12)) FROM unnest(a_inv) v) AS a_inv FROM bandit.linucb_state('lb', 'only');
SELECT pulls, rewarded, reward_sum, cost, latency_ms FROM bandit.arm WHERE policy = 'lb';
-- a context too large for the state, which reward would refuse (22003; logged
-- here by hand: choose refuses to score it), is taken back; the others learn
INSERT INTO bandit.decision (policy, arm, propensity, mode, context)
VALUES ('lb', 'only', 1, 'active', '{"features": [1e200, 1]}') RETURNING id AS huge \gset
SELECT decision_id AS fine FROM bandit.choose('lb', '{"features": [0, 1]}') \gset
SELECT bandit.reward(:huge, 1);
SELECT bandit.reward(:fine, 1);
SELECT bandit.learn_pending('lb');
SELECT id = :huge AS huge, reward, to_learn FROM bandit.decision WHERE id IN (:huge, :fine) ORDER BY id;
SELECT b, pending FROM bandit.linucb_state('lb', 'only');

-- a LinUCB policy's state imported over a batched policy with recorded rewards
-- (promote_canary refuses a LinUCB candidate for it, import_policy replaces):
-- decisions without a context, or with features of another dim, cannot teach
-- LinUCB; each is dropped with a WARNING (its reward stays on the decision),
-- the one whose features fit learns, and learn_pending() learns every other
-- policy's too instead of failing each run
SELECT bandit.create_policy('pu', 'ucb1', '{only}', '{"learning": "batched"}');
SELECT bandit.create_policy('pl', 'linucb', '{only}', '{"dim": 2}');
SELECT bandit.create_policy('po', 'ucb1', '{only}', '{"learning": "batched"}');
SELECT decision_id AS bare FROM bandit.choose('pu') \gset
SELECT decision_id AS wide FROM bandit.choose('pu', '{"features": [1, 2, 3]}') \gset
SELECT decision_id AS fits FROM bandit.choose('pu', '{"features": [1, 2]}') \gset
SELECT decision_id AS other FROM bandit.choose('po') \gset
SELECT bandit.reward(:bare, 1), bandit.reward(:wide, 1), bandit.reward(:fits, 2), bandit.reward(:other, 1);
SELECT bandit.import_policy(bandit.export_policy('pl'), 'pu', true);
SELECT bandit.learn_pending() AS learned;
-- pu learned fits only: b = 2 x = {2, 4}; po its one reward
SELECT b, pending FROM bandit.linucb_state('pu', 'only');
SELECT policy, pulls, rewarded, reward_sum FROM bandit.arm WHERE policy IN ('pu', 'po') ORDER BY policy;
SELECT id = :bare AS bare, id = :wide AS wide, reward, to_learn FROM bandit.decision
WHERE id IN (:bare, :wide, :fits, :other) ORDER BY id;

-- bad calls
SELECT pg_temp.err('SELECT bandit.learn_pending(''tb'', 0)');
SELECT pg_temp.err('SELECT bandit.learn_pending(''tb'', NULL)');
SELECT pg_temp.err('SELECT bandit.learn_pending(''nope'')');
SELECT pg_temp.err('SELECT bandit.create_policy(''bad'', ''ucb1'', ''{a}'', ''{"learning": "lazy"}'')');
-- privilege: manage on the policy; with NULL, the policies the caller manages
CREATE ROLE regress_learning_app;
SELECT bandit.grant('policy', 'tb', 'regress_learning_app', 'use');
SELECT min(decision_id) AS second FROM (SELECT (bandit.choose('tb')).decision_id FROM generate_series(1, 2)) c \gset
SELECT bandit.reward(:second, 1);
SET ROLE regress_learning_app;
SELECT bandit.reward(:second + 1, 1, 2, 3);
SELECT pg_temp.err('SELECT bandit.learn_pending(''tb'')');
SELECT bandit.learn_pending();
RESET ROLE;
SELECT count(*) FILTER (WHERE to_learn) AS still_pending FROM bandit.decision WHERE policy = 'tb';
SELECT bandit.learn_pending();
SELECT alpha, beta, pulls, rewarded FROM bandit.arm WHERE policy = 'tb';
SELECT bandit.revoke('policy', 'tb', 'regress_learning_app', 'use');
DROP ROLE regress_learning_app;
