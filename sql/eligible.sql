-- Eligible arms per request (context keys "arms" and "exclude") and best-arm identification
-- (arm_stats's converged).  Propensities and frequencies against independent computations:
-- test/eligible_test.py; here certain answers and every bad input.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
SELECT bandit.create_policy('el', 'thompson', '{a,b,c,d}');

-- two eligible arms of equal posteriors: each is best with probability 1/2 (symmetry)
SELECT arm IN ('b', 'c') AS eligible, propensity FROM bandit.choose('el', '{"arms": ["c", "b", "c"]}');
-- one eligible arm: certain
SELECT arm, propensity FROM bandit.choose('el', '{"exclude": ["a", "b", "c"]}');
SELECT arm, propensity FROM bandit.choose('el', '{"arms": ["d"], "exclude": null}');
-- null is no key: all four arms
SELECT propensity FROM bandit.choose('el', '{"arms": null}');
-- recommend ranks the eligible arms only
SELECT arm, score, rank FROM bandit.recommend('el', 10, '{"exclude": ["a", "c"]}');
SELECT count(*) FROM bandit.recommend('el', 10, '{"arms": []}');

-- bad inputs: nothing logged
SELECT count(*) AS decisions_before FROM bandit.decision WHERE policy = 'el';
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"arms": ["a", "zz"]}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"exclude": ["A"]}')$$);
SELECT pg_temp.err($$SELECT bandit.recommend('el', 2, '{"arms": ["nope"]}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"arms": ["a"], "exclude": ["b"]}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"arms": "a"}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"exclude": {"a": 1}}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"arms": ["a", 1]}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"exclude": [null]}')$$);
SELECT pg_temp.err($$SELECT bandit.recommend('el', 1, '{"arms": [["a"]]}')$$);
-- no eligible arm: the default arm (a) is served if the context allows it, else 22023
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"arms": []}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"exclude": ["a", "b", "c", "d"]}')$$);
SELECT count(*) AS decisions_after FROM bandit.decision WHERE policy = 'el';

-- retired arms are never eligible: the default arm is served, with propensity 1
SELECT bandit.retire_arm('el', 'c');
SELECT arm, propensity FROM bandit.choose('el', '{"arms": ["c", "a"]}');
SELECT arm, propensity FROM bandit.choose('el', '{"arms": ["a", "c"]}');
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"arms": ["c"]}')$$);
-- budget shields apply on top: b over max_cost leaves d
SELECT bandit.set_arm_budget('el', 'b', 5, NULL);
SELECT arm, propensity FROM bandit.choose('el', '{"arms": ["b", "d"], "max_cost": 1}');
-- shadow and off modes serve the default arm: an error if the context does not allow it
SELECT bandit.set_mode('el', 'shadow');
SELECT arm, propensity FROM bandit.choose('el', '{"arms": ["a", "d"]}');
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"arms": ["d"]}')$$);
SELECT bandit.set_mode('el', 'off');
SELECT pg_temp.err($$SELECT bandit.choose('el', '{"exclude": ["a"]}')$$);
SELECT bandit.set_mode('el', 'active');

-- under a canary the names are the policy's; a candidate that would serve its default arm the
-- context excludes leaves the call to the policy
SELECT bandit.create_policy('ec', 'thompson', '{a,b}');
SELECT bandit.create_policy('ec_cand', 'thompson', '{a,b}', '{"default_arm": "b"}');
SELECT bandit.set_arm_budget('ec', 'a', 5, NULL), bandit.set_arm_budget('ec_cand', 'a', 5, NULL);
SELECT bandit.start_canary('ec', 'ec_cand', 0.9);
SELECT array_agg(DISTINCT c.arm) AS served, count(*)
FROM generate_series(1, 40) g, LATERAL bandit.choose('ec', jsonb_build_object('exclude', '["b"]'::jsonb, 'max_cost', 1, 'g', g)) c;
SELECT policy, arm, count(*) FROM bandit.decision WHERE policy IN ('ec', 'ec_cand') GROUP BY 1, 2;
SELECT pg_temp.err($$SELECT count(*) FROM generate_series(1, 20) g, LATERAL bandit.choose('ec', jsonb_build_object('arms', '["a", "zz"]'::jsonb, 'g', g))$$);
SELECT bandit.stop_canary('ec');

