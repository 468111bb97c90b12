-- Nothing but bandit's own objects is ever resolved while installing or
-- updating: only pg_catalog is searched (not the schema, where a role with
-- CREATE on it could have put a better-matching function or operator).
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

-- Every SECURITY DEFINER function names bandit's objects by schema: the
-- schema must belong to the installing role (or a superuser), and hold
-- nothing that was there before.
DO $$
DECLARE
    owner name;
BEGIN
    SELECT r.rolname INTO owner FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
    WHERE n.nspname = 'bandit' AND r.rolname <> current_user AND NOT r.rolsuper;
    IF owner IS NOT NULL THEN
        RAISE EXCEPTION 'schema bandit belongs to role %, who could replace what bandit''s functions call', owner
            USING ERRCODE = '42501', HINT = 'Drop the schema (or make the installing role or a superuser its owner), then CREATE EXTENSION bandit.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace = 'bandit'::regnamespace)
       OR EXISTS (SELECT FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'bandit'::regnamespace)
       OR EXISTS (SELECT FROM pg_catalog.pg_type t WHERE t.typnamespace = 'bandit'::regnamespace)
       OR EXISTS (SELECT FROM pg_catalog.pg_operator o WHERE o.oprnamespace = 'bandit'::regnamespace) THEN
        RAISE EXCEPTION 'schema bandit already holds objects'
            USING ERRCODE = '42P06', HINT = 'bandit installs into a schema of its own: drop or rename the existing one.';
    END IF;
END
$$;

COMMENT ON SCHEMA bandit IS 'bandit: online learning and experiment statistics';
-- Every role may call the pure functions and read (row-level security filters
-- the state tables); what touches an object checks the caller's privilege on it.
GRANT USAGE ON SCHEMA bandit TO PUBLIC;

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

-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.check_param_keys(jsonb, jsonb) FROM PUBLIC;
