-- The policy adjustment engine: tunable values, the rules an adjustment must
-- pass, audited application, snapshots and exact rollback, history; and the
-- ensemble choice aggregate.  Expected numbers: proposals computed by hand
-- (checked with Python), ensemble answers against plain SQL sums.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
SET extra_float_digits = 1;

SELECT bandit.define_tuning_value('router', 'timeout_ms', 500, 100, 2000, 50, 20);
SELECT bandit.define_tuning_value('router', 'fast_weight', 0.4, 0, 1, 0.05);
SELECT bandit.define_tuning_value('router', 'retry_limit', 3, 0, 5, 1, 0);
SELECT bandit.define_tuning_value('router', 'floor', 0.02, 0, 1, 0.05, 0);
SELECT scope, name, value, lower_bound, upper_bound, max_step, min_feedback, last_adjusted, reason
FROM bandit.tuning_value ORDER BY name;
SELECT scope, max_adjustments, per, adjustments FROM bandit.tuning_scope;
SELECT name, kind, old_value, new_value, reason FROM bandit.tuning_adjustment ORDER BY id;
SELECT bandit.tuned_value('router', 'timeout_ms');
-- the tables and their sequences are dumped by pg_dump
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) cfg(reloid) JOIN pg_class c ON c.oid = cfg.reloid
WHERE e.extname = 'bandit' AND c.relname LIKE 'tuning%' ORDER BY 1;

