-- Table-backed policies: management, choose, reward, modes, budgets,
-- snapshots, LinUCB.  Random choices are checked by their properties;
-- learned values against arithmetic done here in SQL.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
-- from empty tables and decision id 1, whatever tests ran before
TRUNCATE bandit.policy, bandit.arm, bandit.arm_count, bandit.decision, bandit.snapshot, bandit.audit RESTART IDENTITY;
SELECT bandit.set_seed(11);

SELECT bandit.create_policy('t', 'thompson', '{a,b,c}');
SELECT name, algorithm, mode, default_arm, params FROM bandit.policy;
SELECT arm, alpha, beta, pulls, weight, mean_reward, retired FROM bandit.arm ORDER BY arm;

-- a choice is logged with the probability it had: for Thompson, P(best) of the arms
SELECT decision_id, arm IN ('a', 'b', 'c') AS known_arm, abs(propensity - 1.0 / 3) < 1e-9 AS propensity
FROM bandit.choose('t');
SELECT bandit.reward(1, 1);
SELECT arm, alpha, beta, pulls, mean_reward FROM bandit.arm WHERE pulls > 0;
SELECT d.arm = a.arm AS credited_the_served_arm, d.reward, d.rewarded_at IS NOT NULL AS stamped
FROM bandit.decision d JOIN bandit.arm a ON a.policy = d.policy AND a.pulls > 0 WHERE d.id = 1;
-- the next propensity is P(best) under the updated posteriors
WITH c AS (SELECT * FROM bandit.choose('t')),
     p AS (SELECT array_agg(arm ORDER BY arm) arms, bandit.prob_best(array_agg(alpha ORDER BY arm), array_agg(beta ORDER BY arm)) pb
           FROM bandit.arm WHERE policy = 't')
SELECT abs(c.propensity - p.pb[array_position(p.arms, c.arm)]) < 1e-12 AS propensity_is_prob_best FROM c, p;

