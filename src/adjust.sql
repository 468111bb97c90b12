-- The policy adjustment engine: tunable values (thresholds, weights, timeouts
-- of a routing system) changed only by small, justified, audited steps that
-- can be rolled back; and the ensemble choice aggregate (src/adjust.c).
--
-- Rules an adjustment of value v of scope s to new_value must pass (each
-- violation is one problem, tagged by its rule):
--   bounds:       lower_bound <= new_value <= upper_bound
--   max_step:     |new_value - value| <= max_step (plus float8 rounding:
--                 1e-15 of the largest of the magnitudes involved)
--   min_feedback: feedback_count >= min_feedback
--   rate_limit:   fewer than max_adjustments adjustments of the scope within
--                 the last `per` (bandit.set_tuning_rate_limit; none by default)
--   stale:        when expected_value is given, value = expected_value
--
-- Concurrency: every writer of a scope first updates the scope's row in
-- bandit.tuning_scope, then locks the value rows it changes, so adjustments
-- and rollbacks of one scope are serialized: the second of two concurrent
-- adjustments waits, then validates against what the first committed (rate
-- limit and old value included).  Under REPEATABLE READ or SERIALIZABLE it
-- gets a serialization failure (40001) instead, to be retried.

CREATE TABLE bandit.tuning_scope (
    scope text PRIMARY KEY,
    max_adjustments integer CHECK (max_adjustments >= 0),
    per interval CHECK (per > interval '0'),
    adjustments bigint NOT NULL DEFAULT 0,
    last_change timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((max_adjustments IS NULL) = (per IS NULL))
);
COMMENT ON TABLE bandit.tuning_scope IS
    'Scopes of tunable values and their rate limit: at most max_adjustments adjustments within any period of length per (NULL: no limit); adjustments counts those applied, last_change the time of the last adjustment or rollback';

CREATE TABLE bandit.tuning_value (
    scope text NOT NULL REFERENCES bandit.tuning_scope (scope),
    name text NOT NULL,
    value float8 NOT NULL,
    lower_bound float8 NOT NULL,
    upper_bound float8 NOT NULL,
    max_step float8 NOT NULL,
    min_feedback integer NOT NULL,
    last_adjusted timestamptz,
    reason text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (scope, name),
    CHECK (lower_bound <= value AND value <= upper_bound),
    CHECK (lower_bound > '-Infinity' AND upper_bound < 'Infinity'),
    CHECK (max_step > 0 AND max_step < 'Infinity'),
    CHECK (min_feedback >= 0)
);
COMMENT ON TABLE bandit.tuning_value IS
    'Named tunable values per scope, with the rules their adjustments must pass: finite bounds, the largest step, the feedback needed; last_adjusted and reason of the last change';

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.tuning_snapshot_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.tuning_snapshot (
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.tuning_snapshot_id_seq'),
    scope text NOT NULL REFERENCES bandit.tuning_scope (scope),
    label text,
    saved_values jsonb NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    taken_by text NOT NULL DEFAULT bandit.caller()::text
);
ALTER SEQUENCE bandit.tuning_snapshot_id_seq OWNED BY bandit.tuning_snapshot.id;
CREATE INDEX tuning_snapshot_scope ON bandit.tuning_snapshot (scope, taken_at);
COMMENT ON TABLE bandit.tuning_snapshot IS
    'Saved states of every value of a scope: saved_values = {name: {value, lower_bound, upper_bound, max_step, min_feedback}}, numbers in shortest exact decimals, for bandit.rollback_tuning';

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.tuning_adjustment_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.tuning_adjustment (
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.tuning_adjustment_id_seq'),
    scope text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('define', 'adjust', 'rollback')),
    old_value float8,
    new_value float8 NOT NULL,
    reason text,
    feedback_count integer,
    confidence float8,
    adjusted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    adjusted_by text NOT NULL DEFAULT bandit.caller()::text,
    snapshot_id bigint REFERENCES bandit.tuning_snapshot (id),
    restored_snapshot_id bigint REFERENCES bandit.tuning_snapshot (id)
);
ALTER SEQUENCE bandit.tuning_adjustment_id_seq OWNED BY bandit.tuning_adjustment.id;
CREATE INDEX tuning_adjustment_scope_at ON bandit.tuning_adjustment (scope, adjusted_at);
COMMENT ON TABLE bandit.tuning_adjustment IS
    'Audit of every change of a tunable value: define, adjust (counted by the rate limit) and rollback; snapshot_id is the scope''s state just before the change, restored_snapshot_id the snapshot a rollback went back to';

COMMENT ON SEQUENCE bandit.tuning_snapshot_id_seq IS 'The local part of the ids of bandit.tuning_snapshot: bandit.new_id adds bandit.node_id * 2^53';
COMMENT ON SEQUENCE bandit.tuning_adjustment_id_seq IS 'The local part of the ids of bandit.tuning_adjustment: bandit.new_id adds bandit.node_id * 2^53';

SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_scope', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_value', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_adjustment', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_snapshot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_adjustment_id_seq', '');

-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.tuning_scope, bandit.tuning_value, bandit.tuning_snapshot, bandit.tuning_adjustment TO PUBLIC;
-- ids come from the functions alone (the default ACL, made explicit)
REVOKE ALL ON SEQUENCE bandit.tuning_snapshot_id_seq, bandit.tuning_adjustment_id_seq FROM PUBLIC;
ALTER TABLE bandit.tuning_scope ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.tuning_scope FOR SELECT USING (scope IN (SELECT r.name FROM bandit.readable('scope') r));
ALTER TABLE bandit.tuning_value ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.tuning_value FOR SELECT USING (scope IN (SELECT r.name FROM bandit.readable('scope') r));
ALTER TABLE bandit.tuning_snapshot ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.tuning_snapshot FOR SELECT USING (scope IN (SELECT r.name FROM bandit.readable('scope') r));
ALTER TABLE bandit.tuning_adjustment ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.tuning_adjustment FOR SELECT USING (scope IN (SELECT r.name FROM bandit.readable('scope') r));

CREATE TYPE bandit.tuning_proposal AS (
    scope text,
    name text,
    old_value float8,
    proposed_value float8,
    confidence float8,
    feedback_count integer,
    reason text,
    problems text[]
);
COMMENT ON TYPE bandit.tuning_proposal IS
    'A proposed adjustment: the value now, the value proposed, the confidence in the feedback, why, and the problems bandit.apply_adjustment would raise (empty: it would pass)';

CREATE FUNCTION bandit.check_tuning_number(x float8, argument text) RETURNS float8
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF x IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', argument USING ERRCODE = '22004';
    END IF;
    IF x IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION '% must be a finite number, got %', argument, x USING ERRCODE = '22003';
    END IF;
    RETURN x;
END
$$;
COMMENT ON FUNCTION bandit.check_tuning_number(float8, text) IS
    'Returns x if it is a finite number, else raises 22004 (NULL) or 22003 naming the argument; used by the tuning functions';

CREATE FUNCTION bandit.tuning_scope_row(scope text) RETURNS bandit.tuning_scope
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bandit.tuning_scope;
BEGIN
    SELECT * INTO s FROM bandit.tuning_scope t WHERE t.scope = tuning_scope_row.scope;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tuning scope "%" does not exist', scope USING ERRCODE = '42704';
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION bandit.tuning_scope_row(text) IS
    'The scope''s row; an unknown scope is an error (42704)';

CREATE FUNCTION bandit.lock_tuning_scope(scope text) RETURNS bandit.tuning_scope
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bandit.tuning_scope;
BEGIN
    -- an update, not just a row lock, so that REPEATABLE READ writers conflict (40001)
    UPDATE bandit.tuning_scope t SET last_change = now() WHERE t.scope = lock_tuning_scope.scope RETURNING t.* INTO s;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tuning scope "%" does not exist', scope USING ERRCODE = '42704';
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION bandit.lock_tuning_scope(text) IS
    'Updates the scope''s last_change, holding its row lock to commit: serializes the writers of a scope; an unknown scope is an error (42704)';

CREATE FUNCTION bandit.tuning_value_row(scope text, name text) RETURNS bandit.tuning_value
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v bandit.tuning_value;
BEGIN
    SELECT * INTO v FROM bandit.tuning_value t WHERE t.scope = tuning_value_row.scope AND t.name = tuning_value_row.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tuning value "%" of scope "%" does not exist', name, scope USING ERRCODE = '42704';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION bandit.tuning_value_row(text, text) IS
    'The value''s row; an unknown value is an error (42704)';

CREATE FUNCTION bandit.define_tuning_value(scope text, name text, value float8, lower_bound float8,
                                           upper_bound float8, max_step float8, min_feedback integer DEFAULT 30)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
