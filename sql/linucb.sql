-- LinUCB's pending rewards (issue 11): a reward adds its decision and reward
-- to bandit.linucb_pending (the features are derived again from the
-- decision's context where the row is read); the (2 dim)-th reward of an arm since its last
-- fold folds them all into bandit.arm's a_inv and b; choose, recommend and
-- linucb_state apply the pending ones.  Expected states are worked out here
-- by hand (2 x 2 inverses), compared within 1e-12.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE FUNCTION pg_temp.near(got float8[], want float8[]) RETURNS boolean LANGUAGE sql AS $f$
    SELECT cardinality(got) = cardinality(want) AND bool_and(abs(g - w) < 1e-12)
    FROM unnest(got, want) u(g, w) $f$;

SELECT bandit.create_policy('lp', 'linucb', '{p,q}', '{"dim": 2, "alpha": 0}');
CREATE TEMP TABLE stamp0 AS SELECT arm, state_stamp FROM bandit.arm WHERE policy = 'lp';
INSERT INTO bandit.decision (id, policy, arm, propensity, mode, context) VALUES
    (900001, 'lp', 'p', 1, 'active', '{"features": [1, 2]}'),
    (900002, 'lp', 'p', 1, 'active', '{"features": [2, 0]}'),
    (900003, 'lp', 'p', 1, 'active', '{"features": [0, 1]}'),
    (900004, 'lp', 'p', 1, 'active', '{"features": [1, 1]}'),
    (900005, 'lp', 'p', 1, 'active', '{"features": [1, 0]}'),
    (900006, 'lp', 'p', 1, 'active', '{"features": [0, 1]}'),
    (900007, 'lp', 'p', 1, 'active', '{"features": [0, 1]}'),
    (900008, 'lp', 'p', 1, 'active', '{"features": [0, 1]}');

-- the first reward is pending: the stored state is still A^-1 = I, b = 0
SELECT bandit.reward(900001, 3);
SELECT q.arm, q.decision, q.reward, q.stamp = a.state_stamp AS names_the_stored_state
FROM bandit.linucb_pending q JOIN bandit.arm a USING (policy, arm) WHERE q.policy = 'lp';
-- a pending row holds no feature vector: these columns and no other
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'bandit.linucb_pending'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT arm, pulls, a_inv, b FROM bandit.arm WHERE policy = 'lp' ORDER BY arm;
-- what choose uses: A = I + x x' = [[2, 2], [2, 5]], A^-1 = [[5, -2], [-2, 2]] / 6, b = 3 x
SELECT pg_temp.near(a_inv, ARRAY[5/6.0, -2/6.0, -2/6.0, 2/6.0]::float8[]) AS a_inv_ok, b, pending
FROM bandit.linucb_state('lp', 'p');
SELECT a_inv, b, pending FROM bandit.linucb_state('lp', 'q');
-- alpha 0: the score is theta.x, theta = A^-1 b = (0.5, 1)
SELECT arm, abs(score - CASE arm WHEN 'p' THEN 1.5 ELSE 0 END) < 1e-12 AS score_ok, rank
FROM bandit.recommend('lp', 2, '{"features": [1, 1]}') ORDER BY rank;

-- two more pending: A = [[6, 2], [2, 6]], A^-1 = [[6, -2], [-2, 6]] / 32, b = (5, 6)
SELECT bandit.reward(900002, 1), bandit.reward(900003, 0);
SELECT q.decision, q.reward FROM bandit.linucb_pending q WHERE q.policy = 'lp' ORDER BY q.seq;
SELECT pg_temp.near(a_inv, ARRAY[6/32.0, -2/32.0, -2/32.0, 6/32.0]::float8[]) AS a_inv_ok, b, pending
FROM bandit.linucb_state('lp', 'p');

-- the fourth (2 dim) folds: A = [[7, 3], [3, 7]], A^-1 = [[7, -3], [-3, 7]] / 40, b = (7, 8),
-- written once into bandit.arm with a new state_stamp; nothing pending
SELECT bandit.reward(900004, 2);
SELECT count(*) AS pending_rows FROM bandit.linucb_pending WHERE policy = 'lp';
SELECT a.arm, a.pulls, pg_temp.near(a.a_inv, ARRAY[7/40.0, -3/40.0, -3/40.0, 7/40.0]::float8[]) AS a_inv_ok, a.b,
       a.state_stamp <> s.state_stamp AS new_stamp
FROM bandit.arm a JOIN stamp0 s USING (arm) WHERE a.policy = 'lp' AND a.arm = 'p';
-- arm q: untouched, its stamp too
SELECT a.a_inv, a.b, a.state_stamp = s.state_stamp AS same_stamp
FROM bandit.arm a JOIN stamp0 s USING (arm) WHERE a.policy = 'lp' AND a.arm = 'q';
SELECT pg_temp.near(a_inv, ARRAY[7/40.0, -3/40.0, -3/40.0, 7/40.0]::float8[]) AS a_inv_ok, b, pending
FROM bandit.linucb_state('lp', 'p');

-- the fifth is pending on the folded state: A = [[8, 3], [3, 7]], A^-1 = [[7, -3], [-3, 8]] / 47
SELECT bandit.reward(900005, 1);
SELECT q.decision, q.reward, q.stamp = a.state_stamp AS names_the_stored_state
FROM bandit.linucb_pending q JOIN bandit.arm a USING (policy, arm) WHERE q.policy = 'lp';
SELECT pg_temp.near(a_inv, ARRAY[7/47.0, -3/47.0, -3/47.0, 8/47.0]::float8[]) AS a_inv_ok, b, pending
FROM bandit.linucb_state('lp', 'p');

-- a snapshot holds the pending reward beside the stored state; restore puts both back,
-- after three more rewards have folded it away
SELECT bandit.snapshot('lp') AS snap \gset
SELECT e->>'arm' AS arm, e->'linucb_pending' AS linucb_pending
FROM bandit.snapshot, jsonb_array_elements(arms) e WHERE id = :snap ORDER BY 1;
SELECT bandit.reward(900006, 0), bandit.reward(900007, 0), bandit.reward(900008, 0);
SELECT count(*) AS pending_rows FROM bandit.linucb_pending WHERE policy = 'lp';
SELECT bandit.restore(:snap);
SELECT q.arm, q.decision, q.reward, q.stamp = a.state_stamp AS names_the_restored_state
FROM bandit.linucb_pending q JOIN bandit.arm a USING (policy, arm) WHERE q.policy = 'lp';
SELECT pg_temp.near(a_inv, ARRAY[7/47.0, -3/47.0, -3/47.0, 8/47.0]::float8[]) AS a_inv_ok, b, pending
FROM bandit.linucb_state('lp', 'p');

-- a pending update's features are its decision's context: with the decision gone (deleted by
-- hand; bandit deletes none) or its id reused for another reward, reading the state is
-- XX001, and a snapshot naming it cannot be restored (42704); either changes nothing
SELECT bandit.snapshot('lp') AS snap2 \gset
-- a new backend, whose cache has not applied the update yet
\c
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE FUNCTION pg_temp.near(got float8[], want float8[]) RETURNS boolean LANGUAGE sql AS $f$
    SELECT cardinality(got) = cardinality(want) AND bool_and(abs(g - w) < 1e-12)
    FROM unnest(got, want) u(g, w) $f$;
BEGIN;
DELETE FROM bandit.decision WHERE id = 900005;
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('lp', 'p')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.choose('lp', '{"features": [1, 1]}')$$);
SELECT regexp_replace(pg_temp.err($$SELECT bandit.restore($$ || :snap2 || $$)$$), 'snapshot \d+', 'snapshot N') AS err;
ROLLBACK;
BEGIN;
UPDATE bandit.decision SET reward = 2 WHERE id = 900005;
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('lp', 'p')$$);
SELECT regexp_replace(pg_temp.err($$SELECT bandit.restore($$ || :snap2 || $$)$$), 'snapshot \d+', 'snapshot N') AS err;
ROLLBACK;
SELECT bandit.restore(:snap2);
SELECT q.decision, q.reward FROM bandit.linucb_pending q WHERE q.policy = 'lp';
SELECT pg_temp.near(a_inv, ARRAY[7/47.0, -3/47.0, -3/47.0, 8/47.0]::float8[]) AS a_inv_ok, b, pending
FROM bandit.linucb_state('lp', 'p');

-- linucb_state's errors
SELECT bandit.create_policy('lp_t', 'thompson', '{a}');
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state(NULL, 'p')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('lp', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('nope', 'p')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('lp', 'nope')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.linucb_state('lp_t', 'a')$$);

-- the table: dumped, read under row-level security, written only by bandit's functions
SELECT c.relrowsecurity, c.oid = ANY (e.extconfig) AS dumped,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT') AS public_insert,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
FROM pg_class c, pg_extension e WHERE c.oid = 'bandit.linucb_pending'::regclass AND e.extname = 'bandit';