-- bad definitions: each an error that names the argument, nothing created
SELECT pg_temp.err($$SELECT bandit.define_tuning_value(NULL, 'x', 1, 0, 2, 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', NULL, 0, 2, 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 1, 0, 2, 1, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 'NaN', 0, 2, 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 1, '-Infinity', 2, 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 1, 0, 'Infinity', 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 1, 2, 0, 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 3, 0, 2, 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 1, 0, 2, 0)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 1, 0, 2, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'x', 1, 0, 2, 1, -1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('router', 'timeout_ms', 1, 0, 2, 1)$$);
SELECT pg_temp.err($$SELECT bandit.define_tuning_value('other', 'x', 'NaN', 0, 2, 1)$$);
SELECT (SELECT count(*) FROM bandit.tuning_value) AS values, (SELECT count(*) FROM bandit.tuning_scope) AS scopes,
       (SELECT count(*) FROM bandit.tuning_adjustment) AS audited;
SELECT pg_temp.err($$SELECT bandit.tuned_value('router', 'nope')$$);
SELECT pg_temp.err($$SELECT bandit.tuned_value('nope', 'timeout_ms')$$);
SELECT bandit.tuned_value(NULL, 'timeout_ms');

-- validation: every rule on its own, then all at once
SELECT bandit.validate_adjustment('router', 'timeout_ms', 540, 20) AS valid;
SELECT bandit.validate_adjustment('router', 'timeout_ms', 550, 20) AS step_equal_to_max_step;
SELECT bandit.validate_adjustment('router', 'timeout_ms', 550.0000001, 20) AS step_too_large;
SELECT bandit.validate_adjustment('router', 'timeout_ms', 450, 20) AS step_down_equal_to_max_step;
SELECT bandit.validate_adjustment('router', 'floor', -0.01, 0) AS below_lower_bound;
SELECT bandit.validate_adjustment('router', 'floor', 0, 0) AS at_lower_bound;
SELECT bandit.validate_adjustment('router', 'retry_limit', 5.5, 0) AS above_upper_bound_and_step;
SELECT bandit.validate_adjustment('router', 'timeout_ms', 520, 19) AS too_little_feedback;
SELECT bandit.validate_adjustment('router', 'timeout_ms', 520, 0) AS no_feedback;
-- a step of max_step up to float8 rounding passes: from 0.1, 0.1 + 0.2 is 0.30000000000000004,
-- a step of 0.20000000000000004 > 0.2 by rounding alone
SELECT bandit.define_tuning_value('rounding', 'x', 0.1, 0, 1, 0.2, 0);
SELECT bandit.validate_adjustment('rounding', 'x', 0.1::float8 + 0.2, 0) AS rounded_up,
       0.1::float8 + 0.2 - 0.1 AS step;
SELECT bandit.validate_adjustment('rounding', 'x', 0.3 + 1e-12, 0) AS just_over;
SELECT bandit.validate_adjustment('router', 'fast_weight', 0.45, 30) AS one_step;
-- bad input is an error, not a problem; NULL gives NULL
SELECT pg_temp.err($$SELECT bandit.validate_adjustment('router', 'timeout_ms', 'NaN', 20)$$);
SELECT pg_temp.err($$SELECT bandit.validate_adjustment('router', 'timeout_ms', 'Infinity', 20)$$);
SELECT pg_temp.err($$SELECT bandit.validate_adjustment('router', 'timeout_ms', 520, -1)$$);
SELECT pg_temp.err($$SELECT bandit.validate_adjustment('router', 'nope', 520, 20)$$);
SELECT pg_temp.err($$SELECT bandit.validate_adjustment('nope', 'timeout_ms', 520, 20)$$);
SELECT bandit.validate_adjustment('router', 'timeout_ms', NULL, 20) IS NULL AS null_value,
       bandit.validate_adjustment('router', 'timeout_ms', 520, NULL) IS NULL AS null_count,
       bandit.validate_adjustment(NULL, 'timeout_ms', 520, 20) IS NULL AS null_scope;

-- rate limit
SELECT bandit.set_tuning_rate_limit('router', 2, '1 hour');
SELECT scope, max_adjustments, per FROM bandit.tuning_scope;
SELECT pg_temp.err($$SELECT bandit.set_tuning_rate_limit('router', 2, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.set_tuning_rate_limit('router', -1, '1 hour')$$);
SELECT pg_temp.err($$SELECT bandit.set_tuning_rate_limit('router', 2, '0 seconds')$$);
SELECT pg_temp.err($$SELECT bandit.set_tuning_rate_limit('router', 2, '-1 hour')$$);
SELECT pg_temp.err($$SELECT bandit.set_tuning_rate_limit(NULL, 2, '1 hour')$$);
SELECT scope, max_adjustments, per FROM bandit.tuning_scope;

-- apply: the value, its audit row, and the snapshot of the scope before the change
SELECT bandit.snapshot_tuning('router', 'start') AS start_snapshot \gset
SELECT bandit.apply_adjustment('router', 'timeout_ms', 540, 'p99 latency above target', 25, 0.8) AS first_id \gset
SELECT :first_id > 0 AS audit_id;
SELECT name, value, last_adjusted IS NOT NULL AS stamped, reason FROM bandit.tuning_value WHERE name = 'timeout_ms';
SELECT scope, name, kind, old_value, new_value, reason, feedback_count, confidence, adjusted_by = current_user AS by_me,
       restored_snapshot_id
FROM bandit.tuning_adjustment WHERE id = :first_id;
SELECT s.scope, s.label, s.saved_values->'timeout_ms' AS timeout_before, s.saved_values->'fast_weight' AS fast_weight_before
FROM bandit.tuning_snapshot s JOIN bandit.tuning_adjustment a ON a.snapshot_id = s.id WHERE a.id = :first_id;
SELECT adjustments FROM bandit.tuning_scope WHERE scope = 'router';

-- rejected adjustments raise every problem, with 22003 for bounds or steps and 22023
-- otherwise, and change nothing (not even a snapshot)
CREATE TEMP TABLE state_before AS
SELECT (SELECT jsonb_agg(to_jsonb(v) ORDER BY name) FROM bandit.tuning_value v) AS vals,
       (SELECT count(*) FROM bandit.tuning_adjustment) AS audits, (SELECT count(*) FROM bandit.tuning_snapshot) AS snaps,
       (SELECT jsonb_agg(to_jsonb(s) ORDER BY scope) FROM bandit.tuning_scope s) AS scope_row;
\set unchanged 'SELECT b.vals = (SELECT jsonb_agg(to_jsonb(v) ORDER BY name) FROM bandit.tuning_value v) AND b.audits = (SELECT count(*) FROM bandit.tuning_adjustment) AND b.snaps = (SELECT count(*) FROM bandit.tuning_snapshot) AND b.scope_row = (SELECT jsonb_agg(to_jsonb(s) ORDER BY scope) FROM bandit.tuning_scope s) AS unchanged FROM state_before b'
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 2100, 'too far', 25)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 600, 'too big a step', 25)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 520, 'too little feedback', 3)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 520, 'stale', 25, NULL, 500)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 'NaN', 'bad', 25)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 560, 'bad', -5)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 560, 'bad', 25, 1.5)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 560, 'bad', 25, 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 560, 'bad', 25, NULL, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', NULL, 560, 'bad', 25)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 560, 'bad', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'nope', 560, 'bad', 25)$$);
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('nope', 'timeout_ms', 560, 'bad', 25)$$);
:unchanged;

