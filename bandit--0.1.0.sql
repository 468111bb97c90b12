-- bandit 0.1.0 as released: frozen.  Changes to installed SQL go into the
-- upgrade script of the next version (bandit--0.1.0--0.2.0.sql).
\echo Use "CREATE EXTENSION bandit" to load this file. \quit

-- src/bandit.sql
COMMENT ON SCHEMA bandit IS 'bandit: online learning and experiment statistics';

-- The composite results shared by several capabilities.
CREATE TYPE bandit.t_test_result AS (
    statistic float8,
    df float8,
    p_value float8,
    mean_diff float8,
    ci_lower float8,
    ci_upper float8,
    cohens_d float8
);
COMMENT ON TYPE bandit.t_test_result IS
    'Result of a t-test: statistic, degrees of freedom, p-value, mean difference with its confidence interval, Cohen''s d';

-- Parameters given as a JSON object: only the keys of defaults are known.
CREATE FUNCTION bandit.check_param_keys(params jsonb, defaults jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
BEGIN
    IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR k IN SELECT jsonb_object_keys(params) LOOP
        IF NOT defaults ? k THEN
            RAISE EXCEPTION 'unknown parameter "%"', k
                USING ERRCODE = '22023',
                      HINT = 'Known parameters: ' || (SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_object_keys(defaults) x);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION bandit.check_param_keys(jsonb, jsonb) IS
    'Checks that params is a JSON object whose keys are all keys of defaults (22023 otherwise); used by policies and experiments';

-- src/summary.sql
-- Mergeable summaries and t-tests (src/summary.c).

CREATE TYPE bandit.summary;

CREATE FUNCTION bandit.summary_in(cstring) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.summary_out(bandit.summary) RETURNS cstring
    AS 'MODULE_PATHNAME', 'bandit_summary_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.summary_recv(internal) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.summary_send(bandit.summary) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bandit_summary_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE bandit.summary (
    INTERNALLENGTH = 32,
    INPUT = bandit.summary_in,
    OUTPUT = bandit.summary_out,
    RECEIVE = bandit.summary_recv,
    SEND = bandit.summary_send,
    ALIGNMENT = double
);
COMMENT ON TYPE bandit.summary IS
    'Sufficient statistics of a sample: (count,mean,m2), m2 the sum of squared deviations; merged exactly with Chan''s formula';
COMMENT ON FUNCTION bandit.summary_in(cstring) IS 'Text input of bandit.summary: (count,mean,m2)';
COMMENT ON FUNCTION bandit.summary_out(bandit.summary) IS 'Text output of bandit.summary, shortest exact decimals';
COMMENT ON FUNCTION bandit.summary_recv(internal) IS 'Binary input of bandit.summary, validated';
COMMENT ON FUNCTION bandit.summary_send(bandit.summary) IS 'Binary output of bandit.summary';

CREATE FUNCTION bandit.summary_accum(bandit.summary, float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.summary_accum(bandit.summary, float8) IS
    'Transition of bandit.summarize: adds one finite value (Welford)';
CREATE FUNCTION bandit.summary_combine(bandit.summary, bandit.summary) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.summary_combine(bandit.summary, bandit.summary) IS
    'Merges two summaries (Chan et al.); combine function of bandit.summarize and bandit.merge';

CREATE AGGREGATE bandit.summarize(value float8) (
    SFUNC = bandit.summary_accum,
    STYPE = bandit.summary,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.summarize(float8) IS
    'Summary (count, mean, m2) of the non-NULL values; NaN and infinities are rejected';

CREATE AGGREGATE bandit.merge(s bandit.summary) (
    SFUNC = bandit.summary_combine,
    STYPE = bandit.summary,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.merge(bandit.summary) IS
    'Merges summaries computed elsewhere (shards, nodes, days) into one';

CREATE FUNCTION bandit.make_summary(n bigint, mean float8, stddev float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_make_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.make_summary(bigint, float8, float8) IS
    'A summary from published statistics: count, mean and sample standard deviation (n - 1)';

CREATE FUNCTION bandit.n(bandit.summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'bandit_summary_n' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.n(bandit.summary) IS 'Number of values in the summary';
CREATE FUNCTION bandit.mean(bandit.summary) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_summary_mean' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.mean(bandit.summary) IS 'Mean of the summary; NULL when it is empty';
CREATE FUNCTION bandit.variance(bandit.summary) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_summary_variance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.variance(bandit.summary) IS 'Sample variance (n - 1); NULL below 2 values';
CREATE FUNCTION bandit.stddev(bandit.summary) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_summary_stddev' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.stddev(bandit.summary) IS 'Sample standard deviation (n - 1); NULL below 2 values';

CREATE FUNCTION bandit.t_test(n1 float8, mean1 float8, sd1 float8, n2 float8, mean2 float8, sd2 float8,
                              equal_var boolean DEFAULT false, alternative text DEFAULT 'two-sided',
                              level float8 DEFAULT 0.95,
                              OUT statistic float8, OUT df float8, OUT p_value float8, OUT mean_diff float8,
                              OUT ci_lower float8, OUT ci_upper float8, OUT cohens_d float8)
    AS 'MODULE_PATHNAME', 'bandit_t_test_stats' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test(float8, float8, float8, float8, float8, float8, boolean, text, float8) IS
    'Two-sample t-test of group 1 minus group 2 from n, mean and sd (Welch unless equal_var), as scipy.stats.ttest_ind_from_stats; confidence interval at level (one-sided for one-sided alternatives); Cohen''s d with the pooled sd';

CREATE FUNCTION bandit.t_test(s1 bandit.summary, s2 bandit.summary, equal_var boolean DEFAULT false,
                              alternative text DEFAULT 'two-sided', level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_summaries' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test(bandit.summary, bandit.summary, boolean, text, float8) IS
    'Two-sample t-test of s1 minus s2 from two summaries (Welch unless equal_var)';

CREATE FUNCTION bandit.t_test_one_sample(s bandit.summary, mu float8 DEFAULT 0,
                                         alternative text DEFAULT 'two-sided', level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_one_sample' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_one_sample(bandit.summary, float8, text, float8) IS
    'One-sample t-test of mean - mu, as scipy.stats.ttest_1samp; mean_diff and its interval are of mean - mu, cohens_d = (mean - mu) / sd';

-- The paired test summarizes the differences and tests their mean against 0.
CREATE FUNCTION bandit.summary_diff_accum(bandit.summary, float8, float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_diff_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.summary_diff_accum(bandit.summary, float8, float8) IS
    'Transition of bandit.t_test_paired: adds the difference x - y';
CREATE FUNCTION bandit.t_test_paired_final(bandit.summary) RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_paired_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_paired_final(bandit.summary) IS
    'Final of bandit.t_test_paired: two-sided one-sample test of the differences, 95 % interval';
CREATE AGGREGATE bandit.t_test_paired(x float8, y float8) (
    SFUNC = bandit.summary_diff_accum,
    STYPE = bandit.summary,
    FINALFUNC = bandit.t_test_paired_final,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.t_test_paired(float8, float8) IS
    'Paired t-test of x - y over rows, as scipy.stats.ttest_rel (two-sided, 95 % interval); NULL below 2 pairs or with constant differences. Other alternatives: bandit.t_test_one_sample(bandit.summarize(x - y), 0, alternative, level)';

-- Two-sample t-test over raw rows; its state carries both groups and the options.
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean) IS 'Transition of the raw-row bandit.t_test';
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean) IS 'Transition of the raw-row bandit.t_test';
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text) IS 'Transition of the raw-row bandit.t_test';
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text, float8) IS 'Transition of the raw-row bandit.t_test';
CREATE FUNCTION bandit.t_test_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_combine(float8[], float8[]) IS 'Combine of the raw-row bandit.t_test (Chan''s merge per group)';
CREATE FUNCTION bandit.t_test_final(float8[]) RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_final(float8[]) IS 'Final of the raw-row bandit.t_test; NULL when a group has < 2 rows or there is no variance';

CREATE AGGREGATE bandit.t_test(value float8, group2 boolean) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean, alternative text) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean, alternative text, level float8) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
COMMENT ON AGGREGATE bandit.t_test(float8, boolean) IS
    'Welch t-test over raw rows: group 1 (group2 false) minus group 2 (group2 true), two-sided, 95 % interval; NULL when a group has < 2 rows';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean) IS
    'Two-sample t-test over raw rows, Student''s when equal_var, else Welch''s; group 1 (group2 false) minus group 2';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, text) IS
    'Two-sample t-test over raw rows with an alternative (the same on every row)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, text, float8) IS
    'Two-sample t-test over raw rows with an alternative and confidence level (the same on every row)';

-- src/adjust.sql
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

CREATE TABLE bandit.tuning_snapshot (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    scope text NOT NULL REFERENCES bandit.tuning_scope (scope),
    label text,
    saved_values jsonb NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    taken_by text NOT NULL DEFAULT CURRENT_USER
);
CREATE INDEX tuning_snapshot_scope ON bandit.tuning_snapshot (scope, taken_at);
COMMENT ON TABLE bandit.tuning_snapshot IS
    'Saved states of every value of a scope: saved_values = {name: {value, lower_bound, upper_bound, max_step, min_feedback}}, numbers in shortest exact decimals, for bandit.rollback_tuning';

CREATE TABLE bandit.tuning_adjustment (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    scope text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('define', 'adjust', 'rollback')),
    old_value float8,
    new_value float8 NOT NULL,
    reason text,
    feedback_count integer,
    confidence float8,
    adjusted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    adjusted_by text NOT NULL DEFAULT CURRENT_USER,
    snapshot_id bigint REFERENCES bandit.tuning_snapshot (id),
    restored_snapshot_id bigint REFERENCES bandit.tuning_snapshot (id)
);
CREATE INDEX tuning_adjustment_scope_at ON bandit.tuning_adjustment (scope, adjusted_at);
COMMENT ON TABLE bandit.tuning_adjustment IS
    'Audit of every change of a tunable value: define, adjust (counted by the rate limit) and rollback; snapshot_id is the scope''s state just before the change, restored_snapshot_id the snapshot a rollback went back to';

COMMENT ON SEQUENCE bandit.tuning_snapshot_id_seq IS 'Ids of bandit.tuning_snapshot';
COMMENT ON SEQUENCE bandit.tuning_adjustment_id_seq IS 'Ids of bandit.tuning_adjustment';

SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_scope', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_value', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_adjustment', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_snapshot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.tuning_adjustment_id_seq', '');

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
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
BEGIN
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
    'Defines a tunable value of a scope (creating the scope, without a rate limit): its starting value, finite bounds lower_bound <= value <= upper_bound, the largest step of one adjustment (max_step > 0) and the feedback an adjustment needs (min_feedback, 30); audited; a duplicate is an error (23505)';

CREATE FUNCTION bandit.set_tuning_rate_limit(scope text, max_adjustments integer, per interval) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
    'Allows at most max_adjustments adjustments of the scope''s values within any period of length per (0 freezes the scope; both NULL: no limit); rollbacks are not limited; creates the scope if needed';

CREATE FUNCTION bandit.tuned_value(scope text, name text) RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (bandit.tuning_value_row(scope, name)).value $$;
COMMENT ON FUNCTION bandit.tuned_value(text, text) IS
    'The current value of a tunable value; an unknown one is an error (42704)';

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
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.check_adjustment_arguments(new_value, feedback_count);
    RETURN bandit.tuning_problems(bandit.tuning_value_row(scope, name), bandit.tuning_scope_row(scope),
                                  new_value, feedback_count);
END
$$;
COMMENT ON FUNCTION bandit.validate_adjustment(text, text, float8, integer) IS
    'Every rule that adjusting the value to new_value with feedback_count observations would break, one message each tagged bounds:, max_step:, min_feedback: or rate_limit:; empty when bandit.apply_adjustment would accept it now';

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
    IF prior_count IS NULL OR NOT (prior_count > 0 AND prior_count < 'Infinity') THEN
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
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
BEGIN
    PERFORM bandit.check_adjustment_arguments(indicated_value, feedback_count);
    RETURN bandit.tuning_proposal_toward(bandit.tuning_value_row(scope, name), indicated_value, feedback_count,
                                         prior_count, format('feedback indicates %s', indicated_value));
END
$$;
COMMENT ON FUNCTION bandit.propose_value(text, text, float8, integer, float8) IS
    'Proposes moving the value toward indicated_value (what feedback_count observations point to): by d = indicated_value - value, capped at max_step, times confidence n / (n + prior_count), clamped to the bounds; no move below min_feedback. problems: what bandit.apply_adjustment would raise';

CREATE FUNCTION bandit.propose_adjustment(scope text, name text, feedback_mean float8, feedback_count integer,
                                          target float8, gain float8 DEFAULT 1, prior_count float8 DEFAULT 10)
RETURNS bandit.tuning_proposal
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    v bandit.tuning_value;
BEGIN
    PERFORM bandit.check_adjustment_arguments(feedback_mean, feedback_count);
    PERFORM bandit.check_tuning_number(target, 'target'), bandit.check_tuning_number(gain, 'gain');
    v := bandit.tuning_value_row(scope, name);
    RETURN bandit.tuning_proposal_toward(v, v.value + gain * (target - feedback_mean), feedback_count, prior_count,
                                         format('feedback mean %s vs target %s, gain %s', feedback_mean, target, gain));
END
$$;
COMMENT ON FUNCTION bandit.propose_adjustment(text, text, float8, integer, float8, float8, float8) IS
    'Proposes an adjustment from aggregated feedback (e.g. avg and count of a metric): the feedback indicates value + gain (target - feedback_mean) (gain < 0 when a larger value lowers the metric); moved toward by at most max_step times confidence n / (n + prior_count), clamped to the bounds, no move below min_feedback. problems: what bandit.apply_adjustment would raise';

CREATE FUNCTION bandit.take_tuning_snapshot(scope text, label text) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
    INSERT INTO bandit.tuning_snapshot (scope, label, saved_values)
    SELECT $1, $2, coalesce(jsonb_object_agg(v.name, jsonb_build_object(
               'value', v.value, 'lower_bound', v.lower_bound, 'upper_bound', v.upper_bound,
               'max_step', v.max_step, 'min_feedback', v.min_feedback)), '{}')
    FROM bandit.tuning_value v WHERE v.scope = $1
    RETURNING id
$$;
COMMENT ON FUNCTION bandit.take_tuning_snapshot(text, text) IS
    'Saves every value of the scope (shortest exact decimals, whatever the session''s extra_float_digits); returns the snapshot id';

