-- Delayed rewards (bandit.expire_decisions) and bandit.policy_metrics with
-- bandit.refresh_metrics: bad inputs, what expiry credits and learns, what a
-- late reward gets, and every metrics column against counts of the raw rows.
-- (Racing rewards: test/specs/expire_race.spec; a model: test/expire_test.py;
-- pg_cron: test/cron_test.py.)
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;

-- the parameters: both or neither, a positive interval, a reward the policy takes
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'thompson', '{a,b}', '{"reward_wait": "1 hour"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'thompson', '{a,b}', '{"default_reward": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'thompson', '{a,b}', '{"reward_wait": "soon", "default_reward": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'thompson', '{a,b}', '{"reward_wait": "-5 minutes", "default_reward": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'thompson', '{a,b}', '{"reward_wait": 30, "default_reward": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'thompson', '{a,b}', '{"reward_wait": "1 hour", "default_reward": 1.5}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'thompson', '{a,b}', '{"reward_wait": "1 hour", "default_reward": -0.1}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'ucb1', '{a,b}', '{"reward_wait": "1 hour", "default_reward": 1e101}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('exp_bad', 'ucb1', '{a,b}', '{"reward_wait": "1 hour", "default_reward": "zero"}')$$);
SELECT count(*) AS created FROM bandit.policy WHERE name = 'exp_bad';    -- 0

SELECT bandit.create_policy('exp_t', 'thompson', '{a,b}', '{"reward_wait": "30 minutes", "default_reward": 0}');
SELECT bandit.create_policy('exp_u', 'ucb1', '{a,b}', '{"reward_wait": "2 hours", "default_reward": 0.25, "learning": "batched"}');
SELECT bandit.create_policy('exp_none', 'thompson', '{a,b}');

-- bad calls
SELECT pg_temp.err($$SELECT bandit.expire_decisions('exp_nope')$$);
SELECT pg_temp.err($$SELECT bandit.expire_decisions('exp_none')$$);
SELECT pg_temp.err($$SELECT bandit.refresh_metrics('exp_nope')$$);
CREATE ROLE regress_expire_app;
SELECT bandit.grant('policy', 'exp_t', 'regress_expire_app', 'use');
SET ROLE regress_expire_app;
SELECT pg_temp.err($$SELECT bandit.expire_decisions('exp_t')$$);
SELECT pg_temp.err($$SELECT bandit.refresh_metrics('exp_t')$$);
SELECT bandit.expire_decisions() AS expired_by_app, bandit.refresh_metrics() AS refreshed_by_app;   -- 0: manages none
SELECT count(*) AS metrics_rows_for_app FROM bandit.policy_metrics;                                  -- 0: reads none
RESET ROLE;

-- decisions 1..12 of exp_t, one every 5 minutes back from now; 2, 4, 9 and 11 rewarded 1
INSERT INTO bandit.decision (policy, arm, propensity, mode, created_at)
SELECT 'exp_t', CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, 0.5, 'active', now() - i * interval '5 minutes' - interval '1 second'
FROM generate_series(1, 12) i;
SELECT count(bandit.reward(d.id, 1)) AS rewarded
FROM bandit.decision d WHERE d.policy = 'exp_t' AND round(extract(epoch FROM now() - d.created_at) / 300) IN (2, 4, 9, 11);
-- older than 30 minutes: decisions 6..12; less 9 and 11 rewarded: 5 expire (6, 8, 10, 12 on a; 7 on b)
SELECT bandit.expire_decisions('exp_t') AS expired;
SELECT round(extract(epoch FROM now() - created_at) / 300) AS age_5min, arm, reward, expired, to_learn
FROM bandit.decision WHERE policy = 'exp_t' ORDER BY created_at DESC;
-- learned at once as rewards 0: a from Beta(1, 1) with 1 (2), 1 (4) and 0 x4 = Beta(3, 5), 6 pulls;
-- b with 1 (9), 1 (11), 0 (7) = Beta(3, 2), 3 pulls
SELECT arm, alpha, beta, pulls, rewarded, reward_sum FROM bandit.arm WHERE policy = 'exp_t' ORDER BY arm;
SELECT bandit.expire_decisions('exp_t') AS again;                        -- 0: exactly once
-- a late reward after expiry is 23505, as a second reward is, and changes nothing
-- (its id and time vary from run to run)
SELECT regexp_replace(pg_temp.err(format('SELECT bandit.reward(%s, 1)', min(id))), 'decision [0-9]+ (.*) at .*$',
                      'decision <id> \1 at <rewarded_at>') AS err
FROM bandit.decision WHERE policy = 'exp_t' AND expired;
SELECT arm, alpha, beta, pulls FROM bandit.arm WHERE policy = 'exp_t' ORDER BY arm;
SELECT action, detail->'decisions' AS decisions, detail->'default_reward' AS default_reward
FROM bandit.audit WHERE policy = 'exp_t' AND action = 'expire';

-- batched: expiry records default_reward (to_learn); learn_pending learns it
INSERT INTO bandit.decision (policy, arm, propensity, mode, created_at)
SELECT 'exp_u', 'a', 0.5, 'active', now() - i * interval '1 hour' + interval '1 minute' FROM generate_series(1, 4) i;
-- without a policy: the policies the caller manages, here exp_u and not exp_v
SELECT bandit.create_policy('exp_v', 'ucb1', '{a,b}', '{"reward_wait": "1 hour", "default_reward": 1}');
INSERT INTO bandit.decision (policy, arm, propensity, mode, created_at) VALUES ('exp_v', 'b', 0.5, 'active', now() - interval '3 hours');
SELECT bandit.grant('policy', 'exp_u', 'regress_expire_app', 'manage');
SET ROLE regress_expire_app;
SELECT bandit.expire_decisions() AS expired_by_manager;                  -- 2 of exp_u (3 and 4 hours old)
RESET ROLE;
SELECT policy, count(*) FILTER (WHERE expired) AS expired FROM bandit.decision WHERE policy IN ('exp_u', 'exp_v') GROUP BY 1 ORDER BY 1;
SELECT bandit.expire_decisions() AS expired_all;                         -- 1: exp_v's
SELECT bandit.revoke('policy', 'exp_u', 'regress_expire_app', 'manage');
SELECT count(*) FILTER (WHERE to_learn) AS to_learn, count(*) FILTER (WHERE expired) AS expired
FROM bandit.decision WHERE policy = 'exp_u';
SELECT arm, pulls, rewarded FROM bandit.arm WHERE policy = 'exp_u' ORDER BY arm;
-- metrics before learning: rewarded counts the recorded rewards too
SELECT policy, decisions, rewarded, pending, expired, mean_reward FROM bandit.policy_metrics WHERE policy = 'exp_u';
SELECT bandit.learn_pending('exp_u') AS learned;
SELECT arm, pulls, rewarded, reward_sum, mean_reward FROM bandit.arm WHERE policy = 'exp_u' ORDER BY arm;

-- metrics: every column against the raw rows (rewarded_at of the last hour:
-- no sample is an hour old, and these policies are younger than an hour)
SELECT bandit.refresh_metrics() >= 3 AS refreshed;
SELECT bandit.choose('exp_t') IS NOT NULL AS chose;                     -- one decision after the refresh
CREATE TEMP VIEW raw AS
SELECT p.name AS policy, count(d.id) AS decisions, count(d.reward) AS rewarded, count(d.id) - count(d.reward) AS pending,
       count(*) FILTER (WHERE d.expired) AS expired, avg(d.reward) AS mean_reward,
       count(*) FILTER (WHERE d.created_at >= now() - interval '1 hour') AS decisions_last_hour,
       count(*) FILTER (WHERE d.rewarded_at >= now() - interval '1 hour') AS rewards_last_hour,
       avg(d.reward) FILTER (WHERE d.rewarded_at >= now() - interval '1 hour') AS mean_reward_last_hour,
       max(d.created_at) AS last_decision_at, max(d.rewarded_at) AS last_reward_at
FROM bandit.policy p LEFT JOIN bandit.decision d ON d.policy = p.name
WHERE p.name LIKE 'exp\_%' GROUP BY p.name;
SELECT policy, decisions, rewarded, pending, expired, decisions_last_hour, rewards_last_hour,
       mean_reward IS NOT DISTINCT FROM (SELECT r.mean_reward FROM raw r WHERE r.policy = m.policy) AS mean_ok,
       mean_reward_last_hour IS NOT DISTINCT FROM (SELECT r.mean_reward_last_hour FROM raw r WHERE r.policy = m.policy) AS mean_last_hour_ok
FROM bandit.policy_metrics m WHERE policy LIKE 'exp\_%' ORDER BY policy;
SELECT count(*) AS rows_differing FROM (
    SELECT policy, decisions, rewarded, pending, expired, decisions_last_hour, rewards_last_hour, last_decision_at
    FROM bandit.policy_metrics WHERE policy LIKE 'exp\_%'
    EXCEPT
    SELECT policy, decisions, rewarded, pending, expired, decisions_last_hour, rewards_last_hour, last_decision_at
    FROM raw) x;
-- last_reward_at: the latest reward learned (immediate: its rewarded_at) or recorded; a batched
-- policy's learned rewards count when learn_pending learned them
SELECT m.policy, m.last_reward_at = r.last_reward_at AS last_reward_is_the_latest_rewarded_at,
       m.last_reward_at >= r.last_reward_at AS not_before
FROM bandit.policy_metrics m JOIN raw r USING (policy) ORDER BY m.policy;

-- a reader sees its policies' rows only
SELECT bandit.grant('policy', 'exp_t', 'regress_expire_app', 'read');
SET ROLE regress_expire_app;
SELECT policy, decisions FROM bandit.policy_metrics;
RESET ROLE;
SELECT bandit.revoke('policy', 'exp_t', 'regress_expire_app', 'read');
SELECT bandit.revoke('policy', 'exp_t', 'regress_expire_app', 'use');
DROP ROLE regress_expire_app;

-- LinUCB: an expired decision is learned from its context, as its reward would be
SELECT bandit.create_policy('xlin', 'linucb', '{a,b}', '{"dim": 2, "reward_wait": "1 minute", "default_reward": 0.5}');
SELECT count(*) AS chosen FROM (SELECT bandit.choose('xlin', '{"features": [1, 2]}') FROM generate_series(1, 3)) c;
UPDATE bandit.decision SET created_at = created_at - interval '1 hour' WHERE policy = 'xlin';
SELECT bandit.expire_decisions('xlin') AS expired;
-- three rewards 0.5 of x = (1, 2): b sums to 3 * 0.5 * (1, 2) over the arms
SELECT sum(pulls) AS pulls, sum(rewarded) AS rewarded, sum(reward_sum) AS reward_sum,
       sum((s.b)[1]) AS b1, sum((s.b)[2]) AS b2
FROM bandit.arm a, LATERAL bandit.linucb_state('xlin', a.arm) s WHERE a.policy = 'xlin';

-- a reward_wait reaching before the earliest timestamp (4714 BC): nothing is
-- that old, nothing expires, and expire_decisions() still runs the others
SELECT bandit.create_policy('exp_ages', 'ucb1', '{a,b}', '{"reward_wait": "200000 years", "default_reward": 0}');
SELECT count(*) AS chosen FROM (SELECT bandit.choose('exp_ages') FROM generate_series(1, 2)) c;
UPDATE bandit.decision SET created_at = '4000-01-01 BC' WHERE policy = 'exp_ages';
SELECT bandit.create_policy('exp_soon', 'ucb1', '{a,b}', '{"reward_wait": "1 minute", "default_reward": 0}');
SELECT count(*) AS chosen FROM (SELECT bandit.choose('exp_soon') FROM generate_series(1, 2)) c;
UPDATE bandit.decision SET created_at = created_at - interval '1 hour' WHERE policy = 'exp_soon';
SELECT pg_temp.err($$SELECT bandit.expire_decisions('exp_ages')$$);
SELECT bandit.expire_decisions() AS expired;
SELECT policy, count(*) FILTER (WHERE expired) AS expired, count(*) FILTER (WHERE reward IS NULL) AS unrewarded
FROM bandit.decision WHERE policy IN ('exp_ages', 'exp_soon') GROUP BY policy ORDER BY policy;

-- leave the tables as they were for the tests after this one (harden_policy
-- counts row positions after VACUUM FULL bandit.arm)
DELETE FROM bandit.policy WHERE name IN ('exp_t', 'exp_u', 'exp_v', 'exp_none', 'xlin', 'exp_ages', 'exp_soon');
DELETE FROM bandit.object WHERE kind = 'policy' AND name IN ('exp_t', 'exp_u', 'exp_v', 'exp_none', 'xlin', 'exp_ages', 'exp_soon');
DELETE FROM bandit.decision WHERE policy IN ('exp_t', 'exp_u', 'exp_v', 'exp_none', 'xlin', 'exp_ages', 'exp_soon');
DELETE FROM bandit.audit WHERE policy IN ('exp_t', 'exp_u', 'exp_v', 'exp_none', 'xlin', 'exp_ages', 'exp_soon');
DELETE FROM bandit.decision_rollup WHERE policy IN ('exp_t', 'exp_u', 'exp_v', 'exp_none', 'xlin', 'exp_ages', 'exp_soon');
DELETE FROM bandit.metrics_sample WHERE policy IN ('exp_t', 'exp_u', 'exp_v', 'exp_none', 'xlin', 'exp_ages', 'exp_soon');