-- exactly once: a second reward is an error and changes nothing
SELECT pg_temp.err($$SELECT bandit.reward(1, 0)$$);
SELECT sum(pulls) AS pulls, sum(alpha) AS alpha, sum(beta) AS beta FROM bandit.arm WHERE policy = 't';
SELECT pg_temp.err($$SELECT bandit.reward(12345, 1)$$);
SELECT pg_temp.err($$SELECT bandit.reward(2, 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.reward(2, 1.5)$$);
SELECT reward FROM bandit.decision WHERE id = 2;
-- fractional rewards; crediting an arm directly
SELECT bandit.reward(2, 0.25);
SELECT bandit.reward('t', 'c', 0.5);
SELECT arm, alpha, beta, pulls FROM bandit.arm WHERE policy = 't' ORDER BY arm;
SELECT pg_temp.err($$SELECT bandit.reward('t', 'zz', 1)$$);
SELECT pg_temp.err($$SELECT bandit.reward('nope', 'a', 1)$$);

-- batch: all or nothing, in one statement
SELECT count(*) FROM (SELECT bandit.choose('t') FROM generate_series(1, 4)) s;
SELECT bandit.reward(ARRAY[3, 4, 5], ARRAY[1, 0, 1]::float8[]);
SELECT pg_temp.err($$SELECT bandit.reward(ARRAY[6, 3], ARRAY[1, 1]::float8[])$$);          -- 3 was rewarded: nothing changes
SELECT reward IS NULL AS six_untouched FROM bandit.decision WHERE id = 6;
SELECT pg_temp.err($$SELECT bandit.reward(ARRAY[6, 6], ARRAY[1, 1]::float8[])$$);          -- the same decision twice
SELECT pg_temp.err($$SELECT bandit.reward(ARRAY[6, 999], ARRAY[1, 1]::float8[])$$);
SELECT pg_temp.err($$SELECT bandit.reward(ARRAY[6], ARRAY[1, 1]::float8[])$$);
SELECT pg_temp.err($$SELECT bandit.reward(ARRAY[6, NULL], ARRAY[1, 1]::float8[])$$);
SELECT bandit.reward(ARRAY[6], ARRAY[1]::float8[]);
SELECT count(*) FILTER (WHERE reward IS NOT NULL) AS rewarded, count(*) AS decisions FROM bandit.decision;
SELECT sum(pulls) AS pulls FROM bandit.arm WHERE policy = 't';

-- arm_stats: prob_best over the active arms
SELECT arm, pulls, alpha, beta, abs(prob_best - pb) < 1e-12 AS prob_best_ok
FROM bandit.arm_stats('t') s
JOIN unnest('{a,b,c}'::text[], bandit.prob_best(
        (SELECT array_agg(alpha ORDER BY arm) FROM bandit.arm WHERE policy = 't'),
        (SELECT array_agg(beta ORDER BY arm) FROM bandit.arm WHERE policy = 't'))) x(xa, pb) ON x.xa = s.arm
ORDER BY arm;
SELECT pg_temp.err($$SELECT * FROM bandit.arm_stats('nope')$$);

-- recommend ranks by P(best) for Thompson
SELECT r.arm, r.rank, abs(r.score - s.prob_best) < 1e-12 AS score_is_prob_best
FROM bandit.recommend('t', 2) r JOIN bandit.arm_stats('t') s USING (arm) ORDER BY r.rank;
SELECT count(*) FROM bandit.recommend('t', 10);
SELECT pg_temp.err($$SELECT * FROM bandit.recommend('t', 0)$$);

-- arms: add, retire; errors
SELECT bandit.add_arm('t', 'd', 2.5, 40);
SELECT pg_temp.err($$SELECT bandit.add_arm('t', 'd')$$);
SELECT pg_temp.err($$SELECT bandit.add_arm('nope', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.add_arm('t', 'e', -1)$$);
SELECT bandit.retire_arm('t', 'b');
SELECT pg_temp.err($$SELECT bandit.retire_arm('t', 'b')$$);
SELECT pg_temp.err($$SELECT bandit.retire_arm('t', 'a')$$);   -- the default arm
SELECT count(*) AS chose_retired FROM (SELECT (bandit.choose('t')).arm FROM generate_series(1, 30)) s WHERE arm = 'b';
SELECT arm, retired, prob_best IS NULL AS no_prob_best FROM bandit.arm_stats('t') ORDER BY arm;

-- budget shields: never an arm over budget; the default arm when none fits
SELECT bandit.set_arm_budget('t', 'a', 10, 100);
SELECT bandit.set_arm_budget('t', 'c', 1, 500);
SELECT arm, count(*) FROM (SELECT (bandit.choose('t', '{"max_cost": 3}')).arm FROM generate_series(1, 40)) s
GROUP BY arm ORDER BY arm;   -- c and d only
SELECT arm, propensity FROM bandit.choose('t', '{"max_cost": 3, "max_latency_ms": 50}');   -- d only
SELECT arm, propensity FROM bandit.choose('t', '{"max_cost": 0.5}');   -- none fits: default a
SELECT pg_temp.err($$SELECT * FROM bandit.choose('t', '{"max_cost": "cheap"}')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose('t', '[1, 2]')$$);

-- modes
SELECT bandit.set_mode('t', 'shadow');
SELECT arm, propensity FROM bandit.choose('t');
SELECT arm, propensity, policy_arm IN ('a', 'c', 'd') AS logged_policy_choice, mode FROM bandit.decision ORDER BY id DESC LIMIT 1;
SELECT bandit.set_mode('t', 'off');
SELECT arm, propensity FROM bandit.choose('t');
SELECT policy_arm IS NULL AS no_policy_choice, mode FROM bandit.decision ORDER BY id DESC LIMIT 1;
SELECT pg_temp.err($$SELECT bandit.set_mode('t', 'sideways')$$);
SELECT bandit.set_mode('t', 'active');
SELECT action, detail->>'arm' AS arm, detail->>'to' AS mode FROM bandit.audit ORDER BY id;

-- snapshot and restore put back every arm exactly, and remove arms added since
SELECT bandit.snapshot('t', 'before') AS snap \gset
CREATE TEMP TABLE saved AS SELECT to_jsonb(a) - 'last_update' - 'state_stamp' - 'changed_xid' AS row FROM bandit.arm a WHERE policy = 't';
SELECT bandit.reward('t', 'c', 1);
SELECT bandit.add_arm('t', 'f');
SELECT bandit.restore(:snap);
SELECT count(*) AS rows_differ FROM (
    (SELECT row FROM saved EXCEPT SELECT to_jsonb(a) - 'last_update' - 'state_stamp' - 'changed_xid' FROM bandit.arm a WHERE policy = 't')
    UNION ALL
    (SELECT to_jsonb(a) - 'last_update' - 'state_stamp' - 'changed_xid' FROM bandit.arm a WHERE policy = 't' EXCEPT SELECT row FROM saved)) d;
SELECT pg_temp.err($$SELECT bandit.restore(99999)$$);

-- other algorithms: UCB1 plays unpulled arms first, then its formula
SELECT bandit.create_policy('u', 'ucb1', '{x,y,z}', '{"c": 0.5}');
SELECT bandit.reward('u', 'x', 1), bandit.reward('u', 'y', 0), bandit.reward('u', 'y', 1);
SELECT arm, propensity FROM bandit.choose('u');           -- z: never pulled
SELECT bandit.reward('u', 'z', 0.2);
-- x: 1 + 0.5 sqrt(2 ln 4 / 1) = 1.8325546 beats y: 0.5 + 0.5 sqrt(2 ln 4 / 2) = 1.0887 and z: 1.0325546
SELECT arm, propensity FROM bandit.choose('u');
SELECT arm, round(score::numeric, 7) AS score, rank FROM bandit.recommend('u', 3);
-- epsilon-greedy: propensity (1 - eps) + eps / k for the greedy arm, eps / k otherwise
SELECT bandit.create_policy('e', 'epsilon_greedy', '{x,y}', '{"epsilon": 0.2}');
SELECT bandit.reward('e', 'y', 3);
SELECT arm, round(propensity::numeric, 12) AS propensity
FROM (SELECT (bandit.choose('e')).* FROM generate_series(1, 40)) s GROUP BY arm, propensity ORDER BY arm;
-- softmax: propensities exp(m / T) / sum
SELECT bandit.create_policy('s', 'softmax', '{x,y}', '{"temperature": 0.5}');
SELECT bandit.reward('s', 'y', 1);
SELECT arm, abs(propensity - exp(CASE arm WHEN 'y' THEN 2 ELSE 0 END) / (1 + exp(2))) < 1e-12 AS propensity_ok
FROM (SELECT (bandit.choose('s')).* FROM generate_series(1, 30)) s GROUP BY arm, propensity ORDER BY arm;

-- discount: alpha = prior + 0.5 (alpha - prior) + r at each update
SELECT bandit.create_policy('g', 'thompson', '{x}', '{"discount": 0.5, "prior_alpha": 2}');
SELECT bandit.reward('g', 'x', 1), bandit.reward('g', 'x', 1), bandit.reward('g', 'x', 0);
-- alpha: 2 -> 2 + 0 + 1 = 3 -> 2 + .5 (1) + 1 = 3.5 -> 2 + .5 (1.5) + 0 = 2.75; beta: 1 -> 1 -> 1 -> 1 + 0 + 1 = 2;
-- weight: 1 -> 1.5 -> 1.75
SELECT alpha, beta, weight, pulls FROM bandit.arm WHERE policy = 'g';

-- LinUCB: after one reward, A^-1 = I - x x' / (1 + x'x), b = r x (Sherman-Morrison, exact here)
SELECT bandit.create_policy('l', 'linucb', '{p,q}', '{"dim": 3, "alpha": 0.1}');
SELECT arm FROM bandit.choose('l', '{"features": [1, 2, 2]}');
SELECT bandit.reward(currval('bandit.decision_id_seq'), 0.5);
SELECT a.arm, s.a_inv = ARRAY[1 - 1/10.0, -2/10.0, -2/10.0, -2/10.0, 1 - 4/10.0, -4/10.0, -2/10.0, -4/10.0, 1 - 4/10.0]::float8[]
       AS a_inv_exact, s.b
FROM bandit.arm a, bandit.linucb_state('l', a.arm) s WHERE policy = 'l' AND pulls = 1;
SELECT pg_temp.err($$SELECT * FROM bandit.choose('l')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose('l', '{"features": [1, 2]}')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose('l', '{"features": [1, "x", 2]}')$$);
SELECT count(*) FROM bandit.choose('l', '{"country": "de", "age": 31, "mobile": true}');
SELECT pg_temp.err($$SELECT bandit.reward('l', 'p', 1)$$);

-- LinUCB state is cached per row version: a rolled-back reward leaves the scores as they were
CREATE TEMP TABLE l_before AS SELECT arm, score FROM bandit.recommend('l', 2, '{"features": [0, 1, 0]}');
BEGIN;
SELECT count(bandit.reward(decision_id, 1)) FROM bandit.choose('l', '{"features": [0, 1, 0]}');
SELECT count(*) AS changed FROM bandit.recommend('l', 2, '{"features": [0, 1, 0]}') r JOIN l_before USING (arm)
WHERE r.score <> l_before.score;
ROLLBACK;
SELECT count(*) AS changed FROM bandit.recommend('l', 2, '{"features": [0, 1, 0]}') r JOIN l_before USING (arm)
WHERE r.score <> l_before.score;

-- LinUCB state edited by hand into the wrong shape is reported as corrupted data (XX001), not an internal error
BEGIN;
UPDATE bandit.arm SET b = '{1}' WHERE policy = 'l' AND arm = 'p';
SELECT pg_temp.err($$SELECT count(*) FROM bandit.choose('l', '{"features": [0, 1, 0]}')$$);
ROLLBACK;
-- the hashing trick is deterministic and sums to the signed values
SELECT bandit.hash_features('{"a": 1.5, "b": "x", "c": true}', 8) = bandit.hash_features('{"c": true, "b": "x", "a": 1.5}', 8) AS stable,
       (SELECT sum(abs(v)) FROM unnest(bandit.hash_features('{"a": 1.5}', 8)) v) AS one_feature;
SELECT pg_temp.err($$SELECT bandit.hash_features('{"a": [1]}', 8)$$);
SELECT pg_temp.err($$SELECT bandit.hash_features('{"a": 1}', 0)$$);

-- creating policies: errors change nothing
SELECT count(*) AS policies_before FROM bandit.policy;
SELECT pg_temp.err($$SELECT bandit.create_policy('t', 'ucb1', '{x}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x1', 'bogus', '{x}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x2', 'ucb1', '{}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x3', 'ucb1', '{x,x}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x4', 'ucb1', '{x}', '{"epsilon": 2}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x5', 'ucb1', '{x}', '{"color": "red"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x6', 'ucb1', '{x}', '{"default_arm": "y"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x7', 'linucb', '{x}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x8', 'ucb1', '{x}', '{"dim": 4}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x9', 'ucb1', '{x}', '{"discount": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x10', 'ucb1', '{x}', '{"mode": "loud"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x11', 'ucb1', '{x}', '{"c": "big"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('x12', 'linucb', '{x}', '{"dim": 2, "discount": 1.5}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy(NULL, 'ucb1', '{x}')$$);
SELECT count(*) AS policies_after FROM bandit.policy;
SELECT pg_temp.err($$SELECT * FROM bandit.choose('nope')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose(NULL)$$);


-- a hostile search_path changes nothing: the functions resolve everything in pg_catalog
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1999-01-01'::timestamptz $$;
CREATE FUNCTION hostile.jsonb_object_keys(jsonb) RETURNS SETOF text LANGUAGE sql AS $$ SELECT 'bogus'::text $$;
CREATE FUNCTION hostile.float8pl(float8, float8) RETURNS float8 LANGUAGE sql AS $$ SELECT 0::float8 $$;
CREATE OPERATOR hostile.+ (LEFTARG = float8, RIGHTARG = float8, FUNCTION = hostile.float8pl);
SET search_path = hostile, pg_catalog;
SELECT bandit.create_policy('h', 'thompson', '{x,y}', '{"prior_alpha": 2}');
SELECT bandit.reward(decision_id, 1) FROM bandit.choose('h');
SELECT bandit.reward('h', 'x', 1);
RESET search_path;
SELECT sum(alpha) AS alpha, sum(pulls) AS pulls, bool_and(last_update > '2000-01-01') AS real_time
FROM bandit.arm WHERE policy = 'h';      -- 2 + 2 priors, + 2 rewards of 1 = 6; 2 pulls
DROP SCHEMA hostile CASCADE;
-- the arm cache's trigger functions serve as triggers only
SELECT pg_temp.err($$SELECT bandit.arm_written()$$);
SELECT pg_temp.err($$SELECT bandit.arms_deleted()$$);
CREATE TEMP TABLE not_arm (policy text, arm text);
CREATE TRIGGER w BEFORE INSERT ON not_arm FOR EACH ROW EXECUTE FUNCTION bandit.arm_written();
SELECT pg_temp.err($$INSERT INTO not_arm VALUES ('p', 'a')$$);
SELECT count(*) AS rows_written FROM not_arm;