CREATE FUNCTION bandit.snapshot_tuning(scope text, label text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF scope IS NULL THEN
        RAISE EXCEPTION 'scope must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.tuning_scope_row(scope);
    RETURN bandit.take_tuning_snapshot(scope, label);
END
$$;
COMMENT ON FUNCTION bandit.snapshot_tuning(text, text) IS
    'Saves every value of a scope exactly (value, bounds, max_step, min_feedback); returns the snapshot id for bandit.rollback_tuning';

CREATE FUNCTION bandit.apply_adjustment(scope text, name text, new_value float8, reason text,
                                        feedback_count integer, confidence float8 DEFAULT NULL,
                                        expected_value float8 DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
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
    'Adjusts a value under row locks (the scope''s, then the value''s): checks every rule of bandit.validate_adjustment (and, when expected_value is given, that the value still is expected_value), raising 22003 (bounds, max_step) or 22023 with all problems and changing nothing; else snapshots the scope, sets the value, audits; returns the audit id';

CREATE FUNCTION bandit.apply_proposal(proposal bandit.tuning_proposal) RETURNS bigint
LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.apply_adjustment(($1).scope, ($1).name, ($1).proposed_value, ($1).reason,
                                   ($1).feedback_count, ($1).confidence, ($1).old_value)
$$;
COMMENT ON FUNCTION bandit.apply_proposal(bandit.tuning_proposal) IS
    'Applies a proposal of bandit.propose_adjustment or bandit.propose_value, unless the value changed since it was proposed (stale) or a rule fails; returns the audit id';

CREATE FUNCTION bandit.rollback_tuning(snapshot_id bigint) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
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
    'Puts every value saved in the snapshot back exactly (value, bounds, max_step, min_feedback; re-created if deleted since) under the scope''s lock; values defined after the snapshot are left alone; each change is audited with a snapshot of the state before it; not rate-limited; returns the number of values changed';

CREATE FUNCTION bandit.tuning_history(scope text, days integer DEFAULT 30)
RETURNS TABLE (id bigint, name text, kind text, old_value float8, new_value float8, reason text,
               feedback_count integer, confidence float8, adjusted_at timestamptz, adjusted_by text,
               snapshot_id bigint, restored_snapshot_id bigint)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
    'The changes (define, adjust, rollback) of a scope''s values in the last `days` days, newest first';

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

-- src/beta.sql
-- The Beta distribution and Bayesian comparison of arms (src/beta.c).

CREATE TYPE bandit.beta_params AS (alpha float8, beta float8);
COMMENT ON TYPE bandit.beta_params IS 'Parameters of a Beta(alpha, beta) distribution';

CREATE FUNCTION bandit.beta_sample(alpha float8, beta float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_beta_sample' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.beta_sample(float8, float8) IS
    'One draw from Beta(alpha, beta) with this session''s generator (see bandit.set_seed)';

CREATE FUNCTION bandit.beta_quantile(alpha float8, beta float8, p float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_beta_quantile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_quantile(float8, float8, float8) IS
    'The p-quantile of Beta(alpha, beta), as scipy.stats.beta.ppf(p, alpha, beta)';

CREATE FUNCTION bandit.beta_interval(alpha float8, beta float8, level float8 DEFAULT 0.95,
                                     OUT lower float8, OUT upper float8)
    AS 'MODULE_PATHNAME', 'bandit_beta_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_interval(float8, float8, float8) IS
    'Equal-tailed credible interval of Beta(alpha, beta) at level';

CREATE FUNCTION bandit.prob_best(alpha float8[], beta float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_prob_best' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ Beta(alpha_i, beta_i), by deterministic quadrature (accurate to 1e-6 absolute, in practice ~1e-12)';

CREATE FUNCTION bandit.expected_loss(alpha float8[], beta float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_expected_loss' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ Beta(alpha_i, beta_i): what choosing arm i costs in expectation';

CREATE FUNCTION bandit.beta_posterior_bool_accum(float8[], boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_bool_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_bool_accum(float8[], boolean) IS
    'Transition of bandit.beta_posterior(boolean)';
CREATE FUNCTION bandit.beta_posterior_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_accum(float8[], float8, float8, float8) IS
    'Transition of bandit.beta_posterior(float8, float8, float8)';
CREATE FUNCTION bandit.beta_posterior_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_combine(float8[], float8[]) IS
    'Combine of bandit.beta_posterior: adds the evidence, counts the prior once';
CREATE FUNCTION bandit.beta_posterior_final(float8[]) RETURNS bandit.beta_params
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_final(float8[]) IS
    'Final of bandit.beta_posterior: prior plus evidence';

CREATE AGGREGATE bandit.beta_posterior(success boolean) (
    SFUNC = bandit.beta_posterior_bool_accum,
    STYPE = float8[],
    FINALFUNC = bandit.beta_posterior_final,
    COMBINEFUNC = bandit.beta_posterior_combine,
    INITCOND = '{1,1,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.beta_posterior(boolean) IS
    'Posterior Beta(1 + successes, 1 + failures) from a uniform prior; NULLs are skipped';

CREATE AGGREGATE bandit.beta_posterior(reward float8, prior_alpha float8, prior_beta float8) (
    SFUNC = bandit.beta_posterior_accum,
    STYPE = float8[],
    FINALFUNC = bandit.beta_posterior_final,
    COMBINEFUNC = bandit.beta_posterior_combine,
    INITCOND = '{-1,-1,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.beta_posterior(float8, float8, float8) IS
    'Posterior Beta(prior_alpha + sum r, prior_beta + sum (1 - r)) from rewards r in [0, 1] (fractional successes); the prior must be the same on every row; NULL over no rows';

-- src/choice.sql
-- Selection aggregates: one row per arm, the chosen arm out (src/choice.c).
--
-- These draw from the session's generator, so unlike the project's other
-- aggregates they are PARALLEL RESTRICTED and have no combine function: the
-- generator is per backend, and a parallel worker's draws would neither
-- follow bandit.set_seed nor advance the leader's stream.  Being leader-only,
-- they keep an internal state (nothing to serialize).  Rows with a NULL
-- argument are skipped, as a strict aggregate would; no rows give NULL.

CREATE FUNCTION bandit.thompson_choice_accum(internal, text, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_thompson_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.thompson_choice_accum(internal, text, float8, float8) IS
    'Transition of bandit.thompson_choice: one Beta draw per row, keeps the arm of the largest';

CREATE FUNCTION bandit.epsilon_greedy_choice_accum(internal, text, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_epsilon_greedy_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.epsilon_greedy_choice_accum(internal, text, float8, float8) IS
    'Transition of bandit.epsilon_greedy_choice: decides on the first row whether to explore, then keeps a uniformly random arm or the best mean';

CREATE FUNCTION bandit.softmax_choice_accum(internal, text, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_softmax_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.softmax_choice_accum(internal, text, float8, float8) IS
    'Transition of bandit.softmax_choice: weighted reservoir sampling with weights exp((mean - max mean) / temperature)';

CREATE FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_ucb1_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8) IS
    'Transition of bandit.ucb1_choice(arm, pulls, mean_reward): c = 1';

CREATE FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_ucb1_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8, float8) IS
    'Transition of bandit.ucb1_choice(arm, pulls, mean_reward, c): keeps the rows until the total pulls are known';

CREATE FUNCTION bandit.choice_final(internal) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_choice_final' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.choice_final(internal) IS
    'Final of bandit.thompson_choice, bandit.epsilon_greedy_choice and bandit.softmax_choice: the arm chosen';

CREATE FUNCTION bandit.ucb1_choice_final(internal) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_ucb1_choice_final' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.ucb1_choice_final(internal) IS
    'Final of bandit.ucb1_choice: an unpulled arm, else the largest mean + c sqrt(2 ln N / n), ties broken at random';

CREATE AGGREGATE bandit.thompson_choice(arm text, alpha float8, beta float8) (
    SFUNC = bandit.thompson_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.thompson_choice(text, float8, float8) IS
    'Thompson sampling over one row per arm: draws theta ~ Beta(alpha, beta) per row and returns the arm of the largest draw (ties at random). Constant memory. Random (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.epsilon_greedy_choice(arm text, mean_reward float8, epsilon float8) (
    SFUNC = bandit.epsilon_greedy_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.epsilon_greedy_choice(text, float8, float8) IS
    'Epsilon-greedy over one row per arm: with probability epsilon (in [0, 1], the same on every row) a uniformly random arm, else the arm of the best mean (ties at random). Constant memory. Random (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.softmax_choice(arm text, mean_reward float8, temperature float8) (
    SFUNC = bandit.softmax_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.softmax_choice(text, float8, float8) IS
    'Softmax (Boltzmann) choice over one row per arm: P(arm) proportional to exp(mean_reward / temperature), computed relative to the largest mean so nothing overflows; temperature > 0, the same on every row. Constant memory. Random (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.ucb1_choice(arm text, pulls bigint, mean_reward float8) (
    SFUNC = bandit.ucb1_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.ucb1_choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.ucb1_choice(text, bigint, float8) IS
    'UCB1 over one row per arm with c = 1: an arm with pulls = 0 first (at random among them; its mean_reward may be NULL), else the largest mean_reward + sqrt(2 ln N / pulls), N = total pulls of the rows (ties at random). Keeps the rows until N is known: O(arms) memory. Random ties (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; other rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.ucb1_choice(arm text, pulls bigint, mean_reward float8, c float8) (
    SFUNC = bandit.ucb1_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.ucb1_choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.ucb1_choice(text, bigint, float8, float8) IS
    'UCB1 over one row per arm: an arm with pulls = 0 first (at random among them; its mean_reward may be NULL), else the largest mean_reward + c sqrt(2 ln N / pulls), N = total pulls of the rows, c >= 0 the same on every row (ties at random). Keeps the rows until N is known: O(arms) memory. Random ties (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; other rows with a NULL are skipped, no rows give NULL';

-- src/contingency.sql
CREATE FUNCTION bandit.chi2_test(successes1 bigint, n1 bigint, successes2 bigint, n2 bigint,
                                 correction boolean DEFAULT true,
                                 OUT statistic float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_chi2_test'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.chi2_test(bigint, bigint, bigint, bigint, boolean) IS
    'Chi-square test of independence of the 2x2 table [[successes1, n1 - successes1], [successes2, n2 - successes2]], with Yates'' continuity correction unless correction is false; = scipy.stats.chi2_contingency. An all-success or all-failure table is an error (an expected count would be zero)';

CREATE FUNCTION bandit.chi2_contingency(observed bigint[], correction boolean DEFAULT true,
                                        OUT statistic float8, OUT df integer, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_chi2_contingency'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.chi2_contingency(bigint[], boolean) IS
    'Pearson chi-square test of independence of an r x c table of counts given as a two-dimensional array (one row per inner array); Yates'' correction applies only when df = 1; one row or one column gives statistic 0, df 0, p-value 1; = scipy.stats.chi2_contingency. A row or column of zeros is an error (an expected count would be zero)';

CREATE FUNCTION bandit.fisher_exact(a bigint, b bigint, c bigint, d bigint,
                                    alternative text DEFAULT 'two-sided',
                                    OUT odds_ratio float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_fisher_exact'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.fisher_exact(bigint, bigint, bigint, bigint, text) IS
    'Fisher''s exact test of the 2x2 table [[a, b], [c, d]]; alternative ''two-sided'' (tables no more probable than the observed one, ties within a relative 1e-14 included), ''less'' or ''greater''; = scipy.stats.fisher_exact. odds_ratio is a*d / (b*c), Infinity when b or c is 0; when a row or column is all zero it is NULL (scipy: NaN) and p_value is 1. Fast for counts up to 1e7 and beyond; the total must be at most 2^53';

CREATE FUNCTION bandit.chisquare(observed float8[], expected float8[] DEFAULT NULL,
                                 OUT statistic float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_chisquare'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.chisquare(float8[], float8[]) IS
    'Pearson''s chi-square goodness-of-fit test of observed counts against expected counts (NULL: all categories equal), k - 1 degrees of freedom; = scipy.stats.chisquare. The two must sum alike (relative 1e-8); at least 2 categories';

-- src/experiment.sql
-- Experiments (A/B/n): lifecycle, assignment, metrics, analysis and decisions.
-- src/experiment.c holds assignment (the hot path) and small statistics;
-- the rest is here.
--
-- Assignment and observation rows carry no foreign key to their experiment:
-- assign and record_metric check it themselves, and a foreign key check
-- per row would cost assign a third of its speed.  drop_experiment removes
-- an experiment with all its rows.

CREATE TABLE bandit.experiment (
    name text PRIMARY KEY CHECK (name <> ''),
    hypothesis text,
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'completed')),
    params jsonb NOT NULL,
    salt text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at timestamptz,
    ended_at timestamptz,
    stop_reason text
);
COMMENT ON TABLE bandit.experiment IS
    'A/B/n experiments: hypothesis, status (draft -> running -> completed), parameters (all keys, defaults filled in), the salt units are hashed with, start and end, and why it stopped';

CREATE TABLE bandit.variant (
    experiment text NOT NULL REFERENCES bandit.experiment (name) ON DELETE CASCADE,
    variant text NOT NULL CHECK (variant <> ''),
    position integer NOT NULL,
    allocation float8 NOT NULL CHECK (allocation > 0 AND allocation <= 1),
    is_control boolean NOT NULL,
    PRIMARY KEY (experiment, variant),
    UNIQUE (experiment, position)
);
COMMENT ON TABLE bandit.variant IS
    'Variants of each experiment in order (position 1 is the control) with the share of units allocated to each';

CREATE TABLE bandit.assignment (
    experiment text NOT NULL,
    unit_id text NOT NULL,
    variant text NOT NULL,
    stratum text,
    assigned_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (experiment, unit_id)
);
COMMENT ON TABLE bandit.assignment IS
    'The variant of each unit of each experiment, fixed at its first assign (and the stratum it was dealt in, if any)';

CREATE TABLE bandit.stratum (
    experiment text NOT NULL,
    stratum text NOT NULL,
    assigned bigint NOT NULL,
    PRIMARY KEY (experiment, stratum)
);
COMMENT ON TABLE bandit.stratum IS
    'Units assigned so far in each stratum of a stratified experiment: the next unit takes the next slot of the stratum''s shuffled blocks';

CREATE TABLE bandit.observation (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    experiment text NOT NULL,
    unit_id text NOT NULL,
    variant text NOT NULL,
    metric text NOT NULL,
    value float8 NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX observation_metric ON bandit.observation (experiment, metric, variant);
COMMENT ON TABLE bandit.observation IS
    'Metric values recorded for assigned units, each with the unit''s variant; every row is one sample of the metric';

CREATE TABLE bandit.sequential_look (
    experiment text NOT NULL,
    metric text NOT NULL,
    variant text NOT NULL,
    n bigint NOT NULL,
    p_value float8 NOT NULL,
    ci_lower float8,
    ci_upper float8,
    looked_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (experiment, metric, variant)
);
COMMENT ON TABLE bandit.sequential_look IS
    'Sequential experiments: per treatment and metric, the smallest always-valid p-value and the intersection of the confidence sequences over every analyze so far, so that neither ever loosens';

CREATE TABLE bandit.experiment_audit (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    experiment text NOT NULL,
    action text NOT NULL,
    detail jsonb,
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    by_user text NOT NULL DEFAULT current_user
);
CREATE INDEX experiment_audit_experiment_at ON bandit.experiment_audit (experiment, at);
COMMENT ON TABLE bandit.experiment_audit IS
    'Audit trail of each experiment''s lifecycle: created, started, stopped (with the reason), dropped';

COMMENT ON SEQUENCE bandit.observation_id_seq IS 'Ids of bandit.observation';
COMMENT ON SEQUENCE bandit.experiment_audit_id_seq IS 'Ids of bandit.experiment_audit';

SELECT pg_catalog.pg_extension_config_dump('bandit.experiment', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.variant', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.assignment', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.stratum', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.observation', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.sequential_look', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.experiment_audit', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.observation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.experiment_audit_id_seq', '');

-- Small statistics (src/experiment.c, src/contingency.c)

CREATE FUNCTION bandit.normal_quantile(p float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_normal_quantile'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.normal_quantile(float8) IS
    'Quantile of the standard normal distribution, = scipy.stats.norm.ppf; -Infinity and Infinity at 0 and 1';

CREATE FUNCTION bandit.proportion_interval(successes float8, n float8, level float8 DEFAULT 0.95,
                                           OUT lower float8, OUT upper float8)
    AS 'MODULE_PATHNAME', 'bandit_proportion_interval'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.proportion_interval(float8, float8, float8) IS
    'Wilson score interval of a proportion successes / n at the given level, = statsmodels proportion_confint(method=''wilson'')';

CREATE FUNCTION bandit.holm(p float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_holm'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.holm(float8[]) IS
    'Holm''s step-down adjustment of p-values for multiple comparisons, in the input order, = statsmodels multipletests(p, method=''holm'')[1]';

CREATE FUNCTION bandit.assignment_point(salt text, unit_id text) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_assignment_point'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.assignment_point(text, text) IS
    'The point in [0, 1) a unit hashes to: the top 53 bits of murmur3''s 64-bit finalizer over FNV-1a 64 of salt || 0x1f || unit_id, divided by 2^53. assign gives the first variant whose cumulative allocation exceeds it';

-- Lifecycle

-- The parameters of an experiment, checked, with their defaults filled in.
CREATE FUNCTION bandit.experiment_params(params jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    defaults constant jsonb := '{"hypothesis": null, "min_sample_size": 100, "max_sample_size": null,
        "alpha": 0.05, "early_alpha": 0.01, "min_effect": 0, "sequential": false, "metrics": null,
        "mixing_sd": null, "salt": null}';
    result jsonb;
    k text;
    v jsonb;
BEGIN
    PERFORM bandit.check_param_keys(params, defaults);
    result := defaults || params;
    FOR k, v IN SELECT * FROM jsonb_each(result) LOOP
        CONTINUE WHEN v = 'null';
        IF k IN ('min_sample_size', 'max_sample_size', 'alpha', 'early_alpha', 'min_effect', 'mixing_sd')
           AND jsonb_typeof(v) <> 'number' THEN
            RAISE EXCEPTION 'parameter "%" must be a number, got %', k, v USING ERRCODE = '22023';
        ELSIF k IN ('hypothesis', 'salt') AND jsonb_typeof(v) <> 'string' THEN
            RAISE EXCEPTION 'parameter "%" must be a string, got %', k, v USING ERRCODE = '22023';
        ELSIF k = 'sequential' AND jsonb_typeof(v) <> 'boolean' THEN
            RAISE EXCEPTION 'parameter "sequential" must be true or false, got %', v USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF result->'min_sample_size' = 'null' OR (result->>'min_sample_size')::float8 < 1
       OR (result->>'min_sample_size')::float8 <> trunc((result->>'min_sample_size')::float8) THEN
        RAISE EXCEPTION 'min_sample_size must be a positive integer, got %', result->'min_sample_size' USING ERRCODE = '22003';
    END IF;
    IF result->'max_sample_size' <> 'null' AND ((result->>'max_sample_size')::float8 < (result->>'min_sample_size')::float8
       OR (result->>'max_sample_size')::float8 <> trunc((result->>'max_sample_size')::float8)) THEN
        RAISE EXCEPTION 'max_sample_size must be an integer of at least min_sample_size, got %', result->'max_sample_size'
            USING ERRCODE = '22003';
    END IF;
    IF result->'alpha' = 'null' OR (result->>'alpha')::float8 <= 0 OR (result->>'alpha')::float8 >= 1
       OR result->'early_alpha' = 'null' OR (result->>'early_alpha')::float8 <= 0 OR (result->>'early_alpha')::float8 >= 1 THEN
        RAISE EXCEPTION 'alpha and early_alpha must be strictly between 0 and 1' USING ERRCODE = '22003';
    END IF;
    IF result->'min_effect' = 'null' OR (result->>'min_effect')::float8 < 0 THEN
        RAISE EXCEPTION 'min_effect must not be negative, got %', result->'min_effect' USING ERRCODE = '22003';
    END IF;
    IF result->'mixing_sd' <> 'null' AND (result->>'mixing_sd')::float8 <= 0 THEN
        RAISE EXCEPTION 'mixing_sd must be positive, got %', result->'mixing_sd' USING ERRCODE = '22003';
    END IF;
    IF result->'sequential' = 'null' THEN
        result := result || '{"sequential": false}';
    END IF;
    v := result->'metrics';
    IF jsonb_typeof(v) = 'array' THEN
        IF EXISTS (SELECT FROM jsonb_array_elements(v) m WHERE jsonb_typeof(m) <> 'string') THEN
            RAISE EXCEPTION 'metrics must be an array of names or an object of name: "binary" or "continuous"'
                USING ERRCODE = '22023';
        END IF;
    ELSIF jsonb_typeof(v) = 'object' THEN
        IF EXISTS (SELECT FROM jsonb_each(v) m WHERE m.value NOT IN ('"binary"', '"continuous"')) THEN
            RAISE EXCEPTION 'metrics must be an array of names or an object of name: "binary" or "continuous"'
                USING ERRCODE = '22023';
        END IF;
    ELSIF v <> 'null' THEN
        RAISE EXCEPTION 'metrics must be an array of names or an object of name: "binary" or "continuous"'
            USING ERRCODE = '22023';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION bandit.experiment_params(jsonb) IS
    'Checks an experiment''s parameters and fills in the defaults; used by bandit.create_experiment';

-- The experiment's row; an unknown experiment is an error (42704).
CREATE FUNCTION bandit.experiment_row(experiment text, lock boolean DEFAULT false) RETURNS bandit.experiment
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment;
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'experiment must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF lock THEN
        SELECT * INTO e FROM bandit.experiment t WHERE t.name = experiment_row.experiment FOR UPDATE;
    ELSE
        SELECT * INTO e FROM bandit.experiment t WHERE t.name = experiment_row.experiment;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = '42704';
    END IF;
    RETURN e;
END
$$;
COMMENT ON FUNCTION bandit.experiment_row(text, boolean) IS
    'The experiment''s row (locked FOR UPDATE if asked); an unknown experiment is an error (42704)';

CREATE FUNCTION bandit.create_experiment(name text, variants text[], allocation float8[] DEFAULT NULL,
                                         params jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k int := cardinality(variants);
    p jsonb;
    total float8;
BEGIN
    IF name IS NULL OR variants IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN name IS NULL THEN 'name' ELSE 'variants' END
            USING ERRCODE = '22004';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION 'name must not be empty' USING ERRCODE = '22023';
    END IF;
    IF array_ndims(variants) > 1 THEN
        RAISE EXCEPTION 'variants must be a one-dimensional array' USING ERRCODE = '2202E';
    END IF;
    IF k < 2 THEN
        RAISE EXCEPTION 'an experiment needs at least two variants (the control first), got %', k USING ERRCODE = '22023';
    END IF;
    IF array_position(variants, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'variants must not contain NULL' USING ERRCODE = '22004';
    END IF;
    IF '' = ANY (variants) OR (SELECT count(DISTINCT v) FROM unnest(variants) v) <> k THEN
        RAISE EXCEPTION 'variants must be distinct, non-empty names, got %', variants USING ERRCODE = '22023';
    END IF;
    IF allocation IS NULL THEN
        allocation := array_fill(1.0::float8 / k, ARRAY[k]);
    ELSE
        IF array_ndims(allocation) > 1 OR cardinality(allocation) <> k THEN
            RAISE EXCEPTION 'allocation must have one share per variant (%), got %', k, allocation
                USING ERRCODE = '2202E';
        END IF;
        IF array_position(allocation, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'allocation must not contain NULL' USING ERRCODE = '22004';
        END IF;
        IF EXISTS (SELECT FROM unnest(allocation) a WHERE NOT (a > 0 AND a <= 1)) THEN
            RAISE EXCEPTION 'every allocation share must be in (0, 1], got %', allocation USING ERRCODE = '22003';
        END IF;
        SELECT sum(a) INTO total FROM unnest(allocation) a;
        IF abs(total - 1) > 1e-9 THEN
            RAISE EXCEPTION 'allocation must sum to 1, got % (sum %)', allocation, total USING ERRCODE = '22023';
        END IF;
    END IF;
    p := bandit.experiment_params(params);
    IF EXISTS (SELECT FROM bandit.experiment e WHERE e.name = create_experiment.name) THEN
        RAISE EXCEPTION 'experiment "%" already exists', name USING ERRCODE = '23505';
    END IF;
    INSERT INTO bandit.experiment (name, hypothesis, params, salt)
    VALUES (name, p->>'hypothesis', p, coalesce(p->>'salt', gen_random_uuid()::text));
    INSERT INTO bandit.variant (experiment, variant, position, allocation, is_control)
    SELECT name, v.variant, v.position, allocation[v.position], v.position = 1
    FROM unnest(variants) WITH ORDINALITY v(variant, position);
    INSERT INTO bandit.experiment_audit (experiment, action, detail)
    VALUES (name, 'created', jsonb_build_object('variants', variants, 'allocation', allocation, 'params', p));
END
$$;
COMMENT ON FUNCTION bandit.create_experiment(text, text[], float8[], jsonb) IS
    'Creates an experiment in status draft; variants[1] is the control; allocation (NULL: equal) must sum to 1. params: hypothesis, min_sample_size (100), max_sample_size (planned per variant, for futility), alpha (0.05), early_alpha (0.01), min_effect (0), sequential (false), metrics (names, or name: "binary"/"continuous"), mixing_sd (mSPRT mixing scale; default min_effect if positive, else 0.1 pooled standard deviations), salt (default random)';

CREATE FUNCTION bandit.start_experiment(name text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(name, true);
BEGIN
    IF e.status <> 'draft' THEN
        RAISE EXCEPTION 'experiment "%" is %: only a draft can start', name, e.status USING ERRCODE = '55000';
    END IF;
    UPDATE bandit.experiment t SET status = 'running', started_at = now() WHERE t.name = e.name;
    INSERT INTO bandit.experiment_audit (experiment, action) VALUES (e.name, 'started');
END
$$;
COMMENT ON FUNCTION bandit.start_experiment(text) IS 'Starts a draft experiment: from now on units can be assigned';

CREATE FUNCTION bandit.stop_experiment(name text, reason text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(name, true);
BEGIN
    IF e.status <> 'running' THEN
        RAISE EXCEPTION 'experiment "%" is %: only a running experiment can stop', name, e.status USING ERRCODE = '55000';
    END IF;
    UPDATE bandit.experiment t SET status = 'completed', ended_at = now(), stop_reason = reason WHERE t.name = e.name;
    INSERT INTO bandit.experiment_audit (experiment, action, detail)
    VALUES (e.name, 'stopped', jsonb_build_object('reason', reason));
END
$$;
COMMENT ON FUNCTION bandit.stop_experiment(text, text) IS
    'Completes a running experiment, with the reason it stopped: no more assignments; metrics of assigned units are still recorded';

CREATE FUNCTION bandit.drop_experiment(name text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(name, true);
BEGIN
    DELETE FROM bandit.observation o WHERE o.experiment = e.name;
    DELETE FROM bandit.assignment a WHERE a.experiment = e.name;
    DELETE FROM bandit.stratum s WHERE s.experiment = e.name;
    DELETE FROM bandit.sequential_look l WHERE l.experiment = e.name;
    DELETE FROM bandit.experiment t WHERE t.name = e.name;
    INSERT INTO bandit.experiment_audit (experiment, action) VALUES (e.name, 'dropped');
END
$$;
COMMENT ON FUNCTION bandit.drop_experiment(text) IS
    'Deletes an experiment with its variants, assignments, observations and sequential state (the audit trail stays)';

-- Assignment (src/experiment.c)

CREATE FUNCTION bandit.assign(experiment text, unit_id text) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_assign'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.assign(text, text) IS
    'The variant of a unit in a running experiment: at its first call, the variant whose share of the cumulative allocation holds bandit.assignment_point(salt, unit_id), stored; later calls return the stored variant. Deterministic, and independent between experiments (each has its own salt)';

CREATE FUNCTION bandit.assign(experiment text, unit_id text, stratum text) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_assign_stratified'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.assign(text, text, text) IS
    'Stratified assignment: each stratum''s new units, in arrival order, are dealt the slots of blocks that hold every variant in proportion to its allocation (the smallest whole block, at most 1000; else 100 slots by largest remainders), each block shuffled from (salt, stratum, block number); so every stratum follows the allocation to within one block. Stored and sticky like assign(experiment, unit_id)';

-- Metrics

-- A metric's name and value, checked against the experiment's declared metrics.
CREATE FUNCTION bandit.check_metric(e bandit.experiment, metric text, binary_only boolean) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    declared jsonb := e.params->'metrics';
BEGIN
    IF metric IS NULL THEN
        RAISE EXCEPTION 'metric must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF e.status = 'draft' THEN
        RAISE EXCEPTION 'experiment "%" is a draft: it has no units to record metrics for', e.name USING ERRCODE = '55000';
    END IF;
    IF declared <> 'null' AND NOT declared ? metric THEN
        RAISE EXCEPTION 'experiment "%" has no metric "%"', e.name, metric
            USING ERRCODE = '22023',
                  HINT = 'Its metrics: ' || (SELECT string_agg(m, ', ' ORDER BY m)
                                             FROM (SELECT jsonb_array_elements_text(declared) m WHERE jsonb_typeof(declared) = 'array'
                                                   UNION ALL
                                                   SELECT jsonb_object_keys(declared) WHERE jsonb_typeof(declared) = 'object') d);
    END IF;
    IF jsonb_typeof(declared) = 'object' AND declared->>metric = 'binary' AND NOT binary_only THEN
        RAISE EXCEPTION 'metric "%" is binary: its values must be 0 or 1', metric USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION bandit.check_metric(bandit.experiment, text, boolean) IS
    'Checks that metric values may be recorded for an experiment (not a draft; a declared metric; 0/1 for a binary one); used by record_metric and record_metrics';

CREATE FUNCTION bandit.record_metric(experiment text, unit_id text, metric text, value float8) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    assigned text;
BEGIN
    IF unit_id IS NULL OR value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN unit_id IS NULL THEN 'unit_id' ELSE 'value' END
            USING ERRCODE = '22004';
    END IF;
    IF value IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'value must be a finite number, got %', value USING ERRCODE = '22003';
    END IF;
    PERFORM bandit.check_metric(e, metric, value IN (0, 1));
    SELECT a.variant INTO assigned FROM bandit.assignment a WHERE a.experiment = e.name AND a.unit_id = record_metric.unit_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unit "%" is not assigned in experiment "%"', unit_id, e.name
            USING ERRCODE = '22023', HINT = 'Assign it first with bandit.assign.';
    END IF;
    INSERT INTO bandit.observation (experiment, unit_id, variant, metric, value)
    VALUES (e.name, unit_id, assigned, metric, value);
END
$$;
COMMENT ON FUNCTION bandit.record_metric(text, text, text, float8) IS
    'Records one value of a metric for an assigned unit of a running or completed experiment; an unassigned unit, NaN or an infinite value is an error';

CREATE FUNCTION bandit.record_metrics(experiment text, metric text, unit_ids text[], "values" float8[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    missing text;
    inserted bigint;
BEGIN
    IF unit_ids IS NULL OR "values" IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN unit_ids IS NULL THEN 'unit_ids' ELSE 'values' END
            USING ERRCODE = '22004';
    END IF;
    IF array_ndims(unit_ids) > 1 OR array_ndims("values") > 1 OR cardinality(unit_ids) <> cardinality("values") THEN
        RAISE EXCEPTION 'unit_ids and values must be one-dimensional arrays of one length, got % and %',
            cardinality(unit_ids), cardinality("values") USING ERRCODE = '2202E';
    END IF;
    IF array_position(unit_ids, NULL) IS NOT NULL OR array_position("values", NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'unit_ids and values must not contain NULL' USING ERRCODE = '22004';
    END IF;
    IF EXISTS (SELECT FROM unnest("values") v WHERE v IN ('NaN', 'Infinity', '-Infinity')) THEN
        RAISE EXCEPTION 'values must be finite numbers' USING ERRCODE = '22003';
    END IF;
    PERFORM bandit.check_metric(e, metric, NOT EXISTS (SELECT FROM unnest("values") v WHERE v NOT IN (0, 1)));
    SELECT u INTO missing FROM unnest(unit_ids) u
    WHERE NOT EXISTS (SELECT FROM bandit.assignment a WHERE a.experiment = e.name AND a.unit_id = u) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unit "%" is not assigned in experiment "%"', missing, e.name
            USING ERRCODE = '22023', HINT = 'Nothing was recorded; assign the units first with bandit.assign.';
    END IF;
    INSERT INTO bandit.observation (experiment, unit_id, variant, metric, value)
    SELECT e.name, u.unit_id, a.variant, metric, u.value
    FROM unnest(unit_ids, "values") u(unit_id, value)
    JOIN bandit.assignment a ON a.experiment = e.name AND a.unit_id = u.unit_id;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    RETURN inserted;
END
$$;
COMMENT ON FUNCTION bandit.record_metrics(text, text, text[], float8[]) IS
    'Records many values of one metric at once (unit_ids[i] has values[i]); all or nothing: one unassigned unit or non-finite value rejects the whole call. Returns the rows recorded';

-- Analysis

-- The per-variant aggregates analyze and srm_check need.  RETURN QUERY runs
-- them to completion, so their plans can launch parallel workers, which a
-- PL/pgSQL SELECT INTO (fetching at most two rows) never does.
CREATE FUNCTION bandit.metric_summaries(experiment text, metric text)
RETURNS TABLE(variant text, summary bandit.summary, nonbinary bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT o.variant, bandit.summarize(o.value), count(*) FILTER (WHERE o.value <> 0 AND o.value <> 1)
    FROM bandit.observation o
    WHERE o.experiment = metric_summaries.experiment AND o.metric = metric_summaries.metric
    GROUP BY o.variant;
END
$$;
COMMENT ON FUNCTION bandit.metric_summaries(text, text) IS
    'Per variant, the summary of a metric''s values and how many are neither 0 nor 1; used by bandit.analyze';

CREATE FUNCTION bandit.assignment_counts(experiment text)
RETURNS TABLE(variant text, n bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT a.variant, count(*) FROM bandit.assignment a WHERE a.experiment = assignment_counts.experiment GROUP BY a.variant;
END
$$;
COMMENT ON FUNCTION bandit.assignment_counts(text) IS 'Units assigned to each variant; used by bandit.srm_check';

CREATE FUNCTION bandit.srm_check(experiment text) RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    observed float8[];
    share float8[];
    total float8;
BEGIN
    SELECT array_agg(coalesce(c.n, 0)::float8 ORDER BY v.position), array_agg(v.allocation ORDER BY v.position),
           sum(coalesce(c.n, 0))
    INTO observed, share, total
    FROM bandit.variant v
    LEFT JOIN bandit.assignment_counts(e.name) c USING (variant)
    WHERE v.experiment = e.name;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    RETURN (bandit.chisquare(observed, (SELECT array_agg(s * total ORDER BY i) FROM unnest(share) WITH ORDINALITY x(s, i)))).p_value;
END
$$;
COMMENT ON FUNCTION bandit.srm_check(text) IS
    'Sample-ratio-mismatch p-value: chi-square goodness of fit of the assignment counts per variant against the allocation, = scipy.stats.chisquare; NULL before any assignment. Below 0.001 the assignment is broken and results are not to be trusted';

CREATE TYPE bandit.variant_result AS (
    variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
    p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
    significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
    expected_loss float8, srm_p_value float8, warning text, sd float8);
COMMENT ON TYPE bandit.variant_result IS 'One row of bandit.analyze: a variant and its comparison with the control';

-- Compares each treatment with the control, given each variant's summary
-- (position order, NULL for no data); see bandit.analyze.
CREATE FUNCTION bandit.compare_variants(e bandit.experiment, metric text, names text[], summaries bandit.summary[],
                                        is_binary boolean, test_name text)
RETURNS SETOF bandit.variant_result
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k int := cardinality(names);
    alpha float8 := (e.params->>'alpha')::float8;
    sequential boolean := (e.params->>'sequential')::boolean;
    z float8 := bandit.normal_quantile(1 - alpha / 2);
    srm float8 := bandit.srm_check(e.name);
    ns bigint[];
    means float8[];
    sds float8[];
    stddevs float8[];
    p float8[];
    d float8[];
    es float8[];
    lo float8[];
    hi float8[];
    adjusted float8[];
    best float8[];
    loss float8[];
    tests text[];
    c_lo float8;
    c_hi float8;
    tau float8;
    pooled float8;
    s_t bigint;
    s_c bigint;
    smallest_expected float8;
    result bandit.variant_result;
    present int[];
    holm float8[];
    r record;
BEGIN
    SELECT array_agg(coalesce(bandit.n(s), 0) ORDER BY i), array_agg(bandit.mean(s) ORDER BY i),
           array_agg(CASE WHEN bandit.n(s) >= 2 THEN bandit.stddev(s) END ORDER BY i)
    INTO ns, means, sds
    FROM unnest(summaries) WITH ORDINALITY x(s, i);
    stddevs := sds;
    p := array_fill(NULL::float8, ARRAY[k]);
    d := p; es := p; lo := p; hi := p; adjusted := p;
    tests := array_fill(NULL::text, ARRAY[k]);

    -- Bayesian: exact Beta posteriors from Beta(1, 1) for binary metrics,
    -- normal posteriors N(mean, sd^2 / n) for continuous ones
    IF is_binary THEN
        SELECT array_agg(1 + round(coalesce(m, 0) * c) ORDER BY i), array_agg(1 + c - round(coalesce(m, 0) * c) ORDER BY i)
        INTO lo, hi
        FROM unnest(ns, means) WITH ORDINALITY x(c, m, i);
        best := bandit.prob_best(lo, hi);
        loss := bandit.expected_loss(lo, hi);
        lo := p; hi := p;
    ELSIF NOT EXISTS (SELECT FROM unnest(sds) s WHERE s IS NULL) THEN
        best := bandit.normal_prob_best(means, (SELECT array_agg(s / sqrt(c) ORDER BY i)
                                                 FROM unnest(sds, ns) WITH ORDINALITY x(s, c, i)));
        loss := bandit.normal_expected_loss(means, (SELECT array_agg(s / sqrt(c) ORDER BY i)
                                                     FROM unnest(sds, ns) WITH ORDINALITY x(s, c, i)));
    END IF;

    FOR i IN 2 .. k LOOP
        CONTINUE WHEN ns[i] < 2 OR ns[1] < 2;
        d[i] := means[i] - means[1];
        IF is_binary THEN
            s_t := round(means[i] * ns[i]);
            s_c := round(means[1] * ns[1]);
            es[i] := 2 * asin(sqrt(means[i])) - 2 * asin(sqrt(means[1]));
            -- the smallest expected count of the 2 x 2 table under independence
            smallest_expected := least(s_t + s_c, ns[i] + ns[1] - s_t - s_c)::float8 * least(ns[i], ns[1]) / (ns[i] + ns[1]);
            IF smallest_expected < 5 THEN
                p[i] := (bandit.fisher_exact(s_t, ns[i] - s_t, s_c, ns[1] - s_c)).p_value;
                tests[i] := 'fisher';
            ELSE
                p[i] := (bandit.chi2_test(s_t, ns[i], s_c, ns[1], true)).p_value;
                tests[i] := 'chi-square';
            END IF;
            pooled := sqrt(means[i] * (1 - means[i]) / ns[i] + means[1] * (1 - means[1]) / ns[1]);
            lo[i] := d[i] - z * pooled;
            hi[i] := d[i] + z * pooled;
        ELSIF sds[i] > 0 OR sds[1] > 0 THEN
            SELECT * INTO r FROM bandit.t_test(summaries[i], summaries[1], false, 'two-sided', 1 - alpha);
            p[i] := r.p_value;
            es[i] := r.cohens_d;
            lo[i] := r.ci_lower;
            hi[i] := r.ci_upper;
            tests[i] := test_name;
        END IF;
        IF sequential THEN
            IF is_binary THEN
                sds[i] := sqrt(means[i] * (1 - means[i]));
                sds[1] := sqrt(means[1] * (1 - means[1]));
            END IF;
            tau := coalesce((e.params->>'mixing_sd')::float8,
                            nullif((e.params->>'min_effect')::float8, 0),
                            0.1 * sqrt(((ns[i] - 1) * sds[i] ^ 2 + (ns[1] - 1) * sds[1] ^ 2) / (ns[i] + ns[1] - 2)));
            IF tau > 0 THEN
                SELECT * INTO r FROM bandit.msprt(ns[i], means[i], sds[i], ns[1], means[1], sds[1], tau, alpha);
                INSERT INTO bandit.sequential_look AS l (experiment, metric, variant, n, p_value, ci_lower, ci_upper)
                VALUES (e.name, metric, names[i], ns[i] + ns[1], r.p_value, r.ci_lower, r.ci_upper)
                ON CONFLICT ON CONSTRAINT sequential_look_pkey DO UPDATE SET
                    n = excluded.n,
                    p_value = least(l.p_value, excluded.p_value),
                    -- the running intersection, unless it came out empty (the model is off)
                    ci_lower = CASE WHEN greatest(l.ci_lower, excluded.ci_lower) <= least(l.ci_upper, excluded.ci_upper)
                                    THEN greatest(l.ci_lower, excluded.ci_lower) ELSE excluded.ci_lower END,
                    ci_upper = CASE WHEN greatest(l.ci_lower, excluded.ci_lower) <= least(l.ci_upper, excluded.ci_upper)
                                    THEN least(l.ci_upper, excluded.ci_upper) ELSE excluded.ci_upper END,
                    looked_at = now()
                RETURNING l.p_value, l.ci_lower, l.ci_upper INTO r;
                p[i] := r.p_value;
                lo[i] := r.ci_lower;
                hi[i] := r.ci_upper;
                tests[i] := 'msprt';
            END IF;
        END IF;
    END LOOP;

    -- Holm over the treatments that have a p-value, put back in place
    present := ARRAY(SELECT j FROM generate_series(2, k) j WHERE p[j] IS NOT NULL ORDER BY j);
    IF cardinality(present) > 0 THEN
        holm := bandit.holm(ARRAY(SELECT p[j] FROM unnest(present) WITH ORDINALITY u(j, o) ORDER BY o));
        FOR m IN 1 .. cardinality(present) LOOP
            adjusted[present[m]] := holm[m];
        END LOOP;
    END IF;

    FOR i IN 1 .. k LOOP
        result := ROW(names[i], ns[i], means[i], NULL, NULL, d[i], p[i], adjusted[i], es[i], best[i], tests[i],
                      CASE WHEN i > 1 AND p[i] IS NOT NULL THEN adjusted[i] < alpha AND coalesce(srm >= 0.001, true) END,
                      lo[i], hi[i], CASE WHEN i > 1 AND means[1] <> 0 THEN d[i] / means[1] END, loss[i], srm,
                      CASE
                          WHEN srm < 0.001 THEN format('sample ratio mismatch: assignment counts do not follow the allocation (srm p = %s); no result can be trusted', round(srm::numeric, 6))
                          WHEN ns[i] < 2 THEN 'fewer than 2 observations'
                          WHEN i > 1 AND ns[1] < 2 THEN 'the control has fewer than 2 observations'
                          WHEN i > 1 AND p[i] IS NULL THEN 'no variance in either group: no test'
                      END,
                      stddevs[i]);
        IF is_binary AND ns[i] > 0 THEN
            SELECT w.lower, w.upper INTO result.ci_lower, result.ci_upper
            FROM bandit.proportion_interval(round(means[i] * ns[i]), ns[i], 1 - alpha) w;
        ELSIF stddevs[i] > 0 THEN
            SELECT t.ci_lower, t.ci_upper INTO result.ci_lower, result.ci_upper
            FROM bandit.t_test_one_sample(summaries[i], 0, 'two-sided', 1 - alpha) t;
        ELSIF stddevs[i] = 0 THEN
            -- every value the same: nothing to be uncertain about
            result.ci_lower := means[i];
            result.ci_upper := means[i];
        END IF;
        RETURN NEXT result;
    END LOOP;
END
$$;
COMMENT ON FUNCTION bandit.compare_variants(bandit.experiment, text, text[], bandit.summary[], boolean, text) IS
    'The comparison behind bandit.analyze, given each variant''s summary';

CREATE FUNCTION bandit.analyze(experiment text, metric text)
RETURNS TABLE(variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
              p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
              significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
              expected_loss float8, srm_p_value float8, warning text, sd float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    names text[];
    summaries bandit.summary[];
    nonbinary bigint;
BEGIN
    IF metric IS NULL THEN
        RAISE EXCEPTION 'metric must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(v.variant ORDER BY v.position), array_agg(g.summary ORDER BY v.position), sum(g.nonbinary)
    INTO names, summaries, nonbinary
    FROM bandit.variant v
    LEFT JOIN bandit.metric_summaries(e.name, metric) g USING (variant)
    WHERE v.experiment = e.name;
    RETURN QUERY SELECT * FROM bandit.compare_variants(e, metric, names, summaries,
        coalesce(e.params->'metrics'->>metric = 'binary', coalesce(nonbinary, 0) = 0), 'welch');
END
$$;
COMMENT ON FUNCTION bandit.analyze(text, text) IS
    'Each variant of an experiment against the control (first row) on one metric, each observation one sample. Binary metrics (every value 0 or 1, or declared binary): Wilson intervals, chi-square with Yates'' correction or Fisher''s exact test when an expected count is below 5, Wald interval of the difference, Cohen''s h, exact Beta posteriors for prob_best and expected_loss. Continuous: t intervals, Welch''s t-test and interval, Cohen''s d, normal posteriors. adjusted_p_value: Holm across the treatments; significant: adjusted p < alpha, never on a sample-ratio mismatch (srm p < 0.001, see warning). With params.sequential: mSPRT always-valid p-values and confidence sequences (test msprt) that never loosen between calls. Intervals at level 1 - alpha';

CREATE FUNCTION bandit.analyze(experiment text, metric text, covariate text)
RETURNS TABLE(variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
              p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
              significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
              expected_loss float8, srm_p_value float8, warning text, sd float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    names text[];
    summaries bandit.summary[];
BEGIN
    IF metric IS NULL OR covariate IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN metric IS NULL THEN 'metric' ELSE 'covariate' END
            USING ERRCODE = '22004';
    END IF;
    WITH y AS (
        SELECT o.unit_id, o.variant, avg(o.value) y FROM bandit.observation o
        WHERE o.experiment = e.name AND o.metric = "analyze".metric GROUP BY o.unit_id, o.variant
    ), x AS (
        SELECT o.unit_id, avg(o.value) x FROM bandit.observation o
        WHERE o.experiment = e.name AND o.metric = covariate GROUP BY o.unit_id
    ), joined AS (
        SELECT y.variant, y.y, coalesce(x.x, avg(x.x) OVER ()) x FROM y LEFT JOIN x USING (unit_id)
    ), fit AS (
        SELECT coalesce(covar_samp(j.y, j.x) / nullif(var_samp(j.x), 0), 0) theta, avg(j.x) mean_x FROM joined j
    ), adjusted AS (
        SELECT j.variant, bandit.summarize(j.y - f.theta * (j.x - f.mean_x)) s FROM joined j, fit f GROUP BY j.variant
    )
    SELECT array_agg(v.variant ORDER BY v.position), array_agg(a.s ORDER BY v.position)
    INTO names, summaries
    FROM bandit.variant v LEFT JOIN adjusted a USING (variant)
    WHERE v.experiment = e.name;
    RETURN QUERY SELECT * FROM bandit.compare_variants(e, metric, names, summaries, false, 'welch (cuped)');
END
$$;
COMMENT ON FUNCTION bandit.analyze(text, text, text) IS
    'analyze with a pre-period covariate (CUPED), for continuous metrics: per unit Y = mean of the metric''s values and X = mean of the covariate''s (units without one get the mean X of those with one); theta = cov(X, Y) / var(X) over all units; each variant''s Y - theta (X - mean X) then compared as analyze does (Welch). Means are of the adjusted values';

-- Numbers for people: four significant digits, scientific notation when tiny.
CREATE FUNCTION bandit.format_number(x float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN x IS NULL OR x = 'NaN' THEN 'n/a'
        WHEN x = 0 OR x IN ('Infinity', '-Infinity') THEN x::text
        WHEN abs(x) < 1e-4 OR abs(x) >= 1e9 THEN btrim(to_char(x, '9.999EEEE'))
        ELSE round(x::numeric, greatest(0, 3 - floor(log(abs(x)::numeric))::int))::text
    END
$$;
COMMENT ON FUNCTION bandit.format_number(float8) IS
    'A number as reports print it: four significant digits, scientific notation below 1e-4 and from 1e9; n/a for NULL';

-- Decisions

CREATE FUNCTION bandit.decide(experiment text, metric text)
RETURNS TABLE(decision text, winner text, reason text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    alpha float8 := (e.params->>'alpha')::float8;
    sequential boolean := (e.params->>'sequential')::boolean;
    threshold float8 := CASE WHEN (e.params->>'sequential')::boolean THEN (e.params->>'alpha')::float8
                             ELSE (e.params->>'early_alpha')::float8 END;
    min_n bigint := (e.params->>'min_sample_size')::bigint;
    max_n bigint := (e.params->>'max_sample_size')::bigint;
    min_effect float8 := (e.params->>'min_effect')::float8;
    rows bandit.variant_result[];
    control record;
    r record;
    best record;
    short record;
    treatments int := 0;
    losing int := 0;
    weak int := 0;
    smallest_p float8;
    effect float8;
    power float8;
    largest_power float8 := 0;
BEGIN
    rows := ARRAY(SELECT ROW(a.*)::bandit.variant_result FROM bandit.analyze(experiment, metric) a);
    SELECT * INTO control FROM unnest(rows) LIMIT 1;
    IF control.srm_p_value < 0.001 THEN
        RETURN QUERY SELECT 'continue', NULL::text, control.warning || '; fix the assignment before deciding anything';
        RETURN;
    END IF;
    SELECT * INTO short FROM unnest(rows) d WHERE d.n < min_n ORDER BY d.n LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'continue', NULL::text,
            format('%s has %s observations of the %s needed per variant before any decision', short.variant, short.n, min_n);
        RETURN;
    END IF;
    SELECT * INTO best FROM unnest(rows) d
    WHERE d.adjusted_p_value < threshold AND d.diff > 0 AND d.diff >= min_effect
    ORDER BY d.diff DESC LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'stop_success', best.variant,
            format('%s beats %s by %s (%s relative) with %s p = %s (Holm-adjusted) < %s%s',
                   best.variant, control.variant, bandit.format_number(best.diff),
                   coalesce(bandit.format_number(100 * best.relative_lift) || ' %', 'no'),
                   CASE WHEN sequential THEN 'always-valid' ELSE best.test END,
                   bandit.format_number(best.adjusted_p_value), threshold,
                   CASE WHEN min_effect > 0 THEN format(', at least the minimum effect %s', min_effect) ELSE '' END);
        RETURN;
    END IF;
    SELECT count(*), count(*) FILTER (WHERE d.adjusted_p_value < threshold AND d.diff < 0), min(d.adjusted_p_value)
    INTO treatments, losing, smallest_p
    FROM unnest(rows) d WHERE d.variant <> control.variant;
    IF treatments > 0 AND losing = treatments THEN
        RETURN QUERY SELECT 'stop_failure', control.variant::text,
            format('%s beats every treatment: each is worse with p < %s (Holm-adjusted)', control.variant, threshold);
        RETURN;
    END IF;
    IF max_n IS NOT NULL THEN
        FOR r IN SELECT * FROM unnest(rows) d WHERE d.variant <> control.variant LOOP
            effect := CASE WHEN min_effect > 0 THEN min_effect ELSE abs(coalesce(r.diff, 0)) END;
            IF r.test IN ('chi-square', 'fisher') OR (r.test = 'msprt' AND control.sd IS NULL) THEN
                power := bandit.power_proportions(control.mean,
                    CASE WHEN control.mean + effect < 1 THEN control.mean + effect ELSE control.mean - effect END, max_n, alpha);
            ELSE
                power := bandit.power_t_test(effect / nullif(sqrt((control.sd ^ 2 + r.sd ^ 2) / 2), 0), max_n, alpha);
            END IF;
            largest_power := greatest(largest_power, coalesce(power, 1));
            weak := weak + (coalesce(power, 1) < 0.2)::int;
        END LOOP;
        IF weak = treatments AND treatments > 0 THEN
            RETURN QUERY SELECT 'stop_futility', NULL::text,
                format('at the planned %s observations per variant the power to detect %s is at most %s, below 0.2',
                       max_n, CASE WHEN min_effect > 0 THEN 'the minimum effect ' || min_effect ELSE 'the observed effect' END,
                       bandit.format_number(largest_power));
            RETURN;
        END IF;
        IF (SELECT min(d.n) FROM unnest(rows) d) >= max_n THEN
            RETURN QUERY SELECT 'stop_futility', NULL::text,
                format('the planned %s observations per variant are reached without a significant difference', max_n);
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT 'continue', NULL::text,
        format('no significant difference yet: smallest Holm-adjusted p = %s, needs < %s', coalesce(bandit.format_number(smallest_p), 'none'), threshold);
END
$$;
COMMENT ON FUNCTION bandit.decide(text, text) IS
    'What to do with an experiment on one metric: continue, stop_success (a treatment beats the control with Holm-adjusted p below alpha if sequential, else early_alpha, by at least min_effect; winner names the largest), stop_failure (the control beats every treatment so), stop_futility (with max_sample_size: power at that size to detect min_effect, or the observed effect when min_effect is 0, below 0.2 for every treatment, or the size reached). Never stops before min_sample_size per variant or on a sample-ratio mismatch. reason says why in words';

-- A text report for psql

CREATE FUNCTION bandit.report(experiment text, metric text) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    width constant int := 40;
    rows bandit.variant_result[];
    lowest float8;
    highest float8;
    name_width int;
    r record;
    d record;
    first int;
    last int;
    center int;
    bar text;
BEGIN
    rows := ARRAY(SELECT ROW(a.*)::bandit.variant_result FROM bandit.analyze(experiment, metric) a);
    SELECT min(t.ci_lower), max(t.ci_upper), greatest(7, max(length(t.variant))) INTO lowest, highest, name_width
    FROM unnest(rows) t;
    RETURN NEXT format('experiment %s (%s), metric %s, intervals at %s %%%s', e.name, e.status, metric,
                       100 * (1 - (e.params->>'alpha')::float8),
                       CASE WHEN (e.params->>'sequential')::boolean THEN ', sequential (always valid)' ELSE '' END);
    IF e.hypothesis IS NOT NULL THEN
        RETURN NEXT 'hypothesis: ' || e.hypothesis;
    END IF;
    RETURN NEXT format('%s %10s %12s  %-25s %s', rpad('variant', name_width), 'n', 'mean', 'interval',
                       '├' || repeat('─', width) || '┤');
    FOR r IN SELECT * FROM unnest(rows) LOOP
        IF r.ci_lower IS NULL OR highest IS NULL OR highest <= lowest THEN
            bar := repeat(' ', width);
        ELSE
            first := least(width, 1 + floor((r.ci_lower - lowest) / (highest - lowest) * width)::int);
            last := least(width, 1 + floor((r.ci_upper - lowest) / (highest - lowest) * width)::int);
            center := least(width, 1 + floor((r.mean - lowest) / (highest - lowest) * width)::int);
            bar := repeat(' ', first - 1) || repeat('━', last - first + 1) || repeat(' ', width - last);
            bar := overlay(bar PLACING '●' FROM center FOR 1);
        END IF;
        RETURN NEXT format('%s %10s %12s  %-25s │%s│', rpad(r.variant, name_width), r.n, bandit.format_number(r.mean),
                           CASE WHEN r.ci_lower IS NULL THEN '' ELSE format('[%s, %s]', bandit.format_number(r.ci_lower),
                                                                            bandit.format_number(r.ci_upper)) END,
                           bar);
    END LOOP;
    RETURN NEXT format('%s %10s %12s  %-25s %s', rpad('', name_width), '', '', '',
                       rpad(coalesce(bandit.format_number(lowest), ''), width - 8) || lpad(coalesce(bandit.format_number(highest), ''), 10));
    FOR r IN SELECT * FROM unnest(rows) OFFSET 1 LOOP
        RETURN NEXT format('%s vs control: difference %s%s, interval [%s, %s], p = %s (Holm %s, %s), P(best) = %s%s%s',
                           r.variant, CASE WHEN r.diff >= 0 THEN '+' ELSE '' END || bandit.format_number(r.diff),
                           coalesce(format(' (%s%s %%)', CASE WHEN r.relative_lift >= 0 THEN '+' ELSE '' END,
                                           bandit.format_number(100 * r.relative_lift)), ''),
                           bandit.format_number(r.diff_ci_lower), bandit.format_number(r.diff_ci_upper),
                           bandit.format_number(r.p_value), bandit.format_number(r.adjusted_p_value), coalesce(r.test, 'no test'),
                           bandit.format_number(r.prob_best),
                           CASE WHEN r.significant THEN ' — significant' ELSE '' END,
                           coalesce(' — ' || r.warning, ''));
    END LOOP;
    SELECT * INTO d FROM bandit.decide(experiment, metric);
    RETURN NEXT format('decision: %s%s — %s', d.decision, coalesce(' (' || d.winner || ')', ''), d.reason);
END
$$;
COMMENT ON FUNCTION bandit.report(text, text) IS
    'A text report of an experiment on one metric for psql (SELECT * FROM bandit.report(...)): each variant''s n, mean and interval drawn with Unicode bars on one common axis (● the mean), each treatment against the control, and the decision';

-- src/normal.sql
-- Bayesian comparison of normal posteriors (src/normal.c).

CREATE FUNCTION bandit.normal_prob_best(mean float8[], sd float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_normal_prob_best' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.normal_prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ N(mean_i, sd_i^2), by deterministic Gauss-Kronrod quadrature (accurate to 1e-9 absolute); sd_i = 0 is a point mass, and equal point masses that tie for the largest share their chance equally';

CREATE FUNCTION bandit.normal_expected_loss(mean float8[], sd float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_normal_expected_loss' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.normal_expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ N(mean_i, sd_i^2) (sd_i = 0: a point mass): what choosing arm i costs in expectation';

-- src/ope.sql
-- Off-policy evaluation aggregates: IPS, SNIPS, doubly robust (src/ope.c).

CREATE TYPE bandit.ope_estimate AS (
    estimate float8,
    std_error float8,
    ci_lower float8,
    ci_upper float8,
    n bigint
);
COMMENT ON TYPE bandit.ope_estimate IS
    'Off-policy value estimate: estimate, its standard error, normal 95% confidence interval, number of logged rows';

CREATE FUNCTION bandit.ips_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_ips_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ips_accum(float8[], float8, float8, float8) IS
    'Transition of bandit.ips: moments of w r, w = target_propensity / logging_propensity';

CREATE FUNCTION bandit.dr_accum(float8[], float8, float8, float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_dr_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.dr_accum(float8[], float8, float8, float8, float8, float8) IS
    'Transition of bandit.dr: moments of reward_hat_target + w (reward - reward_hat_logged)';

CREATE FUNCTION bandit.ope_moments_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_ope_moments_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ope_moments_combine(float8[], float8[]) IS
    'Combine of bandit.ips and bandit.dr: merges count, mean and squared deviations (Chan)';

CREATE FUNCTION bandit.ope_moments_final(float8[]) RETURNS bandit.ope_estimate
    AS 'MODULE_PATHNAME', 'bandit_ope_moments_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ope_moments_final(float8[]) IS
    'Final of bandit.ips and bandit.dr: mean of the per-row terms, se = sd / sqrt(n), normal 95% interval';

CREATE FUNCTION bandit.snips_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_snips_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_accum(float8[], float8, float8, float8) IS
    'Transition of bandit.snips: w- and w^2-weighted moments of the reward';

CREATE FUNCTION bandit.snips_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_snips_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_combine(float8[], float8[]) IS
    'Combine of bandit.snips: merges the weighted moments';

CREATE FUNCTION bandit.snips_final(float8[]) RETURNS bandit.ope_estimate
    AS 'MODULE_PATHNAME', 'bandit_snips_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_final(float8[]) IS
    'Final of bandit.snips: sum w r / sum w, delta-method se sqrt(sum w^2 (r - V)^2) / sum w, normal 95% interval';

CREATE AGGREGATE bandit.ips(reward float8, target_propensity float8, logging_propensity float8) (
    SFUNC = bandit.ips_accum,
    STYPE = float8[],
    FINALFUNC = bandit.ope_moments_final,
    COMBINEFUNC = bandit.ope_moments_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.ips(float8, float8, float8) IS
    'Inverse propensity scoring estimate of a target policy''s value from logged rows: mean of w reward, w = target_propensity / logging_propensity (target in [0, 1], logging in (0, 1]); se = sd(w reward) / sqrt(n) (NULL below 2 rows), normal 95% interval; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.snips(reward float8, target_propensity float8, logging_propensity float8) (
    SFUNC = bandit.snips_accum,
    STYPE = float8[],
    FINALFUNC = bandit.snips_final,
    COMBINEFUNC = bandit.snips_combine,
    INITCOND = '{0,0,0,0,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.snips(float8, float8, float8) IS
    'Self-normalized IPS estimate: V = sum w reward / sum w, w = target_propensity / logging_propensity; delta-method se sqrt(sum w^2 (reward - V)^2) / sum w (NULL below 2 rows), normal 95% interval; estimate NULL when every w is 0; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.dr(reward float8, target_propensity float8, logging_propensity float8,
                           reward_hat_logged float8, reward_hat_target float8) (
    SFUNC = bandit.dr_accum,
    STYPE = float8[],
    FINALFUNC = bandit.ope_moments_final,
    COMBINEFUNC = bandit.ope_moments_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.dr(float8, float8, float8, float8, float8) IS
    'Doubly robust estimate: mean of reward_hat_target + w (reward - reward_hat_logged), w = target_propensity / logging_propensity, with reward_hat_logged the model''s prediction for the logged arm and reward_hat_target its expected prediction under the target policy; se = sd / sqrt(n) (NULL below 2 rows), normal 95% interval; rows with a NULL are skipped, no rows give NULL';

-- src/policy.sql
-- Policies: online learning over tables (src/policy.c holds the hot path,
-- choose and reward; the management functions are here).
--
-- Concurrency design: choose takes no locks (it reads the committed arm rows
-- and inserts its decision); reward updates the decision row (unique, so
-- never contended) and then the arm row with one UPDATE whose arithmetic
-- runs in the server, so the arm's row lock is held from that statement to
-- commit and no longer.  The arm table has fillfactor 50 and no index on
-- the columns that change, so those updates are HOT.

CREATE TABLE bandit.policy (
    name text PRIMARY KEY,
    algorithm text NOT NULL
        CHECK (algorithm IN ('thompson', 'ucb1', 'epsilon_greedy', 'softmax', 'linucb')),
    params jsonb NOT NULL,
    mode text NOT NULL DEFAULT 'active' CHECK (mode IN ('active', 'shadow', 'off')),
    default_arm text NOT NULL,
    decisions bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE bandit.policy IS
    'Bandit policies: algorithm, parameters (all keys, defaults filled in), mode, default arm, and decisions made (counted when epsilon decays per decision)';

CREATE TABLE bandit.arm (
    policy text NOT NULL REFERENCES bandit.policy (name) ON DELETE CASCADE,
    arm text NOT NULL,
    alpha float8 NOT NULL,
    beta float8 NOT NULL,
    pulls bigint NOT NULL DEFAULT 0,
    weight float8 NOT NULL DEFAULT 0,
    mean_reward float8 NOT NULL DEFAULT 0,
    m2 float8 NOT NULL DEFAULT 0,
    cost float8,
    latency_ms float8,
    a_inv float8[],
    b float8[],
    retired boolean NOT NULL DEFAULT false,
    added_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_update timestamptz,
    PRIMARY KEY (policy, arm)
) WITH (fillfactor = 50);
COMMENT ON TABLE bandit.arm IS
    'Arms of each policy and what it learned: Beta posterior (alpha, beta), rewards credited (pulls), their discounted weight, mean and m2 (weighted Welford), budget estimates (cost, latency_ms), LinUCB state (a_inv = inverse of A, b)';

CREATE TABLE bandit.decision (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    policy text NOT NULL,
    arm text NOT NULL,
    propensity float8 NOT NULL,
    policy_arm text,
    policy_propensity float8,
    mode text NOT NULL,
    context jsonb,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reward float8,
    rewarded_at timestamptz
);
CREATE INDEX decision_policy_created_at ON bandit.decision (policy, created_at);
COMMENT ON TABLE bandit.decision IS
    'Decision log: the arm served and the probability it had (propensity), what the policy itself chose (policy_arm, policy_propensity; differs in shadow mode), the context, and the reward once credited';

CREATE TABLE bandit.snapshot (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    policy text NOT NULL,
    label text,
    taken_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    policy_row jsonb NOT NULL,
    arms jsonb NOT NULL
);
COMMENT ON TABLE bandit.snapshot IS 'Saved copies of a policy''s whole learned state, for bandit.restore';

CREATE TABLE bandit.audit (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    policy text NOT NULL,
    action text NOT NULL,
    detail jsonb,
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    by_user text NOT NULL DEFAULT current_user
);
CREATE INDEX audit_policy_at ON bandit.audit (policy, at);
COMMENT ON TABLE bandit.audit IS
    'Audit trail of every change to a policy''s configuration or state: create, arm_added, arm_retired, mode, snapshot, restore';

SELECT pg_catalog.pg_extension_config_dump('bandit.policy', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.arm', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.decision', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.audit', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.decision_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.snapshot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.audit_id_seq', '');

-- The parameters of a policy, checked, with their defaults filled in.
CREATE FUNCTION bandit.policy_params(algorithm text, arms text[], params jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    defaults constant jsonb := '{"prior_alpha": 1, "prior_beta": 1, "epsilon": 0.1, "epsilon_decay": 1.0,
        "min_epsilon": 0, "c": 1, "temperature": 0.1, "discount": 1.0, "alpha": 1.0, "dim": null,
        "mode": "active", "default_arm": null}';
    result jsonb;
    k text;
    v jsonb;
BEGIN
    PERFORM bandit.check_param_keys(params, defaults);
    result := defaults || jsonb_build_object('default_arm', arms[1]) || jsonb_strip_nulls(params);
    FOR k, v IN SELECT * FROM jsonb_each(result) LOOP
        CONTINUE WHEN k IN ('mode', 'default_arm') OR (k = 'dim' AND v = 'null');
        IF jsonb_typeof(v) <> 'number' THEN
            RAISE EXCEPTION 'parameter "%" must be a number, got %', k, v USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF (result->>'prior_alpha')::float8 <= 0 OR (result->>'prior_beta')::float8 <= 0 THEN
        RAISE EXCEPTION 'prior_alpha and prior_beta must be positive' USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon')::float8 NOT BETWEEN 0 AND 1 OR (result->>'min_epsilon')::float8 NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'epsilon and min_epsilon must be between 0 and 1' USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon_decay')::float8 <= 0 OR (result->>'epsilon_decay')::float8 > 1 THEN
        RAISE EXCEPTION 'epsilon_decay must be in (0, 1], got %', result->>'epsilon_decay' USING ERRCODE = '22003';
    END IF;
    IF (result->>'discount')::float8 <= 0 OR (result->>'discount')::float8 > 1 THEN
        RAISE EXCEPTION 'discount must be in (0, 1], got %', result->>'discount' USING ERRCODE = '22003';
    END IF;
    IF (result->>'c')::float8 < 0 OR (result->>'alpha')::float8 < 0 THEN
        RAISE EXCEPTION 'c and alpha must not be negative' USING ERRCODE = '22003';
    END IF;
    IF (result->>'temperature')::float8 <= 0 THEN
        RAISE EXCEPTION 'temperature must be positive, got %', result->>'temperature' USING ERRCODE = '22003';
    END IF;
    IF NOT result->>'mode' = ANY ('{active,shadow,off}') THEN
        RAISE EXCEPTION 'mode must be active, shadow or off, got %', result->>'mode' USING ERRCODE = '22023';
    END IF;
    IF NOT result->>'default_arm' = ANY (arms) THEN
        RAISE EXCEPTION 'default_arm "%" is not one of the arms', result->>'default_arm' USING ERRCODE = '22023';
    END IF;
    IF algorithm = 'linucb' THEN
        IF result->'dim' = 'null' THEN
            RAISE EXCEPTION 'linucb needs the parameter "dim"' USING ERRCODE = '22023';
        END IF;
        IF (result->>'dim')::float8 <> trunc((result->>'dim')::float8) OR (result->>'dim')::float8 NOT BETWEEN 1 AND 1024 THEN
            RAISE EXCEPTION 'dim must be an integer from 1 to 1024, got %', result->>'dim' USING ERRCODE = '22003';
        END IF;
        IF (result->>'discount')::float8 <> 1 THEN
            RAISE EXCEPTION 'discount applies to thompson, ucb1, epsilon_greedy and softmax, not linucb'
                USING ERRCODE = '22023',
                      HINT = 'Discounting A would also decay its identity prior, and A^-1 would blow up in unseen directions.';
        END IF;
    ELSIF result->'dim' <> 'null' THEN
        RAISE EXCEPTION 'dim applies to linucb only' USING ERRCODE = '22023';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION bandit.policy_params(text, text[], jsonb) IS
    'Checks a policy''s parameters and fills in the defaults; used by bandit.create_policy';

-- LinUCB starts from A = I: A^-1 = I, b = 0.
CREATE FUNCTION bandit.identity_matrix(dim integer) RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(CASE WHEN i / dim = i % dim THEN 1.0 ELSE 0.0 END ORDER BY i)::float8[]
      FROM generate_series(0, dim * dim - 1) i $$;
COMMENT ON FUNCTION bandit.identity_matrix(integer) IS 'The dim x dim identity, row-major, as LinUCB''s initial A^-1';

CREATE FUNCTION bandit.policy_row(policy text) RETURNS bandit.policy
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy;
BEGIN
    SELECT * INTO p FROM bandit.policy t WHERE t.name = policy_row.policy;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'policy "%" does not exist', policy USING ERRCODE = '42704';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION bandit.policy_row(text) IS 'The policy''s row; an unknown policy is an error (42704)';

CREATE FUNCTION bandit.new_arm(p bandit.policy, arm_name text) RETURNS bandit.arm
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ROW(p.name, arm_name, (p.params->>'prior_alpha')::float8, (p.params->>'prior_beta')::float8,
               0, 0, 0, 0, NULL, NULL,
               CASE WHEN p.algorithm = 'linucb' THEN bandit.identity_matrix((p.params->>'dim')::int) END,
               CASE WHEN p.algorithm = 'linucb' THEN array_fill(0::float8, ARRAY[(p.params->>'dim')::int]) END,
               false, now(), NULL)::bandit.arm
$$;
COMMENT ON FUNCTION bandit.new_arm(bandit.policy, text) IS 'An arm that has learned nothing yet: the prior';

CREATE FUNCTION bandit.create_policy(name text, algorithm text, arms text[], params jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    full_params jsonb;
    p bandit.policy;
BEGIN
    IF name IS NULL OR algorithm IS NULL OR arms IS NULL THEN
        RAISE EXCEPTION 'name, algorithm and arms must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT algorithm = ANY ('{thompson,ucb1,epsilon_greedy,softmax,linucb}') THEN
        RAISE EXCEPTION 'unknown algorithm "%"', algorithm
            USING ERRCODE = '22023', HINT = 'Use thompson, ucb1, epsilon_greedy, softmax or linucb.';
    END IF;
    IF cardinality(arms) = 0 OR array_position(arms, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'arms must be a non-empty array without NULLs' USING ERRCODE = '22023';
    END IF;
    IF (SELECT count(DISTINCT a) FROM unnest(arms) a) <> cardinality(arms) THEN
        RAISE EXCEPTION 'arms must be distinct' USING ERRCODE = '23505';
    END IF;
    full_params := bandit.policy_params(algorithm, arms, params);
    INSERT INTO bandit.policy (name, algorithm, params, mode, default_arm)
    VALUES (create_policy.name, create_policy.algorithm, jsonb_strip_nulls(full_params - 'mode' - 'default_arm'),
            full_params->>'mode', full_params->>'default_arm')
    ON CONFLICT DO NOTHING
    RETURNING * INTO p;
    IF p IS NULL THEN
        RAISE EXCEPTION 'policy "%" already exists', name USING ERRCODE = '23505';
    END IF;
    INSERT INTO bandit.arm SELECT (bandit.new_arm(p, a)).* FROM unnest(arms) a;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'create', jsonb_build_object('algorithm', p.algorithm, 'arms', arms, 'params', full_params));
END
$$;
COMMENT ON FUNCTION bandit.create_policy(text, text, text[], jsonb) IS
    'Creates a policy over arms; algorithm thompson, ucb1, epsilon_greedy, softmax or linucb; params prior_alpha, prior_beta (1, 1), epsilon (0.1), epsilon_decay (1), min_epsilon (0), c (1), temperature (0.1), discount (1), alpha and dim (LinUCB), mode (active), default_arm (the first arm); unknown keys are an error';

CREATE FUNCTION bandit.check_budget(cost float8, latency_ms float8) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cost < 0 OR latency_ms < 0 OR cost = 'NaN' OR latency_ms = 'NaN' OR cost = 'Infinity' OR latency_ms = 'Infinity' THEN
        RAISE EXCEPTION 'cost and latency_ms must be finite and not negative' USING ERRCODE = '22003';
    END IF;
END
$$;
COMMENT ON FUNCTION bandit.check_budget(float8, float8) IS
    'Checks an arm''s cost and latency estimates (NULL: unknown); used by bandit.add_arm and bandit.set_arm_budget';

CREATE FUNCTION bandit.add_arm(policy text, arm text, cost float8 DEFAULT NULL, latency_ms float8 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    a bandit.arm;
BEGIN
    IF arm IS NULL THEN
        RAISE EXCEPTION 'arm must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_budget(cost, latency_ms);
    a := bandit.new_arm(p, arm);
    a.cost := cost;
    a.latency_ms := latency_ms;
    INSERT INTO bandit.arm SELECT a.* ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'arm "%" already exists in policy "%"', arm, policy USING ERRCODE = '23505';
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'arm_added', jsonb_build_object('arm', arm, 'cost', cost, 'latency_ms', latency_ms));
END
$$;
COMMENT ON FUNCTION bandit.add_arm(text, text, float8, float8) IS
    'Adds an arm to a policy, starting from the prior, with optional cost and latency estimates for budget shields';

CREATE FUNCTION bandit.set_arm_budget(policy text, arm text, cost float8, latency_ms float8)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.policy_row(policy);
    PERFORM bandit.check_budget(cost, latency_ms);
    UPDATE bandit.arm a SET cost = set_arm_budget.cost, latency_ms = set_arm_budget.latency_ms
    WHERE a.policy = set_arm_budget.policy AND a.arm = set_arm_budget.arm;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'arm "%" does not exist in policy "%"', arm, policy USING ERRCODE = '42704';
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (policy, 'arm_budget', jsonb_build_object('arm', arm, 'cost', cost, 'latency_ms', latency_ms));
END
$$;
COMMENT ON FUNCTION bandit.set_arm_budget(text, text, float8, float8) IS
    'Sets an arm''s cost and latency estimates (NULL: unknown, never over budget)';

CREATE FUNCTION bandit.retire_arm(policy text, arm text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    IF arm = p.default_arm THEN
        RAISE EXCEPTION 'arm "%" is the default arm of policy "%" and cannot be retired', arm, policy
            USING ERRCODE = '22023';
    END IF;
    UPDATE bandit.arm a SET retired = true WHERE a.policy = p.name AND a.arm = retire_arm.arm AND NOT a.retired;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'arm "%" is not an active arm of policy "%"', arm, policy USING ERRCODE = '42704';
    END IF;
    INSERT INTO bandit.audit (policy, action, detail) VALUES (p.name, 'arm_retired', jsonb_build_object('arm', arm));
END
$$;
COMMENT ON FUNCTION bandit.retire_arm(text, text) IS
    'Retires an arm: it is never chosen again, keeps what it learned, and still takes rewards of earlier decisions';

CREATE FUNCTION bandit.set_mode(policy text, mode text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    IF mode IS NULL OR NOT mode = ANY ('{active,shadow,off}') THEN
        RAISE EXCEPTION 'mode must be active, shadow or off, got %', mode USING ERRCODE = '22023';
    END IF;
    UPDATE bandit.policy SET mode = set_mode.mode, updated_at = now() WHERE name = p.name;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'mode', jsonb_build_object('from', p.mode, 'to', mode));
END
$$;
COMMENT ON FUNCTION bandit.set_mode(text, text) IS
    'active: serve the policy''s choice; shadow: serve the default arm and log what the policy would have chosen; off: serve the default arm';

CREATE FUNCTION bandit.snapshot(policy text, label text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    snapshot_id bigint;
BEGIN
    INSERT INTO bandit.snapshot (policy, label, policy_row, arms)
    SELECT p.name, label, to_jsonb(p),
           coalesce((SELECT jsonb_agg(to_jsonb(a) ORDER BY a.arm) FROM bandit.arm a WHERE a.policy = p.name), '[]')
    RETURNING id INTO snapshot_id;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'snapshot', jsonb_build_object('snapshot_id', snapshot_id, 'label', label));
    RETURN snapshot_id;
END
$$;
COMMENT ON FUNCTION bandit.snapshot(text, text) IS
    'Saves the policy''s whole learned state (configuration and every arm, exactly); returns the snapshot id for bandit.restore';

CREATE FUNCTION bandit.restore(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bandit.snapshot;
    p bandit.policy;
BEGIN
    SELECT * INTO s FROM bandit.snapshot WHERE id = snapshot_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'snapshot % does not exist', snapshot_id USING ERRCODE = '42704';
    END IF;
    p := jsonb_populate_record(NULL::bandit.policy, s.policy_row);
    -- lock the policy: concurrent rewards wait for the restore, not the other way round
    PERFORM 1 FROM bandit.policy WHERE name = p.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'policy "%" of snapshot % no longer exists', p.name, snapshot_id USING ERRCODE = '42704';
    END IF;
    UPDATE bandit.policy SET algorithm = p.algorithm, params = p.params, mode = p.mode,
                             default_arm = p.default_arm, decisions = p.decisions, updated_at = now()
    WHERE name = p.name;
    -- update arms in place, so that a reward waiting on an arm's row lock
    -- follows the row and lands on the restored state
    UPDATE bandit.arm a SET alpha = r.alpha, beta = r.beta, pulls = r.pulls, weight = r.weight,
           mean_reward = r.mean_reward, m2 = r.m2, cost = r.cost, latency_ms = r.latency_ms,
           a_inv = r.a_inv, b = r.b, retired = r.retired, added_at = r.added_at, last_update = r.last_update
    FROM jsonb_populate_recordset(NULL::bandit.arm, s.arms) r
    WHERE a.policy = p.name AND a.arm = r.arm;
    DELETE FROM bandit.arm a WHERE a.policy = p.name
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.arms) e WHERE e->>'arm' = a.arm);
    INSERT INTO bandit.arm
    SELECT r.* FROM jsonb_populate_recordset(NULL::bandit.arm, s.arms) r
    WHERE NOT EXISTS (SELECT 1 FROM bandit.arm a WHERE a.policy = p.name AND a.arm = r.arm);
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'restore', jsonb_build_object('snapshot_id', snapshot_id, 'label', s.label, 'taken_at', s.taken_at));
END
$$;
COMMENT ON FUNCTION bandit.restore(bigint) IS
    'Puts back a policy''s whole learned state exactly as a snapshot saved it (arms added since are removed)';

CREATE FUNCTION bandit.arm_stats(policy text)
RETURNS TABLE (arm text, pulls bigint, mean_reward float8, alpha float8, beta float8, prob_best float8,
               variance float8, weight float8, cost float8, latency_ms float8, retired boolean,
               last_update timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    RETURN QUERY
    WITH active AS (
        SELECT array_agg(a.arm ORDER BY a.arm) arms, array_agg(a.alpha ORDER BY a.arm) alphas,
               array_agg(a.beta ORDER BY a.arm) betas
        FROM bandit.arm a WHERE a.policy = p.name AND NOT a.retired),
    best AS (
        SELECT x.arm, x.p FROM active,
        LATERAL unnest(active.arms, bandit.prob_best(active.alphas, active.betas)) x(arm, p))
    SELECT a.arm, a.pulls, CASE WHEN a.weight > 0 THEN a.mean_reward END, a.alpha, a.beta, best.p,
           CASE WHEN a.weight > 1 THEN a.m2 / (a.weight - 1) END, a.weight, a.cost, a.latency_ms,
           a.retired, a.last_update
    FROM bandit.arm a LEFT JOIN best ON best.arm = a.arm
    WHERE a.policy = p.name
    ORDER BY a.arm;
END
$$;
COMMENT ON FUNCTION bandit.arm_stats(text) IS
    'One row per arm: rewards credited (pulls), mean reward, Beta posterior, probability to be the best active arm under it (exact quadrature; NULL for retired arms), reward variance, discounted weight, budget estimates, retired, last update';

CREATE FUNCTION bandit.choose(policy text, context jsonb DEFAULT NULL)
RETURNS TABLE (decision_id bigint, arm text, propensity float8)
AS 'MODULE_PATHNAME', 'bandit_choose' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.choose(text, jsonb) IS
    'Chooses an arm and logs the decision; propensity is the probability this arm had (Thompson: exact P(best) by quadrature; epsilon-greedy and softmax: exact; UCB1 and LinUCB: 1 / number of tied arms). Context {"max_cost": x, "max_latency_ms": y} serves only arms within budget (unknown estimates fit), else the default arm; for LinUCB context->''features'' is the feature vector, otherwise its keys are hashed into dim features';

CREATE FUNCTION bandit.reward(decision_id bigint, reward float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_decision' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.reward(bigint, float8) IS
    'Credits a logged decision exactly once (a second reward is error 23505 and changes nothing); Thompson takes rewards in [0, 1]';

CREATE FUNCTION bandit.reward(policy text, arm text, reward float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_arm' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.reward(text, text, float8) IS
    'Credits an arm directly, without a logged decision (not for LinUCB, which learns from a decision''s context)';

CREATE FUNCTION bandit.reward(decision_ids bigint[], rewards float8[]) RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_reward_batch' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.reward(bigint[], float8[]) IS
    'Credits many decisions in one statement, e.g. SELECT bandit.reward(array_agg(decision_id), array_agg(reward)) FROM events; all or nothing; returns the number credited';

CREATE FUNCTION bandit.recommend(policy text, k integer DEFAULT 3, context jsonb DEFAULT NULL)
RETURNS TABLE (arm text, score float8, rank integer)
AS 'MODULE_PATHNAME', 'bandit_recommend' LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.recommend(text, integer, jsonb) IS
    'The top k active arms within the context''s budget, ranked without logging a decision: Thompson by probability to be best, UCB1 and LinUCB by upper confidence bound, epsilon-greedy by mean reward, softmax by choice probability';

CREATE FUNCTION bandit.hash_features(context jsonb, dim integer) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_hash_features' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.hash_features(jsonb, integer) IS
    'The hashing trick on a flat JSON object: each numeric or boolean key, and each key=value string, adds its value with a hashed sign to one of dim features';

COMMENT ON SEQUENCE bandit.decision_id_seq IS 'Ids of bandit.decision';
COMMENT ON SEQUENCE bandit.snapshot_id_seq IS 'Ids of bandit.snapshot';
COMMENT ON SEQUENCE bandit.audit_id_seq IS 'Ids of bandit.audit';

-- src/power.sql
CREATE FUNCTION bandit.nct_cdf(x float8, df float8, nc float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_nct_cdf'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.nct_cdf(float8, float8, float8) IS
    'Noncentral t distribution: P(T <= x) for df degrees of freedom and noncentrality nc, as scipy.stats.nct.cdf';

CREATE FUNCTION bandit.nct_sf(x float8, df float8, nc float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_nct_sf'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.nct_sf(float8, float8, float8) IS
    'Noncentral t distribution: P(T > x), computed directly (accurate in the far tail), as scipy.stats.nct.sf';

CREATE FUNCTION bandit.power_t_test(effect_size float8, n_per_group float8,
                                    alpha float8 DEFAULT 0.05,
                                    alternative text DEFAULT 'two-sided') RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_power_t_test'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.power_t_test(float8, float8, float8, text) IS
    'Power of the pooled two-sample t-test with n_per_group in each group for standardized effect size (Cohen''s d), as statsmodels TTestIndPower().power(effect_size, nobs1=n_per_group, alpha, ratio=1)';

CREATE FUNCTION bandit.sample_size_t_test(effect_size float8, power float8 DEFAULT 0.8,
                                          alpha float8 DEFAULT 0.05,
                                          alternative text DEFAULT 'two-sided') RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_sample_size_t_test'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.sample_size_t_test(float8, float8, float8, text) IS
    'Observations per group (unrounded) for the pooled two-sample t-test to reach power at level alpha, as statsmodels TTestIndPower().solve_power(nobs1=None); round up for a plan';

CREATE FUNCTION bandit.power_proportions(p1 float8, p2 float8, n_per_group float8,
                                         alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_power_proportions'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.power_proportions(float8, float8, float8, float8) IS
    'Power of the two-sided two-proportion z-test with n_per_group in each group, on Cohen''s h, as statsmodels NormalIndPower().power(proportion_effectsize(p1, p2), n_per_group, alpha)';

CREATE FUNCTION bandit.sample_size_proportions(p1 float8, p2 float8, power float8 DEFAULT 0.8,
                                               alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_sample_size_proportions'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.sample_size_proportions(float8, float8, float8, float8) IS
    'Observations per group (unrounded) for the two-sided two-proportion z-test to reach power at level alpha, as statsmodels NormalIndPower().solve_power on Cohen''s h; round up for a plan';

-- src/prior.sql
-- Reinforcement priors from federated (aggregated) signals.
--
-- A signal is one aggregation round of one cluster: per key, a success rate,
-- mean latency, mean quality and sample count pooled over the participants.
-- bandit.apply_signal folds it into bandit.prior exactly once: the signal's
-- row in bandit.prior_signal, inserted with ON CONFLICT DO NOTHING in the
-- same transaction as the prior updates, is the gate.  A concurrent apply of
-- the same signal waits on that primary key until the first commits (then it
-- is a replay and returns 0) or rolls back (then it applies the signal);
-- under REPEATABLE READ or SERIALIZABLE that wait ends in a serialization
-- failure (40001) instead, to be retried as usual.
-- Priors are upserted in key order, so signals sharing keys never deadlock.

CREATE TABLE bandit.prior (
    key text PRIMARY KEY,
    success_rate float8 NOT NULL CHECK (success_rate BETWEEN 0 AND 1),
    latency_ms float8 NOT NULL CHECK (latency_ms >= 0 AND latency_ms <> 'Infinity'),
    quality float8 NOT NULL CHECK (quality BETWEEN 0 AND 1),
    sample_count float8 NOT NULL CHECK (sample_count >= 0 AND sample_count <> 'Infinity'),
    confidence float8 NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    last_updated timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE bandit.prior IS
    'Priors learned from aggregated signals, one per key: Beta-pooled success rate, sample-weighted mean latency (ms) and quality, samples seen, confidence = sample_count / (sample_count + 100), time of the last signal';

CREATE TABLE bandit.prior_signal (
    cluster_hash text NOT NULL,
    aggregation_round bigint NOT NULL,
    participant_count bigint NOT NULL,
    keys_updated integer NOT NULL,
    signal_sha256 bytea NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    replays bigint NOT NULL DEFAULT 0,
    last_replayed_at timestamptz,
    PRIMARY KEY (cluster_hash, aggregation_round)
);
COMMENT ON TABLE bandit.prior_signal IS
    'Signals applied to bandit.prior, one per (cluster_hash, aggregation_round): participants, priors updated, SHA-256 of the signal''s jsonb text, when applied, and how often it was replayed (applied again, changing nothing); bandit.cleanup_priors keeps these rows, so an old round is never applied twice';

SELECT pg_catalog.pg_extension_config_dump('bandit.prior', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.prior_signal', '');

-- One number of a signal or of weights checked against [low, high] (and for
-- being whole); problem is NULL when it is fine.  float8 fields also need a
-- magnitude float8 holds: jsonb keeps 1e400 and 1e-400, a cast would fail.
CREATE FUNCTION bandit.prior_number_problem(path text, value jsonb, low numeric, high numeric,
                                            whole boolean, accepted text,
                                            OUT code text, OUT problem text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    x numeric;
    shown text;
BEGIN
    IF value IS NULL THEN
        code := '22023';
        problem := format('%s is missing; it must be %s', path, accepted);
    ELSIF jsonb_typeof(value) <> 'number' THEN
        code := '22023';
        problem := format('%s must be %s, got %s', path, accepted,
                          CASE WHEN jsonb_typeof(value) = 'null' THEN 'null' ELSE jsonb_typeof(value) || ' ' || left(value::text, 40) END);
    ELSE
        x := value::numeric;
        -- 1e400 prints as 401 digits
        shown := CASE WHEN length(value::text) > 30 THEN btrim(to_char(x, '9.999999EEEE')) ELSE value::text END;
        IF whole AND x <> trunc(x) THEN
            code := '22023';
            problem := format('%s must be %s, got %s', path, accepted, shown);
        ELSIF x < low OR x > high THEN
            code := '22003';
            problem := format('%s must be %s, got %s', path, accepted, shown);
        ELSIF NOT whole AND x <> 0 AND abs(x) < 2.2250738585072014e-308 THEN
            code := '22003';
            problem := format('%s is too small for float8 (below 2.2250738585072014e-308), got %s; send 0', path, shown);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION bandit.prior_number_problem(text, jsonb, numeric, numeric, boolean, text) IS
    'Checks one JSON number (type, whole, range, float8 magnitude); returns the SQLSTATE and problem, or NULLs when fine; used by bandit.validate_signal and bandit.prior_adjusted_score';

-- Every problem of a signal, in document order, with the SQLSTATE it raises.
CREATE FUNCTION bandit.prior_signal_problems(signal jsonb)
RETURNS TABLE (code text, problem text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    top_keys constant text[] := '{aggregation_round,cluster_hash,participant_count,reward_signals}';
    entry_keys constant text[] := '{avg_latency,quality_score,success_rate,total_samples}';
    signals jsonb;
    k text;
    entry jsonb;
    path text;
BEGIN
    IF signal IS NULL OR jsonb_typeof(signal) <> 'object' THEN
        RETURN QUERY SELECT '22023', format('signal must be a JSON object, got %s', coalesce(jsonb_typeof(signal), 'NULL'));
        RETURN;
    END IF;
    RETURN QUERY
        SELECT '22023', format('unknown key %s in signal; accepted: %s', to_json(u), array_to_string(top_keys, ', '))
        FROM jsonb_object_keys(signal) u WHERE u <> ALL (top_keys) ORDER BY u;
    IF NOT signal ? 'cluster_hash' THEN
        RETURN QUERY SELECT '22023', 'cluster_hash is missing; it must be a non-empty string';
    ELSIF jsonb_typeof(signal->'cluster_hash') <> 'string' OR btrim(signal->>'cluster_hash') = '' THEN
        RETURN QUERY SELECT '22023', format('cluster_hash must be a non-empty string, got %s', left((signal->'cluster_hash')::text, 40));
    END IF;
    RETURN QUERY
        SELECT p.code, p.problem
        FROM (VALUES ('aggregation_round', 0, 'an integer from 0 to 9223372036854775807'),
                     ('participant_count', 1, 'an integer from 1 to 9223372036854775807')) f(name, low, accepted),
             bandit.prior_number_problem(f.name, signal->f.name, f.low, 9223372036854775807, true, f.accepted) p
        WHERE p.problem IS NOT NULL;
    signals := signal->'reward_signals';
    IF signals IS NULL THEN
        RETURN QUERY SELECT '22023', 'reward_signals is missing; it must be a JSON object {key: {success_rate, avg_latency, quality_score, total_samples}}';
        RETURN;
    ELSIF jsonb_typeof(signals) <> 'object' THEN
        RETURN QUERY SELECT '22023', format('reward_signals must be a JSON object, got %s', jsonb_typeof(signals));
        RETURN;
    ELSIF signals = '{}' THEN
        RETURN QUERY SELECT '22023', 'reward_signals must not be empty';
        RETURN;
    END IF;
    FOR k, entry IN SELECT e.key, e.value FROM jsonb_each(signals) e ORDER BY e.key LOOP
        path := format('reward_signals.%s', to_json(k));
        IF btrim(k) = '' THEN
            RETURN QUERY SELECT '22023', format('%s: a key must not be empty', path);
        END IF;
        IF jsonb_typeof(entry) <> 'object' THEN
            RETURN QUERY SELECT '22023', format('%s must be a JSON object, got %s', path, jsonb_typeof(entry));
            CONTINUE;
        END IF;
        RETURN QUERY
            SELECT '22023', format('unknown key %s in %s; accepted: %s', to_json(u), path, array_to_string(entry_keys, ', '))
            FROM jsonb_object_keys(entry) u WHERE u <> ALL (entry_keys) ORDER BY u;
        RETURN QUERY
            SELECT p.code, p.problem
            FROM (VALUES (1, 'success_rate', 0, 1, false, 'a number from 0 to 1'),
                         (2, 'avg_latency', 0, 1.7976931348623157e308, false, 'a number of milliseconds from 0 to 1.7976931348623157e308'),
                         (3, 'quality_score', 0, 1, false, 'a number from 0 to 1'),
                         (4, 'total_samples', 1, 9007199254740992, true, 'an integer from 1 to 9007199254740992 (2^53)'))
                     f(i, name, low, high, whole, accepted),
                 bandit.prior_number_problem(path || '.' || f.name, entry->f.name, f.low, f.high, f.whole, f.accepted) p
            WHERE p.problem IS NOT NULL
            ORDER BY f.i;
    END LOOP;
END
$$;
COMMENT ON FUNCTION bandit.prior_signal_problems(jsonb) IS
    'Every problem of a signal with the SQLSTATE it raises (22003 out-of-range numbers, 22023 the rest), in document order; used by bandit.validate_signal and bandit.apply_signal';

CREATE FUNCTION bandit.validate_signal(signal jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(p.problem ORDER BY p.n), '{}')
    FROM bandit.prior_signal_problems(signal) WITH ORDINALITY p(code, problem, n)
$$;
COMMENT ON FUNCTION bandit.validate_signal(jsonb) IS
    'Every problem of a signal for bandit.apply_signal, as text (empty array: valid; NULL: one problem): structure, unknown keys (top level and per key), missing keys, types, ranges (success_rate and quality_score 0..1, avg_latency >= 0, total_samples integer 1..2^53, aggregation_round integer >= 0, participant_count integer >= 1, cluster_hash non-empty string), empty reward_signals, numbers float8 cannot hold. Raises nothing, so a rejection can be logged outside the failed transaction';

CREATE FUNCTION bandit.apply_signal(signal jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[];
    codes text[];
    raised text;
    digest constant bytea := sha256(convert_to(signal::text, 'UTF8'));
    applied_digest bytea;
    k text;
    entry jsonb;
    samples float8;
    successes float8;
    mean_latency float8;
    mean_quality float8;
    updated integer := 0;
BEGIN
    IF signal IS NULL THEN
        RAISE EXCEPTION 'signal must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(p.problem ORDER BY p.n), array_agg(p.code ORDER BY p.n) INTO problems, codes
    FROM bandit.prior_signal_problems(signal) WITH ORDINALITY p(code, problem, n);
    IF problems IS NOT NULL THEN
        -- a structural problem outranks a number out of range
        raised := CASE WHEN '22023' = ANY (codes) THEN '22023' ELSE '22003' END;
        RAISE EXCEPTION '%', format('invalid signal: %s%s', problems[array_position(codes, raised)],
                CASE WHEN cardinality(problems) > 1 THEN format(' (and %s more)', cardinality(problems) - 1) ELSE '' END)
            USING ERRCODE = raised, DETAIL = array_to_string(problems, E'\n'),
                  HINT = 'bandit.validate_signal(signal) returns every problem without raising.';
    END IF;

    INSERT INTO bandit.prior_signal (cluster_hash, aggregation_round, participant_count, keys_updated, signal_sha256)
    VALUES (signal->>'cluster_hash', (signal->'aggregation_round')::bigint, (signal->'participant_count')::bigint,
            (SELECT count(*) FROM jsonb_object_keys(signal->'reward_signals')), digest)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        UPDATE bandit.prior_signal a SET replays = a.replays + 1, last_replayed_at = now()
        WHERE a.cluster_hash = signal->>'cluster_hash' AND a.aggregation_round = (signal->'aggregation_round')::bigint
        RETURNING a.signal_sha256 INTO applied_digest;
        IF applied_digest <> digest THEN
            RAISE WARNING 'round % of cluster % was already applied with different content; this signal is ignored',
                signal->'aggregation_round', signal->'cluster_hash';
        END IF;
        RETURN 0;
    END IF;

    FOR k, entry IN SELECT e.key, e.value FROM jsonb_each(signal->'reward_signals') e ORDER BY e.key LOOP
        samples := (entry->'total_samples')::numeric;
        -- exact decimal product, halves away from zero
        successes := round((entry->'success_rate')::numeric * (entry->'total_samples')::numeric);
        mean_latency := (entry->'avg_latency')::numeric;
        mean_quality := (entry->'quality_score')::numeric;
        INSERT INTO bandit.prior AS p (key, success_rate, latency_ms, quality, sample_count, confidence, last_updated)
        VALUES (k, successes / samples, mean_latency, mean_quality, samples, samples / (samples + 100), now())
        ON CONFLICT (key) DO UPDATE SET
            success_rate = (p.success_rate * p.sample_count + successes)
                           / ((p.success_rate * p.sample_count + successes)
                              + ((1 - p.success_rate) * p.sample_count + (samples - successes))),
            -- this form keeps a mean of values in [0, 1] in [0, 1] despite rounding
            latency_ms = (p.latency_ms * p.sample_count + mean_latency * samples) / (p.sample_count + samples),
            quality = (p.quality * p.sample_count + mean_quality * samples) / (p.sample_count + samples),
            sample_count = p.sample_count + samples,
            confidence = (p.sample_count + samples) / (p.sample_count + samples + 100),
            last_updated = now();
        updated := updated + 1;
    END LOOP;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION bandit.apply_signal(jsonb) IS
    'Folds a signal {"aggregation_round", "cluster_hash", "participant_count", "reward_signals": {key: {"success_rate", "avg_latency", "quality_score", "total_samples"}}} into bandit.prior once; returns the priors updated, 0 for a (cluster_hash, aggregation_round) already applied (a replay: counted, WARNING if its content differs). Per key, n = total_samples, s = round(success_rate * n) in exact decimal (halves away from zero); from the prior (rate, count; count 0 for a new key): alpha = rate*count + s, beta = (1 - rate)*count + (n - s), rate = alpha/(alpha + beta); latency_ms and quality are sample-weighted means with avg_latency and quality_score; sample_count += n; confidence = sample_count/(sample_count + 100). An invalid signal (see bandit.validate_signal) applies nothing: 22003 when every problem is a number out of range, else 22023 (NULL: 22004); the message names the first, DETAIL lists all';

CREATE FUNCTION bandit.prior_adjusted_score(key text, cost float8, latency_ms float8, quality float8, carbon float8,
                                            weights jsonb DEFAULT NULL)
RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w jsonb := '{"cost": 0.25, "latency_ms": 0.25, "quality": 0.25, "carbon": 0.25}';
    wk text;
    wv jsonb;
    bad record;
    p bandit.prior;
    c float8;
    blended_latency float8;
    blended_quality float8;
    top float8;
BEGIN
    IF key IS NULL OR cost IS NULL OR latency_ms IS NULL OR quality IS NULL OR carbon IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT (cost >= 0 AND cost < 'Infinity') THEN
        RAISE EXCEPTION 'cost must be a finite number >= 0, got %', cost USING ERRCODE = '22003';
    END IF;
    IF NOT (latency_ms >= 0 AND latency_ms < 'Infinity') THEN
        RAISE EXCEPTION 'latency_ms must be a finite number >= 0, got %', latency_ms USING ERRCODE = '22003';
    END IF;
    IF NOT quality BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'quality must be a number from 0 to 1, got %', quality USING ERRCODE = '22003';
    END IF;
    IF NOT (carbon >= 0 AND carbon < 'Infinity') THEN
        RAISE EXCEPTION 'carbon must be a finite number >= 0, got %', carbon USING ERRCODE = '22003';
    END IF;
    IF weights IS NOT NULL THEN
        IF jsonb_typeof(weights) <> 'object' THEN
            RAISE EXCEPTION 'weights must be a JSON object, got %', jsonb_typeof(weights)
                USING ERRCODE = '22023', HINT = 'Known weights: carbon, cost, latency_ms, quality.';
        END IF;
        FOR wk, wv IN SELECT e.key, e.value FROM jsonb_each(weights) e ORDER BY e.key LOOP
            IF NOT w ? wk THEN
                RAISE EXCEPTION 'unknown weight %', to_json(wk)
                    USING ERRCODE = '22023', HINT = 'Known weights: carbon, cost, latency_ms, quality.';
            END IF;
            bad := bandit.prior_number_problem(format('weights.%s', wk), wv, 0, 1.7976931348623157e308, false, 'a number >= 0');
            IF bad.problem IS NOT NULL THEN
                RAISE EXCEPTION '%', bad.problem USING ERRCODE = bad.code;
            END IF;
        END LOOP;
        w := w || weights;
    END IF;
    top := greatest((w->'cost')::float8, (w->'latency_ms')::float8, (w->'quality')::float8, (w->'carbon')::float8);
    IF top = 0 THEN
        RAISE EXCEPTION 'weights must not all be zero' USING ERRCODE = '22003';
    END IF;

    SELECT * INTO p FROM bandit.prior t WHERE t.key = prior_adjusted_score.key;
    IF FOUND AND p.confidence >= 0.1 THEN
        c := p.confidence;
        blended_latency := (1 - c) * latency_ms + c * p.latency_ms;
        -- the caller's figures assume success; the prior's success rate discounts quality
        blended_quality := ((1 - c) * quality + c * p.quality) * ((1 - c) + c * p.success_rate);
    ELSE
        blended_latency := latency_ms;
        blended_quality := quality;
    END IF;
    -- weights scaled by the largest, so that their sum cannot overflow
    RETURN ((w->'cost')::float8 / top * (1 / (1 + cost))
            + (w->'latency_ms')::float8 / top * (1 / (1 + blended_latency / 1000))
            + (w->'quality')::float8 / top * blended_quality
            + (w->'carbon')::float8 / top * (1 / (1 + carbon)))
           / ((w->'cost')::float8 / top + (w->'latency_ms')::float8 / top
              + (w->'quality')::float8 / top + (w->'carbon')::float8 / top);
END
$$;
COMMENT ON FUNCTION bandit.prior_adjusted_score(text, float8, float8, float8, float8, jsonb) IS
    'Multi-objective score in [0, 1], higher is better: sum of w_i*u_i / sum of w_i over cost: 1/(1 + cost), latency: 1/(1 + latency_ms/1000), quality: quality (0..1), carbon: 1/(1 + carbon). Weights {"cost", "latency_ms", "quality", "carbon"} default to 0.25 each; keys given replace those defaults, the rest keep them (0 drops an objective; unknown key 22023, negative 22003, all zero 22003). With a prior for key of confidence c >= 0.1 (else the prior is ignored): latency_ms is blended as (1-c)*latency_ms + c*prior.latency_ms, quality as ((1-c)*quality + c*prior.quality) * ((1-c) + c*prior.success_rate). cost, latency_ms, carbon must be finite and >= 0, quality in [0, 1] (22003); a NULL argument other than weights gives NULL';

CREATE FUNCTION bandit.cleanup_priors(max_age interval DEFAULT '7 days') RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz;
    deleted integer;
BEGIN
    IF max_age IS NULL THEN
        RAISE EXCEPTION 'max_age must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF max_age < interval '0' THEN
        RAISE EXCEPTION 'max_age must not be negative, got %', max_age USING ERRCODE = '22003';
    END IF;
    BEGIN
        cutoff := now() - max_age;
    EXCEPTION WHEN datetime_field_overflow THEN
        cutoff := '-infinity';  -- older than any timestamp: nothing is that old
    END;
    -- lock in key order, as apply_signal does, so the two never deadlock;
    -- a prior updated meanwhile no longer qualifies and stays
    WITH doomed AS MATERIALIZED (
        SELECT t.key FROM bandit.prior t WHERE t.last_updated < cutoff ORDER BY t.key FOR UPDATE)
    DELETE FROM bandit.prior p USING doomed d
    WHERE p.key = d.key AND p.last_updated < cutoff;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION bandit.cleanup_priors(interval) IS
    'Deletes the priors whose last_updated is older than now() - max_age (default 7 days; negative 22003); returns how many. The record of applied signals is kept, so a deleted prior is never rebuilt from an old round';

CREATE VIEW bandit.prior_metrics AS
SELECT (SELECT count(*) FROM bandit.prior) AS active_priors,
       (SELECT count(*) FROM bandit.prior p WHERE p.confidence >= 0.1) AS confident_priors,
       s.signals_applied,
       s.updates_applied,
       s.signals_replayed,
       (SELECT max(p.last_updated) FROM bandit.prior p) AS last_update,
       s.last_signal_at
FROM (SELECT count(*) AS signals_applied,
             coalesce(sum(a.keys_updated), 0)::bigint AS updates_applied,
             coalesce(sum(a.replays), 0)::bigint AS signals_replayed,
             max(a.applied_at) AS last_signal_at
      FROM bandit.prior_signal a) s;
COMMENT ON VIEW bandit.prior_metrics IS
    'Monitoring of the priors: priors kept (active_priors) and those bandit.prior_adjusted_score uses (confidence >= 0.1), signals applied, prior updates they made (counting priors since cleaned up), replays ignored, time of the last prior update and of the last signal';

-- src/qlearn.sql
-- Q-learning over tables (src/qlearn.c holds the hot path: q_select,
-- q_learn and its batch and replay forms, and the pure helpers state_key,
-- reward_score and the reward tiers; the management functions are here).
--
-- Concurrency design: q_learn is one INSERT ... ON CONFLICT DO UPDATE whose
-- arithmetic runs in the server under the row lock, so concurrent sessions
-- never lose an update: the second waits for the first's commit and updates
-- the value it left.  The bootstrap max over Q(s', .) is read in the
-- statement's snapshot, as asynchronous Q-learning reads whatever its peers
-- had committed; when s' = s the row being updated takes part in that max
-- with its locked, current value, so two concurrent self-loop updates give
-- exactly the two sequential ones in commit order.  The table has fillfactor
-- 70 and no index on the columns that change, so updates are HOT.

CREATE TABLE bandit.q_table (
    agent text NOT NULL,
    state text NOT NULL,
    action text NOT NULL,
    q_value float8 NOT NULL CHECK (q_value > '-Infinity' AND q_value < 'Infinity'),
    update_count bigint NOT NULL DEFAULT 0 CHECK (update_count >= 0),
    last_updated timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (agent, state, action)
) WITH (fillfactor = 70);
COMMENT ON TABLE bandit.q_table IS
    'Q-learning: the learned value of taking action in state for each agent, how many updates made it, and when the last one was; an action without a row has Q = 0';

CREATE TABLE bandit.transition (
    agent text NOT NULL,
    state text NOT NULL,
    action text NOT NULL,
    reward float8 NOT NULL CHECK (reward > '-Infinity' AND reward < 'Infinity'),
    next_state text,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY
);
CREATE INDEX transition_agent_id ON bandit.transition (agent, id);
COMMENT ON TABLE bandit.transition IS
    'Experience replay buffer: transitions (state, action, reward, next_state; next_state NULL = terminal) stored by bandit.q_remember and re-learned by bandit.q_replay';
COMMENT ON SEQUENCE bandit.transition_id_seq IS 'Ids of bandit.transition';

SELECT pg_catalog.pg_extension_config_dump('bandit.q_table', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.transition', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.transition_id_seq', '');

CREATE FUNCTION bandit.q_select(agent text, state text, actions text[], epsilon float8 DEFAULT 0.1)
RETURNS text
AS 'MODULE_PATHNAME', 'bandit_q_select' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.q_select(text, text, text[], float8) IS
    'Epsilon-greedy choice among actions (distinct, non-empty, no NULLs) in state: with probability epsilon one uniformly at random, otherwise one with the largest Q, ties broken uniformly at random; an action never learned has Q = 0. Reproducible after bandit.set_seed';

CREATE FUNCTION bandit.q_learn(agent text, state text, action text, reward float8, next_state text,
                               alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_q_learn' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.q_learn(text, text, text, float8, text, float8, float8) IS
    'One Q-learning update, Q(s,a) <- (1 - alpha) Q(s,a) + alpha (reward + gamma max_a'' Q(next_state, a'')), the max over actions learned in next_state (0 if none, or next_state NULL = terminal); alpha in (0, 1], gamma in [0, 1]; returns the new Q. One statement under the row lock: concurrent updates are never lost';

-- Not an overload of q_learn: with string literals for every argument the
-- two would be ambiguous (42725).
CREATE FUNCTION bandit.q_learn_batch(agent text, states text[], actions text[], rewards float8[], next_states text[],
                                     alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_q_learn_batch' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.q_learn_batch(text, text[], text[], float8[], text[], float8, float8) IS
    'Many Q-learning updates in one call, applied in array order, each seeing the ones before (as many q_learn calls would); NULL next_states elements are terminal; all or nothing; returns the number applied. Rows already learned are locked first in (state, action) order, so concurrent batches over learned rows cannot deadlock';

CREATE FUNCTION bandit.q_remember(agent text, state text, action text, reward float8, next_state text,
                                  capacity integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    IF agent IS NULL OR state IS NULL OR action IS NULL OR reward IS NULL THEN
        RAISE EXCEPTION 'agent, state, action and reward must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF reward = 'NaN' OR reward IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'reward must be a finite number, got %', reward USING ERRCODE = '22003';
    END IF;
    IF capacity < 1 THEN
        RAISE EXCEPTION 'capacity must be at least 1, got %', capacity USING ERRCODE = '22003';
    END IF;
    INSERT INTO bandit.transition (agent, state, action, reward, next_state)
    VALUES (q_remember.agent, q_remember.state, q_remember.action, q_remember.reward, q_remember.next_state)
    RETURNING id INTO new_id;
    IF capacity IS NOT NULL THEN
        DELETE FROM bandit.transition t
        WHERE t.agent = q_remember.agent
          AND t.id <= (SELECT o.id FROM bandit.transition o WHERE o.agent = q_remember.agent
                       ORDER BY o.id DESC OFFSET capacity LIMIT 1);
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION bandit.q_remember(text, text, text, float8, text, integer) IS
    'Stores a transition in the replay buffer bandit.transition (next_state NULL = terminal) and returns its id; with capacity, keeps only the agent''s newest capacity transitions. Learning is separate: call bandit.q_learn as well, and bandit.q_replay later';

CREATE FUNCTION bandit.q_replay(agent text, n integer, alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_q_replay' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.q_replay(text, integer, float8, float8) IS
    'Experience replay: re-learns n transitions of the agent drawn uniformly at random, with replacement, from bandit.transition, applied in the order drawn as by bandit.q_learn_batch; returns the number applied (0 when the buffer is empty). Reproducible after bandit.set_seed';

CREATE FUNCTION bandit.q_greedy(agent text)
RETURNS TABLE (state text, action text, q_value float8)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT ON (t.state) t.state, t.action, t.q_value
    FROM bandit.q_table t
    WHERE t.agent = q_greedy.agent
    ORDER BY t.state, t.q_value DESC, t.action
$$;
COMMENT ON FUNCTION bandit.q_greedy(text) IS
    'The greedy policy learned so far: for each state with learned actions, the one with the largest Q (ties: the first action in sort order). Actions never learned (Q = 0) are not considered';

CREATE FUNCTION bandit.q_forget(agent text) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deleted bigint;
BEGIN
    DELETE FROM bandit.q_table t WHERE t.agent = q_forget.agent;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM bandit.transition t WHERE t.agent = q_forget.agent;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION bandit.q_forget(text) IS
    'Deletes everything the agent learned and remembered (its Q-values and stored transitions); returns the number of Q-values deleted';

-- float8 values go to JSON through float8out, which writes the shortest
-- exact digits only when extra_float_digits > 0: the SET clause makes export
-- lossless whatever the session says.
CREATE FUNCTION bandit.q_export(agent text) RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
    SELECT jsonb_build_object('agent', q_export.agent, 'q', coalesce(jsonb_object_agg(s.state, s.actions), '{}'))
    FROM (SELECT t.state,
                 jsonb_object_agg(t.action, jsonb_build_object('q_value', t.q_value, 'update_count', t.update_count,
                                                               'last_updated', t.last_updated)) AS actions
          FROM bandit.q_table t
          WHERE t.agent = q_export.agent
          GROUP BY t.state) s
$$;
COMMENT ON FUNCTION bandit.q_export(text) IS
    'The agent''s Q-table as {"agent": agent, "q": {state: {action: {"q_value": q, "update_count": n, "last_updated": t}}}}, float8 values in shortest exact form, so bandit.q_import restores them bit for bit';

CREATE FUNCTION bandit.q_import(agent text, document jsonb, replace boolean DEFAULT true) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text;
    actions jsonb;
    a text;
    v jsonb;
    q float8;
    n bigint;
    stamp timestamptz;
    k text;
    entries integer := 0;
BEGIN
    IF agent IS NULL OR document IS NULL OR replace IS NULL THEN
        RAISE EXCEPTION 'agent, document and replace must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(document) <> 'object' OR jsonb_typeof(document->'q') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'document must be a JSON object with an object "q", as bandit.q_export writes'
            USING ERRCODE = '22023';
    END IF;
    FOR k IN SELECT jsonb_object_keys(document) LOOP
        IF k NOT IN ('agent', 'q') THEN
            RAISE EXCEPTION 'unknown key "%" in document', k USING ERRCODE = '22023', HINT = 'Known keys: agent, q.';
        END IF;
    END LOOP;
    IF replace THEN
        DELETE FROM bandit.q_table t WHERE t.agent = q_import.agent;
    END IF;
    -- entries are checked as they are written; an error undoes the whole import
    FOR s, actions IN SELECT * FROM jsonb_each(document->'q') LOOP
        IF jsonb_typeof(actions) <> 'object' THEN
            RAISE EXCEPTION 'state "%" must map to an object of actions', s USING ERRCODE = '22023';
        END IF;
        FOR a, v IN SELECT * FROM jsonb_each(actions) LOOP
            n := 0;
            stamp := now();
            IF jsonb_typeof(v) = 'number' THEN
                q := v::float8;
            ELSIF jsonb_typeof(v) = 'object' AND jsonb_typeof(v->'q_value') = 'number' THEN
                FOR k IN SELECT jsonb_object_keys(v) LOOP
                    IF k NOT IN ('q_value', 'update_count', 'last_updated') THEN
                        RAISE EXCEPTION 'unknown key "%" for state "%", action "%"', k, s, a
                            USING ERRCODE = '22023', HINT = 'Known keys: q_value, update_count, last_updated.';
                    END IF;
                END LOOP;
                q := (v->'q_value')::float8;
                IF v ? 'update_count' THEN
                    IF jsonb_typeof(v->'update_count') <> 'number' OR (v->>'update_count')::numeric < 0
                       OR (v->>'update_count')::numeric <> trunc((v->>'update_count')::numeric) THEN
                        RAISE EXCEPTION 'update_count of state "%", action "%" must be a whole number >= 0, got %',
                            s, a, v->'update_count' USING ERRCODE = '22023';
                    END IF;
                    n := (v->>'update_count')::bigint;
                END IF;
                IF v ? 'last_updated' THEN
                    IF jsonb_typeof(v->'last_updated') <> 'string' THEN
                        RAISE EXCEPTION 'last_updated of state "%", action "%" must be a timestamp string', s, a
                            USING ERRCODE = '22023';
                    END IF;
                    stamp := (v->>'last_updated')::timestamptz;
                END IF;
            ELSE
                RAISE EXCEPTION 'state "%", action "%" must map to a number or an object with a number "q_value", got %', s, a, v
                    USING ERRCODE = '22023';
            END IF;
            INSERT INTO bandit.q_table AS t (agent, state, action, q_value, update_count, last_updated)
            VALUES (q_import.agent, s, a, q, n, stamp)
            ON CONFLICT ON CONSTRAINT q_table_pkey DO UPDATE
                SET q_value = excluded.q_value, update_count = excluded.update_count, last_updated = excluded.last_updated;
            entries := entries + 1;
        END LOOP;
    END LOOP;
    RETURN entries;
END
$$;
COMMENT ON FUNCTION bandit.q_import(text, jsonb, boolean) IS
    'Loads a document written by bandit.q_export into agent (which may differ from the exported one), float8 values exactly; an action may also map to a bare number (update_count 0, last_updated now). replace = true first deletes the agent''s Q-values, false overwrites only the entries given. All or nothing; returns the number of entries';

CREATE FUNCTION bandit.state_key(context jsonb, buckets jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'bandit_state_key' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.state_key(jsonb, jsonb) IS
    'A stable state key from a flat JSON context: key=value pairs sorted by key (byte order), joined by |, with \, | and = escaped by \; strings and booleans as is, nulls left out, arrays and objects as canonical JSON; numbers bucketed per buckets->key: "log2" (default: 0, or [2^k,2^(k+1)) by magnitude, negatives mirrored as (-2^(k+1),-2^k]), "exact", a positive width w ([k w,(k+1) w)), or increasing edges [e1, ..., en] ((-inf,e1), [ei,ei+1), [en,+inf))';

CREATE FUNCTION bandit.reward_score(metrics jsonb, weights jsonb) RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_reward_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.reward_score(jsonb, jsonb) IS
    'The sum of weight * metric over the keys of weights (a JSON object of numbers); a weighted metric missing from metrics, or not a number, is error 22023; metrics without a weight are ignored';

CREATE FUNCTION bandit.tiered_reward(score float8,
    tiers jsonb DEFAULT '[{"name": "excellent", "min_score": 0.9, "reward": 1.0}, {"name": "good", "min_score": 0.75, "reward": 0.75}, {"name": "success", "min_score": 0.5, "reward": 0.5}, {"name": "fair", "min_score": 0.25, "reward": 0.25}, {"name": "failure", "reward": 0}]')
RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_tiered_reward' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.tiered_reward(float8, jsonb) IS
    'The reward of the first tier whose min_score the score reaches; tiers is an array of {"name", "min_score", "reward"} with min_score strictly decreasing, the last one''s min_score optional (a floor for every score). Default: excellent >= 0.9 -> 1, good >= 0.75 -> 0.75, success >= 0.5 -> 0.5, fair >= 0.25 -> 0.25, failure -> 0';

CREATE FUNCTION bandit.reward_tier(score float8,
    tiers jsonb DEFAULT '[{"name": "excellent", "min_score": 0.9, "reward": 1.0}, {"name": "good", "min_score": 0.75, "reward": 0.75}, {"name": "success", "min_score": 0.5, "reward": 0.5}, {"name": "fair", "min_score": 0.25, "reward": 0.25}, {"name": "failure", "reward": 0}]')
RETURNS text
AS 'MODULE_PATHNAME', 'bandit_reward_tier' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.reward_tier(float8, jsonb) IS
    'The name of the tier bandit.tiered_reward would use for score (same tiers and defaults)';

-- src/random.sql
CREATE FUNCTION bandit.set_seed(seed bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'bandit_set_seed'
    LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.set_seed(bigint) IS
    'Seed this session''s random generator: the same seed and the same sequence of calls give the same results';

-- src/sequential.sql
-- Always-valid sequential inference: the mixture SPRT (src/sequential.c).

CREATE FUNCTION bandit.msprt(n1 float8, mean1 float8, sd1 float8, n2 float8, mean2 float8, sd2 float8,
                             mixing_sd float8, alpha float8 DEFAULT 0.05,
                             OUT p_value float8, OUT ci_lower float8, OUT ci_upper float8)
    AS 'MODULE_PATHNAME', 'bandit_msprt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.msprt(float8, float8, float8, float8, float8, float8, float8, float8) IS
    'Always-valid p-value and 1 - alpha confidence sequence of mean1 - mean2 by the two-sample normal-mixture SPRT (Johari, Pekelis, Walsh 2017) with mixing sd tau = mixing_sd: V = sd1^2/n1 + sd2^2/n2, p = min(1, sqrt((V + tau^2)/V) exp(-tau^2 d^2 / (2 V (V + tau^2)))), CS = d +- sqrt(V (V + tau^2)/tau^2 (log((V + tau^2)/V) - 2 log alpha)). With V = 0 the difference is known: p = 1 and CS [0, 0] when d = 0, else p = 0 and CS [d, d]';


-- The mSPRT from two summaries.
CREATE FUNCTION bandit.msprt(s1 bandit.summary, s2 bandit.summary, mixing_sd float8, alpha float8 DEFAULT 0.05,
                             OUT p_value float8, OUT ci_lower float8, OUT ci_upper float8)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF bandit.n(s1) < 2 OR bandit.n(s2) < 2 THEN
        RAISE EXCEPTION 'msprt: each summary needs at least 2 values, got % and %', bandit.n(s1), bandit.n(s2)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT m.p_value, m.ci_lower, m.ci_upper INTO p_value, ci_lower, ci_upper
      FROM bandit.msprt(bandit.n(s1)::float8, bandit.mean(s1), bandit.stddev(s1),
                        bandit.n(s2)::float8, bandit.mean(s2), bandit.stddev(s2), mixing_sd, alpha) m;
END
$$;
COMMENT ON FUNCTION bandit.msprt(bandit.summary, bandit.summary, float8, float8) IS
    'bandit.msprt of s1 minus s2 from two summaries (sample sd, n - 1); each needs at least 2 values';
