-- Hardening of experiments, Q-learning, priors and the ensemble choice
-- (issue 9).  Each block shows a defect of 0.1.0 and what now happens; errors
-- with SQLSTATE and message, and after a failed call that nothing changed.
-- Expected values: equalities, hand computation or SQLSTATEs (noted).
SET extra_float_digits = 1;
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- 1. Values handed back after SPI is finished are copies in the caller's
-- memory: with 10,000-character names (a chunk of its own, freed by SPI's
-- end) 0.1.0's assign returned freed memory ('' or garbage).
SELECT bandit.create_experiment('long', ARRAY[repeat('a', 10000), repeat('b', 10000)], params => '{"salt": "s"}');
SELECT bandit.start_experiment('long');
CREATE TEMP TABLE got AS
SELECT u, bandit.assign('long', repeat('u', 10000) || u) AS hashed,
       bandit.assign('long', repeat('w', 10000) || u, repeat('s', 10000)) AS stratified
FROM generate_series(1, 20) u;
-- every variant returned is the stored one, a whole 10,000-character name
SELECT count(*) AS units,
       bool_and(g.hashed = a.variant) AS hashed_as_stored,
       bool_and(g.stratified = s.variant) AS stratified_as_stored,
       bool_and(length(g.hashed) = 10000 AND length(g.stratified) = 10000) AS whole_names
FROM got g
JOIN bandit.assignment a ON a.experiment = 'long' AND a.unit_id = repeat('u', 10000) || g.u
JOIN bandit.assignment s ON s.experiment = 'long' AND s.unit_id = repeat('w', 10000) || g.u;
-- a second call (the stored variant, read back) is the same
SELECT bool_and(bandit.assign('long', repeat('u', 10000) || u) = hashed
                AND bandit.assign('long', repeat('w', 10000) || u, repeat('s', 10000)) = stratified) AS sticky
FROM got;
-- stratified: 20 units, 20 slots taken, 10 of each variant (blocks of 2)
SELECT assigned FROM bandit.stratum WHERE experiment = 'long';
SELECT left(variant, 1) AS variant, count(*) FROM bandit.assignment
WHERE experiment = 'long' AND stratum IS NOT NULL GROUP BY 1 ORDER BY 1;
-- a unit assigned by hash takes no slot when assigned again in a stratum
SELECT bandit.assign('long', repeat('u', 10000) || 1, repeat('s', 10000)) = hashed AS stored_variant,
       (SELECT assigned FROM bandit.stratum WHERE experiment = 'long') AS still_20
FROM got WHERE u = 1;

-- Q-learning and the ensemble with long states, actions and names
SELECT bandit.q_learn('long', repeat('s', 10000), repeat('x', 10000), 1, NULL, 1, 0.5) AS q;
SELECT bandit.q_select('long', repeat('s', 10000), ARRAY[repeat('y', 10000), repeat('x', 10000)], 0)
       = repeat('x', 10000) AS greedy_long_action;
SELECT bandit.q_learn_batch('long', ARRAY[repeat('s', 10000)], ARRAY[repeat('x', 10000)], ARRAY[1]::float8[],
                            ARRAY[repeat('s', 10000)], 0.5, 0.5) AS applied;
-- a self-loop, whose max includes the row's own Q = 1: 0.5 * 1 + 0.5 * (1 + 0.5 * 1) = 1.25 (by hand)
SELECT q_value, update_count FROM bandit.q_table WHERE agent = 'long';
SELECT bandit.ensemble_choice(a, w) = repeat('b', 10000) AS long_winner
FROM (VALUES (repeat('a', 10000), 1.0), (repeat('b', 10000), 2.0)) v(a, w);

-- 2. Stratum counters equal assignments (two sessions racing for the same
-- new unit: test/specs/experiment_stratum_race.spec).
SELECT s.assigned = (SELECT count(*) FROM bandit.assignment a
                     WHERE a.experiment = s.experiment AND a.stratum = s.stratum) AS counter_is_assignments
