-- Hardening of policies and selection aggregates (issue 9): NULL arguments,
-- values that must outlive SPI, the LinUCB cache across table rewrites,
-- learned state that must never turn NaN or Infinity, the empty arm name,
-- limits and cancellation.  Each case failed on 0.1.0 (crash, wrong answer,
-- poisoned state or XX000).  Expected numbers are computed by hand in the
-- comments.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
SELECT bandit.set_seed(9);

-- == NULL arguments: 22004, never a crash (recommend(NULL, ...) was SIGSEGV)
SELECT bandit.create_policy('hp', 'thompson', '{a,b}');
SELECT pg_temp.err($$SELECT * FROM bandit.recommend(NULL, 3, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.recommend('hp', NULL, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp2', 'thompson', '{a}', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.add_arm(NULL, 'c')$$);
SELECT pg_temp.err($$SELECT bandit.set_arm_budget('hp', NULL, 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.retire_arm('hp', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.restore(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.arm_stats(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.snapshot(NULL)$$);
SELECT count(*) AS arms, count(*) FILTER (WHERE retired) AS retired FROM bandit.arm WHERE policy = 'hp';

-- == long arm names come back whole from choose and recommend (they were
-- read after SpiEnd freed them: '' or garbage); the only arm is certain
SELECT bandit.create_policy('hp_long', 'thompson', ARRAY[repeat('x', 9999) || 'y']);
SELECT length(arm), md5(arm) = md5(repeat('x', 9999) || 'y') AS same FROM bandit.choose('hp_long');
SELECT length(arm), md5(arm) = md5(repeat('x', 9999) || 'y') AS same, rank FROM bandit.recommend('hp_long', 1);
SELECT bandit.create_policy('hp_long_sm', 'softmax', ARRAY[repeat('s', 10000), repeat('t', 10000)]);
SELECT length(arm), md5(arm) IN (md5(repeat('s', 10000)), md5(repeat('t', 10000))) AS same
FROM bandit.choose('hp_long_sm');
SELECT length(arm), md5(arm) IN (md5(repeat('s', 10000)), md5(repeat('t', 10000))) AS same, rank
FROM bandit.recommend('hp_long_sm', 2) ORDER BY rank;
-- a LinUCB context of 500 hashed keys (SIGSEGV on every try): both arms start
-- at A^-1 = I, b = 0, so they tie; the score is alpha |x| = sqrt(x'x)
SELECT bandit.create_policy('hp_wide', 'linucb', ARRAY[repeat('w', 10000), 'v'], '{"dim": 8}');
CREATE TEMP TABLE wide AS SELECT jsonb_object_agg('k' || i, i) AS ctx FROM generate_series(1, 500) i;
SELECT length(c.arm) IN (1, 10000) AS known_arm, c.propensity
FROM wide, LATERAL bandit.choose('hp_wide', wide.ctx) c;
SELECT length(r.arm), abs(r.score - sqrt((SELECT sum(x * x) FROM unnest(bandit.hash_features(wide.ctx, 8)) x))) < 1e-9 AS score_ok
FROM wide, LATERAL bandit.recommend('hp_wide', 2, wide.ctx) r ORDER BY r.arm;

-- == the LinUCB cache survives VACUUM FULL and CLUSTER (it was keyed by
-- (tableoid, xmin, ctid), which a rewrite hands to another row)
VACUUM FULL bandit.arm;
BEGIN;
SELECT bandit.create_policy('hp_lin', 'linucb', '{a,b}', '{"dim": 2}');
-- this backend caches both arms as created (A^-1 = I, b = 0)
SELECT count(*) FROM bandit.recommend('hp_lin', 2, '{"features": [1, 0]}');
CREATE TEMP TABLE created AS SELECT arm, xmin::text::bigint AS row_xmin, ctid AS row_ctid FROM bandit.arm WHERE policy = 'hp_lin';
-- a learns from x = (1, 0), r = 1 in the same transaction (same xmin): A = diag(2, 1),
-- A^-1 = diag(0.5, 1), b = (1, 0); at x = (1, 0): 0.5 + sqrt(0.5) = 1.2071067811865475;
-- b: 0 + sqrt(1) = 1
INSERT INTO bandit.decision (policy, arm, propensity, mode, context)
VALUES ('hp_lin', 'a', 1, 'active', '{"features": [1, 0]}');
SELECT bandit.reward(max(id), 1) FROM bandit.decision WHERE policy = 'hp_lin';
COMMIT;
SELECT arm, abs(score - CASE arm WHEN 'a' THEN 0.5 + sqrt(0.5) ELSE 1 END) < 1e-12 AS score_ok, rank
FROM bandit.recommend('hp_lin', 2, '{"features": [1, 0]}') ORDER BY rank;
VACUUM FULL bandit.arm;
-- the rewrite gave an arm a row version this backend cached for another one
SELECT count(*) AS collisions FROM bandit.arm a JOIN created c ON a.xmin::text::bigint = c.row_xmin AND a.ctid = c.row_ctid
WHERE a.policy = 'hp_lin' AND a.arm <> c.arm;
SELECT arm, abs(score - CASE arm WHEN 'a' THEN 0.5 + sqrt(0.5) ELSE 1 END) < 1e-12 AS score_ok, rank
FROM bandit.recommend('hp_lin', 2, '{"features": [1, 0]}') ORDER BY rank;
CLUSTER bandit.arm USING arm_pkey;
SELECT arm, abs(score - CASE arm WHEN 'a' THEN 0.5 + sqrt(0.5) ELSE 1 END) < 1e-12 AS score_ok, rank
FROM bandit.recommend('hp_lin', 2, '{"features": [1, 0]}') ORDER BY rank;
SELECT arm, propensity FROM bandit.choose('hp_lin', '{"features": [1, 0]}');
-- every write of a_inv or b renews the stamp; restore too
CREATE TEMP TABLE stamps AS SELECT arm, state_stamp FROM bandit.arm WHERE policy = 'hp_lin';
SELECT bandit.snapshot('hp_lin') AS hp_snap \gset
SELECT bandit.restore(:hp_snap);
SELECT count(*) AS renewed FROM bandit.arm a JOIN stamps s USING (arm) WHERE a.policy = 'hp_lin' AND a.state_stamp <> s.state_stamp;

-- == learned state is never poisoned: 22003, nothing changed
-- LinUCB: a feature of 1e200 overflows x'A^-1 x (stored a_inv = {NaN,...})
CREATE TEMP TABLE lin_before AS SELECT arm, a_inv, b, pulls FROM bandit.arm WHERE policy = 'hp_lin';
INSERT INTO bandit.decision (policy, arm, propensity, mode, context)
VALUES ('hp_lin', 'b', 1, 'active', '{"features": [1e200, 1]}') RETURNING id AS big_id \gset
SELECT pg_temp.err(format('SELECT bandit.reward(%s, 1)', :big_id));
SELECT reward IS NULL AS not_rewarded FROM bandit.decision WHERE id = :big_id;
SELECT count(*) AS changed FROM bandit.arm a JOIN lin_before l USING (arm)
WHERE a.policy = 'hp_lin' AND (a.a_inv <> l.a_inv OR a.b <> l.b OR a.pulls <> l.pulls);
-- nor are such scores ranked or logged
SELECT count(*) AS decisions FROM bandit.decision WHERE policy = 'hp_lin' \gset before_
SELECT pg_temp.err($$SELECT * FROM bandit.choose('hp_lin', '{"features": [1e200, 1]}')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.recommend('hp_lin', 2, '{"features": [1e300, 1e300]}')$$);
SELECT count(*) - :before_decisions AS logged FROM bandit.decision WHERE policy = 'hp_lin';
SELECT pg_temp.err($$SELECT bandit.hash_features('{"a": 1e308, "b": 1e308}', 1)$$);
-- a large but computable feature is learned, and later contexts still score
INSERT INTO bandit.decision (policy, arm, propensity, mode, context)
VALUES ('hp_lin', 'b', 1, 'active', '{"features": [0, 1e150]}') RETURNING id AS ok_id \gset
SELECT bandit.reward(:ok_id, 1);
SELECT bool_and(x = x AND x NOT IN ('Infinity', '-Infinity')) AS finite
FROM bandit.arm, unnest(a_inv || b) x WHERE policy = 'hp_lin';
SELECT count(*) AS ranked FROM bandit.recommend('hp_lin', 2, '{"features": [1, 1]}');

-- softmax: a reward of 1e308 made every later propensity NaN; rewards are at most 1e100
SELECT bandit.create_policy('hp_sm', 'softmax', '{a,b}');
SELECT pg_temp.err($$SELECT bandit.reward('hp_sm', 'a', 1e308)$$);
SELECT pg_temp.err($$SELECT bandit.reward('hp_sm', 'a', -1.0000000000000001e100)$$);
SELECT arm, pulls, mean_reward FROM bandit.arm WHERE policy = 'hp_sm' ORDER BY arm;
SELECT bandit.reward('hp_sm', 'a', 1e100), bandit.reward('hp_sm', 'b', -1e100);
-- weights exp((mean - 1e100) / 0.1): a 1, b exp(-2e101) = 0
SELECT arm, propensity FROM bandit.choose('hp_sm');
SELECT arm, score, rank FROM bandit.recommend('hp_sm', 2);
-- UCB1: an unpulled arm has no upper bound yet: NULL, not Infinity, ranked first;
-- a: N = 1, 0.25 + sqrt(2 ln 1 / 1) = 0.25
SELECT bandit.create_policy('hp_ucb', 'ucb1', '{a,b}');
SELECT bandit.reward('hp_ucb', 'a', 0.25);
SELECT arm, score, rank FROM bandit.recommend('hp_ucb', 2);
-- Thompson rewards stay in [0, 1], shown as passed
SELECT pg_temp.err($$SELECT bandit.reward('hp', 'a', 1.0000000000000002)$$);

-- parameters that would break every later choose are refused at creation
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_t', 'softmax', '{a,b}', '{"temperature": 1e-320}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_t', 'thompson', '{a,b}', '{"prior_alpha": 1e-320}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_t', 'thompson', '{a,b}', '{"prior_beta": 1e300}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_t', 'ucb1', '{a,b}', '{"c": 1e101}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_t', 'linucb', '{a,b}', '{"dim": 2, "alpha": 1e300}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_t', 'linucb', '{a,b}', '{"dim": 2.5}')$$);
SELECT count(*) AS created FROM bandit.policy WHERE name = 'hp_t';
-- the priors' limits are accepted
SELECT bandit.create_policy('hp_t', 'thompson', '{a,b}', '{"prior_alpha": 1e-6, "prior_beta": 1e6}');
SELECT count(*) AS chosen FROM bandit.choose('hp_t');

-- discount: identical rewards decay m2 geometrically; in SQL float8 arithmetic
-- 0.5 * m2 raised an underflow error once m2 reached 5e-324, and every later
-- reward of the arm failed.  Rewards 0, 1, then 1200 times 1 with discount 0.5:
-- weight 2 (0.5 w + 1 from 1), mean 1, m2 halves towards 0
SELECT bandit.create_policy('hp_disc', 'ucb1', '{a,b}', '{"discount": 0.5}');
SELECT bandit.reward('hp_disc', 'a', 0), bandit.reward('hp_disc', 'a', 1);
SELECT count(bandit.reward('hp_disc', 'a', 1)) AS rewarded FROM generate_series(1, 1200);
SELECT pulls, weight, mean_reward, m2 < 1e-300 AS m2_decayed FROM bandit.arm WHERE policy = 'hp_disc' AND arm = 'a';

-- == the empty arm name is an arm like any (NULL pointer meant "no pick yet")
SELECT bandit.thompson_choice(arm, a, b) AS thompson
FROM (VALUES ('', 1e6::float8, 1::float8), ('b', 1, 1e6)) v(arm, a, b);
SELECT bandit.ucb1_choice(arm, pulls, mean) AS ucb1_unpulled
FROM (VALUES ('', 0::bigint, NULL::float8), ('b', 5, 0.5)) v(arm, pulls, mean);
-- N = 11: '' 0.9 + sqrt(2 ln 11 / 10) = 1.5925, b 0.1 + sqrt(2 ln 11) = 2.2899; with c = 0: ''
SELECT bandit.ucb1_choice(arm, pulls, mean, 0) AS ucb1_pulled
FROM (VALUES ('', 10::bigint, 0.9::float8), ('b', 1, 0.1)) v(arm, pulls, mean);
SELECT bandit.epsilon_greedy_choice(arm, mean, 0) AS greedy
FROM (VALUES ('b', 0.1::float8), ('', 0.9)) v(arm, mean);
SELECT bandit.softmax_choice(arm, mean, 1e-3) AS softmax
FROM (VALUES ('b', 0.1::float8), ('', 0.9)) v(arm, mean);
-- '' alone, and '' tied with another: each wins about half the time
SELECT bandit.thompson_choice('', 1, 1) AS alone;
SELECT count(*) FILTER (WHERE choice = '') BETWEEN 400 AND 600 AS fair_tie
FROM (SELECT bandit.ucb1_choice(arm, 0, NULL) AS choice
      FROM (VALUES (''), ('b')) v(arm), generate_series(1, 1000) g GROUP BY g) s;
-- a policy serves '' too
SELECT bandit.create_policy('hp_empty', 'ucb1', '{"",b}');
SELECT bandit.reward('hp_empty', '', 1), bandit.reward('hp_empty', 'b', 0);
SELECT arm = '' AS empty_served, propensity FROM bandit.choose('hp_empty');
SELECT arm = '' AS empty_first, rank FROM bandit.recommend('hp_empty', 1);

-- == aggregate support functions are internal: not executable by PUBLIC (the
-- aggregates still are), and a crafted aggregate (only a superuser can make
-- one: its state is internal) handing them another state is XX001
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p WHERE p.pronamespace = 'bandit'::regnamespace AND p.proname LIKE '%choice\_%'
ORDER BY p.oid::regprocedure::text COLLATE "C";
CREATE ROLE regress_harden_policy;
GRANT USAGE ON SCHEMA bandit TO regress_harden_policy;
SET ROLE regress_harden_policy;
SELECT bandit.thompson_choice(arm, 1, 1) IS NOT NULL AS aggregate_works FROM (VALUES ('a'), ('b')) v(arm);
RESET ROLE;
REVOKE USAGE ON SCHEMA bandit FROM regress_harden_policy;
DROP ROLE regress_harden_policy;
CREATE AGGREGATE pg_temp.crafted_choice(text) (SFUNC = array_agg_transfn, STYPE = internal,
                                              FINALFUNC = bandit.choice_final);
CREATE AGGREGATE pg_temp.crafted_ucb1(text) (SFUNC = array_agg_transfn, STYPE = internal,
                                            FINALFUNC = bandit.ucb1_choice_final);
SELECT pg_temp.err($$SELECT pg_temp.crafted_choice(x) FROM (VALUES ('a'), ('b')) v(x)$$);
SELECT pg_temp.err($$SELECT pg_temp.crafted_ucb1(x) FROM (VALUES ('a'), ('b')) v(x)$$);

-- == limits: 54000 past the documented maximums, 2202E for a 2-D arms array
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_big', 'linucb', '{a}', '{"dim": 5000}')$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_big', 'linucb', ARRAY(SELECT 'a' || i FROM generate_series(1, 257) i), '{"dim": 1024}')$$);
SELECT pg_temp.err($$SELECT bandit.identity_matrix(5000)$$);
SELECT pg_temp.err($$SELECT bandit.identity_matrix(0)$$);
SELECT pg_temp.err($$SELECT bandit.hash_features('{}', 1025)$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_big', 'thompson', ARRAY(SELECT 'a' || i FROM generate_series(1, 100001) i))$$);
SELECT pg_temp.err($$SELECT bandit.create_policy('hp_big', 'thompson', '{{a,b},{c,d}}')$$);
SELECT count(*) AS created FROM bandit.policy WHERE name = 'hp_big';
SELECT pg_temp.err($$SELECT bandit.reward(array_fill(1::bigint, ARRAY[10000001]), array_fill(1::float8, ARRAY[10000001]))$$);
SELECT bandit.identity_matrix(3);
-- 100000 arms is the most, and is created in one statement
SELECT bandit.create_policy('hp_big', 'ucb1', ARRAY(SELECT 'a' || i FROM generate_series(1, 100000) i));
SELECT pg_temp.err($$SELECT bandit.add_arm('hp_big', 'one more')$$);
SELECT count(*) AS arms FROM bandit.arm WHERE policy = 'hp_big';
-- a long run of chooses is cancelled by statement_timeout, and logs nothing
SELECT bandit.create_policy('hp_many', 'thompson', ARRAY(SELECT 'a' || i FROM generate_series(1, 3000) i));
CREATE FUNCTION pg_temp.cancelled(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN query_canceled THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
SET statement_timeout = '100ms';
SELECT pg_temp.cancelled($$SELECT count(*) FROM generate_series(1, 1000) g, LATERAL bandit.choose(CASE WHEN g > 0 THEN 'hp_many' END) c$$);
RESET statement_timeout;
SELECT count(*) AS logged FROM bandit.decision WHERE policy = 'hp_many';
-- the LinUCB cache keeps at most 16 MB per backend: 200 arms at dim 128 are
-- 200 x 8 (128^2 + 128) bytes = 26.4 MB of state, and each arm is still scored
SELECT bandit.create_policy('hp_budget', 'linucb', ARRAY(SELECT 'a' || i FROM generate_series(1, 200) i), '{"dim": 128}');
SELECT count(*) AS ranked FROM bandit.recommend('hp_budget', 200, '{"x": 1}');
SELECT sum(used_bytes) <= 16 * 1024 * 1024 AS cache_within_budget
FROM pg_backend_memory_contexts WHERE name = 'bandit LinUCB state';
-- learn_step, by hand: a first reward of 1 on a fresh arm; then a 0 on it
-- (weight 2, mean 1/2, m2 = 1 * (0 - 1/2) * -1 = 1/2); the same with discount
-- 1/2 (weight 1.5, mean 1/3, m2 1/3, alpha 1 + (2 - 1)/2, beta 1 + 0 + 1)
SELECT bandit.learn_step(1, 1, 0, 0, 0, 1, 1, 1, 1, true) AS first,
       bandit.learn_step(2, 1, 1, 1, 0, 0, 1, 1, 1, true) AS second,
       (SELECT array_agg(round(x::numeric, 12)) FROM unnest(bandit.learn_step(2, 1, 1, 1, 0, 0, 1, 1, 0.5, true)) x) AS discounted;
-- a state it cannot compute is 22003; STRICT: NULL in, NULL out
SELECT pg_temp.err($$SELECT bandit.learn_step(1, 1, 1, 1e308, 0, -1e308, 1, 1, 1, false)$$);
SELECT bandit.learn_step(1, 1, 1, 0, 0, NULL, 1, 1, 1, false) IS NULL AS strict;
DELETE FROM bandit.policy WHERE name LIKE 'hp%';
DELETE FROM bandit.decision WHERE policy LIKE 'hp%';
DELETE FROM bandit.snapshot WHERE policy LIKE 'hp%';
DELETE FROM bandit.audit WHERE policy LIKE 'hp%';