BEGIN
    PERFORM bandit.require('scope', scope, 'manage', true);
    IF scope IS NULL OR name IS NULL OR min_feedback IS NULL THEN
        RAISE EXCEPTION 'scope, name and min_feedback must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_tuning_number(value, 'value'), bandit.check_tuning_number(lower_bound, 'lower_bound'),
            bandit.check_tuning_number(upper_bound, 'upper_bound'), bandit.check_tuning_number(max_step, 'max_step');
    IF lower_bound > upper_bound THEN
        RAISE EXCEPTION 'lower_bound % must not exceed upper_bound %', lower_bound, upper_bound USING ERRCODE = '22003';
    END IF;
    IF NOT (lower_bound <= value AND value <= upper_bound) THEN
        RAISE EXCEPTION 'value % must be between lower_bound % and upper_bound %', value, lower_bound, upper_bound
            USING ERRCODE = '22003';
    END IF;
    IF max_step <= 0 THEN
        RAISE EXCEPTION 'max_step must be positive, got %', max_step USING ERRCODE = '22003';
    END IF;
    IF min_feedback < 0 THEN
        RAISE EXCEPTION 'min_feedback must not be negative, got %', min_feedback USING ERRCODE = '22003';
    END IF;
    INSERT INTO bandit.tuning_scope (scope) VALUES (define_tuning_value.scope) ON CONFLICT DO NOTHING;
    INSERT INTO bandit.tuning_value (scope, name, value, lower_bound, upper_bound, max_step, min_feedback, reason)
    VALUES (define_tuning_value.scope, define_tuning_value.name, define_tuning_value.value,
            define_tuning_value.lower_bound, define_tuning_value.upper_bound, define_tuning_value.max_step,
            define_tuning_value.min_feedback, 'defined')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tuning value "%" of scope "%" already exists', name, scope USING ERRCODE = '23505';
    END IF;
    INSERT INTO bandit.tuning_adjustment (scope, name, kind, new_value, reason)
    VALUES (define_tuning_value.scope, define_tuning_value.name, 'define', define_tuning_value.value,
            format('defined in [%s, %s], max_step %s, min_feedback %s', lower_bound, upper_bound, max_step, min_feedback));
END
$$;
COMMENT ON FUNCTION bandit.define_tuning_value(text, text, float8, float8, float8, float8, integer) IS
    'Defines a tunable value of a scope (creating the scope, without a rate limit): its starting value, finite bounds lower_bound <= value <= upper_bound, the largest step of one adjustment (max_step > 0) and the feedback an adjustment needs (min_feedback, 30); audited; a duplicate is an error (23505). Privilege: EXECUTE, granted by a DBA; creates the scope owned by the caller, and on an existing one needs manage on the scope.';

CREATE FUNCTION bandit.set_tuning_rate_limit(scope text, max_adjustments integer, per interval) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.require('scope', scope, 'manage', true);
    IF scope IS NULL THEN
        RAISE EXCEPTION 'scope must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF (max_adjustments IS NULL) <> (per IS NULL) THEN
        RAISE EXCEPTION 'max_adjustments and per must both be given, or both NULL for no limit' USING ERRCODE = '22004';
    END IF;
    IF max_adjustments < 0 THEN
        RAISE EXCEPTION 'max_adjustments must not be negative, got %', max_adjustments USING ERRCODE = '22003';
    END IF;
    IF per <= interval '0' THEN
        RAISE EXCEPTION 'per must be a positive interval, got %', per USING ERRCODE = '22003';
    END IF;
    INSERT INTO bandit.tuning_scope AS t (scope, max_adjustments, per)
    VALUES (set_tuning_rate_limit.scope, max_adjustments, per)
    ON CONFLICT ON CONSTRAINT tuning_scope_pkey
    DO UPDATE SET max_adjustments = excluded.max_adjustments, per = excluded.per;
END
$$;
COMMENT ON FUNCTION bandit.set_tuning_rate_limit(text, integer, interval) IS
    'Allows at most max_adjustments adjustments of the scope''s values within any period of length per (0 freezes the scope; both NULL: no limit); rollbacks are not limited; creates the scope if needed. Privilege: EXECUTE, granted by a DBA; creates the scope owned by the caller, and on an existing one needs manage on the scope.';

CREATE FUNCTION bandit.tuned_value(scope text, name text) RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.require('scope', scope, 'use'); SELECT (bandit.tuning_value_row(scope, name)).value $$;
COMMENT ON FUNCTION bandit.tuned_value(text, text) IS
    'The current value of a tunable value; an unknown one is an error (42704). Privilege: use on the scope.';

-- Every rule the change of v to new_value breaks, tagged by rule; used by
-- validate_adjustment, the proposals and apply_adjustment (under its locks).
CREATE FUNCTION bandit.tuning_problems(v bandit.tuning_value, s bandit.tuning_scope, new_value float8,
                                       feedback_count integer, expected_value float8 DEFAULT NULL)
RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    problems text[] := '{}';
    step float8 := abs(new_value - v.value);
    recent bigint;