-- the second adjustment within the hour uses up the limit; the third is refused
SELECT bandit.apply_adjustment('router', 'retry_limit', 4, 'more retries', 0, NULL, 3) > 0 AS applied;
SELECT bandit.validate_adjustment('router', 'fast_weight', 0.42, 30) AS rate_limited;
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'fast_weight', 0.42, 'blocked', 30)$$);
SELECT bandit.validate_adjustment('router', 'retry_limit', 5.5, 1) AS all_rules;
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'retry_limit', 5.5, 'all wrong', 1)$$);
-- adjustments older than the period no longer count
UPDATE bandit.tuning_adjustment SET adjusted_at = adjusted_at - interval '61 minutes' WHERE id = :first_id;
SELECT bandit.validate_adjustment('router', 'fast_weight', 0.42, 30) AS one_left;
UPDATE bandit.tuning_adjustment SET adjusted_at = adjusted_at + interval '61 minutes' WHERE id = :first_id;
-- max_adjustments 0 freezes the scope; NULL, NULL lifts the limit
SELECT bandit.set_tuning_rate_limit('router', 0, '1 day');
SELECT bandit.validate_adjustment('router', 'fast_weight', 0.42, 30) AS frozen;
SELECT bandit.set_tuning_rate_limit('router', NULL, NULL);
SELECT bandit.validate_adjustment('router', 'fast_weight', 0.42, 30) AS unlimited;

