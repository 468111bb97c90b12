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

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.observation_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.observation (
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.observation_id_seq'),
    experiment text NOT NULL,
    unit_id text NOT NULL,
    variant text NOT NULL,
    metric text NOT NULL,
    value float8 NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER SEQUENCE bandit.observation_id_seq OWNED BY bandit.observation.id;
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

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.experiment_audit_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.experiment_audit (
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.experiment_audit_id_seq'),
    experiment text NOT NULL,
    action text NOT NULL,
    detail jsonb,
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    by_user text NOT NULL DEFAULT bandit.caller()::text
);
ALTER SEQUENCE bandit.experiment_audit_id_seq OWNED BY bandit.experiment_audit.id;
CREATE INDEX experiment_audit_experiment_at ON bandit.experiment_audit (experiment, at);
COMMENT ON TABLE bandit.experiment_audit IS
    'Audit trail of each experiment''s lifecycle: created, started, stopped (with the reason), dropped';

COMMENT ON SEQUENCE bandit.observation_id_seq IS 'The local part of the ids of bandit.observation: bandit.new_id adds bandit.node_id * 2^53';
COMMENT ON SEQUENCE bandit.experiment_audit_id_seq IS 'The local part of the ids of bandit.experiment_audit: bandit.new_id adds bandit.node_id * 2^53';

SELECT pg_catalog.pg_extension_config_dump('bandit.experiment', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.variant', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.assignment', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.stratum', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.observation', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.sequential_look', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.experiment_audit', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.observation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.experiment_audit_id_seq', '');

-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.experiment, bandit.variant, bandit.assignment, bandit.stratum, bandit.observation, bandit.sequential_look, bandit.experiment_audit TO PUBLIC;
-- ids come from the functions alone (the default ACL, made explicit)
REVOKE ALL ON SEQUENCE bandit.observation_id_seq, bandit.experiment_audit_id_seq FROM PUBLIC;
ALTER TABLE bandit.experiment ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.experiment FOR SELECT USING (name IN (SELECT r.name FROM bandit.readable('experiment') r));
ALTER TABLE bandit.variant ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.variant FOR SELECT USING (experiment IN (SELECT r.name FROM bandit.readable('experiment') r));
ALTER TABLE bandit.assignment ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.assignment FOR SELECT USING (experiment IN (SELECT r.name FROM bandit.readable('experiment') r));
ALTER TABLE bandit.stratum ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.stratum FOR SELECT USING (experiment IN (SELECT r.name FROM bandit.readable('experiment') r));
ALTER TABLE bandit.observation ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.observation FOR SELECT USING (experiment IN (SELECT r.name FROM bandit.readable('experiment') r));
ALTER TABLE bandit.sequential_look ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.sequential_look FOR SELECT USING (experiment IN (SELECT r.name FROM bandit.readable('experiment') r));
ALTER TABLE bandit.experiment_audit ENABLE ROW LEVEL SECURITY;
-- the trail of a dropped experiment is not its namesake's: only what happened since the object's creation
CREATE POLICY readable ON bandit.experiment_audit FOR SELECT
    USING (experiment IN (SELECT r.name FROM bandit.readable('experiment') r)
           AND at >= (SELECT o.created_at FROM bandit.object o WHERE o.kind = 'experiment' AND o.name = experiment));

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
SECURITY DEFINER
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
    -- assign reads every variant, and a stratified block can hold 1000 slots per variant
    IF k > 1000 THEN
        RAISE EXCEPTION 'an experiment has at most 1000 variants, got %', k USING ERRCODE = '54000';
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
    -- an owner row without its experiment is a leftover of one deleted by hand: its grants go with it
    DELETE FROM bandit.object o WHERE o.kind = 'experiment' AND o.name = create_experiment.name;
    INSERT INTO bandit.object (kind, name, owner) VALUES ('experiment', create_experiment.name, bandit.caller());
    -- by ordinality, whatever the arrays' lower bounds
    INSERT INTO bandit.variant (experiment, variant, position, allocation, is_control)
    SELECT name, v.variant, v.position, v.share, v.position = 1
    FROM unnest(variants, allocation) WITH ORDINALITY v(variant, share, position);
    INSERT INTO bandit.experiment_audit (experiment, action, detail)
    VALUES (name, 'created', jsonb_build_object('variants', variants, 'allocation', allocation, 'params', p));
END
$$;
COMMENT ON FUNCTION bandit.create_experiment(text, text[], float8[], jsonb) IS
    'Creates an experiment in status draft; the first variant is the control (2 to 1000 variants: more is 54000); allocation (NULL: equal) must sum to 1, one share per variant in the same order. params: hypothesis, min_sample_size (100), max_sample_size (planned per variant, for futility), alpha (0.05), early_alpha (0.01), min_effect (0), sequential (false), metrics (names, or name: "binary"/"continuous"), mixing_sd (mSPRT mixing scale; default min_effect if positive, else 0.1 pooled standard deviations), salt (default random). Privilege: EXECUTE, granted by a DBA (not PUBLIC); creates an experiment owned by the caller.';

CREATE FUNCTION bandit.start_experiment(name text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment;
BEGIN
    PERFORM bandit.require('experiment', name, 'manage');
    e := bandit.experiment_row(name, true);
    IF e.status <> 'draft' THEN
        RAISE EXCEPTION 'experiment "%" is %: only a draft can start', name, e.status USING ERRCODE = '55000';
    END IF;
    UPDATE bandit.experiment t SET status = 'running', started_at = now() WHERE t.name = e.name;
    INSERT INTO bandit.experiment_audit (experiment, action) VALUES (e.name, 'started');
END
$$;
COMMENT ON FUNCTION bandit.start_experiment(text) IS 'Starts a draft experiment: from now on units can be assigned. Privilege: manage on the experiment.';

CREATE FUNCTION bandit.stop_experiment(name text, reason text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment;
BEGIN
    PERFORM bandit.require('experiment', name, 'manage');
    e := bandit.experiment_row(name, true);
    IF e.status <> 'running' THEN
        RAISE EXCEPTION 'experiment "%" is %: only a running experiment can stop', name, e.status USING ERRCODE = '55000';
    END IF;
    UPDATE bandit.experiment t SET status = 'completed', ended_at = now(), stop_reason = reason WHERE t.name = e.name;
    INSERT INTO bandit.experiment_audit (experiment, action, detail)
    VALUES (e.name, 'stopped', jsonb_build_object('reason', reason));
END
$$;
COMMENT ON FUNCTION bandit.stop_experiment(text, text) IS
    'Completes a running experiment, with the reason it stopped: no more assignments; metrics of assigned units are still recorded. Privilege: manage on the experiment.';

CREATE FUNCTION bandit.drop_experiment(name text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment;
BEGIN
    PERFORM bandit.require('experiment', name, 'manage');
    e := bandit.experiment_row(name, true);
    DELETE FROM bandit.observation o WHERE o.experiment = e.name;
    DELETE FROM bandit.assignment a WHERE a.experiment = e.name;
    DELETE FROM bandit.stratum s WHERE s.experiment = e.name;
    DELETE FROM bandit.sequential_look l WHERE l.experiment = e.name;
    DELETE FROM bandit.experiment t WHERE t.name = e.name;
    DELETE FROM bandit.object o WHERE o.kind = 'experiment' AND o.name = e.name;
    INSERT INTO bandit.experiment_audit (experiment, action) VALUES (e.name, 'dropped');
END
$$;
COMMENT ON FUNCTION bandit.drop_experiment(text) IS
    'Deletes an experiment with its variants, assignments, observations and sequential state (the audit trail stays). Privilege: manage on the experiment.';

-- Assignment (src/experiment.c)

CREATE FUNCTION bandit.assign(experiment text, unit_id text) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_assign'
    LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.assign(text, text) IS
    'The variant of a unit in a running experiment: at its first call, the variant whose share of the cumulative allocation holds bandit.assignment_point(salt, unit_id), stored; later calls return the stored variant. Deterministic, and independent between experiments (each has its own salt). Privilege: use on the experiment.';

CREATE FUNCTION bandit.assign(experiment text, unit_id text, stratum text) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_assign_stratified'
    LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.assign(text, text, text) IS
    'Stratified assignment: each stratum''s new units, in arrival order, are dealt the slots of blocks that hold every variant in proportion to its allocation (the smallest whole block, at most 1000; else 100 slots by largest remainders), each block shuffled from (salt, stratum, block number); so every stratum follows the allocation to within one block. Stored and sticky like assign(experiment, unit_id). Privilege: use on the experiment.';

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
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    assigned text;
BEGIN
    PERFORM bandit.require('experiment', experiment, 'use');
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
    'Records one value of a metric for an assigned unit of a running or completed experiment; an unassigned unit, NaN or an infinite value is an error. Privilege: use on the experiment.';

CREATE FUNCTION bandit.record_metrics(experiment text, metric text, unit_ids text[], "values" float8[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    missing text;
    inserted bigint;
BEGIN
    PERFORM bandit.require('experiment', experiment, 'use');
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
    'Records many values of one metric at once (unit_ids[i] has values[i]); all or nothing: one unassigned unit or non-finite value rejects the whole call. Returns the rows recorded. Privilege: use on the experiment.';

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

-- CUPED's per-variant moments: per unit Y = mean of the metric's values and
-- X = mean of the covariate's; the units with both in a covariance summary,
-- those without X in a summary of Y.
CREATE FUNCTION bandit.cuped_moments(experiment text, metric text, covariate text)
RETURNS TABLE(variant text, covered bandit.covariance_summary, uncovered bandit.summary)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    WITH y AS (
        SELECT o.unit_id, o.variant, avg(o.value) y FROM bandit.observation o
        WHERE o.experiment = cuped_moments.experiment AND o.metric = cuped_moments.metric GROUP BY o.unit_id, o.variant
    ), x AS (
        SELECT o.unit_id, avg(o.value) x FROM bandit.observation o
        WHERE o.experiment = cuped_moments.experiment AND o.metric = covariate GROUP BY o.unit_id
    )
    SELECT y.variant,
           bandit.covariance_summary_final(count(x.x), avg(x.x), avg(y.y) FILTER (WHERE x.x IS NOT NULL),
                                           regr_sxx(y.y, x.x), regr_syy(y.y, x.x), regr_sxy(y.y, x.x)),
           bandit.summarize(y.y) FILTER (WHERE x.x IS NULL)
    FROM y LEFT JOIN x USING (unit_id)
    GROUP BY y.variant;
END
$$;
COMMENT ON FUNCTION bandit.cuped_moments(text, text, text) IS
    'Per variant, the covariance summary of (X, Y) over the units with both and the summary of Y over those without X (Y, X: a unit''s mean of the metric and of the covariate); used by analyze with a covariate and experiment_summaries';

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

-- The sample-ratio-mismatch p-value of assignment counts given in the
-- variants' position order, wherever they were counted (srm_check counts this
-- node's; analyze_summaries gets the nodes' sums).
CREATE FUNCTION bandit.srm_p_value(e bandit.experiment, assigned bigint[]) RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    share float8[];
    total float8 := (SELECT sum(c) FROM unnest(assigned) c);
BEGIN
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    share := ARRAY(SELECT v.allocation FROM bandit.variant v WHERE v.experiment = e.name ORDER BY v.position);
    RETURN (bandit.chisquare(assigned::float8[], (SELECT array_agg(s * total ORDER BY i) FROM unnest(share) WITH ORDINALITY x(s, i)))).p_value;
END
$$;
COMMENT ON FUNCTION bandit.srm_p_value(bandit.experiment, bigint[]) IS
    'Sample-ratio-mismatch p-value of assignment counts (in the variants'' position order) against the allocation; NULL when they are all 0; used by srm_check, analyze and analyze_summaries';

CREATE FUNCTION bandit.srm_check(experiment text) RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    RETURN bandit.srm_p_value(e, ARRAY(SELECT coalesce(c.n, 0) FROM bandit.variant v
                                       LEFT JOIN bandit.assignment_counts(e.name) c USING (variant)
                                       WHERE v.experiment = e.name ORDER BY v.position));
END
$$;
COMMENT ON FUNCTION bandit.srm_check(text) IS
    'Sample-ratio-mismatch p-value: chi-square goodness of fit of the assignment counts per variant against the allocation, = scipy.stats.chisquare; NULL before any assignment. Below 0.001 the assignment is broken and results are not to be trusted. Privilege: read on the experiment.';

-- Scale-out: each node's share of an experiment, merged at a coordinator
-- (bandit.merge, sum) and analyzed there by analyze_summaries.
CREATE FUNCTION bandit.experiment_shares(experiment text, metric text)
RETURNS TABLE(variant text, assigned bigint, summary bandit.summary, nonbinary bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    IF metric IS NULL THEN
        RAISE EXCEPTION 'metric must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    SELECT v.variant, coalesce(c.n, 0), coalesce(g.summary, '(0,0,0)'::bandit.summary), coalesce(g.nonbinary, 0)
    FROM bandit.variant v
    LEFT JOIN bandit.assignment_counts(e.name) c USING (variant)
    LEFT JOIN bandit.metric_summaries(e.name, metric) g USING (variant)
    WHERE v.experiment = e.name
    ORDER BY v.position;
END
$$;
COMMENT ON FUNCTION bandit.experiment_shares(text, text) IS
    'This node''s share of an experiment on one metric, one row per variant (position order, every variant): units assigned here, the summary of the metric''s values recorded here (empty if none), and how many of them are neither 0 nor 1 (bandit.experiment_summaries with that count). Sum assigned and nonbinary and bandit.merge the summaries over the nodes, then pass them to bandit.analyze_summaries or bandit.decide_summaries with nonbinary: the metric is then binary exactly when analyze would find it so. Privilege: read on the experiment.';

-- The contract's form: the share without the count of non-binary values.
CREATE FUNCTION bandit.experiment_summaries(experiment text, metric text)
RETURNS TABLE(variant text, assigned bigint, summary bandit.summary)
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT s.variant, s.assigned, s.summary FROM bandit.experiment_shares(experiment, metric) s $$;
COMMENT ON FUNCTION bandit.experiment_summaries(text, text) IS
    'This node''s share of an experiment on one metric, one row per variant (position order, every variant): units assigned here and the summary of the metric''s values recorded here (empty if none). Sum assigned and bandit.merge the summaries over the nodes, then pass them to bandit.analyze_summaries or bandit.decide_summaries; bandit.experiment_shares adds the count of values neither 0 nor 1, which makes the binary test exact for a metric not declared in params.metrics. Privilege: read on the experiment.';

CREATE FUNCTION bandit.experiment_summaries(experiment text, metric text, covariate text)
RETURNS TABLE(variant text, assigned bigint, summary bandit.covariance_summary, uncovered bandit.summary)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    IF metric IS NULL OR covariate IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN metric IS NULL THEN 'metric' ELSE 'covariate' END
            USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    SELECT v.variant, coalesce(c.n, 0), coalesce(m.covered, ROW(0, 0, 0, 0, 0, 0)::bandit.covariance_summary),
           coalesce(m.uncovered, '(0,0,0)'::bandit.summary)
    FROM bandit.variant v
    LEFT JOIN bandit.assignment_counts(e.name) c USING (variant)
    LEFT JOIN bandit.cuped_moments(e.name, metric, covariate) m USING (variant)
    WHERE v.experiment = e.name
    ORDER BY v.position;
END
$$;
COMMENT ON FUNCTION bandit.experiment_summaries(text, text, text) IS
    'This node''s share of an experiment for CUPED (analyze with a covariate), one row per variant (position order, every variant): units assigned here, the covariance summary of (X, Y) over its units here with both, and the summary of Y over those without X (Y, X: a unit''s mean of the metric and of the covariate). Sum assigned and bandit.merge the summaries over the nodes, then pass them to bandit.analyze_summaries(experiment, metric, covariate, ...). Privilege: read on the experiment.';

-- Whether every summary is one of 0/1 values: then n * mean is a whole number
-- s and m2 = s (n - s) / n (for values in [0, 1] only 0/1 values give it).
-- Within rounding: Welford's sums carry error, so this is not exact.
CREATE FUNCTION bandit.summaries_binary(summaries bandit.summary[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(bool_and(abs(c - round(c)) <= 1e-9 * n AND round(c) BETWEEN 0 AND n
                             AND abs(m2 - round(c) * (n - round(c)) / n) <= 1e-9 * n), true)
    FROM (SELECT bandit.n(s)::float8 n, bandit.n(s) * bandit.mean(s) c,
                 coalesce(bandit.variance(s) * (bandit.n(s) - 1), 0) m2
          FROM unnest(summaries) s WHERE bandit.n(s) > 0) x
$$;
COMMENT ON FUNCTION bandit.summaries_binary(bandit.summary[]) IS
    'Whether every non-empty summary is, within 1e-9 n, that of values all 0 or 1 (n mean a whole number s, m2 = s (n - s) / n); analyze_summaries'' test of a binary metric when it is given neither a declaration nor nonbinary counts';

-- One variant's covered units adjusted: the summary of Y - theta (X - mean X)
-- from their moments (NULL when there are none).
CREATE FUNCTION bandit.cuped_adjusted(pairs bandit.covariance_summary, theta float8, mean_x float8)
RETURNS bandit.summary
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.make_summary(pairs.n, pairs.mean_y - theta * (pairs.mean_x - mean_x),
                               CASE WHEN pairs.n > 1 THEN sqrt(greatest(0, pairs.m2_y - 2 * theta * pairs.c_xy + theta * theta * pairs.m2_x) / (pairs.n - 1))
                                    ELSE 0 END)
    WHERE pairs.n > 0
$$;
COMMENT ON FUNCTION bandit.cuped_adjusted(bandit.covariance_summary, float8, float8) IS
    'The summary of Y - theta (X - mean_x) over the pairs a covariance summary holds: mean_y - theta (mean_x of the pairs - mean_x), m2_y - 2 theta c_xy + theta^2 m2_x; NULL when empty; used by cuped_adjust';

-- CUPED from the variants' moments: theta = cov(X, Y) / var(X) over all
-- units, units without X taking the mean X (which adds nothing to either sum);
-- each variant's summary of Y - theta (X - mean X).  The one path of analyze
-- with a covariate, here and from summaries.
CREATE FUNCTION bandit.cuped_adjust(covered bandit.covariance_summary[], uncovered bandit.summary[])
RETURNS bandit.summary[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pooled bandit.covariance_summary := (SELECT bandit.merge(c) FROM unnest(covered) c);
    theta float8 := CASE WHEN pooled.m2_x > 0 THEN pooled.c_xy / pooled.m2_x ELSE 0 END;
BEGIN
    RETURN ARRAY(
        SELECT (SELECT bandit.merge(s) FROM (VALUES (uncovered[i]), (bandit.cuped_adjusted(covered[i], theta, pooled.mean_x))) v(s))
        FROM generate_subscripts(covered, 1) i ORDER BY i);
END
$$;
COMMENT ON FUNCTION bandit.cuped_adjust(bandit.covariance_summary[], bandit.summary[]) IS
    'CUPED from moments: each variant''s summary of Y - theta (X - mean X) (units without X: Y), theta = cov(X, Y) / var(X) pooled over the variants'' covered units (0 without variance in X); used by analyze with a covariate and analyze_summaries';

CREATE TYPE bandit.variant_result AS (
    variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
    p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
    significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
    expected_loss float8, srm_p_value float8, warning text, sd float8);
COMMENT ON TYPE bandit.variant_result IS 'One row of bandit.analyze: a variant and its comparison with the control';

-- Compares each treatment with the control, given each variant's summary
-- (position order, NULL for no data) and the sample-ratio-mismatch p-value:
-- the one path of analyze, analyze with a covariate, and analyze_summaries.
CREATE FUNCTION bandit.compare_variants(e bandit.experiment, metric text, names text[], summaries bandit.summary[],
                                        is_binary boolean, test_name text, srm float8)
RETURNS SETOF bandit.variant_result
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k int := cardinality(names);
    alpha float8 := (e.params->>'alpha')::float8;
    sequential boolean := (e.params->>'sequential')::boolean;
    z float8 := bandit.normal_quantile(1 - alpha / 2);
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
    IF srm < 0 OR srm > 1 OR srm = 'NaN' THEN
        RAISE EXCEPTION 'srm must be a p-value in [0, 1] or NULL, got %', srm USING ERRCODE = '22003';
    END IF;
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
COMMENT ON FUNCTION bandit.compare_variants(bandit.experiment, text, text[], bandit.summary[], boolean, text, float8) IS
    'The comparison behind bandit.analyze and bandit.analyze_summaries, given each variant''s summary and the sample-ratio-mismatch p-value';

CREATE FUNCTION bandit.analyze(experiment text, metric text)
RETURNS TABLE(variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
              p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
              significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
              expected_loss float8, srm_p_value float8, warning text, sd float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    names text[];
    assigned bigint[];
    summaries bandit.summary[];
    nonbinary bigint;
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    IF metric IS NULL THEN
        RAISE EXCEPTION 'metric must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(v.variant ORDER BY v.position), array_agg(coalesce(c.n, 0) ORDER BY v.position),
           array_agg(g.summary ORDER BY v.position), sum(g.nonbinary)
    INTO names, assigned, summaries, nonbinary
    FROM bandit.variant v
    LEFT JOIN bandit.assignment_counts(e.name) c USING (variant)
    LEFT JOIN bandit.metric_summaries(e.name, metric) g USING (variant)
    WHERE v.experiment = e.name;
    RETURN QUERY SELECT * FROM bandit.compare_variants(e, metric, names, summaries,
        coalesce(e.params->'metrics'->>metric = 'binary', coalesce(nonbinary, 0) = 0), 'welch',
        bandit.srm_p_value(e, assigned));
END
$$;
COMMENT ON FUNCTION bandit.analyze(text, text) IS
    'Each variant of an experiment against the control (first row) on one metric, each observation one sample. Binary metrics (every value 0 or 1, or declared binary): Wilson intervals, chi-square with Yates'' correction or Fisher''s exact test when an expected count is below 5, Wald interval of the difference, Cohen''s h, exact Beta posteriors for prob_best and expected_loss. Continuous: t intervals, Welch''s t-test and interval, Cohen''s d, normal posteriors. adjusted_p_value: Holm across the treatments; significant: adjusted p < alpha, never on a sample-ratio mismatch (srm p < 0.001, see warning). With params.sequential: mSPRT always-valid p-values and confidence sequences (test msprt) that never loosen between calls. Intervals at level 1 - alpha. Privilege: read on the experiment.';

CREATE FUNCTION bandit.analyze(experiment text, metric text, covariate text)
RETURNS TABLE(variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
              p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
              significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
              expected_loss float8, srm_p_value float8, warning text, sd float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    names text[];
    assigned bigint[];
    covered bandit.covariance_summary[];
    uncovered bandit.summary[];
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    IF metric IS NULL OR covariate IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN metric IS NULL THEN 'metric' ELSE 'covariate' END
            USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(v.variant ORDER BY v.position), array_agg(coalesce(c.n, 0) ORDER BY v.position),
           array_agg(m.covered ORDER BY v.position), array_agg(m.uncovered ORDER BY v.position)
    INTO names, assigned, covered, uncovered
    FROM bandit.variant v
    LEFT JOIN bandit.assignment_counts(e.name) c USING (variant)
    LEFT JOIN bandit.cuped_moments(e.name, metric, covariate) m USING (variant)
    WHERE v.experiment = e.name;
    RETURN QUERY SELECT * FROM bandit.compare_variants(e, metric, names, bandit.cuped_adjust(covered, uncovered),
        false, 'welch (cuped)', bandit.srm_p_value(e, assigned));
END
$$;
COMMENT ON FUNCTION bandit.analyze(text, text, text) IS
    'analyze with a pre-period covariate (CUPED), for continuous metrics: per unit Y = mean of the metric''s values and X = mean of the covariate''s (units without one get the mean X of those with one); theta = cov(X, Y) / var(X) over all units (0 when X does not vary or no unit has one), from mergeable per-variant moments (bandit.cuped_adjust, as analyze_summaries does); each variant''s Y - theta (X - mean X) then compared as analyze does (Welch). Means are of the adjusted values. Privilege: read on the experiment.';

-- The arguments of analyze_summaries checked (each array one-dimensional,
-- others[j] the length of the j-th array of summaries, -1 if of more
-- dimensions; every variant of the experiment once, with its count): for each
-- variant in position order, its index in variants.
CREATE FUNCTION bandit.summaries_order(e bandit.experiment, variants text[], assigned bigint[], nonbinary bigint[],
                                       others integer[], what text)
RETURNS integer[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    ord integer[];
BEGIN
    IF variants IS NULL OR assigned IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN variants IS NULL THEN 'variants' ELSE 'assigned' END
            USING ERRCODE = '22004';
    END IF;
    IF coalesce(array_ndims(variants), 1) <> 1 OR coalesce(array_ndims(assigned), 1) <> 1
       OR coalesce(array_ndims(nonbinary), 1) <> 1
       -- elements are paired by position: an array from another index than 1 would shift them
       OR coalesce(array_lower(variants, 1), 1) <> 1 OR coalesce(array_lower(assigned, 1), 1) <> 1
       OR coalesce(array_lower(nonbinary, 1), 1) <> 1
       OR cardinality(assigned) <> cardinality(variants) OR cardinality(nonbinary) <> cardinality(variants)
       OR EXISTS (SELECT FROM unnest(others) o WHERE o IS DISTINCT FROM cardinality(variants)) THEN
        RAISE EXCEPTION 'variants, assigned, % (and nonbinary) must be one-dimensional arrays of one length from index 1: got % variants (from %), % assigned (from %), % (%)%',
            what, cardinality(variants), coalesce(array_lower(variants, 1), 1), cardinality(assigned), coalesce(array_lower(assigned, 1), 1),
            array_to_string(ARRAY(SELECT CASE WHEN o < 0 THEN 'not one-dimensional from index 1' ELSE o::text END FROM unnest(others) o), ', '),
            what, coalesce(', ' || cardinality(nonbinary) || ' nonbinary', '')
            USING ERRCODE = '2202E';
    END IF;
    FOR r IN SELECT u.name, u.a, u.b, u.i, count(*) OVER (PARTITION BY u.name) copies,
                    EXISTS (SELECT FROM bandit.variant v WHERE v.experiment = e.name AND v.variant = u.name) known
             FROM unnest(variants, assigned, nonbinary) WITH ORDINALITY u(name, a, b, i) ORDER BY u.i LOOP
        IF r.name IS NULL THEN
            RAISE EXCEPTION 'variants[%] must not be NULL', r.i USING ERRCODE = '22004';
        ELSIF NOT r.known THEN
            RAISE EXCEPTION 'variants[%] = "%" is not a variant of experiment "%"', r.i, r.name, e.name
                USING ERRCODE = '22023';
        ELSIF r.copies > 1 THEN
            RAISE EXCEPTION 'variant "%" appears % times in variants: merge each variant''s rows first', r.name, r.copies
                USING ERRCODE = '22023';
        ELSIF r.a IS NULL THEN
            RAISE EXCEPTION 'assigned[%], the assignment count of variant "%", is NULL: the sample-ratio check needs every variant''s count', r.i, r.name
                USING ERRCODE = '22004';
        ELSIF r.a < 0 THEN
            RAISE EXCEPTION 'assigned[%] = % is negative', r.i, r.a USING ERRCODE = '22003';
        ELSIF nonbinary IS NOT NULL AND r.b IS NULL THEN
            RAISE EXCEPTION 'nonbinary[%] of variant "%" is NULL', r.i, r.name USING ERRCODE = '22004';
        ELSIF r.b < 0 THEN
            RAISE EXCEPTION 'nonbinary[%] = % is negative', r.i, r.b USING ERRCODE = '22003';
        END IF;
    END LOOP;
    SELECT array_agg(u.i ORDER BY v.position) INTO ord
    FROM bandit.variant v
    LEFT JOIN unnest(variants) WITH ORDINALITY u(name, i) ON u.name = v.variant
    WHERE v.experiment = e.name;
    SELECT v.variant INTO r FROM bandit.variant v
    WHERE v.experiment = e.name AND v.variant <> ALL (variants) ORDER BY v.position LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the assignment count of variant "%" is missing: the sample-ratio check needs every variant''s count', r.variant
            USING ERRCODE = '22004';
    END IF;
    RETURN ord;
END
$$;
COMMENT ON FUNCTION bandit.summaries_order(bandit.experiment, text[], bigint[], bigint[], integer[], text) IS
    'Checks the arrays given to analyze_summaries (shapes 2202E, NULLs 22004, unknown or repeated variants 22023, a missing variant''s count 22004) and returns, per variant in position order, its index in variants';

-- analyze at a coordinator, from the nodes' merged experiment_summaries.
CREATE FUNCTION bandit.analyze_summaries(experiment text, metric text, variants text[], assigned bigint[],
                                         summaries bandit.summary[], nonbinary bigint[])
RETURNS TABLE(variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
              p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
              significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
              expected_loss float8, srm_p_value float8, warning text, sd float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    ord integer[];
    sums bandit.summary[];
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    IF metric IS NULL OR summaries IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN metric IS NULL THEN 'metric' ELSE 'summaries' END
            USING ERRCODE = '22004';
    END IF;
    ord := bandit.summaries_order(e, variants, assigned, nonbinary,
                                  ARRAY[CASE WHEN array_ndims(summaries) > 1 OR array_lower(summaries, 1) <> 1 THEN -1 ELSE cardinality(summaries) END],
                                  'summaries');
    sums := ARRAY(SELECT summaries[i] FROM unnest(ord) WITH ORDINALITY o(i, p) ORDER BY p);
    RETURN QUERY SELECT * FROM bandit.compare_variants(e, metric,
        ARRAY(SELECT variants[i] FROM unnest(ord) WITH ORDINALITY o(i, p) ORDER BY p), sums,
        coalesce(e.params->'metrics'->>metric = 'binary',
                 CASE WHEN nonbinary IS NULL THEN bandit.summaries_binary(sums)
                      ELSE (SELECT coalesce(sum(b), 0) = 0 FROM unnest(nonbinary) b) END),
        'welch', bandit.srm_p_value(e, ARRAY(SELECT assigned[i] FROM unnest(ord) WITH ORDINALITY o(i, p) ORDER BY p)));
END
$$;
COMMENT ON FUNCTION bandit.analyze_summaries(text, text, text[], bigint[], bandit.summary[], bigint[]) IS
    'bandit.analyze of an experiment whose units live on several nodes, at a coordinator holding its definition: variants[i] (each variant of the experiment once, any order) had assigned[i] units and summaries[i] of the metric (NULL: none), as summed and merged from each node''s bandit.experiment_shares. Same columns and values as analyze on all the data: the sample-ratio check from the assigned counts (a NULL or missing count is 22004), the same tests, Holm, prob_best; sequential looks are recorded here. The metric is binary if declared so in params.metrics, else if nonbinary (summed from experiment_shares) is all 0, else (nonbinary NULL) if every summary is that of 0/1 values within rounding. Arrays of different lengths are 2202E, an unknown or repeated variant 22023. Privilege: read on the experiment.';

-- The contract's form: without the nonbinary counts (the binary test then
-- reads the summaries, or params.metrics).
CREATE FUNCTION bandit.analyze_summaries(experiment text, metric text, variants text[], assigned bigint[],
                                         summaries bandit.summary[])
RETURNS TABLE(variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
              p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
              significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
              expected_loss float8, srm_p_value float8, warning text, sd float8)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM bandit.analyze_summaries(experiment, metric, variants, assigned, summaries, NULL::bigint[]) $$;
COMMENT ON FUNCTION bandit.analyze_summaries(text, text, text[], bigint[], bandit.summary[]) IS
    'bandit.analyze_summaries without the nonbinary counts: the metric is binary if declared so in params.metrics, else if every summary is that of 0/1 values within rounding (values outside [0, 1] can mimic that: pass the counts of bandit.experiment_shares to be exact). Privilege: read on the experiment.';

-- analyze with a covariate (CUPED) at a coordinator, from the nodes' merged
-- experiment_summaries(experiment, metric, covariate).
CREATE FUNCTION bandit.analyze_summaries(experiment text, metric text, covariate text, variants text[], assigned bigint[],
                                         summaries bandit.covariance_summary[], uncovered bandit.summary[])
RETURNS TABLE(variant text, n bigint, mean float8, ci_lower float8, ci_upper float8, diff float8,
              p_value float8, adjusted_p_value float8, effect_size float8, prob_best float8, test text,
              significant boolean, diff_ci_lower float8, diff_ci_upper float8, relative_lift float8,
              expected_loss float8, srm_p_value float8, warning text, sd float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    ord integer[];
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    IF metric IS NULL OR covariate IS NULL OR summaries IS NULL OR uncovered IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN metric IS NULL THEN 'metric' WHEN covariate IS NULL THEN 'covariate'
                                                   WHEN summaries IS NULL THEN 'summaries' ELSE 'uncovered' END
            USING ERRCODE = '22004';
    END IF;
    ord := bandit.summaries_order(e, variants, assigned, NULL,
                                  ARRAY[CASE WHEN array_ndims(summaries) > 1 OR array_lower(summaries, 1) <> 1 THEN -1 ELSE cardinality(summaries) END,
                                        CASE WHEN array_ndims(uncovered) > 1 OR array_lower(uncovered, 1) <> 1 THEN -1 ELSE cardinality(uncovered) END],
                                  'summaries, uncovered');
    RETURN QUERY SELECT * FROM bandit.compare_variants(e, metric,
        ARRAY(SELECT variants[i] FROM unnest(ord) WITH ORDINALITY o(i, p) ORDER BY p),
        bandit.cuped_adjust(ARRAY(SELECT summaries[i] FROM unnest(ord) WITH ORDINALITY o(i, p) ORDER BY p),
                            ARRAY(SELECT uncovered[i] FROM unnest(ord) WITH ORDINALITY o(i, p) ORDER BY p)),
        false, 'welch (cuped)',
        bandit.srm_p_value(e, ARRAY(SELECT assigned[i] FROM unnest(ord) WITH ORDINALITY o(i, p) ORDER BY p)));
END
$$;
COMMENT ON FUNCTION bandit.analyze_summaries(text, text, text, text[], bigint[], bandit.covariance_summary[], bandit.summary[]) IS
    'bandit.analyze(experiment, metric, covariate) (CUPED) of an experiment whose units live on several nodes, at a coordinator holding its definition: variants[i] had assigned[i] units, summaries[i] of (covariate, metric) over its units with both and uncovered[i] of the metric over its units without the covariate (NULL: none), as summed and merged (bandit.merge) from each node''s bandit.experiment_summaries(experiment, metric, covariate). Same columns and values as analyze with the covariate on all the data; errors as analyze_summaries. Privilege: read on the experiment.';

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

-- What to do, given analyze's rows: the one path of decide and decide_summaries.
CREATE FUNCTION bandit.decide_variants(e bandit.experiment, rows bandit.variant_result[])
RETURNS TABLE(decision text, winner text, reason text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    alpha float8 := (e.params->>'alpha')::float8;
    sequential boolean := (e.params->>'sequential')::boolean;
    threshold float8 := CASE WHEN (e.params->>'sequential')::boolean THEN (e.params->>'alpha')::float8
                             ELSE (e.params->>'early_alpha')::float8 END;
    min_n bigint := (e.params->>'min_sample_size')::bigint;
    max_n bigint := (e.params->>'max_sample_size')::bigint;
    min_effect float8 := (e.params->>'min_effect')::float8;
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
COMMENT ON FUNCTION bandit.decide_variants(bandit.experiment, bandit.variant_result[]) IS
    'The decision behind bandit.decide and bandit.decide_summaries, given the rows of analyze';

CREATE FUNCTION bandit.decide(experiment text, metric text)
RETURNS TABLE(decision text, winner text, reason text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    RETURN QUERY SELECT * FROM bandit.decide_variants(e,
        ARRAY(SELECT ROW(a.*)::bandit.variant_result FROM bandit.analyze(experiment, metric) a));
END
$$;
COMMENT ON FUNCTION bandit.decide(text, text) IS
    'What to do with an experiment on one metric: continue, stop_success (a treatment beats the control with Holm-adjusted p below alpha if sequential, else early_alpha, by at least min_effect; winner names the largest), stop_failure (the control beats every treatment so), stop_futility (with max_sample_size: power at that size to detect min_effect, or the observed effect when min_effect is 0, below 0.2 for every treatment, or the size reached). Never stops before min_sample_size per variant or on a sample-ratio mismatch. reason says why in words. Privilege: read on the experiment.';

CREATE FUNCTION bandit.decide_summaries(experiment text, metric text, variants text[], assigned bigint[],
                                        summaries bandit.summary[], nonbinary bigint[])
RETURNS TABLE(decision text, winner text, reason text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    RETURN QUERY SELECT * FROM bandit.decide_variants(e,
        ARRAY(SELECT ROW(a.*)::bandit.variant_result
              FROM bandit.analyze_summaries(experiment, metric, variants, assigned, summaries, nonbinary) a));
END
$$;
COMMENT ON FUNCTION bandit.decide_summaries(text, text, text[], bigint[], bandit.summary[], bigint[]) IS
    'bandit.decide from the nodes'' merged bandit.experiment_summaries, at a coordinator holding the experiment''s definition: the same decision and reason as decide on all the data, from bandit.analyze_summaries'' rows (arguments as there). Privilege: read on the experiment.';

-- The contract's form: without the nonbinary counts (the binary test then
-- reads the summaries, or params.metrics).
CREATE FUNCTION bandit.decide_summaries(experiment text, metric text, variants text[], assigned bigint[],
                                        summaries bandit.summary[])
RETURNS TABLE(decision text, winner text, reason text)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM bandit.decide_summaries(experiment, metric, variants, assigned, summaries, NULL::bigint[]) $$;
COMMENT ON FUNCTION bandit.decide_summaries(text, text, text[], bigint[], bandit.summary[]) IS
    'bandit.decide_summaries without the nonbinary counts: the metric is binary if declared so in params.metrics, else if every summary is that of 0/1 values within rounding (values outside [0, 1] can mimic that: pass the counts of bandit.experiment_shares to be exact). Privilege: read on the experiment.';

-- A text report for psql

CREATE FUNCTION bandit.report(experiment text, metric text) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
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
    -- what the bars are drawn with: axis ends and rule, the bars' frame,
    -- the interval, the mean, and the dash before remarks
    axis_left text := '|';
    axis_rule text := '-';
    axis_right text := '|';
    frame text := '|';
    fill text := '=';
    mark text := 'o';
    dash text := '-';
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
    -- Box drawing only where the database encoding has it; every other server
    -- encoding has ASCII.  chr() rather than literals keeps this script ASCII,
    -- which every encoding reads alike, and is planned only in this branch.
    IF getdatabaseencoding() = 'UTF8' THEN
        axis_left := chr(9500);   -- U+251C
        axis_rule := chr(9472);   -- U+2500
        axis_right := chr(9508);  -- U+2524
        frame := chr(9474);       -- U+2502
        fill := chr(9473);        -- U+2501
        mark := chr(9679);        -- U+25CF
        dash := chr(8212);        -- U+2014
    END IF;
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
                       axis_left || repeat(axis_rule, width) || axis_right);
    -- positions count characters (repeat, overlay), so a mark never lands inside another
    FOR r IN SELECT * FROM unnest(rows) LOOP
        IF r.ci_lower IS NULL OR highest IS NULL OR highest <= lowest THEN
            bar := repeat(' ', width);
        ELSE
            first := least(width, 1 + floor((r.ci_lower - lowest) / (highest - lowest) * width)::int);
            last := least(width, 1 + floor((r.ci_upper - lowest) / (highest - lowest) * width)::int);
            center := least(width, 1 + floor((r.mean - lowest) / (highest - lowest) * width)::int);
            bar := repeat(' ', first - 1) || repeat(fill, last - first + 1) || repeat(' ', width - last);
            bar := overlay(bar PLACING mark FROM center FOR 1);
        END IF;
        RETURN NEXT format('%s %10s %12s  %-25s %s%s%s', rpad(r.variant, name_width), r.n, bandit.format_number(r.mean),
                           CASE WHEN r.ci_lower IS NULL THEN '' ELSE format('[%s, %s]', bandit.format_number(r.ci_lower),
                                                                            bandit.format_number(r.ci_upper)) END,
                           frame, bar, frame);
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
                           CASE WHEN r.significant THEN ' ' || dash || ' significant' ELSE '' END,
                           coalesce(' ' || dash || ' ' || r.warning, ''));
    END LOOP;
    SELECT * INTO d FROM bandit.decide(experiment, metric);
    RETURN NEXT format('decision: %s%s %s %s', d.decision, coalesce(' (' || d.winner || ')', ''), dash, d.reason);
END
$$;
COMMENT ON FUNCTION bandit.report(text, text) IS
    'A text report of an experiment on one metric for psql (SELECT * FROM bandit.report(...)): each variant''s n, mean and interval drawn as a bar on one common axis, each treatment against the control, and the decision. Bars are 40 characters wide and drawn by characters: in a UTF-8 database with box drawing (U+2501 the interval, U+25CF the mean, U+2502 the frame, U+251C U+2500 U+2524 the axis, U+2014 the dash before remarks); in any other encoding with ASCII (= the interval, o the mean, | the frame, |-| the axis, - the dash), so a line has as many characters in every database (SQL_ASCII, which knows no characters, counts a non-ASCII name''s bytes). Privilege: read on the experiment.';

-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.experiment_params(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.experiment_row(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.check_metric(bandit.experiment, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.metric_summaries(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.assignment_counts(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.compare_variants(bandit.experiment, text, text[], bandit.summary[], boolean, text, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.srm_p_value(bandit.experiment, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.summaries_binary(bandit.summary[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.decide_variants(bandit.experiment, bandit.variant_result[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.summaries_order(bandit.experiment, text[], bigint[], bigint[], integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.cuped_moments(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.cuped_adjust(bandit.covariance_summary[], bandit.summary[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.cuped_adjusted(bandit.covariance_summary, float8, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.format_number(double precision) FROM PUBLIC;
-- Creating objects is for the roles a DBA grants EXECUTE on these.
REVOKE ALL ON FUNCTION bandit.create_experiment(text, text[], double precision[], jsonb) FROM PUBLIC;