BEGIN
    IF v.scope IS NULL OR s.scope IS NULL OR new_value IS NULL OR feedback_count IS NULL THEN
        RAISE EXCEPTION 'v, s, new_value and feedback_count must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF expected_value IS NOT NULL AND v.value <> expected_value THEN
        problems := problems || format('stale: the value is %s, not the expected %s', v.value, expected_value);
    END IF;
    IF new_value < v.lower_bound THEN
        problems := problems || format('bounds: new_value %s is below lower_bound %s', new_value, v.lower_bound);
    ELSIF new_value > v.upper_bound THEN
        problems := problems || format('bounds: new_value %s is above upper_bound %s', new_value, v.upper_bound);
    END IF;
    IF step - v.max_step > 1e-15 * greatest(abs(new_value), abs(v.value), v.max_step) THEN
        problems := problems || format('max_step: step %s from %s exceeds max_step %s', step, v.value, v.max_step);
    END IF;
    IF feedback_count < v.min_feedback THEN
        problems := problems || format('min_feedback: feedback_count %s is below min_feedback %s', feedback_count, v.min_feedback);
    END IF;
    IF s.max_adjustments IS NOT NULL THEN
        SELECT count(*) INTO recent FROM bandit.tuning_adjustment a
        WHERE a.scope = s.scope AND a.kind = 'adjust' AND a.adjusted_at > now() - s.per;
        IF recent >= s.max_adjustments THEN
            problems := problems || format('rate_limit: scope "%s" had %s adjustments within the last %s, the limit is %s',
                                           s.scope, recent, s.per, s.max_adjustments);
        END IF;
    END IF;
    RETURN problems;
END
$$;
COMMENT ON FUNCTION bandit.tuning_problems(bandit.tuning_value, bandit.tuning_scope, float8, integer, float8) IS
    'The rules (stale, bounds, max_step, min_feedback, rate_limit) that changing v to new_value breaks, one tagged message each';