-- proposals: the feedback indicates value + gain (target - mean); move toward it by at
-- most max_step, times confidence n / (n + prior_count), within the bounds
-- timeout: indicated 500 + 2000 * (0.95 - 0.9) ~ 600, step capped at 50, confidence 90/100
SELECT bandit.apply_adjustment('router', 'timeout_ms', 500, 'back', 25) > 0 AS reset;
SELECT * FROM bandit.propose_adjustment('router', 'timeout_ms', 0.9, 90, 0.95, 2000);
-- fast_weight: indicated 0.4 + 0.5 * (0.3 - 0.2), step 0.04999999999999999 * 40/50 = 0.04 -> 0.44
SELECT proposed_value, confidence, problems FROM bandit.propose_adjustment('router', 'fast_weight', 0.2, 40, 0.3, 0.5);
-- retry_limit toward 4.5 from 4 (after the adjustment above): 0.5 * 10/20 = 0.25
SELECT proposed_value, confidence FROM bandit.propose_value('router', 'retry_limit', 4.5, 10);
-- a negative gain: a larger value lowers the metric
-- (indicated 500 - 2000 * (0.95 - 0.9) ~ 400: step -50 * 0.9 -> 455)
SELECT proposed_value FROM bandit.propose_adjustment('router', 'timeout_ms', 0.9, 90, 0.95, -2000);
-- clamped to the lower bound: 0.02 - 0.05 * 1e6 / (1e6 + 10) < 0
SELECT proposed_value, reason FROM bandit.propose_value('router', 'floor', -1, 1000000);
-- too little feedback: hold, and say why
SELECT proposed_value, problems, reason FROM bandit.propose_value('router', 'timeout_ms', 900, 5);
-- no move when the feedback already is on target
SELECT proposed_value, problems FROM bandit.propose_adjustment('router', 'timeout_ms', 0.95, 50, 0.95);
SELECT pg_temp.err($$SELECT bandit.propose_value('router', 'timeout_ms', 900, 50, 0)$$);
SELECT pg_temp.err($$SELECT bandit.propose_value('router', 'timeout_ms', 900, 50, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.propose_value('router', 'timeout_ms', 'NaN', 50)$$);
SELECT pg_temp.err($$SELECT bandit.propose_value('router', 'timeout_ms', 900, -1)$$);
SELECT pg_temp.err($$SELECT bandit.propose_adjustment('router', 'timeout_ms', 0.9, 50, 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.propose_adjustment('router', 'timeout_ms', 0.9, 50, 0.95, 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.propose_adjustment('router', 'timeout_ms', -1e308, 50, 1e308)$$);
SELECT pg_temp.err($$SELECT bandit.propose_value('router', 'nope', 1, 50)$$);
SELECT bandit.propose_value('router', 'timeout_ms', NULL, 50) IS NULL AS null_proposal;
-- a proposal applies as it is; once the value moved it is stale and refused
CREATE TEMP TABLE proposal AS SELECT bandit.propose_adjustment('router', 'timeout_ms', 0.9, 90, 0.95, 2000) AS p;
SELECT bandit.apply_proposal(p) > 0 AS applied FROM proposal;
SELECT value FROM bandit.tuning_value WHERE name = 'timeout_ms';
SELECT old_value, new_value, feedback_count, confidence, reason FROM bandit.tuning_adjustment ORDER BY id DESC LIMIT 1;
SELECT pg_temp.err($$SELECT bandit.apply_proposal(p) FROM proposal$$);
SELECT bandit.apply_proposal(NULL) IS NULL AS null_proposal;

-- rollback restores every value exactly, whatever extra_float_digits says
SELECT bandit.define_tuning_value('exact', 'third', 1.0 / 3, -1, 1, 1, 0);
SELECT bandit.define_tuning_value('exact', 'tenths', 0.1::float8 + 0.2, 0, 1, 0.5, 0);
SELECT bandit.define_tuning_value('exact', 'tiny', 5e-324, 0, 1e-300, 1e-300, 0);
SELECT bandit.define_tuning_value('exact', 'huge', 1.7976931348623157e308, 0, 1.7976931348623157e308, 1e308, 0);
SET extra_float_digits = -15;
SELECT bandit.snapshot_tuning('exact', 'exact start') AS exact_snapshot \gset
SELECT bandit.apply_adjustment('exact', 'third', 0.5, 'step', 0) > 0,
       bandit.apply_adjustment('exact', 'tenths', 0.7, 'step', 0) > 0,
       bandit.apply_adjustment('exact', 'tiny', 0, 'step', 0) > 0,
       bandit.apply_adjustment('exact', 'huge', 1.6e308, 'step', 0) > 0;
SELECT bandit.rollback_tuning(:exact_snapshot) AS restored;
SET extra_float_digits = 1;
SELECT name, value, value = CASE name WHEN 'third' THEN 1.0::float8 / 3 WHEN 'tenths' THEN 0.1::float8 + 0.2
                                      WHEN 'tiny' THEN 5e-324 ELSE 1.7976931348623157e308 END AS exact
FROM bandit.tuning_value WHERE scope = 'exact' ORDER BY name;
-- audited, with a snapshot of the state before the rollback (which can itself be rolled back)
SELECT name, kind, old_value, new_value, restored_snapshot_id = :exact_snapshot AS restored_from, snapshot_id IS NOT NULL AS saved
FROM bandit.tuning_adjustment WHERE scope = 'exact' AND kind = 'rollback' ORDER BY name;
SELECT bandit.rollback_tuning(:exact_snapshot) AS nothing_left_to_restore;
SELECT bandit.rollback_tuning(max(snapshot_id)) AS undo FROM bandit.tuning_adjustment WHERE scope = 'exact' AND kind = 'rollback';
SELECT name, value FROM bandit.tuning_value WHERE scope = 'exact' ORDER BY name;
-- rollback of the router to its start: three values back, defined later ones left alone
SELECT bandit.define_tuning_value('router', 'later', 1, 0, 2, 1);
SELECT bandit.rollback_tuning(:start_snapshot) AS restored;
SELECT name, value, reason FROM bandit.tuning_value WHERE scope = 'router' ORDER BY name;
-- a value deleted since the snapshot comes back
DELETE FROM bandit.tuning_value WHERE scope = 'router' AND name = 'floor';
SELECT bandit.rollback_tuning(:start_snapshot) AS recreated;
SELECT name, value, lower_bound, upper_bound, max_step, min_feedback FROM bandit.tuning_value WHERE name = 'floor';
SELECT pg_temp.err($$SELECT bandit.rollback_tuning(123456789)$$);
SELECT pg_temp.err($$SELECT bandit.rollback_tuning(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.snapshot_tuning('nope')$$);
SELECT pg_temp.err($$SELECT bandit.snapshot_tuning(NULL)$$);
-- rollbacks are not rate-limited and do not count against the limit
SELECT bandit.set_tuning_rate_limit('exact', 0, '1 day');
SELECT bandit.rollback_tuning(:exact_snapshot) >= 0 AS rollback_allowed;

-- history: newest first, the last `days` days
SELECT name, kind, old_value, new_value, feedback_count FROM bandit.tuning_history('router');
UPDATE bandit.tuning_adjustment SET adjusted_at = adjusted_at - interval '40 days' WHERE scope = 'router' AND kind = 'define';
SELECT count(*) AS last_30_days, (SELECT count(*) FROM bandit.tuning_history('router', 60)) AS last_60_days
FROM bandit.tuning_history('router');
SELECT count(*) FROM bandit.tuning_history('router', NULL);
SELECT pg_temp.err($$SELECT * FROM bandit.tuning_history('router', 0)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.tuning_history('nope')$$);

-- a hostile search_path changes nothing
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.abs(float8) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8';
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01'::timestamptz$$;
CREATE FUNCTION hostile.cardinality(anyarray) RETURNS integer LANGUAGE sql AS 'SELECT 0';
CREATE TABLE hostile.tuning_value (scope text, name text, value float8);
SET search_path = hostile, public;
SELECT bandit.validate_adjustment('router', 'timeout_ms', 700, 25) AS still_too_far;
SELECT pg_temp.err($$SELECT bandit.apply_adjustment('router', 'timeout_ms', 700, 'hostile', 25)$$);
SELECT bandit.apply_adjustment('router', 'timeout_ms', 510, 'hostile', 25) > 0 AS applied;
SELECT bandit.tuned_value('router', 'timeout_ms');
SELECT count(*) AS rows_today FROM bandit.tuning_history('router', 1);
RESET search_path;
DROP SCHEMA hostile CASCADE;

-- ensemble choice: recommenders vote for actions with their weights
CREATE TABLE recommendation (request int, recommender text, action text, weight float8, score float8);
INSERT INTO recommendation VALUES
    (1, 'q_learning', 'fast', 0.4, 0.9), (1, 'bandit', 'cheap', 0.4, 0.6), (1, 'static', 'cheap', 0.2, 1),
    (2, 'q_learning', 'fast', 0.4, 0.5), (2, 'bandit', 'cheap', 0.4, 0.5), (2, 'static', 'eco', 0.2, 0.1),
    (3, 'q_learning', 'a', 0.4, 1), (3, 'bandit', 'B', 0.4, 1), (3, 'static', NULL, 0.2, 1),
    (4, 'q_learning', 'x', NULL, 1), (4, 'bandit', 'y', 0.3, NULL),
    (5, 'q_learning', 'fast', 0.4, 0.25), (5, 'bandit', 'cheap', 0.4, -0.5), (5, 'static', 'eco', 0.2, 0);
-- request 1: cheap 0.6 beats fast 0.4; 2: fast and cheap tie at 0.4, cheap first in byte order;
-- 3: 'B' sorts before 'a' bytewise; 4: only rows with a NULL (skipped for the score form)
SELECT request, bandit.ensemble_choice(action, weight) AS by_weight, bandit.ensemble_choice(action, weight, score) AS by_score
FROM recommendation GROUP BY request ORDER BY request;
-- the same answers from plain SQL sums
SELECT request, bool_and(w.action = e.by_weight) AS by_weight_agrees, bool_and(s.action = e.by_score) AS by_score_agrees
FROM (SELECT request, bandit.ensemble_choice(action, weight) AS by_weight, bandit.ensemble_choice(action, weight, score) AS by_score
      FROM recommendation GROUP BY request) e
JOIN LATERAL (SELECT action FROM recommendation r WHERE r.request = e.request AND action IS NOT NULL AND weight IS NOT NULL
              GROUP BY action ORDER BY sum(weight) DESC, action COLLATE "C" LIMIT 1) w ON true
LEFT JOIN LATERAL (SELECT action FROM recommendation r WHERE r.request = e.request AND action IS NOT NULL AND weight IS NOT NULL
                   AND score IS NOT NULL GROUP BY action ORDER BY sum(weight * score) DESC, action COLLATE "C" LIMIT 1) s ON true
GROUP BY request ORDER BY request;
SELECT bandit.ensemble_choice(action, weight) IS NULL AS no_rows FROM recommendation WHERE false;
-- the tally explains the choice, stores, and merges
SELECT bandit.ensemble_tally(action, weight) FROM recommendation WHERE request = 1;
SELECT * FROM bandit.ensemble_totals((SELECT bandit.ensemble_tally(action, weight, score) FROM recommendation WHERE request = 5));
SELECT bandit.ensemble_winner(bandit.merge(t)) AS merged,
       (SELECT bandit.ensemble_choice(action, weight) FROM recommendation) AS direct
FROM (SELECT bandit.ensemble_tally(action, weight) t FROM recommendation GROUP BY request) s;
SELECT '{"b": [0.5, 0], "a": [0.25, 1e-18], "": [0, 0]}'::bandit.ensemble_tally AS sorted_on_input;
SELECT bandit.ensemble_winner('{}'::bandit.ensemble_tally) IS NULL AS empty;
-- binary send/receive round-trips
CREATE TEMP TABLE tallies (t bandit.ensemble_tally);
INSERT INTO tallies SELECT bandit.ensemble_tally(action, weight, score) FROM recommendation GROUP BY request;
SELECT current_setting('data_directory') || '/bandit_regress_tally.bin' AS tally_file \gset
COPY tallies TO :'tally_file' (FORMAT binary);
CREATE TEMP TABLE tallies_back (t bandit.ensemble_tally);
COPY tallies_back FROM :'tally_file' (FORMAT binary);
SELECT count(*) AS rows, bool_and(t::text IN (SELECT t::text FROM tallies)) AS identical FROM tallies_back;
-- bad input
SELECT pg_temp.err($$SELECT bandit.ensemble_choice(action, weight) FROM (VALUES ('a', -0.1)) v(action, weight)$$);
SELECT pg_temp.err($$SELECT bandit.ensemble_choice(action, weight) FROM (VALUES ('a', 'NaN'::float8)) v(action, weight)$$);
SELECT pg_temp.err($$SELECT bandit.ensemble_choice(action, weight) FROM (VALUES ('a', 'Infinity'::float8)) v(action, weight)$$);
SELECT pg_temp.err($$SELECT bandit.ensemble_choice(action, weight, score) FROM (VALUES ('a', 1, '-Infinity'::float8)) v(action, weight, score)$$);
SELECT pg_temp.err($$SELECT bandit.ensemble_choice(action, weight, score) FROM (VALUES ('a', 1e300, 1e10)) v(action, weight, score)$$);
SELECT pg_temp.err($$SELECT bandit.ensemble_choice(action, weight) FROM (VALUES ('a', 1.7e308), ('a', 1.7e308)) v(action, weight)$$);
SELECT pg_temp.err($$SELECT '[1]'::bandit.ensemble_tally$$);
SELECT pg_temp.err($$SELECT '{"a": 1}'::bandit.ensemble_tally$$);
SELECT pg_temp.err($$SELECT '{"a": [1]}'::bandit.ensemble_tally$$);
SELECT pg_temp.err($$SELECT '{"a": [1, 2, 3]}'::bandit.ensemble_tally$$);
SELECT pg_temp.err($$SELECT '{"a": [1, "x"]}'::bandit.ensemble_tally$$);
SELECT pg_temp.err($$SELECT '{"a": [1, 1]}'::bandit.ensemble_tally$$);
SELECT pg_temp.err($$SELECT '{"a": [1e400, 0]}'::bandit.ensemble_tally$$);
SELECT pg_temp.err($$SELECT 'nonsense'::bandit.ensemble_tally$$);

-- parallel plans give the serial answer, a designed exact tie included
CREATE TABLE votes AS
SELECT i, 'action_' || (i % 50) AS action, (ARRAY[0.1, 0.25, 0.3])[1 + (i / 50) % 3]::float8 AS weight,
       sin(i) AS score
FROM generate_series(1, 300000) i;
-- action_7 and action_8 get the same multiset of weights, more than any other
INSERT INTO votes SELECT -i, 'action_' || (7 + i % 2), 0.25, 1 FROM generate_series(1, 2000) i;
ANALYZE votes;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE votes_serial AS
SELECT bandit.ensemble_choice(action, weight) AS by_weight, bandit.ensemble_choice(action, weight, score) AS by_score,
       bandit.ensemble_tally(action, weight) AS tally
FROM votes;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
\set compare 'SELECT p.by_weight, p.by_weight = s.by_weight AS same_by_weight, p.by_score = s.by_score AS same_by_score, p.tally::text = s.tally::text AS same_tally FROM (SELECT bandit.ensemble_choice(action, weight) AS by_weight, bandit.ensemble_choice(action, weight, score) AS by_score, bandit.ensemble_tally(action, weight) AS tally FROM votes) p, votes_serial s'
EXPLAIN (COSTS OFF) :compare;
:compare;
RESET ALL;
SET extra_float_digits = 1;
-- the serial answer against plain SQL
SELECT by_weight = (SELECT action FROM votes GROUP BY action ORDER BY sum(weight::numeric) DESC, action COLLATE "C" LIMIT 1)
       AS by_weight_agrees,
       by_score = (SELECT action FROM votes GROUP BY action ORDER BY sum(weight::numeric * score::numeric) DESC, action COLLATE "C" LIMIT 1)
       AS by_score_agrees
FROM votes_serial;
DROP TABLE votes, recommendation;