FROM bandit.stratum s WHERE s.experiment = 'long';

-- 3. NULL arguments: 22004, naming the argument
SELECT pg_temp.err($$SELECT bandit.assign(NULL, 'u')$$);
SELECT pg_temp.err($$SELECT bandit.assign('long', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.assign('long', 'u', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_select('a', NULL, '{x}')$$);
SELECT pg_temp.err($$SELECT bandit.q_select('a', 's', '{x}', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('a', 's', 'x', NULL, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('a', 's', 'x', 1, NULL, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('a', '{s}', '{x}', NULL, '{s}')$$);
SELECT pg_temp.err($$SELECT bandit.q_replay('a', NULL)$$);
SELECT count(*) AS nothing_stored FROM bandit.assignment WHERE unit_id = 'u';
-- the tuning helpers (0.1.0: no problems found for a NULL new value; 22003 for a NULL proposal)
SELECT pg_temp.err($$SELECT bandit.tuning_problems(NULL, NULL, NULL, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.tuning_proposal_toward(NULL, NULL, NULL, NULL, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.take_tuning_snapshot(NULL, 'label')$$);
SELECT count(*) AS no_snapshot FROM bandit.tuning_snapshot WHERE label = 'label';
-- an unknown scope is 42704, not a foreign-key violation (23503); a negative
-- feedback count would give a confidence n / (n + prior) outside [0, 1]
SELECT pg_temp.err($$SELECT bandit.take_tuning_snapshot('no such scope', 'label')$$);
SELECT bandit.define_tuning_value('harden_scope', 'v', 1, 0, 10, 1, 0);
SELECT pg_temp.err($$SELECT bandit.tuning_proposal_toward(t, 5, -1, 10, 'why') FROM bandit.tuning_value t WHERE scope = 'harden_scope'$$);
SELECT (bandit.tuning_proposal_toward(t, 5, 10, 10, 'why')).confidence AS half FROM bandit.tuning_value t WHERE scope = 'harden_scope';  -- 10 / (10 + 10)
DELETE FROM bandit.tuning_value WHERE scope = 'harden_scope';
DELETE FROM bandit.tuning_scope WHERE scope = 'harden_scope';

-- 5. Array arguments: 2-D is 2202E, a NULL element 22004, empty a clean answer or error
SELECT pg_temp.err($$SELECT bandit.create_experiment('x', '{{a,b},{c,d}}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('x', '{a,b}', '{{0.5,0.5}}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('x', '{a,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('x', '{a,b}', '{0.5,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('x', '{}')$$);
SELECT pg_temp.err($$SELECT bandit.record_metrics('long', 'm', '{{a}}', '{{1}}')$$);
SELECT pg_temp.err($$SELECT bandit.record_metrics('long', 'm', '{a}', '{NULL}')$$);
SELECT bandit.record_metrics('long', 'm', '{}', '{}') AS empty_records_nothing;
SELECT pg_temp.err($$SELECT bandit.holm('{{0.1,0.2}}')$$);
SELECT pg_temp.err($$SELECT bandit.holm('{0.1,NULL}')$$);
SELECT bandit.holm('{}') AS empty_holm;
SELECT pg_temp.err($$SELECT bandit.q_select('a', 's', '{{x,y}}', 0)$$);
SELECT pg_temp.err($$SELECT bandit.q_select('a', 's', '{x,NULL}', 0)$$);
SELECT pg_temp.err($$SELECT bandit.q_select('a', 's', '{}', 0)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('a', '{{s}}', '{{x}}', '{{1}}', '{{s}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('a', '{s}', '{x}', '{{1}}', '{s}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('a', '{s}', '{NULL}', '{1}', '{s}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('a', '{s}', '{x}', '{NULL}', '{s}')$$);
SELECT bandit.q_learn_batch('a', '{}', '{}', '{}', '{}') AS empty_batch;
SELECT count(*) AS nothing_learned FROM bandit.q_table WHERE agent = 'a';
-- arrays whose lower bound is not 1: shares follow the variants in order
-- (0.1.0 read allocation[1] of '[2:3]={...}' as NULL: 23502)
SELECT bandit.create_experiment('bounds', '[0:1]={a,b}', '[2:3]={0.25,0.75}');
SELECT variant, position, allocation FROM bandit.variant WHERE experiment = 'bounds' ORDER BY position;
-- 8. at most 1000 variants
SELECT pg_temp.err($$SELECT bandit.create_experiment('many', array(SELECT 'v' || i FROM generate_series(1, 1001) i))$$);
SELECT count(*) AS not_created FROM bandit.experiment WHERE name = 'many';

-- an experiment whose variants were deleted behind its back: 0.1.0's XX000
DELETE FROM bandit.variant WHERE experiment = 'bounds';
SELECT bandit.start_experiment('bounds');
SELECT pg_temp.err($$SELECT bandit.assign('bounds', 'u')$$);

-- 6. Learned state is never poisoned.  Q-learning: a reward that would
-- overflow Q is 22003, and the stored Q is what it was (1e308, hand computed:
-- alpha 1, gamma 0: Q = reward)
SELECT bandit.q_learn('big', 's', 'x', 1e308, NULL, 1, 0);
SELECT pg_temp.err($$SELECT bandit.q_learn('big', 's', 'x', 1e308, 's', 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('big', 's', 'y', 1e308, 's', 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('big', '{s,s}', '{y,x}', '{1e308,1e308}', '{s,s}', 1, 1)$$);
SELECT action, q_value, update_count FROM bandit.q_table WHERE agent = 'big' ORDER BY action;
-- priors: a latency near the float8 maximum is folded in without overflow
-- (0.1.0: 22003 on every later signal for the key).  Weighted mean by hand:
-- (1.7e308 * 5 + 1e308 * 5) / 10 = 1.35e308
SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "h", "participant_count": 1,
  "reward_signals": {"slow": {"success_rate": 0.5, "avg_latency": 1.7e308, "quality_score": 1, "total_samples": 5}}}');
SELECT bandit.apply_signal('{"aggregation_round": 2, "cluster_hash": "h", "participant_count": 1,
  "reward_signals": {"slow": {"success_rate": 0.5, "avg_latency": 1e308, "quality_score": 1, "total_samples": 5}}}');
SELECT latency_ms, sample_count FROM bandit.prior WHERE key = 'slow';

-- 8. state_key bisects bucket edges (each value O(log edges)); labels by hand
SELECT bandit.state_key('{"w": 0, "x": 5, "y": -1, "z": 100, "v": 9.99}',
                        '{"w": [0], "x": [0, 5, 10], "y": [0, 5, 10], "z": [0, 5, 10], "v": [0, 5, 10]}');

-- 7. Numbers in messages as given (shortest round trip; 0.1.0's %g showed 1)
SELECT pg_temp.err($$SELECT bandit.q_learn('a', 's', 'x', 1, NULL, 1.0000001)$$);
SELECT pg_temp.err($$SELECT bandit.state_key('{"x": 1e300}', '{"x": 1.0000001e-300}')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward(1.0000001, '[{"name": "top", "min_score": 2, "reward": 1}]')$$);
SELECT pg_temp.err($$SELECT bandit.ensemble_choice(a, w) FROM (VALUES ('a', -1e-320::float8)) v(a, w)$$);
-- a proportion interval over a subnormal n: 22003 (0.1.0: (NaN,NaN))
SELECT pg_temp.err($$SELECT bandit.proportion_interval(0, 1e-320)$$);

-- 4. The ensemble tally: its transition and combine functions are internal
-- (the aggregates keep working for everyone); binary input is validated.
SELECT has_function_privilege('public', 'bandit.ensemble_accum(bandit.ensemble_tally, text, float8)', 'EXECUTE') AS accum,
       has_function_privilege('public', 'bandit.ensemble_accum(bandit.ensemble_tally, text, float8, float8)', 'EXECUTE') AS accum_score,
       has_function_privilege('public', 'bandit.ensemble_combine(bandit.ensemble_tally, bandit.ensemble_tally)', 'EXECUTE') AS combine,
       has_function_privilege('public', 'bandit.ensemble_winner(bandit.ensemble_tally)', 'EXECUTE') AS winner;
CREATE ROLE bandit_harden_user;
GRANT USAGE ON SCHEMA bandit TO bandit_harden_user;
SET ROLE bandit_harden_user;
SELECT bandit.ensemble_choice(a, w) AS voted, bandit.ensemble_winner(bandit.ensemble_tally(a, w)) AS winner
FROM (VALUES ('a', 1.0), ('b', 2.0)) v(a, w);
-- a: 1 + 1.5 = 2.5 beats b: 2 (by hand)
SELECT bandit.ensemble_winner(bandit.merge(t)) AS merged
FROM (SELECT bandit.ensemble_tally(a, w) t FROM (VALUES ('a', 1.0), ('b', 2.0)) v(a, w)
      UNION ALL SELECT '{"a": [1.5, 0]}') s;
SELECT pg_temp.err($$SELECT bandit.ensemble_accum('{}', 'a', 1)$$);
SELECT pg_temp.err($$SELECT bandit.ensemble_combine('{}', '{}')$$);
RESET ROLE;
DROP OWNED BY bandit_harden_user;
DROP ROLE bandit_harden_user;
-- Binary input through COPY ... (FORMAT binary): the bytes of a bytea are
-- written as one field, then read back as a tally by its receive function.
CREATE TEMP TABLE tally_in (t bandit.ensemble_tally);
CREATE FUNCTION pg_temp.recv_tally(bytes bytea) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    path text := current_setting('data_directory') || '/bandit_harden_tally.bin';
    result text;
BEGIN
    EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)', bytes, path);
    TRUNCATE tally_in;
    EXECUTE format('COPY tally_in FROM %L (FORMAT binary)', path);
    SELECT t::text INTO result FROM tally_in;
    RETURN result;
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
-- count 1; name length 2, 'ab'; hi 1.0, lo 0
SELECT pg_temp.recv_tally(decode('000000010000000261623ff00000000000000000000000000000', 'hex'));
-- a name with a NUL byte, and one not valid UTF8 (0.1.0 accepted both)
SELECT pg_temp.recv_tally(decode('000000010000000200613ff00000000000000000000000000000', 'hex'));
SELECT CASE WHEN getdatabaseencoding() = 'UTF8'
            THEN pg_temp.recv_tally(decode('0000000100000002fffe3ff00000000000000000000000000000', 'hex'))
            ELSE '22021: invalid byte sequence for encoding "UTF8": 0xff' END AS not_utf8;
-- a total of -0 is 0 (JSON text has no negative zero: its text form must read back)
SELECT pg_temp.recv_tally(decode('000000010000000178' || '8000000000000000' || '0000000000000000', 'hex'));
-- a count the message cannot hold, a length past its end, unsorted names
SELECT pg_temp.recv_tally(decode('7fffffff00000002616200', 'hex'));
SELECT pg_temp.recv_tally(decode('00000001000000ff61623ff00000000000000000000000000000', 'hex'));
SELECT pg_temp.recv_tally(decode('00000002' || '00000001' || '62' || repeat('00', 16) || '00000001' || '61' || repeat('00', 16), 'hex'));
-- non-finite totals
SELECT pg_temp.recv_tally(decode('00000001' || '00000001' || '61' || '7ff0000000000000' || '0000000000000000', 'hex'));

-- leave nothing behind for the tests that follow
SELECT bandit.drop_experiment('long'), bandit.drop_experiment('bounds');
DELETE FROM bandit.experiment_audit WHERE experiment IN ('long', 'bounds');
DELETE FROM bandit.q_table WHERE agent IN ('long', 'big');
DELETE FROM bandit.prior WHERE key = 'slow';
DELETE FROM bandit.prior_signal WHERE cluster_hash = 'h';