CREATE FUNCTION bandit.check_adjustment_arguments(new_value float8, feedback_count integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.check_tuning_number(new_value, 'new_value');
    IF feedback_count IS NULL THEN
        RAISE EXCEPTION 'feedback_count must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF feedback_count < 0 THEN
        RAISE EXCEPTION 'feedback_count must not be negative, got %', feedback_count USING ERRCODE = '22003';
    END IF;
END
$$;
COMMENT ON FUNCTION bandit.check_adjustment_arguments(float8, integer) IS
    'Checks the new value (finite) and the feedback count (>= 0) of an adjustment; bad input is an error, not a problem';

CREATE FUNCTION bandit.validate_adjustment(scope text, name text, new_value float8, feedback_count integer)
RETURNS text[]
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.require('scope', scope, 'manage');
    PERFORM bandit.check_adjustment_arguments(new_value, feedback_count);
    RETURN bandit.tuning_problems(bandit.tuning_value_row(scope, name), bandit.tuning_scope_row(scope),
                                  new_value, feedback_count);
END
$$;
COMMENT ON FUNCTION bandit.validate_adjustment(text, text, float8, integer) IS
    'Every rule that adjusting the value to new_value with feedback_count observations would break, one message each tagged bounds:, max_step:, min_feedback: or rate_limit:; empty when bandit.apply_adjustment would accept it now. Privilege: manage on the scope.';

-- A proposal that moves v toward indicated by at most max_step, scaled by confidence.
CREATE FUNCTION bandit.tuning_proposal_toward(v bandit.tuning_value, indicated float8, feedback_count integer,
                                              prior_count float8, why text)
RETURNS bandit.tuning_proposal
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    p bandit.tuning_proposal;
    raw float8 := indicated - v.value;
    capped float8 := sign(raw) * least(abs(raw), v.max_step);
BEGIN
    IF v.scope IS NULL OR indicated IS NULL OR feedback_count IS NULL OR prior_count IS NULL THEN
        RAISE EXCEPTION 'v, indicated, feedback_count and prior_count must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF feedback_count < 0 THEN
        RAISE EXCEPTION 'feedback_count must not be negative, got %', feedback_count USING ERRCODE = '22003';
    END IF;
    IF NOT (prior_count > 0 AND prior_count < 'Infinity') THEN
        RAISE EXCEPTION 'prior_count must be a positive finite number, got %', prior_count USING ERRCODE = '22003';
    END IF;
    IF indicated IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'the value the feedback indicates overflowed' USING ERRCODE = '22003';
    END IF;
    p.scope := v.scope;
    p.name := v.name;
    p.old_value := v.value;
    p.feedback_count := feedback_count;
    p.confidence := feedback_count / (feedback_count + prior_count);
    IF feedback_count < v.min_feedback THEN
        p.proposed_value := v.value;
        p.reason := format('%s; hold: %s observations, %s needed', why, feedback_count, v.min_feedback);
    ELSE
        p.proposed_value := least(greatest(v.value + capped * p.confidence, v.lower_bound), v.upper_bound);
        p.reason := format('%s; step %s = %s x confidence %s%s%s', why, p.proposed_value - v.value, capped, p.confidence,
                           CASE WHEN abs(raw) > v.max_step THEN ' (capped at max_step)' ELSE '' END,
                           CASE WHEN v.value + capped * p.confidence NOT BETWEEN v.lower_bound AND v.upper_bound
                                THEN ' (clamped to the bounds)' ELSE '' END);
    END IF;
    p.problems := bandit.tuning_problems(v, bandit.tuning_scope_row(v.scope), p.proposed_value, feedback_count);
    RETURN p;
END
$$;
COMMENT ON FUNCTION bandit.tuning_proposal_toward(bandit.tuning_value, float8, integer, float8, text) IS
    'The proposal rule: confidence = n / (n + prior_count); proposed = clamp(value + sign(d) min(|d|, max_step) confidence, bounds), d = indicated - value; no move below min_feedback';

CREATE FUNCTION bandit.propose_value(scope text, name text, indicated_value float8, feedback_count integer,
                                     prior_count float8 DEFAULT 10)
RETURNS bandit.tuning_proposal
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
BEGIN
    PERFORM bandit.require('scope', scope, 'manage');
    PERFORM bandit.check_adjustment_arguments(indicated_value, feedback_count);
    RETURN bandit.tuning_proposal_toward(bandit.tuning_value_row(scope, name), indicated_value, feedback_count,
                                         prior_count, format('feedback indicates %s', indicated_value));
END
$$;
COMMENT ON FUNCTION bandit.propose_value(text, text, float8, integer, float8) IS
    'Proposes moving the value toward indicated_value (what feedback_count observations point to): by d = indicated_value - value, capped at max_step, times confidence n / (n + prior_count), clamped to the bounds; no move below min_feedback. problems: what bandit.apply_adjustment would raise. Privilege: manage on the scope.';

CREATE FUNCTION bandit.propose_adjustment(scope text, name text, feedback_mean float8, feedback_count integer,
                                          target float8, gain float8 DEFAULT 1, prior_count float8 DEFAULT 10)
RETURNS bandit.tuning_proposal
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    v bandit.tuning_value;
BEGIN
    PERFORM bandit.require('scope', scope, 'manage');
    PERFORM bandit.check_adjustment_arguments(feedback_mean, feedback_count);
    PERFORM bandit.check_tuning_number(target, 'target'), bandit.check_tuning_number(gain, 'gain');
    v := bandit.tuning_value_row(scope, name);
    RETURN bandit.tuning_proposal_toward(v, v.value + gain * (target - feedback_mean), feedback_count, prior_count,
                                         format('feedback mean %s vs target %s, gain %s', feedback_mean, target, gain));
END
$$;
COMMENT ON FUNCTION bandit.propose_adjustment(text, text, float8, integer, float8, float8, float8) IS
    'Proposes an adjustment from aggregated feedback (e.g. avg and count of a metric): the feedback indicates value + gain (target - feedback_mean) (gain < 0 when a larger value lowers the metric); moved toward by at most max_step times confidence n / (n + prior_count), clamped to the bounds, no move below min_feedback. problems: what bandit.apply_adjustment would raise. Privilege: manage on the scope.';

CREATE FUNCTION bandit.take_tuning_snapshot(scope text, label text) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    id bigint;
BEGIN
    IF scope IS NULL THEN
        RAISE EXCEPTION 'scope must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.tuning_scope_row(scope);
    INSERT INTO bandit.tuning_snapshot AS t (scope, label, saved_values)
    SELECT take_tuning_snapshot.scope, take_tuning_snapshot.label,
           coalesce(jsonb_object_agg(v.name, jsonb_build_object(
               'value', v.value, 'lower_bound', v.lower_bound, 'upper_bound', v.upper_bound,
               'max_step', v.max_step, 'min_feedback', v.min_feedback)), '{}')
    FROM bandit.tuning_value v WHERE v.scope = take_tuning_snapshot.scope
    RETURNING t.id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION bandit.take_tuning_snapshot(text, text) IS
    'Saves every value of the scope (shortest exact decimals, whatever the session''s extra_float_digits); returns the snapshot id';

CREATE FUNCTION bandit.snapshot_tuning(scope text, label text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.require('scope', scope, 'manage');
    IF scope IS NULL THEN
        RAISE EXCEPTION 'scope must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.tuning_scope_row(scope);
    RETURN bandit.take_tuning_snapshot(scope, label);
END
$$;
COMMENT ON FUNCTION bandit.snapshot_tuning(text, text) IS
    'Saves every value of a scope exactly (value, bounds, max_step, min_feedback); returns the snapshot id for bandit.rollback_tuning. Privilege: manage on the scope.';

CREATE FUNCTION bandit.apply_adjustment(scope text, name text, new_value float8, reason text,
                                        feedback_count integer, confidence float8 DEFAULT NULL,
                                        expected_value float8 DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    s bandit.tuning_scope;
    v bandit.tuning_value;
    problems text[];
    before_id bigint;
    audit_id bigint;
BEGIN
    PERFORM bandit.require('scope', scope, 'manage');
    IF scope IS NULL OR name IS NULL THEN
        RAISE EXCEPTION 'scope and name must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_adjustment_arguments(new_value, feedback_count);
    IF confidence IS NOT NULL AND NOT (confidence >= 0 AND confidence <= 1) THEN
        RAISE EXCEPTION 'confidence must be between 0 and 1, got %', confidence USING ERRCODE = '22003';
    END IF;
    IF expected_value IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'expected_value must be a finite number, got %', expected_value USING ERRCODE = '22003';
    END IF;
    -- the scope first, then the value: the order every writer of a scope follows
    s := bandit.lock_tuning_scope(scope);
    SELECT * INTO v FROM bandit.tuning_value t
    WHERE t.scope = s.scope AND t.name = apply_adjustment.name FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM bandit.tuning_value_row(scope, name);
    END IF;
    problems := bandit.tuning_problems(v, s, new_value, feedback_count, expected_value);
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'adjustment of "%" of scope "%" to % rejected: %', name, scope, new_value,
                        array_to_string(problems, '; ')
            USING ERRCODE = CASE WHEN EXISTS (SELECT 1 FROM unnest(problems) p
                                               WHERE p LIKE 'bounds:%' OR p LIKE 'max_step:%')
                                 THEN '22003' ELSE '22023' END;
    END IF;
    before_id := bandit.take_tuning_snapshot(s.scope, format('before adjusting %s to %s', v.name, new_value));
    UPDATE bandit.tuning_value t SET value = new_value, last_adjusted = now(), reason = apply_adjustment.reason
    WHERE t.scope = s.scope AND t.name = v.name;
    UPDATE bandit.tuning_scope t SET adjustments = t.adjustments + 1 WHERE t.scope = s.scope;
    INSERT INTO bandit.tuning_adjustment (scope, name, kind, old_value, new_value, reason, feedback_count,
                                          confidence, snapshot_id)
    VALUES (s.scope, v.name, 'adjust', v.value, new_value, reason, feedback_count, confidence,
            before_id)
    RETURNING id INTO audit_id;
    RETURN audit_id;
END
$$;
COMMENT ON FUNCTION bandit.apply_adjustment(text, text, float8, text, integer, float8, float8) IS
    'Adjusts a value under row locks (the scope''s, then the value''s): checks every rule of bandit.validate_adjustment (and, when expected_value is given, that the value still is expected_value), raising 22003 (bounds, max_step) or 22023 with all problems and changing nothing; else snapshots the scope, sets the value, audits; returns the audit id. Privilege: manage on the scope.';

CREATE FUNCTION bandit.apply_proposal(proposal bandit.tuning_proposal) RETURNS bigint
LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.apply_adjustment(($1).scope, ($1).name, ($1).proposed_value, ($1).reason,
                                   ($1).feedback_count, ($1).confidence, ($1).old_value)
$$;
COMMENT ON FUNCTION bandit.apply_proposal(bandit.tuning_proposal) IS
    'Applies a proposal of bandit.propose_adjustment or bandit.propose_value, unless the value changed since it was proposed (stale) or a rule fails; returns the audit id. Privilege: manage on the scope.';

CREATE FUNCTION bandit.rollback_tuning(snapshot_id bigint) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    snap bandit.tuning_snapshot;
    before bigint;
    changed integer := 0;
    r record;
BEGIN
    IF snapshot_id IS NULL THEN
        RAISE EXCEPTION 'snapshot_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO snap FROM bandit.tuning_snapshot t WHERE t.id = rollback_tuning.snapshot_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tuning snapshot % does not exist', snapshot_id USING ERRCODE = '42704';
    END IF;
    PERFORM bandit.require('scope', snap.scope, 'manage');
    PERFORM bandit.lock_tuning_scope(snap.scope);
    PERFORM 1 FROM bandit.tuning_value t WHERE t.scope = snap.scope ORDER BY t.name FOR NO KEY UPDATE;
    FOR r IN
        SELECT e.key AS name, t.value AS current_value, saved.*
        FROM jsonb_each(snap.saved_values) e
        CROSS JOIN LATERAL jsonb_to_record(e.value)
            AS saved(value float8, lower_bound float8, upper_bound float8, max_step float8, min_feedback integer)
        LEFT JOIN bandit.tuning_value t ON t.scope = snap.scope AND t.name = e.key
        WHERE (t.value, t.lower_bound, t.upper_bound, t.max_step, t.min_feedback) IS DISTINCT FROM
              (saved.value, saved.lower_bound, saved.upper_bound, saved.max_step, saved.min_feedback)
        ORDER BY e.key
    LOOP
        IF before IS NULL THEN
            before := bandit.take_tuning_snapshot(snap.scope, format('before rollback to snapshot %s', snap.id));
        END IF;
        INSERT INTO bandit.tuning_value AS t (scope, name, value, lower_bound, upper_bound, max_step, min_feedback,
                                              last_adjusted, reason)
        VALUES (snap.scope, r.name, r.value, r.lower_bound, r.upper_bound, r.max_step, r.min_feedback, now(),
                format('rollback to snapshot %s', snap.id))
        ON CONFLICT ON CONSTRAINT tuning_value_pkey DO UPDATE
        SET value = excluded.value, lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound,
            max_step = excluded.max_step, min_feedback = excluded.min_feedback,
            last_adjusted = excluded.last_adjusted, reason = excluded.reason;
        INSERT INTO bandit.tuning_adjustment (scope, name, kind, old_value, new_value, reason, snapshot_id,
                                              restored_snapshot_id)
        VALUES (snap.scope, r.name, 'rollback', r.current_value, r.value, format('rollback to snapshot %s', snap.id),
                before, snap.id);
        changed := changed + 1;
    END LOOP;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION bandit.rollback_tuning(bigint) IS
    'Puts every value saved in the snapshot back exactly (value, bounds, max_step, min_feedback; re-created if deleted since) under the scope''s lock; values defined after the snapshot are left alone; each change is audited with a snapshot of the state before it; not rate-limited; returns the number of values changed. Privilege: manage on the scope.';

CREATE FUNCTION bandit.tuning_history(scope text, days integer DEFAULT 30)
RETURNS TABLE (id bigint, name text, kind text, old_value float8, new_value float8, reason text,
               feedback_count integer, confidence float8, adjusted_at timestamptz, adjusted_by text,
               snapshot_id bigint, restored_snapshot_id bigint)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.require('scope', scope, 'read');
    IF days <= 0 THEN
        RAISE EXCEPTION 'days must be positive, got %', days USING ERRCODE = '22003';
    END IF;
    PERFORM bandit.tuning_scope_row(scope);
    RETURN QUERY
    SELECT a.id, a.name, a.kind, a.old_value, a.new_value, a.reason, a.feedback_count, a.confidence,
           a.adjusted_at, a.adjusted_by, a.snapshot_id, a.restored_snapshot_id
    FROM bandit.tuning_adjustment a
    WHERE a.scope = tuning_history.scope AND a.adjusted_at > now() - make_interval(days => days)
    ORDER BY a.adjusted_at DESC, a.id DESC;
END
$$;
COMMENT ON FUNCTION bandit.tuning_history(text, integer) IS
    'The changes (define, adjust, rollback) of a scope''s values in the last `days` days, newest first. Privilege: read on the scope.';

-- The ensemble choice: several recommenders put weight (times a score) on actions.

CREATE TYPE bandit.ensemble_tally;

CREATE FUNCTION bandit.ensemble_tally_in(cstring) RETURNS bandit.ensemble_tally
    AS 'MODULE_PATHNAME', 'bandit_ensemble_tally_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.ensemble_tally_out(bandit.ensemble_tally) RETURNS cstring
    AS 'MODULE_PATHNAME', 'bandit_ensemble_tally_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.ensemble_tally_recv(internal) RETURNS bandit.ensemble_tally
    AS 'MODULE_PATHNAME', 'bandit_ensemble_tally_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.ensemble_tally_send(bandit.ensemble_tally) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bandit_ensemble_tally_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE bandit.ensemble_tally (
    INTERNALLENGTH = VARIABLE,
    INPUT = bandit.ensemble_tally_in,
    OUTPUT = bandit.ensemble_tally_out,
    RECEIVE = bandit.ensemble_tally_recv,
    SEND = bandit.ensemble_tally_send,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE bandit.ensemble_tally IS
    'Total weight per action of an ensemble vote, as double-double sums; text form {"action": [high, low], ...}; state of bandit.ensemble_choice';
COMMENT ON FUNCTION bandit.ensemble_tally_in(cstring) IS 'Text input of bandit.ensemble_tally: a JSON object of [high, low] totals, validated';
COMMENT ON FUNCTION bandit.ensemble_tally_out(bandit.ensemble_tally) IS 'Text output of bandit.ensemble_tally, actions in byte order, shortest exact decimals';
COMMENT ON FUNCTION bandit.ensemble_tally_recv(internal) IS 'Binary input of bandit.ensemble_tally, validated';
COMMENT ON FUNCTION bandit.ensemble_tally_send(bandit.ensemble_tally) IS 'Binary output of bandit.ensemble_tally';

CREATE FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8) RETURNS bandit.ensemble_tally
    AS 'MODULE_PATHNAME', 'bandit_ensemble_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8) IS
    'Transition of bandit.ensemble_choice(action, weight): adds the weight (finite, >= 0) to the action''s total';
CREATE FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8, float8) RETURNS bandit.ensemble_tally
    AS 'MODULE_PATHNAME', 'bandit_ensemble_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8, float8) IS
    'Transition of bandit.ensemble_choice(action, weight, score): adds weight * score (score finite) to the action''s total';
CREATE FUNCTION bandit.ensemble_combine(bandit.ensemble_tally, bandit.ensemble_tally) RETURNS bandit.ensemble_tally
    AS 'MODULE_PATHNAME', 'bandit_ensemble_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ensemble_combine(bandit.ensemble_tally, bandit.ensemble_tally) IS
    'Merges two tallies, adding the totals of common actions; combine function of bandit.ensemble_choice';
-- Internal helpers: the aggregates keep working (EXECUTE is checked on the
-- aggregate), and a caller cannot hand them states outside an aggregation.
REVOKE EXECUTE ON FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ensemble_combine(bandit.ensemble_tally, bandit.ensemble_tally) FROM PUBLIC;
CREATE FUNCTION bandit.ensemble_winner(bandit.ensemble_tally) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_ensemble_winner' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ensemble_winner(bandit.ensemble_tally) IS
    'The action of the largest total (equal totals: the first action in byte order, as COLLATE "C" sorts); NULL for an empty tally';

CREATE FUNCTION bandit.ensemble_totals(tally bandit.ensemble_tally) RETURNS TABLE (action text, total float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT e.key, (e.value->>0)::float8 FROM jsonb_each(tally::text::jsonb) e ORDER BY e.key COLLATE "C" $$;
COMMENT ON FUNCTION bandit.ensemble_totals(bandit.ensemble_tally) IS
    'The total of each action of a tally (rounded to float8), in byte order: to explain an ensemble''s choice';

CREATE AGGREGATE bandit.ensemble_choice(action text, weight float8) (
    SFUNC = bandit.ensemble_accum,
    STYPE = bandit.ensemble_tally,
    COMBINEFUNC = bandit.ensemble_combine,
    FINALFUNC = bandit.ensemble_winner,
    INITCOND = '{}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.ensemble_choice(text, float8) IS
    'Weighted vote: one row per (recommender, recommended action) with the recommender''s weight (finite, >= 0); returns the action of the largest total weight, equal totals going to the first action in byte order (COLLATE "C"). Totals are double-double sums, so the answer does not depend on row order or parallel plans; memory grows with the distinct actions only; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.ensemble_choice(action text, weight float8, score float8) (
    SFUNC = bandit.ensemble_accum,
    STYPE = bandit.ensemble_tally,
    COMBINEFUNC = bandit.ensemble_combine,
    FINALFUNC = bandit.ensemble_winner,
    INITCOND = '{}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.ensemble_choice(text, float8, float8) IS
    'Weighted scoring: one row per (recommender, action) with the recommender''s weight (finite, >= 0) and its score of the action (finite); returns the action of the largest sum of weight * score, equal totals going to the first action in byte order (COLLATE "C"). Order- and plan-independent double-double sums; memory grows with the distinct actions only; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.ensemble_tally(action text, weight float8) (
    SFUNC = bandit.ensemble_accum,
    STYPE = bandit.ensemble_tally,
    COMBINEFUNC = bandit.ensemble_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.ensemble_tally(text, float8) IS
    'The tally behind bandit.ensemble_choice(action, weight), to store, merge (bandit.merge) or explain (bandit.ensemble_totals)';

CREATE AGGREGATE bandit.ensemble_tally(action text, weight float8, score float8) (
    SFUNC = bandit.ensemble_accum,
    STYPE = bandit.ensemble_tally,
    COMBINEFUNC = bandit.ensemble_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.ensemble_tally(text, float8, float8) IS
    'The tally behind bandit.ensemble_choice(action, weight, score), to store, merge (bandit.merge) or explain (bandit.ensemble_totals)';

CREATE AGGREGATE bandit.merge(tally bandit.ensemble_tally) (
    SFUNC = bandit.ensemble_combine,
    STYPE = bandit.ensemble_tally,
    COMBINEFUNC = bandit.ensemble_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.merge(bandit.ensemble_tally) IS
    'Merges ensemble tallies computed elsewhere (shards, nodes, periods); bandit.ensemble_winner of the result is the overall choice';

-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.check_tuning_number(double precision, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.tuning_scope_row(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.lock_tuning_scope(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.tuning_value_row(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.tuning_problems(bandit.tuning_value, bandit.tuning_scope, double precision, integer, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.check_adjustment_arguments(double precision, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.tuning_proposal_toward(bandit.tuning_value, double precision, integer, double precision, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.take_tuning_snapshot(text, text) FROM PUBLIC;
-- Creating objects is for the roles a DBA grants EXECUTE on these.
REVOKE ALL ON FUNCTION bandit.define_tuning_value(text, text, double precision, double precision, double precision, double precision, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.set_tuning_rate_limit(text, integer, interval) FROM PUBLIC;