-- UCB1 among the eligible: the best eligible mean once every eligible arm is pulled
SELECT bandit.create_policy('eu', 'ucb1', '{a,b,c}', '{"c": 0}');
SELECT bandit.reward('eu', 'a', 0.9), bandit.reward('eu', 'b', 0.5), bandit.reward('eu', 'c', 0.1);
SELECT arm, propensity FROM bandit.choose('eu', '{"exclude": ["a"]}');
SELECT arm, propensity FROM bandit.choose('eu', '{"arms": ["c"]}');

-- LinUCB: "arms" and "exclude" are no features (an array elsewhere is an error)
SELECT bandit.create_policy('elin', 'linucb', '{a,b,c}', '{"dim": 4}');
SELECT arm, propensity FROM bandit.choose('elin', '{"arms": ["b"], "x": 1}');
-- the reward derives the features again from the logged context, with its "exclude"
SELECT arm, bandit.reward(decision_id, 1) FROM bandit.choose('elin', '{"exclude": ["a", "c"], "x": 1}');
SELECT b = bandit.hash_features('{"x": 1}', 4) AS b_is_x FROM bandit.linucb_state('elin', 'b');
SELECT pg_temp.err($$SELECT bandit.choose('elin', '{"arms": ["q"], "x": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.choose('elin', '{"other": ["a"], "x": 1}')$$);

-- best-arm identification: stop_at and min_pulls
SELECT pg_temp.err($$SELECT bandit.create_policy('bad', 'thompson', '{a,b}', '{"stop_at": 0.4}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('bad', 'thompson', '{a,b}', '{"stop_at": 1.01}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('bad', 'thompson', '{a,b}', '{"stop_at": "high"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('bad', 'thompson', '{a,b}', '{"min_pulls": -1}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('bad', 'thompson', '{a,b}', '{"min_pulls": 2.5}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('bad', 'thompson', '{a,b}', '{"min_pulls": 1e16}')$$);
SELECT bandit.create_policy('bai', 'thompson', '{a,b,c}', '{"min_pulls": 3}');
SELECT params ? 'stop_at' AS has_stop_at, params->'min_pulls' AS min_pulls FROM bandit.policy WHERE name = 'bai';
-- a: Beta(31, 1), b: Beta(1, 4), c: Beta(1, 3): a is best with probability > 0.99
SELECT count(bandit.reward('bai', 'a', 1)) FROM generate_series(1, 30);
SELECT count(bandit.reward('bai', 'b', 0)) FROM generate_series(1, 3);
SELECT count(bandit.reward('bai', 'c', 0)) FROM generate_series(1, 2);
-- c has 2 pulls, fewer than min_pulls: nothing converged
SELECT arm, pulls, prob_best > 0.99 AS likely, converged FROM bandit.arm_stats('bai');
SELECT bandit.reward('bai', 'c', 0);
SELECT arm, pulls, converged FROM bandit.arm_stats('bai');
-- a retired arm: converged NULL, and its pulls do not count
SELECT bandit.create_policy('bai2', 'thompson', '{a,b,c}', '{"min_pulls": 1, "stop_at": 0.5}');
SELECT bandit.reward('bai2', 'a', 1), bandit.reward('bai2', 'b', 0);
SELECT arm, converged FROM bandit.arm_stats('bai2');
SELECT bandit.retire_arm('bai2', 'c');
SELECT arm, converged FROM bandit.arm_stats('bai2');
-- a fresh policy with the default min_pulls (10): no arm converged
SELECT bool_or(converged) FROM bandit.arm_stats('el');
