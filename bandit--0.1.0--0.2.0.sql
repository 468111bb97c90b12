-- bandit 0.1.0 -> 0.2.0.  Every change to installed SQL since 0.1.0, so that
-- ALTER EXTENSION bandit UPDATE gives the catalog a fresh 0.2.0 install has
-- (test/upgrade_test.py compares the two).
\echo Use "ALTER EXTENSION bandit UPDATE TO '0.2.0'" to load this file. \quit

-- Nothing but bandit's own objects is resolved while updating: only
-- pg_catalog is searched (under 0.1.0 a role with CREATE on the schema could
-- have put a better-matching function or operator there).
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

-- 0.2.0's functions write as the extension's owner: what roles made with
-- 0.1.0's hand-made grants (objects in the schema, triggers on its tables,
-- foreign keys to them) would run or hold as that owner.  Refuse to update
-- until they are gone.
DO $$
DECLARE
    planted text;
BEGIN
    WITH ext AS (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'bandit'),
    member AS (SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
               WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
    found AS (
        SELECT pg_catalog.format('%s %s', CASE c.relkind WHEN 'i' THEN 'index' ELSE 'relation' END, c.oid::regclass) AS what
        FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind NOT IN ('i', 't', 'S', 'c')
          AND NOT EXISTS (SELECT FROM member m WHERE m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid)
        UNION ALL
        SELECT pg_catalog.format('function %s', p.oid::regprocedure) FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = 'bandit'::regnamespace
          AND NOT EXISTS (SELECT FROM member m WHERE m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid)
        UNION ALL
        SELECT pg_catalog.format('operator %s', o.oid::regoperator) FROM pg_catalog.pg_operator o
        WHERE o.oprnamespace = 'bandit'::regnamespace
          AND NOT EXISTS (SELECT FROM member m WHERE m.classid = 'pg_catalog.pg_operator'::regclass AND m.objid = o.oid)
        UNION ALL
        SELECT pg_catalog.format('type %s', t.oid::regtype) FROM pg_catalog.pg_type t
        WHERE t.typnamespace = 'bandit'::regnamespace AND t.typelem = 0
          AND (t.typrelid = 0 OR t.typtype = 'c' AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
          AND NOT EXISTS (SELECT FROM member m WHERE m.classid = 'pg_catalog.pg_type'::regclass AND m.objid = t.oid)
        UNION ALL
        SELECT pg_catalog.format('trigger %s on %s', g.tgname, g.tgrelid::regclass) FROM pg_catalog.pg_trigger g
        JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
        WHERE c.relnamespace = 'bandit'::regnamespace AND NOT g.tgisinternal
        UNION ALL
        SELECT pg_catalog.format('foreign key %s on %s', k.conname, k.conrelid::regclass) FROM pg_catalog.pg_constraint k
        JOIN pg_catalog.pg_class c ON c.oid = k.confrelid JOIN pg_catalog.pg_class f ON f.oid = k.conrelid
        WHERE k.contype = 'f' AND c.relnamespace = 'bandit'::regnamespace AND f.relnamespace <> 'bandit'::regnamespace)
    SELECT pg_catalog.string_agg(what, ', ' ORDER BY what) INTO planted FROM found;
    IF planted IS NOT NULL THEN
        RAISE EXCEPTION 'schema bandit holds what bandit did not make: %', planted
            USING ERRCODE = '55000',
                  HINT = 'From 0.2.0 bandit''s functions run as the extension''s owner, so these would too: drop them, then ALTER EXTENSION bandit UPDATE.';
    END IF;
END
$$;

-- == access control (src/bandit.sql, src/access.sql): owners, grants of
-- use/read/manage, and the filter that row-level security puts on every
-- state table (src/access.c).

GRANT USAGE ON SCHEMA bandit TO PUBLIC;

CREATE TABLE bandit.object (
    kind text NOT NULL CHECK (kind IN ('policy', 'experiment', 'agent', 'scope', 'priors')),
    name text NOT NULL,
    owner regrole NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (kind, name)
);
COMMENT ON TABLE bandit.object IS
    'Every policy, experiment, Q-learning agent and tuning scope, and the priors (one object named *), with its owner: the role that created it, holding every privilege on it';

CREATE TABLE bandit.permission (
    kind text NOT NULL,
    name text NOT NULL,
    grantee regrole NOT NULL,
    privilege text NOT NULL CHECK (privilege IN ('use', 'read', 'manage')),
    granted_by regrole NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (kind, name, grantee, privilege),
    FOREIGN KEY (kind, name) REFERENCES bandit.object (kind, name) ON DELETE CASCADE
);
COMMENT ON TABLE bandit.permission IS
    'Privileges granted on objects by bandit.grant: use (the application''s calls), read (statistics and the object''s rows), manage (everything else; implies use and read)';

-- The objects of 0.1.0, owned by the extension's owner (who could do
-- everything to them), and the priors, one object.
-- Created when they were (an experiment's audit trail is read from then on).
INSERT INTO bandit.object (kind, name, owner, created_at)
SELECT o.kind, o.name, e.extowner::regrole, min(o.created_at)
FROM pg_catalog.pg_extension e,
     (SELECT 'priors', '*', pg_catalog.now()
      UNION ALL SELECT 'policy', name, created_at FROM bandit.policy
      UNION ALL SELECT 'experiment', name, created_at FROM bandit.experiment
      UNION ALL SELECT 'agent', agent, pg_catalog.now() FROM bandit.q_table
      UNION ALL SELECT 'agent', agent, pg_catalog.now() FROM bandit.transition
      UNION ALL SELECT 'scope', scope, created_at FROM bandit.tuning_scope) o(kind, name, created_at)
WHERE e.extname = 'bandit'
GROUP BY o.kind, o.name, e.extowner;
SELECT pg_catalog.pg_extension_config_dump('bandit.object', $$WHERE kind <> 'priors'$$);
SELECT pg_catalog.pg_extension_config_dump('bandit.permission', '');

CREATE FUNCTION bandit.caller() RETURNS regrole
AS 'MODULE_PATHNAME', 'bandit_caller' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.caller() IS
    'The role bandit checks privileges for: the role the session runs as (SET ROLE counts), not the owner of a SECURITY DEFINER function in between';

CREATE FUNCTION bandit.require(kind text, name text, privilege text, create_missing boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'bandit_require' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.require(text, text, text, boolean) IS
    'Internal: raises 42501 unless the caller holds privilege (use, read, manage) on the object, 42704 if it does not exist (an agent not yet created passes; with create_missing an agent or scope is created owned by the caller)';
REVOKE ALL ON FUNCTION bandit.require(text, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION bandit.grant(kind text, name text, grantee regrole, privilege text) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_grant' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.grant(text, text, regrole, text) IS
    'Grants use, read or manage on a policy, experiment, agent, scope or the priors (name *) to a role (and its members); granting twice changes nothing. Privilege: manage on the object.';

CREATE FUNCTION bandit.revoke(kind text, name text, grantee regrole, privilege text) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_revoke' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.revoke(text, text, regrole, text) IS
    'Revokes a privilege granted by bandit.grant (revoking manage leaves use and read granted separately); revoking what was not granted changes nothing. Privilege: manage on the object.';

CREATE FUNCTION bandit.holds(role regrole) RETURNS boolean
AS 'MODULE_PATHNAME', 'bandit_holds' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.holds(regrole) IS
    'Whether the caller (bandit.caller()) has the privileges of role, as a member inheriting them or as a superuser; false for a dropped role';

CREATE FUNCTION bandit.set_owner(kind text, name text, new_owner regrole) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_set_owner' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.set_owner(text, text, regrole) IS
    'Gives an object to another owner, as ALTER ... OWNER TO does (before DROP ROLE of its owner, say): grants stay; the priors always belong to the extension''s owner (0A000). Privilege: ownership of the object (or superuser), and membership in new_owner.';

-- The filter of row-level security: called once per query (a hashed subplan).
CREATE FUNCTION bandit.readable(kind text DEFAULT NULL) RETURNS TABLE (kind text, name text)
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.kind, o.name FROM bandit.object o
    WHERE ($1 IS NULL OR o.kind = $1)
      AND (bandit.holds(o.owner)
           OR EXISTS (SELECT FROM bandit.permission p
                      WHERE p.kind = o.kind AND p.name = o.name AND p.privilege IN ('read', 'manage')
                        AND bandit.holds(p.grantee)))
$$;
COMMENT ON FUNCTION bandit.readable(text) IS
    'The objects (of a kind, or all) that the caller may read: owned, or read or manage granted; the row-level security of every state table';

GRANT SELECT ON bandit.object, bandit.permission TO PUBLIC;
ALTER TABLE bandit.object ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.object FOR SELECT USING ((kind, name) IN (SELECT * FROM bandit.readable()));
ALTER TABLE bandit.permission ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.permission FOR SELECT
    USING ((kind, name) IN (SELECT * FROM bandit.readable())
           OR bandit.holds(grantee));

CREATE VIEW bandit.privileges WITH (security_invoker = true) AS
SELECT kind, name, grantee, privilege, granted_by, granted_at FROM bandit.permission;
COMMENT ON VIEW bandit.privileges IS
    'The grants the caller may see: those on objects it may read, and those to roles it belongs to';
GRANT SELECT ON bandit.privileges TO PUBLIC;

-- == hardening: policies (src/policy.sql, src/choice.sql)

-- LinUCB's cache is keyed by a stamp that no rewrite of bandit.arm reassigns
-- (see src/linucb.c, LinUcbKey); new_arm built a whole bandit.arm row and
-- gives way to INSERTs that leave state_stamp to its default.
DROP FUNCTION bandit.new_arm(bandit.policy, text);
CREATE FUNCTION bandit.state_stamp() RETURNS bigint
AS 'MODULE_PATHNAME', 'bandit_state_stamp' LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.state_stamp() IS
    'A random 64-bit stamp from the strong random source (not bandit.set_seed''s generator), for bandit.arm.state_stamp';
ALTER TABLE bandit.arm ADD COLUMN state_stamp bigint NOT NULL DEFAULT bandit.state_stamp();
-- add_arm checks the arm limits against a count of each policy's arms
-- (counting them made each call cost their number).  Apart from the policy row, so
-- that add_arm calls take turns on the count's row lock without waiting on
-- the policy row's other writers (a decaying epsilon counts its decisions there).
CREATE TABLE bandit.arm_count (
    policy text PRIMARY KEY REFERENCES bandit.policy (name) ON DELETE CASCADE,
    arms integer NOT NULL
);
COMMENT ON TABLE bandit.arm_count IS
    'Number of arms of each policy (retired ones included), kept by create_policy, add_arm and restore so that add_arm checks the arm limits without counting; its row lock makes concurrent add_arm calls on one policy take turns';
INSERT INTO bandit.arm_count (policy, arms) SELECT p.name, (SELECT count(*) FROM bandit.arm a WHERE a.policy = p.name) FROM bandit.policy p;
SELECT pg_catalog.pg_extension_config_dump('bandit.arm_count', '');
GRANT SELECT ON bandit.arm_count TO PUBLIC;
ALTER TABLE bandit.arm_count ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.arm_count FOR SELECT USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));
COMMENT ON TABLE bandit.arm IS
    'Arms of each policy and what it learned: Beta posterior (alpha, beta), rewards credited (pulls), their discounted weight, mean and m2 (weighted Welford), budget estimates (cost, latency_ms), LinUCB state (a_inv = inverse of A, b), and state_stamp, a random stamp renewed (= DEFAULT) by every write of a_inv or b: with the row version it keys the per-backend LinUCB cache';

-- parameter limits; NULL arguments are 22004; 2-D arms 2202E; at most 100000 arms; dim at most 1024 (54000)
CREATE OR REPLACE FUNCTION bandit.policy_params(algorithm text, arms text[], params jsonb) RETURNS jsonb
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
    IF algorithm IS NULL OR arms IS NULL OR params IS NULL THEN
        RAISE EXCEPTION 'algorithm, arms and params must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_param_keys(params, defaults);
    result := defaults || jsonb_build_object('default_arm', arms[1]) || jsonb_strip_nulls(params);
    FOR k, v IN SELECT * FROM jsonb_each(result) LOOP
        CONTINUE WHEN k IN ('mode', 'default_arm') OR (k = 'dim' AND v = 'null');
        IF jsonb_typeof(v) <> 'number' THEN
            RAISE EXCEPTION 'parameter "%" must be a number, got %', k, v USING ERRCODE = '22023';
        END IF;
    END LOOP;
    -- limits that keep every later choose computable (Beta quadrature, scores, softmax weights)
    IF (result->>'prior_alpha')::float8 NOT BETWEEN 1e-6 AND 1e6 OR (result->>'prior_beta')::float8 NOT BETWEEN 1e-6 AND 1e6 THEN
        RAISE EXCEPTION 'prior_alpha and prior_beta must be between 1e-06 and 1000000, got % and %',
            (result->>'prior_alpha')::float8, (result->>'prior_beta')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon')::float8 NOT BETWEEN 0 AND 1 OR (result->>'min_epsilon')::float8 NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'epsilon and min_epsilon must be between 0 and 1, got % and %',
            (result->>'epsilon')::float8, (result->>'min_epsilon')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon_decay')::float8 <= 0 OR (result->>'epsilon_decay')::float8 > 1 THEN
        RAISE EXCEPTION 'epsilon_decay must be in (0, 1], got %', (result->>'epsilon_decay')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'discount')::float8 <= 0 OR (result->>'discount')::float8 > 1 THEN
        RAISE EXCEPTION 'discount must be in (0, 1], got %', (result->>'discount')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'c')::float8 NOT BETWEEN 0 AND 1e100 OR (result->>'alpha')::float8 NOT BETWEEN 0 AND 1e100 THEN
        RAISE EXCEPTION 'c and alpha must be between 0 and 1e+100, got % and %',
            (result->>'c')::float8, (result->>'alpha')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'temperature')::float8 < 1e-300 THEN
        RAISE EXCEPTION 'temperature must be at least 1e-300, got %', (result->>'temperature')::float8 USING ERRCODE = '22003';
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
        IF (result->>'dim')::float8 <> trunc((result->>'dim')::float8) OR (result->>'dim')::float8 < 1 THEN
            RAISE EXCEPTION 'dim must be a positive integer, got %', (result->>'dim')::float8 USING ERRCODE = '22003';
        END IF;
        IF (result->>'dim')::float8 > 1024 THEN
            RAISE EXCEPTION 'dim must be at most 1024, got %', (result->>'dim')::float8 USING ERRCODE = '54000';
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

CREATE OR REPLACE FUNCTION bandit.check_budget(cost float8, latency_ms float8) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cost < 0 OR latency_ms < 0 OR cost = 'NaN' OR latency_ms = 'NaN' OR cost = 'Infinity' OR latency_ms = 'Infinity' THEN
        RAISE EXCEPTION 'cost and latency_ms must be finite and not negative, got % and %', cost, latency_ms
            USING ERRCODE = '22003';
    END IF;
END
$$;
COMMENT ON FUNCTION bandit.check_budget(float8, float8) IS
    'Checks an arm''s cost and latency estimates (NULL: unknown); used by bandit.add_arm and bandit.set_arm_budget';

CREATE OR REPLACE FUNCTION bandit.identity_matrix(dim integer) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_identity_matrix' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.identity_matrix(integer) IS
    'The dim x dim identity, row-major, as LinUCB''s initial A^-1; dim from 1 to 1024 (54000 beyond)';

CREATE OR REPLACE FUNCTION bandit.policy_row(policy text) RETURNS bandit.policy
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy;
BEGIN
    IF policy IS NULL THEN
        RAISE EXCEPTION 'policy must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO p FROM bandit.policy t WHERE t.name = policy_row.policy;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'policy "%" does not exist', policy USING ERRCODE = '42704';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION bandit.policy_row(text) IS 'The policy''s row; an unknown policy is an error (42704), a NULL name 22004';

CREATE OR REPLACE FUNCTION bandit.create_policy(name text, algorithm text, arms text[], params jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    full_params jsonb;
    p bandit.policy;
    dim integer;
BEGIN
    IF name IS NULL OR algorithm IS NULL OR arms IS NULL OR params IS NULL THEN
        RAISE EXCEPTION 'name, algorithm, arms and params must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT algorithm = ANY ('{thompson,ucb1,epsilon_greedy,softmax,linucb}') THEN
        RAISE EXCEPTION 'unknown algorithm "%"', algorithm
            USING ERRCODE = '22023', HINT = 'Use thompson, ucb1, epsilon_greedy, softmax or linucb.';
    END IF;
    IF array_ndims(arms) > 1 THEN
        RAISE EXCEPTION 'arms must be a one-dimensional array' USING ERRCODE = '2202E';
    END IF;
    IF cardinality(arms) = 0 OR array_position(arms, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'arms must be a non-empty array without NULLs' USING ERRCODE = '22023';
    END IF;
    IF cardinality(arms) > 100000 THEN
        RAISE EXCEPTION 'a policy has at most 100000 arms, got %', cardinality(arms) USING ERRCODE = '54000';
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
    -- an owner row without its policy is a leftover of a policy deleted by hand: its grants go with it
    DELETE FROM bandit.object o WHERE o.kind = 'policy' AND o.name = p.name;
    INSERT INTO bandit.object (kind, name, owner) VALUES ('policy', p.name, bandit.caller());
    -- every arm starts from the prior (LinUCB: A^-1 = I, b = 0), built once for all of them
    dim := (p.params->>'dim')::integer;
    IF cardinality(arms)::float8 * dim * dim > 268435456 THEN
        RAISE EXCEPTION 'LinUCB state of % arms at dim % exceeds 268435456 numbers (2 GiB)', cardinality(arms), dim
            USING ERRCODE = '54000', HINT = 'Use fewer arms or a smaller dim.';
    END IF;
    INSERT INTO bandit.arm (policy, arm, alpha, beta, a_inv, b)
    SELECT p.name, a, (p.params->>'prior_alpha')::float8, (p.params->>'prior_beta')::float8, ident, zero
    FROM unnest(arms) a,
         (SELECT bandit.identity_matrix(dim) ident,
                 CASE WHEN dim IS NOT NULL THEN array_fill(0::float8, ARRAY[dim]) END zero) s;
    INSERT INTO bandit.arm_count (policy, arms) VALUES (p.name, cardinality(arms));
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'create', jsonb_build_object('algorithm', p.algorithm, 'arms', arms, 'params', full_params));
END
$$;
COMMENT ON FUNCTION bandit.create_policy(text, text, text[], jsonb) IS
    'Creates a policy over arms (a one-dimensional array, at most 100000, and for LinUCB at most 268435456 numbers of state, arms x dim^2; 54000 beyond); algorithm thompson, ucb1, epsilon_greedy, softmax or linucb; params prior_alpha, prior_beta (1, 1; each from 1e-6 to 1e6), epsilon (0.1), epsilon_decay (1), min_epsilon (0), c (1; at most 1e100), temperature (0.1; at least 1e-300), discount (1), alpha (1; at most 1e100) and dim (LinUCB; at most 1024, 54000 beyond), mode (active), default_arm (the first arm); unknown keys are an error, out-of-range values 22003. Privilege: EXECUTE, granted by a DBA (not PUBLIC); creates a policy owned by the caller.';

CREATE OR REPLACE FUNCTION bandit.add_arm(policy text, arm text, cost float8 DEFAULT NULL, latency_ms float8 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    dim constant integer := (p.params->>'dim')::integer;
    n integer;
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    IF arm IS NULL THEN
        RAISE EXCEPTION 'arm must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_budget(cost, latency_ms);
    -- bandit.arm_count keeps the count (counting the arms would make each call
    -- cost their number), and its row lock makes concurrent calls take turns,
    -- so that the limits hold exactly; an error below takes the count back.
    UPDATE bandit.arm_count c SET arms = c.arms + 1 WHERE c.policy = p.name RETURNING c.arms - 1 INTO n;
    IF NOT FOUND THEN
        -- a policy without a count (its row written by hand) is counted once
        INSERT INTO bandit.arm_count (policy, arms)
        SELECT p.name, count(*) FROM bandit.arm a WHERE a.policy = p.name
        ON CONFLICT DO NOTHING;
        UPDATE bandit.arm_count c SET arms = c.arms + 1 WHERE c.policy = p.name RETURNING c.arms - 1 INTO n;
    END IF;
    IF n >= 100000 THEN
        RAISE EXCEPTION 'policy "%" already has 100000 arms, the most a policy takes', p.name USING ERRCODE = '54000';
    END IF;
    IF (n + 1)::float8 * dim * dim > 268435456 THEN
        RAISE EXCEPTION 'LinUCB state of % arms at dim % exceeds 268435456 numbers (2 GiB)', n + 1, dim
            USING ERRCODE = '54000';
    END IF;
    INSERT INTO bandit.arm (policy, arm, alpha, beta, cost, latency_ms, a_inv, b)
    VALUES (p.name, arm, (p.params->>'prior_alpha')::float8, (p.params->>'prior_beta')::float8, cost, latency_ms,
            bandit.identity_matrix(dim), CASE WHEN dim IS NOT NULL THEN array_fill(0::float8, ARRAY[dim]) END)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'arm "%" already exists in policy "%"', arm, policy USING ERRCODE = '23505';
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'arm_added', jsonb_build_object('arm', arm, 'cost', cost, 'latency_ms', latency_ms));
END
$$;
COMMENT ON FUNCTION bandit.add_arm(text, text, float8, float8) IS
    'Adds an arm to a policy, starting from the prior, with optional cost and latency estimates for budget shields; a policy has at most 100000 arms, a LinUCB policy at most 268435456 numbers of state (arms x dim^2; 54000 beyond). Privilege: manage on the policy.';

CREATE OR REPLACE FUNCTION bandit.set_arm_budget(policy text, arm text, cost float8, latency_ms float8)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    PERFORM bandit.policy_row(policy);
    IF arm IS NULL THEN
        RAISE EXCEPTION 'arm must not be NULL' USING ERRCODE = '22004';
    END IF;
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
    'Sets an arm''s cost and latency estimates (NULL: unknown, never over budget). Privilege: manage on the policy.';

CREATE OR REPLACE FUNCTION bandit.retire_arm(policy text, arm text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    IF arm IS NULL THEN
        RAISE EXCEPTION 'arm must not be NULL' USING ERRCODE = '22004';
    END IF;
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
    'Retires an arm: it is never chosen again, keeps what it learned, and still takes rewards of earlier decisions. Privilege: manage on the policy.';

CREATE OR REPLACE FUNCTION bandit.restore(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bandit.snapshot;
    p bandit.policy;
    pending record;
BEGIN
    IF snapshot_id IS NULL THEN
        RAISE EXCEPTION 'snapshot_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO s FROM bandit.snapshot WHERE id = snapshot_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'snapshot % does not exist', snapshot_id USING ERRCODE = '42704';
    END IF;
    PERFORM bandit.require('policy', s.policy, 'manage');
    -- the privilege was checked on s.policy: the snapshot writes that policy only
    -- (a row written by hand under 0.1.0 could name another inside)
    IF s.policy_row->>'name' IS DISTINCT FROM s.policy
       OR EXISTS (SELECT FROM jsonb_array_elements(s.arms) e WHERE e->>'policy' IS DISTINCT FROM s.policy) THEN
        RAISE EXCEPTION 'snapshot % of policy "%" holds the state of another policy', snapshot_id, s.policy
            USING ERRCODE = 'XX001';
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
    -- follows the row and lands on the restored state; every restored arm
    -- gets a new state_stamp (a_inv and b are written)
    UPDATE bandit.arm a SET alpha = r.alpha, beta = r.beta, pulls = r.pulls, weight = r.weight,
           mean_reward = r.mean_reward, m2 = r.m2, cost = r.cost, latency_ms = r.latency_ms,
           a_inv = r.a_inv, b = r.b, retired = r.retired, added_at = r.added_at, last_update = r.last_update,
           state_stamp = DEFAULT
    FROM jsonb_populate_recordset(NULL::bandit.arm, s.arms) r
    WHERE a.policy = p.name AND a.arm = r.arm;
    DELETE FROM bandit.arm a WHERE a.policy = p.name
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.arms) e WHERE e->>'arm' = a.arm);
    INSERT INTO bandit.arm (policy, arm, alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms,
                            a_inv, b, retired, added_at, last_update)
    SELECT r.policy, r.arm, r.alpha, r.beta, r.pulls, r.weight, r.mean_reward, r.m2, r.cost, r.latency_ms,
           r.a_inv, r.b, r.retired, r.added_at, r.last_update
    FROM jsonb_populate_recordset(NULL::bandit.arm, s.arms) r
    WHERE NOT EXISTS (SELECT 1 FROM bandit.arm a WHERE a.policy = p.name AND a.arm = r.arm);
    -- the LinUCB updates pending at the snapshot, in their order, on the restored states; each
    -- takes its features from its decision's context, which must still be there, of that arm
    SELECT e->>'arm' AS arm, coalesce(v.item->>'decision', 'NULL') AS decision INTO pending
    FROM jsonb_array_elements(s.arms) e
    CROSS JOIN LATERAL jsonb_array_elements(e->'linucb_pending') v(item)
    WHERE NOT EXISTS (SELECT FROM bandit.decision d
                      WHERE d.id = (v.item->>'decision')::bigint AND d.policy = p.name AND d.arm = e->>'arm'
                        AND d.reward = (v.item->>'reward')::float8)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'snapshot % cannot be restored: decision %, rewarded on arm "%" of policy "%" and pending there, no longer exists',
            snapshot_id, pending.decision, pending.arm, p.name
            USING ERRCODE = '42704', HINT = 'A pending LinUCB update takes its features from its decision''s context.';
    END IF;
    DELETE FROM bandit.linucb_pending q WHERE q.policy = p.name;
    INSERT INTO bandit.linucb_pending (policy, arm, stamp, decision, reward)
    SELECT a.policy, a.arm, a.state_stamp, u.decision, u.reward
    FROM jsonb_array_elements(s.arms) e
    JOIN bandit.arm a ON a.policy = p.name AND a.arm = e->>'arm'
    CROSS JOIN LATERAL jsonb_array_elements(e->'linucb_pending') WITH ORDINALITY v(item, n)
    CROSS JOIN LATERAL jsonb_populate_record(NULL::bandit.linucb_pending, v.item) u
    ORDER BY a.arm, v.n;
    INSERT INTO bandit.arm_count (policy, arms)
    SELECT p.name, count(*) FROM bandit.arm a WHERE a.policy = p.name
    ON CONFLICT (policy) DO UPDATE SET arms = excluded.arms;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'restore', jsonb_build_object('snapshot_id', snapshot_id, 'label', s.label, 'taken_at', s.taken_at));
END
$$;
COMMENT ON FUNCTION bandit.restore(bigint) IS
    'Puts back a policy''s whole learned state exactly as a snapshot saved it (arms added since are removed; each arm''s state_stamp is renewed, LinUCB''s pending updates put back on it; a pending update whose decision is gone since is 42704 and restores nothing). Privilege: manage on the policy.';

-- arm updates through learn_step (checked state); comments: limits and errors
CREATE FUNCTION bandit.learn_step(alpha float8, beta float8, weight float8, mean_reward float8, m2 float8,
                                  reward float8, prior_alpha float8, prior_beta float8, discount float8,
                                  posterior boolean) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_learn_step' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.learn_step(float8, float8, float8, float8, float8, float8, float8, float8, float8, boolean) IS
    'An arm''s state after one reward, {alpha, beta, weight, mean_reward, m2}: evidence discounted, weighted Welford, Beta posterior when posterior; a state out of range is 22003. Used by bandit.reward''s UPDATE of the arm';

COMMENT ON FUNCTION bandit.choose(text, jsonb) IS
    'Chooses an arm and logs the decision; propensity is the probability this arm had (Thompson: exact P(best) by quadrature; epsilon-greedy and softmax: exact; UCB1 and LinUCB: 1 / number of tied arms). Context {"max_cost": x, "max_latency_ms": y} serves only arms within budget (unknown estimates fit), else the default arm; for LinUCB context->''features'' is the feature vector, otherwise its keys are hashed into dim features; a context whose features overflow a LinUCB score is 22003. Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.reward(bigint, float8) IS
    'Credits a logged decision exactly once (a second reward is error 23505 and changes nothing); Thompson takes rewards in [0, 1], the others from -1e100 to 1e100; a reward that would take the arm''s state out of range (e.g. a LinUCB context with huge features) is 22003 and changes nothing. Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.reward(text, text, float8) IS
    'Credits an arm directly, without a logged decision (not for LinUCB, which learns from a decision''s context); rewards as for bandit.reward(bigint, float8). Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.reward(bigint[], float8[]) IS
    'Credits many decisions in one statement, e.g. SELECT bandit.reward(array_agg(decision_id), array_agg(reward)) FROM events; all or nothing; at most 10000000 per call (54000 beyond); returns the number credited. Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.recommend(text, integer, jsonb) IS
    'The top k active arms within the context''s budget, ranked without logging a decision: Thompson by probability to be best, UCB1 and LinUCB by upper confidence bound (an unpulled UCB1 arm has none yet: score NULL, ranked first), epsilon-greedy by mean reward, softmax by choice probability; policy and k must not be NULL (22004). Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.hash_features(jsonb, integer) IS
    'The hashing trick on a flat JSON object: each numeric or boolean key, and each key=value string, adds its value with a hashed sign to one of dim features; dim from 1 to 1024 (54000 beyond), a sum that overflows is 22003';

-- Support functions are internal: PostgreSQL checks EXECUTE on the aggregate, not on them.
REVOKE EXECUTE ON FUNCTION bandit.thompson_choice_accum(internal, text, float8, float8),
    bandit.epsilon_greedy_choice_accum(internal, text, float8, float8),
    bandit.softmax_choice_accum(internal, text, float8, float8),
    bandit.ucb1_choice_accum(internal, text, bigint, float8),
    bandit.ucb1_choice_accum(internal, text, bigint, float8, float8),
    bandit.choice_final(internal), bandit.ucb1_choice_final(internal) FROM PUBLIC;

-- == hardening: experiments, Q-learning, priors, adjustment (src/experiment.sql, src/qlearn.sql, src/prior.sql, src/adjust.sql)

-- create_experiment: at most 1000 variants (54000); allocation by ordinality, whatever the arrays' lower bounds
CREATE OR REPLACE FUNCTION bandit.create_experiment(name text, variants text[], allocation float8[] DEFAULT NULL,
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

-- apply_signal: the latency mean weighs before it adds, so a latency near the float8 maximum cannot overflow
CREATE OR REPLACE FUNCTION bandit.apply_signal(signal jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
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
    PERFORM bandit.require('priors', '*', 'use');
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
            -- weights first: a latency near the float8 maximum times a count would overflow
            latency_ms = p.latency_ms * (p.sample_count / (p.sample_count + samples))
                         + mean_latency * (samples / (p.sample_count + samples)),
            -- this form keeps a mean of values in [0, 1] in [0, 1] despite rounding
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
    'Folds a signal {"aggregation_round", "cluster_hash", "participant_count", "reward_signals": {key: {"success_rate", "avg_latency", "quality_score", "total_samples"}}} into bandit.prior once; returns the priors updated, 0 for a (cluster_hash, aggregation_round) already applied (a replay: counted, WARNING if its content differs). Per key, n = total_samples, s = round(success_rate * n) in exact decimal (halves away from zero); from the prior (rate, count; count 0 for a new key): alpha = rate*count + s, beta = (1 - rate)*count + (n - s), rate = alpha/(alpha + beta); latency_ms and quality are sample-weighted means with avg_latency and quality_score; sample_count += n; confidence = sample_count/(sample_count + 100). An invalid signal (see bandit.validate_signal) applies nothing: 22003 when every problem is a number out of range, else 22023 (NULL: 22004); the message names the first, DETAIL lists all. Privilege: use on the priors.';

-- ensemble_choice's transition and combine functions are internal helpers
REVOKE EXECUTE ON FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ensemble_accum(bandit.ensemble_tally, text, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ensemble_combine(bandit.ensemble_tally, bandit.ensemble_tally) FROM PUBLIC;

-- tuning_problems and tuning_proposal_toward: a NULL argument is 22004 (was no problems, or 22003)
CREATE OR REPLACE FUNCTION bandit.tuning_problems(v bandit.tuning_value, s bandit.tuning_scope, new_value float8,
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

CREATE OR REPLACE FUNCTION bandit.tuning_proposal_toward(v bandit.tuning_value, indicated float8, feedback_count integer,
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

-- take_tuning_snapshot: a NULL scope is 22004 (was a not-null violation, 23502)
CREATE OR REPLACE FUNCTION bandit.take_tuning_snapshot(scope text, label text) RETURNS bigint
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

-- == hardening: statistics and aggregate support functions (src/summary.sql, src/beta.sql, src/normal.sql, src/power.sql, src/ope.sql, src/contingency.sql, src/sequential.sql, src/random.sql)
-- Aggregate support functions are internal: PUBLIC keeps EXECUTE on the
-- aggregates (PostgreSQL checks it there), not on their parts.  Comments
-- document degenerate inputs, overflow (22003) and the arm limit.
-- src/summary.sql
REVOKE EXECUTE ON FUNCTION bandit.summary_accum(bandit.summary, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.summary_combine(bandit.summary, bandit.summary) FROM PUBLIC;
COMMENT ON AGGREGATE bandit.summarize(float8) IS
    'Summary (count, mean, m2) of the non-NULL values; NaN and infinities are rejected (22003), and so is a mean or m2 beyond float8 (22003, as float8''s own aggregates, where numpy answers inf or NaN)';
COMMENT ON AGGREGATE bandit.merge(bandit.summary) IS
    'Merges summaries computed elsewhere (shards, nodes, days) into one; a count beyond bigint or a mean or m2 beyond float8 is 22003';
COMMENT ON FUNCTION bandit.make_summary(bigint, float8, float8) IS
    'A summary from published statistics: count, mean and sample standard deviation (n - 1); an m2 = stddev^2 (n - 1) beyond float8 is 22003';
COMMENT ON FUNCTION bandit.t_test(float8, float8, float8, float8, float8, float8, boolean, text, float8) IS
    'Two-sample t-test of group 1 minus group 2 from n, mean and sd (Welch unless equal_var), as scipy.stats.ttest_ind_from_stats; confidence interval at level (one-sided for one-sided alternatives); Cohen''s d with the pooled sd. Where scipy answers NaN or an infinite statistic this is an error: n1 or n2 below 2 (22003), both sds 0 (22023); a statistic beyond float8 is 22003';
COMMENT ON FUNCTION bandit.t_test(bandit.summary, bandit.summary, boolean, text, float8) IS
    'Two-sample t-test of s1 minus s2 from two summaries (Welch unless equal_var); a summary of fewer than 2 values, or both with zero variance, is an error (22023) where scipy answers NaN or an infinite statistic';
COMMENT ON FUNCTION bandit.t_test_one_sample(bandit.summary, float8, text, float8) IS
    'One-sample t-test of mean - mu, as scipy.stats.ttest_1samp; mean_diff and its interval are of mean - mu, cohens_d = (mean - mu) / sd. Fewer than 2 values (a single value included) or zero variance is an error (22023) where scipy answers NaN or an infinite statistic';
REVOKE EXECUTE ON FUNCTION bandit.summary_diff_accum(bandit.summary, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_paired_final(bandit.summary) FROM PUBLIC;
COMMENT ON AGGREGATE bandit.t_test_paired(float8, float8) IS
    'Paired t-test of x - y over rows, as scipy.stats.ttest_rel (two-sided, 95 % interval); NULL below 2 pairs or with constant differences (scipy: NaN or an infinite statistic). Other alternatives: bandit.t_test_one_sample(bandit.summarize(x - y), 0, alternative, level)';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_final(float8[]) FROM PUBLIC;
COMMENT ON AGGREGATE bandit.t_test(float8, boolean) IS
    'Welch t-test over raw rows: group 1 (group2 false) minus group 2 (group2 true), two-sided, 95 % interval; NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean) IS
    'Two-sample t-test over raw rows, Student''s when equal_var, else Welch''s; group 1 (group2 false) minus group 2; NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, text) IS
    'Two-sample t-test over raw rows with an alternative (the same on every row); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, text, float8) IS
    'Two-sample t-test over raw rows with an alternative and confidence level (the same on every row); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
-- src/beta.sql
COMMENT ON FUNCTION bandit.prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ Beta(alpha_i, beta_i), by deterministic quadrature (accurate to 1e-6 absolute, in practice ~1e-12); at most 100000 arms (54000)';
COMMENT ON FUNCTION bandit.expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ Beta(alpha_i, beta_i): what choosing arm i costs in expectation; at most 100000 arms (54000)';
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_bool_accum(float8[], boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_accum(float8[], float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_final(float8[]) FROM PUBLIC;
-- src/normal.sql
COMMENT ON FUNCTION bandit.normal_prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ N(mean_i, sd_i^2), by deterministic Gauss-Kronrod quadrature (accurate to 1e-9 absolute); sd_i = 0 is a point mass, and equal point masses that tie for the largest share their chance equally; 1 to 100000 arms (54000 beyond)';
COMMENT ON FUNCTION bandit.normal_expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ N(mean_i, sd_i^2) (sd_i = 0: a point mass): what choosing arm i costs in expectation; 1 to 100000 arms (54000 beyond)';
-- src/ope.sql
REVOKE EXECUTE ON FUNCTION bandit.ips_accum(float8[], float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.dr_accum(float8[], float8, float8, float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ope_moments_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ope_moments_final(float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.snips_accum(float8[], float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.snips_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.snips_final(float8[]) FROM PUBLIC;
-- src/contingency.sql
COMMENT ON FUNCTION bandit.chisquare(float8[], float8[]) IS
    'Pearson''s chi-square goodness-of-fit test of observed counts against expected counts (NULL: all categories equal), k - 1 degrees of freedom; = scipy.stats.chisquare. The two must sum alike (relative 1e-8); at least 2 categories; observed counts that are all 0 are an error (22023) where scipy answers NaN';

-- == hardening: other

-- 0.1.0 could store learned state that no later call can compute with (a
-- LinUCB reward with a feature near 1e200 left a_inv NaN; a reward near
-- 1e308 an infinite mean).  0.2.0 refuses such updates, but cannot guess
-- the lost state: name the arms, so that their owner restores a snapshot or
-- re-creates them.
DO $$
DECLARE
    poisoned text;
BEGIN
    SELECT string_agg(format('%I.%I', a.policy, a.arm), ', ' ORDER BY a.policy, a.arm)
    INTO poisoned
    FROM bandit.arm a
    WHERE NOT (SELECT bool_and(v > '-Infinity'::float8 AND v < 'Infinity'::float8)
               FROM unnest(ARRAY[a.alpha, a.beta, a.weight, a.mean_reward, a.m2]
                           || coalesce(a.a_inv, '{}') || coalesce(a.b, '{}')) v);
    IF poisoned IS NOT NULL THEN
        RAISE WARNING 'bandit: arms whose learned state is not finite: %', poisoned
            USING HINT = 'Calls that use that state fail with 22003 until each arm is restored '
                         '(bandit.restore of an earlier snapshot) or retired and added again.';
    END IF;
END
$$;

-- == access control: every function that touches an object checks its caller
-- (SECURITY DEFINER), the tables are filtered by row-level security, internal
-- helpers and creation are not for PUBLIC (src/*.sql)

CREATE OR REPLACE FUNCTION bandit.define_tuning_value(scope text, name text, value float8, lower_bound float8,
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

CREATE OR REPLACE FUNCTION bandit.set_tuning_rate_limit(scope text, max_adjustments integer, per interval) RETURNS void
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

CREATE OR REPLACE FUNCTION bandit.tuned_value(scope text, name text) RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.require('scope', scope, 'use'); SELECT (bandit.tuning_value_row(scope, name)).value $$;

CREATE OR REPLACE FUNCTION bandit.validate_adjustment(scope text, name text, new_value float8, feedback_count integer)
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

CREATE OR REPLACE FUNCTION bandit.propose_value(scope text, name text, indicated_value float8, feedback_count integer,
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

CREATE OR REPLACE FUNCTION bandit.propose_adjustment(scope text, name text, feedback_mean float8, feedback_count integer,
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

CREATE OR REPLACE FUNCTION bandit.snapshot_tuning(scope text, label text DEFAULT NULL) RETURNS bigint
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

CREATE OR REPLACE FUNCTION bandit.apply_adjustment(scope text, name text, new_value float8, reason text,
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

CREATE OR REPLACE FUNCTION bandit.apply_proposal(proposal bandit.tuning_proposal) RETURNS bigint
LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.apply_adjustment(($1).scope, ($1).name, ($1).proposed_value, ($1).reason,
                                   ($1).feedback_count, ($1).confidence, ($1).old_value)
$$;

CREATE OR REPLACE FUNCTION bandit.rollback_tuning(snapshot_id bigint) RETURNS integer
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

CREATE OR REPLACE FUNCTION bandit.tuning_history(scope text, days integer DEFAULT 30)
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

COMMENT ON FUNCTION bandit.define_tuning_value(text, text, float8, float8, float8, float8, integer) IS
    'Defines a tunable value of a scope (creating the scope, without a rate limit): its starting value, finite bounds lower_bound <= value <= upper_bound, the largest step of one adjustment (max_step > 0) and the feedback an adjustment needs (min_feedback, 30); audited; a duplicate is an error (23505). Privilege: EXECUTE, granted by a DBA; creates the scope owned by the caller, and on an existing one needs manage on the scope.';


COMMENT ON FUNCTION bandit.set_tuning_rate_limit(text, integer, interval) IS
    'Allows at most max_adjustments adjustments of the scope''s values within any period of length per (0 freezes the scope; both NULL: no limit); rollbacks are not limited; creates the scope if needed. Privilege: EXECUTE, granted by a DBA; creates the scope owned by the caller, and on an existing one needs manage on the scope.';


COMMENT ON FUNCTION bandit.tuned_value(text, text) IS
    'The current value of a tunable value; an unknown one is an error (42704). Privilege: use on the scope.';


COMMENT ON FUNCTION bandit.validate_adjustment(text, text, float8, integer) IS
    'Every rule that adjusting the value to new_value with feedback_count observations would break, one message each tagged bounds:, max_step:, min_feedback: or rate_limit:; empty when bandit.apply_adjustment would accept it now. Privilege: manage on the scope.';


COMMENT ON FUNCTION bandit.propose_value(text, text, float8, integer, float8) IS
    'Proposes moving the value toward indicated_value (what feedback_count observations point to): by d = indicated_value - value, capped at max_step, times confidence n / (n + prior_count), clamped to the bounds; no move below min_feedback. problems: what bandit.apply_adjustment would raise. Privilege: manage on the scope.';


COMMENT ON FUNCTION bandit.propose_adjustment(text, text, float8, integer, float8, float8, float8) IS
    'Proposes an adjustment from aggregated feedback (e.g. avg and count of a metric): the feedback indicates value + gain (target - feedback_mean) (gain < 0 when a larger value lowers the metric); moved toward by at most max_step times confidence n / (n + prior_count), clamped to the bounds, no move below min_feedback. problems: what bandit.apply_adjustment would raise. Privilege: manage on the scope.';


COMMENT ON FUNCTION bandit.snapshot_tuning(text, text) IS
    'Saves every value of a scope exactly (value, bounds, max_step, min_feedback); returns the snapshot id for bandit.rollback_tuning. Privilege: manage on the scope.';


COMMENT ON FUNCTION bandit.apply_adjustment(text, text, float8, text, integer, float8, float8) IS
    'Adjusts a value under row locks (the scope''s, then the value''s): checks every rule of bandit.validate_adjustment (and, when expected_value is given, that the value still is expected_value), raising 22003 (bounds, max_step) or 22023 with all problems and changing nothing; else snapshots the scope, sets the value, audits; returns the audit id. Privilege: manage on the scope.';


COMMENT ON FUNCTION bandit.apply_proposal(bandit.tuning_proposal) IS
    'Applies a proposal of bandit.propose_adjustment or bandit.propose_value, unless the value changed since it was proposed (stale) or a rule fails; returns the audit id. Privilege: manage on the scope.';


COMMENT ON FUNCTION bandit.rollback_tuning(bigint) IS
    'Puts every value saved in the snapshot back exactly (value, bounds, max_step, min_feedback; re-created if deleted since) under the scope''s lock; values defined after the snapshot are left alone; each change is audited with a snapshot of the state before it; not rate-limited; returns the number of values changed. Privilege: manage on the scope.';


COMMENT ON FUNCTION bandit.tuning_history(text, integer) IS
    'The changes (define, adjust, rollback) of a scope''s values in the last `days` days, newest first. Privilege: read on the scope.';


CREATE OR REPLACE FUNCTION bandit.start_experiment(name text) RETURNS void
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

CREATE OR REPLACE FUNCTION bandit.stop_experiment(name text, reason text DEFAULT NULL) RETURNS void
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

CREATE OR REPLACE FUNCTION bandit.drop_experiment(name text) RETURNS void
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

CREATE OR REPLACE FUNCTION bandit.assign(experiment text, unit_id text) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_assign'
    LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.assign(experiment text, unit_id text, stratum text) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_assign_stratified'
    LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.record_metric(experiment text, unit_id text, metric text, value float8) RETURNS void
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

CREATE OR REPLACE FUNCTION bandit.record_metrics(experiment text, metric text, unit_ids text[], "values" float8[]) RETURNS bigint
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

CREATE OR REPLACE FUNCTION bandit.srm_check(experiment text) RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e bandit.experiment := bandit.experiment_row(experiment);
    observed float8[];
    share float8[];
    total float8;
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
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

CREATE OR REPLACE FUNCTION bandit.analyze(experiment text, metric text)
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
    summaries bandit.summary[];
    nonbinary bigint;
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
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

CREATE OR REPLACE FUNCTION bandit.analyze(experiment text, metric text, covariate text)
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
    summaries bandit.summary[];
BEGIN
    PERFORM bandit.require('experiment', experiment, 'read');
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

CREATE OR REPLACE FUNCTION bandit.decide(experiment text, metric text)
RETURNS TABLE(decision text, winner text, reason text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
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
    PERFORM bandit.require('experiment', experiment, 'read');
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

-- report: bars drawn by characters, box drawing in UTF-8 databases, ASCII elsewhere
-- (0.1.0 sliced its Unicode bars by bytes in SQL_ASCII and was mojibake in LATIN1)
CREATE OR REPLACE FUNCTION bandit.report(experiment text, metric text) RETURNS SETOF text
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

COMMENT ON FUNCTION bandit.start_experiment(text) IS 'Starts a draft experiment: from now on units can be assigned. Privilege: manage on the experiment.';


COMMENT ON FUNCTION bandit.stop_experiment(text, text) IS
    'Completes a running experiment, with the reason it stopped: no more assignments; metrics of assigned units are still recorded. Privilege: manage on the experiment.';


COMMENT ON FUNCTION bandit.drop_experiment(text) IS
    'Deletes an experiment with its variants, assignments, observations and sequential state (the audit trail stays). Privilege: manage on the experiment.';


COMMENT ON FUNCTION bandit.assign(text, text) IS
    'The variant of a unit in a running experiment: at its first call, the variant whose share of the cumulative allocation holds bandit.assignment_point(salt, unit_id), stored; later calls return the stored variant. Deterministic, and independent between experiments (each has its own salt). Privilege: use on the experiment.';


COMMENT ON FUNCTION bandit.assign(text, text, text) IS
    'Stratified assignment: each stratum''s new units, in arrival order, are dealt the slots of blocks that hold every variant in proportion to its allocation (the smallest whole block, at most 1000; else 100 slots by largest remainders), each block shuffled from (salt, stratum, block number); so every stratum follows the allocation to within one block. Stored and sticky like assign(experiment, unit_id). Privilege: use on the experiment.';


COMMENT ON FUNCTION bandit.record_metric(text, text, text, float8) IS
    'Records one value of a metric for an assigned unit of a running or completed experiment; an unassigned unit, NaN or an infinite value is an error. Privilege: use on the experiment.';


COMMENT ON FUNCTION bandit.record_metrics(text, text, text[], float8[]) IS
    'Records many values of one metric at once (unit_ids[i] has values[i]); all or nothing: one unassigned unit or non-finite value rejects the whole call. Returns the rows recorded. Privilege: use on the experiment.';


COMMENT ON FUNCTION bandit.srm_check(text) IS
    'Sample-ratio-mismatch p-value: chi-square goodness of fit of the assignment counts per variant against the allocation, = scipy.stats.chisquare; NULL before any assignment. Below 0.001 the assignment is broken and results are not to be trusted. Privilege: read on the experiment.';


COMMENT ON FUNCTION bandit.analyze(text, text) IS
    'Each variant of an experiment against the control (first row) on one metric, each observation one sample. Binary metrics (every value 0 or 1, or declared binary): Wilson intervals, chi-square with Yates'' correction or Fisher''s exact test when an expected count is below 5, Wald interval of the difference, Cohen''s h, exact Beta posteriors for prob_best and expected_loss. Continuous: t intervals, Welch''s t-test and interval, Cohen''s d, normal posteriors. adjusted_p_value: Holm across the treatments; significant: adjusted p < alpha, never on a sample-ratio mismatch (srm p < 0.001, see warning). With params.sequential: mSPRT always-valid p-values and confidence sequences (test msprt) that never loosen between calls. Intervals at level 1 - alpha. Privilege: read on the experiment.';


COMMENT ON FUNCTION bandit.analyze(text, text, text) IS
    'analyze with a pre-period covariate (CUPED), for continuous metrics: per unit Y = mean of the metric''s values and X = mean of the covariate''s (units without one get the mean X of those with one); theta = cov(X, Y) / var(X) over all units; each variant''s Y - theta (X - mean X) then compared as analyze does (Welch). Means are of the adjusted values. Privilege: read on the experiment.';


COMMENT ON FUNCTION bandit.decide(text, text) IS
    'What to do with an experiment on one metric: continue, stop_success (a treatment beats the control with Holm-adjusted p below alpha if sequential, else early_alpha, by at least min_effect; winner names the largest), stop_failure (the control beats every treatment so), stop_futility (with max_sample_size: power at that size to detect min_effect, or the observed effect when min_effect is 0, below 0.2 for every treatment, or the size reached). Never stops before min_sample_size per variant or on a sample-ratio mismatch. reason says why in words. Privilege: read on the experiment.';


COMMENT ON FUNCTION bandit.report(text, text) IS
    'A text report of an experiment on one metric for psql (SELECT * FROM bandit.report(...)): each variant''s n, mean and interval drawn as a bar on one common axis, each treatment against the control, and the decision. Bars are 40 characters wide and drawn by characters: in a UTF-8 database with box drawing (U+2501 the interval, U+25CF the mean, U+2502 the frame, U+251C U+2500 U+2524 the axis, U+2014 the dash before remarks); in any other encoding with ASCII (= the interval, o the mean, | the frame, |-| the axis, - the dash), so a line has as many characters in every database (SQL_ASCII, which knows no characters, counts a non-ASCII name''s bytes). Privilege: read on the experiment.';


CREATE OR REPLACE FUNCTION bandit.set_mode(policy text, mode text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    IF mode IS NULL OR NOT mode = ANY ('{active,shadow,off}') THEN
        RAISE EXCEPTION 'mode must be active, shadow or off, got %', mode USING ERRCODE = '22023';
    END IF;
    UPDATE bandit.policy SET mode = set_mode.mode, updated_at = now() WHERE name = p.name;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'mode', jsonb_build_object('from', p.mode, 'to', mode));
END
$$;

CREATE OR REPLACE FUNCTION bandit.snapshot(policy text, label text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    snapshot_id bigint;
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    -- one statement, one snapshot: each LinUCB arm with the pending updates of its stored state
    INSERT INTO bandit.snapshot (policy, label, policy_row, arms)
    SELECT p.name, label, to_jsonb(p),
           coalesce((SELECT jsonb_agg(to_jsonb(a) || coalesce(
                         (SELECT jsonb_build_object('linucb_pending',
                                                    jsonb_agg(jsonb_build_object('decision', q.decision, 'reward', q.reward) ORDER BY q.seq))
                          FROM bandit.linucb_pending q
                          WHERE q.stamp = a.state_stamp AND q.policy = a.policy AND q.arm = a.arm
                          HAVING count(*) > 0), '{}') ORDER BY a.arm)
                     FROM bandit.arm a WHERE a.policy = p.name), '[]')
    RETURNING id INTO snapshot_id;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'snapshot', jsonb_build_object('snapshot_id', snapshot_id, 'label', label));
    RETURN snapshot_id;
END
$$;

CREATE OR REPLACE FUNCTION bandit.arm_stats(policy text)
RETURNS TABLE (arm text, pulls bigint, mean_reward float8, alpha float8, beta float8, prob_best float8,
               variance float8, weight float8, cost float8, latency_ms float8, retired boolean,
               last_update timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    PERFORM bandit.require('policy', policy, 'read');
    RETURN QUERY
    -- prob_best takes the arms in any order: unsorted aggregates of one scan
    -- see the rows in the same order (three ORDER BYs sorted the arms three times)
    WITH active AS (
        SELECT array_agg(a.arm) arms, array_agg(a.alpha) alphas, array_agg(a.beta) betas
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

CREATE OR REPLACE FUNCTION bandit.choose(policy text, context jsonb DEFAULT NULL)
RETURNS TABLE (decision_id bigint, arm text, propensity float8)
AS 'MODULE_PATHNAME', 'bandit_choose' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.reward(decision_id bigint, reward float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_decision' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.reward(policy text, arm text, reward float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_arm' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.reward(decision_ids bigint[], rewards float8[]) RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_reward_batch' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.recommend(policy text, k integer DEFAULT 3, context jsonb DEFAULT NULL)
RETURNS TABLE (arm text, score float8, rank integer)
AS 'MODULE_PATHNAME', 'bandit_recommend' LANGUAGE C STABLE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bandit.set_mode(text, text) IS
    'active: serve the policy''s choice; shadow: serve the default arm and log what the policy would have chosen; off: serve the default arm. Privilege: manage on the policy.';


COMMENT ON FUNCTION bandit.snapshot(text, text) IS
    'Saves the policy''s whole learned state (configuration and every arm, exactly, with a LinUCB arm''s pending updates); returns the snapshot id for bandit.restore. Privilege: manage on the policy.';


COMMENT ON FUNCTION bandit.arm_stats(text) IS
    'One row per arm: rewards credited (pulls), mean reward, Beta posterior, probability to be the best active arm under it (exact quadrature; NULL for retired arms), reward variance, discounted weight, budget estimates, retired, last update. Privilege: read on the policy.';


CREATE OR REPLACE FUNCTION bandit.prior_adjusted_score(key text, cost float8, latency_ms float8, quality float8, carbon float8,
                                            weights jsonb DEFAULT NULL)
RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
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
    PERFORM bandit.require('priors', '*', 'use');
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

CREATE OR REPLACE FUNCTION bandit.cleanup_priors(max_age interval DEFAULT '7 days') RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz;
    deleted integer;
BEGIN
    PERFORM bandit.require('priors', '*', 'manage');
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

COMMENT ON FUNCTION bandit.prior_adjusted_score(text, float8, float8, float8, float8, jsonb) IS
    'Multi-objective score in [0, 1], higher is better: sum of w_i*u_i / sum of w_i over cost: 1/(1 + cost), latency: 1/(1 + latency_ms/1000), quality: quality (0..1), carbon: 1/(1 + carbon). Weights {"cost", "latency_ms", "quality", "carbon"} default to 0.25 each; keys given replace those defaults, the rest keep them (0 drops an objective; unknown key 22023, negative 22003, all zero 22003). With a prior for key of confidence c >= 0.1 (else the prior is ignored): latency_ms is blended as (1-c)*latency_ms + c*prior.latency_ms, quality as ((1-c)*quality + c*prior.quality) * ((1-c) + c*prior.success_rate). cost, latency_ms, carbon must be finite and >= 0, quality in [0, 1] (22003); a NULL argument other than weights gives NULL. Privilege: use on the priors.';


COMMENT ON FUNCTION bandit.cleanup_priors(interval) IS
    'Deletes the priors whose last_updated is older than now() - max_age (default 7 days; negative 22003); returns how many. The record of applied signals is kept, so a deleted prior is never rebuilt from an old round. Privilege: manage on the priors.';


CREATE OR REPLACE FUNCTION bandit.q_select(agent text, state text, actions text[], epsilon float8 DEFAULT 0.1)
RETURNS text
AS 'MODULE_PATHNAME', 'bandit_q_select' LANGUAGE C VOLATILE PARALLEL RESTRICTED
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.q_learn(agent text, state text, action text, reward float8, next_state text,
                               alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_q_learn' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.q_learn_batch(agent text, states text[], actions text[], rewards float8[], next_states text[],
                                     alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_q_learn_batch' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.q_remember(agent text, state text, action text, reward float8, next_state text,
                                  capacity integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM bandit.require('agent', agent, 'use', true);
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

CREATE OR REPLACE FUNCTION bandit.q_replay(agent text, n integer, alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_q_replay' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION bandit.q_greedy(agent text)
RETURNS TABLE (state text, action text, q_value float8)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.require('agent', agent, 'use');
    SELECT DISTINCT ON (t.state) t.state, t.action, t.q_value
    FROM bandit.q_table t
    WHERE t.agent = q_greedy.agent
    ORDER BY t.state, t.q_value DESC, t.action
$$;

CREATE OR REPLACE FUNCTION bandit.q_forget(agent text) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deleted bigint;
BEGIN
    PERFORM bandit.require('agent', agent, 'manage');
    DELETE FROM bandit.q_table t WHERE t.agent = q_forget.agent;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM bandit.transition t WHERE t.agent = q_forget.agent;
    RETURN deleted;
END
$$;

CREATE OR REPLACE FUNCTION bandit.q_export(agent text) RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
    SELECT bandit.require('agent', agent, 'read');
    SELECT jsonb_build_object('agent', q_export.agent, 'q', coalesce(jsonb_object_agg(s.state, s.actions), '{}'))
    FROM (SELECT t.state,
                 jsonb_object_agg(t.action, jsonb_build_object('q_value', t.q_value, 'update_count', t.update_count,
                                                               'last_updated', t.last_updated)) AS actions
          FROM bandit.q_table t
          WHERE t.agent = q_export.agent
          GROUP BY t.state) s
$$;

CREATE OR REPLACE FUNCTION bandit.q_import(agent text, document jsonb, replace boolean DEFAULT true) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
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
    PERFORM bandit.require('agent', agent, 'manage', true);
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

COMMENT ON FUNCTION bandit.q_select(text, text, text[], float8) IS
    'Epsilon-greedy choice among actions (distinct, non-empty, no NULLs) in state: with probability epsilon one uniformly at random, otherwise one with the largest Q, ties broken uniformly at random; an action never learned has Q = 0. Reproducible after bandit.set_seed. Privilege: use on the agent.';


COMMENT ON FUNCTION bandit.q_learn(text, text, text, float8, text, float8, float8) IS
    'One Q-learning update, Q(s,a) <- (1 - alpha) Q(s,a) + alpha (reward + gamma max_a'' Q(next_state, a'')), the max over actions learned in next_state (0 if none, or next_state NULL = terminal); alpha in (0, 1], gamma in [0, 1]; returns the new Q. One statement under the row lock: concurrent updates are never lost. Privilege: use on the agent.';


COMMENT ON FUNCTION bandit.q_learn_batch(text, text[], text[], float8[], text[], float8, float8) IS
    'Many Q-learning updates in one call, applied in array order, each seeing the ones before (as many q_learn calls would); NULL next_states elements are terminal; all or nothing; returns the number applied. Rows already learned are locked first in (state, action) order, so concurrent batches over learned rows cannot deadlock. Privilege: use on the agent.';


COMMENT ON FUNCTION bandit.q_remember(text, text, text, float8, text, integer) IS
    'Stores a transition in the replay buffer bandit.transition (next_state NULL = terminal) and returns its id; with capacity, keeps only the agent''s newest capacity transitions. Learning is separate: call bandit.q_learn as well, and bandit.q_replay later. Privilege: use on the agent.';


COMMENT ON FUNCTION bandit.q_replay(text, integer, float8, float8) IS
    'Experience replay: re-learns n transitions of the agent drawn uniformly at random, with replacement, from bandit.transition, applied in the order drawn as by bandit.q_learn_batch; returns the number applied (0 when the buffer is empty). Reproducible after bandit.set_seed. Privilege: use on the agent.';


COMMENT ON FUNCTION bandit.q_greedy(text) IS
    'The greedy policy learned so far: for each state with learned actions, the one with the largest Q (ties: the first action in sort order). Actions never learned (Q = 0) are not considered. Privilege: use on the agent.';


COMMENT ON FUNCTION bandit.q_forget(text) IS
    'Deletes everything the agent learned and remembered (its Q-values and stored transitions); returns the number of Q-values deleted. Privilege: manage on the agent.';


COMMENT ON FUNCTION bandit.q_export(text) IS
    'The agent''s Q-table as {"agent": agent, "q": {state: {action: {"q_value": q, "update_count": n, "last_updated": t}}}}, float8 values in shortest exact form, so bandit.q_import restores them bit for bit. Privilege: read on the agent.';


COMMENT ON FUNCTION bandit.q_import(text, jsonb, boolean) IS
    'Loads a document written by bandit.q_export into agent (which may differ from the exported one), float8 values exactly; an action may also map to a bare number (update_count 0, last_updated now). replace = true first deletes the agent''s Q-values, false overwrites only the entries given. All or nothing; returns the number of entries. Privilege: manage on the agent.';


-- The functions write as the extension's owner: the audit names the caller.
ALTER TABLE bandit.audit ALTER COLUMN by_user SET DEFAULT bandit.caller()::text;
ALTER TABLE bandit.experiment_audit ALTER COLUMN by_user SET DEFAULT bandit.caller()::text;
ALTER TABLE bandit.tuning_snapshot ALTER COLUMN taken_by SET DEFAULT bandit.caller()::text;
ALTER TABLE bandit.tuning_adjustment ALTER COLUMN adjusted_by SET DEFAULT bandit.caller()::text;

-- src/policy.sql
-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.policy, bandit.arm, bandit.decision, bandit.snapshot, bandit.audit TO PUBLIC;
-- ids come from the functions alone (the default ACL, made explicit)
REVOKE ALL ON SEQUENCE bandit.decision_id_seq, bandit.snapshot_id_seq, bandit.audit_id_seq FROM PUBLIC;
ALTER TABLE bandit.policy ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.policy FOR SELECT USING (name IN (SELECT r.name FROM bandit.readable('policy') r));
ALTER TABLE bandit.arm ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.arm FOR SELECT USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));
ALTER TABLE bandit.decision ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.decision FOR SELECT USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));
ALTER TABLE bandit.snapshot ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.snapshot FOR SELECT USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));
ALTER TABLE bandit.audit ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.audit FOR SELECT USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));

-- src/experiment.sql
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

-- src/qlearn.sql
-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.q_table, bandit.transition TO PUBLIC;
-- ids come from the functions alone (the default ACL, made explicit)
REVOKE ALL ON SEQUENCE bandit.transition_id_seq FROM PUBLIC;
ALTER TABLE bandit.q_table ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.q_table FOR SELECT USING (agent IN (SELECT r.name FROM bandit.readable('agent') r));
ALTER TABLE bandit.transition ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.transition FOR SELECT USING (agent IN (SELECT r.name FROM bandit.readable('agent') r));

-- src/prior.sql
-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.prior, bandit.prior_signal TO PUBLIC;
ALTER TABLE bandit.prior ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.prior FOR SELECT USING ('*' IN (SELECT r.name FROM bandit.readable('priors') r));
ALTER TABLE bandit.prior_signal ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.prior_signal FOR SELECT USING ('*' IN (SELECT r.name FROM bandit.readable('priors') r));

-- src/adjust.sql
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

-- src/bandit.sql
-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.check_param_keys(jsonb, jsonb) FROM PUBLIC;

-- src/policy.sql
-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.policy_row(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.policy_params(text, text[], jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.identity_matrix(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.check_budget(double precision, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_step(double precision, double precision, double precision, double precision, double precision, double precision, double precision, double precision, double precision, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.state_stamp() FROM PUBLIC;
-- Creating objects is for the roles a DBA grants EXECUTE on these.
REVOKE ALL ON FUNCTION bandit.create_policy(text, text, text[], jsonb) FROM PUBLIC;

-- src/experiment.sql
-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.experiment_params(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.experiment_row(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.check_metric(bandit.experiment, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.metric_summaries(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.assignment_counts(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.compare_variants(bandit.experiment, text, text[], bandit.summary[], boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.format_number(double precision) FROM PUBLIC;
-- Creating objects is for the roles a DBA grants EXECUTE on these.
REVOKE ALL ON FUNCTION bandit.create_experiment(text, text[], double precision[], jsonb) FROM PUBLIC;

-- src/prior.sql
-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.prior_number_problem(text, jsonb, numeric, numeric, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.prior_signal_problems(jsonb) FROM PUBLIC;

-- src/adjust.sql
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

ALTER VIEW bandit.prior_metrics SET (security_invoker = true);
ALTER FUNCTION bandit.validate_signal(jsonb) SECURITY DEFINER;
COMMENT ON FUNCTION bandit.validate_signal(jsonb) IS
    'Every problem of a signal for bandit.apply_signal, as text (empty array: valid; NULL: one problem): structure, unknown keys (top level and per key), missing keys, types, ranges (success_rate and quality_score 0..1, avg_latency >= 0, total_samples integer 1..2^53, aggregation_round integer >= 0, participant_count integer >= 1, cluster_hash non-empty string), empty reward_signals, numbers float8 cannot hold. Raises nothing, so a rejection can be logged outside the failed transaction. Privilege: none (it runs as the extension''s owner only to call its internal helper).';
GRANT SELECT ON bandit.prior_metrics TO PUBLIC;

-- == issue 11: the per-backend arm cache (src/policy.c, ArmCache)
ALTER TABLE bandit.policy ADD COLUMN arms_stamp bigint NOT NULL DEFAULT bandit.state_stamp();
COMMENT ON TABLE bandit.policy IS
    'Bandit policies: algorithm, parameters (all keys, defaults filled in), mode, default arm, decisions made (counted when epsilon decays per decision), and arms_stamp, a random stamp renewed (= DEFAULT) whenever arms are deleted, renamed or moved, which keys the per-backend arm caches';
COMMENT ON FUNCTION bandit.state_stamp() IS
    'A random 64-bit stamp from the strong random source (not bandit.set_seed''s generator), for bandit.arm.state_stamp and bandit.policy.arms_stamp';
ALTER TABLE bandit.arm ADD COLUMN changed_xid xid8 NOT NULL DEFAULT '0';
COMMENT ON TABLE bandit.arm IS
    'Arms of each policy and what it learned: Beta posterior (alpha, beta), rewards credited (pulls), their discounted weight, mean and m2 (weighted Welford), budget estimates (cost, latency_ms), LinUCB state (a_inv = inverse of A, b) as of its last fold (bandit.linucb_pending holds the rewards since), state_stamp, a random stamp renewed (= DEFAULT) by every write of a_inv or b: it names the stored state for bandit.linucb_pending and the per-backend LinUCB cache, and changed_xid, the transaction that last wrote the row (set by the trigger arm_written), which refreshes the per-backend arm cache';

-- The arms' write stamps, for the per-backend arm cache of choose and
-- recommend (src/policy.c, ArmCache).
CREATE INDEX arm_policy_changed_xid ON bandit.arm (policy, changed_xid);
CREATE FUNCTION bandit.arm_written() RETURNS trigger
AS 'MODULE_PATHNAME', 'bandit_arm_written' LANGUAGE C;
COMMENT ON FUNCTION bandit.arm_written() IS
    'Internal: BEFORE INSERT OR UPDATE row trigger of bandit.arm that sets changed_xid to the writing top transaction, so that a backend''s cached arms are refreshed by reading only the arms written since (an arm renamed or moved touches its old policy''s row); as an AFTER DELETE row trigger (arm_deleted_replica, on logical replication subscribers) it touches the deleted arm''s policy row';
REVOKE ALL ON FUNCTION bandit.arm_written() FROM PUBLIC;
CREATE TRIGGER arm_written BEFORE INSERT OR UPDATE ON bandit.arm
    FOR EACH ROW EXECUTE FUNCTION bandit.arm_written();
COMMENT ON TRIGGER arm_written ON bandit.arm IS
    'Stamps every written arm row with its transaction (changed_xid) for the per-backend arm cache';
-- Deleted arms leave no row to stamp: their policies' rows change instead,
-- which keys the arm cache.
CREATE FUNCTION bandit.arms_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE bandit.policy p SET updated_at = pg_catalog.now(), arms_stamp = DEFAULT
    WHERE p.name IN (SELECT d.policy FROM deleted_arms d);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION bandit.arms_deleted() IS
    'Internal: AFTER DELETE statement trigger of bandit.arm that renews the arms_stamp of the policies whose arms were deleted, which keys the per-backend arm caches';
REVOKE ALL ON FUNCTION bandit.arms_deleted() FROM PUBLIC;
CREATE TRIGGER arms_deleted AFTER DELETE ON bandit.arm
    REFERENCING OLD TABLE AS deleted_arms FOR EACH STATEMENT EXECUTE FUNCTION bandit.arms_deleted();
COMMENT ON TRIGGER arms_deleted ON bandit.arm IS
    'Touches the policies whose arms were deleted, so that backends read their arms afresh';
-- also on a logical replication subscriber, whose apply worker runs as a replica
ALTER TABLE bandit.arm ENABLE ALWAYS TRIGGER arm_written, ENABLE ALWAYS TRIGGER arms_deleted;
-- The apply worker of a logical replication subscriber fires row triggers
-- only: there, each deleted arm touches its policy's row.
CREATE TRIGGER arm_deleted_replica AFTER DELETE ON bandit.arm
    FOR EACH ROW EXECUTE FUNCTION bandit.arm_written();
COMMENT ON TRIGGER arm_deleted_replica ON bandit.arm IS
    'On a logical replication subscriber (replica role), touches the policy of each deleted arm, so that backends read its arms afresh';
ALTER TABLE bandit.arm ENABLE REPLICA TRIGGER arm_deleted_replica;

-- == issue 11: LinUCB keeps its rewards since the last fold apart from A^-1
-- (src/linucb.c): a reward writes a row naming its decision, not A^-1's 8 dim^2

-- LinUCB rewards not yet folded into their arm's a_inv and b (see src/linucb.c).
-- A row names the decision it rewards instead of holding x: the decision's
-- context gives x again (by primary key), so a reward does not log 8 dim
-- bytes of features a second time.  No foreign key: the decision log is the
-- operator's to truncate or prune, which a key would refuse while any reward
-- is pending; a pending row whose decision is gone is an error (XX001) where
-- it is read, and restore checks the decisions of a snapshot's rows.
CREATE TABLE bandit.linucb_pending (
    policy text NOT NULL,
    arm text NOT NULL,
    stamp bigint NOT NULL,
    seq bigint GENERATED BY DEFAULT AS IDENTITY,
    decision bigint NOT NULL,
    reward float8 NOT NULL,
    PRIMARY KEY (stamp, seq)
);
COMMENT ON TABLE bandit.linucb_pending IS
    'LinUCB rewards not yet folded into bandit.arm: each the rank-one update of the arm state whose state_stamp is stamp by reward and the features of decision (its context''s, derived again as reward derived them: the decision must be kept until the arm folds), applied on read in seq order after the stored a_inv and b (bandit.linucb_state shows the result); every (2 dim)-th reward of an arm folds them into a_inv and b and deletes them';

SELECT pg_catalog.pg_extension_config_dump('bandit.linucb_pending', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.linucb_pending_seq_seq', '');
GRANT SELECT ON bandit.linucb_pending TO PUBLIC;
-- a reward updates the arm row (pulls): with LinUCB's b TOASTed too (from dim 60 on), not b but
-- its TOAST pointer is written again
ALTER TABLE bandit.arm SET (toast_tuple_target = 512);
-- each decision is updated once, by its reward: room on its page keeps that update HOT
ALTER TABLE bandit.decision SET (fillfactor = 80);
REVOKE ALL ON SEQUENCE bandit.linucb_pending_seq_seq FROM PUBLIC;
COMMENT ON SEQUENCE bandit.linucb_pending_seq_seq IS 'Order of bandit.linucb_pending (commit order within an arm)';
ALTER TABLE bandit.linucb_pending ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.linucb_pending FOR SELECT
    USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));

CREATE FUNCTION bandit.linucb_state(policy text, arm text, OUT a_inv float8[], OUT b float8[], OUT pending integer)
AS 'MODULE_PATHNAME', 'bandit_linucb_state' LANGUAGE C STABLE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.linucb_state(text, text) IS
    'A LinUCB arm''s A^-1 (row-major) and b as choose and recommend use them: bandit.arm''s a_inv and b with the pending rewards of bandit.linucb_pending applied in order, and how many are pending; NULL arguments are 22004, an unknown policy or arm 42704, a policy of another algorithm 22023. Privilege: read on the policy.';


-- == issue 12: node-unique ids (src/node.c, src/node.sql)
-- Node-unique ids (src/node.c, API.md section 11).  Every generated id is
-- bandit.node_id * 2^53 + the next value of its table's sequence: the
-- default of each id column is bandit.new_id(its sequence), and each
-- sequence stops at 2^53 - 1 (MAXVALUE), below the node's bits.  The
-- sequences are dumped (pg_extension_config_dump), so a restored database
-- goes on from its last id.
CREATE FUNCTION bandit.new_id(seq regclass) RETURNS bigint
AS 'MODULE_PATHNAME', 'bandit_new_id' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.new_id(regclass) IS
    'Internal: the default of every generated id, bandit.node_id * 2^53 + nextval(seq) (on node 0 the sequence''s value itself); a value of seq outside 0 to 2^53 - 1 is 2200H, a NULL seq 22004';
REVOKE ALL ON FUNCTION bandit.new_id(regclass) FROM PUBLIC;

CREATE FUNCTION bandit.node_of(id bigint) RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_node_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.node_of(bigint) IS
    'The bandit.node_id of the node that generated an id (of a decision, snapshot, audit row, observation, transition, tuning snapshot or adjustment): id / 2^53, so that a router sends reward(decision_id, r) to that node; a negative id is 22003. Privilege: none (it touches no object).';

-- 0.1.0's identity columns become plain columns whose default is
-- bandit.new_id(a sequence of the same name), which goes on from where the
-- identity's sequence was: node 0's ids are the sequence's values, so the
-- ids of 0.1.0 are node 0's.  (bandit.linucb_pending.seq stays an identity:
-- an order within an arm, see src/policy.sql.)
DO $$
DECLARE
    t text;
    seq text;
    last bigint;
    called boolean;
BEGIN
    FOREACH t IN ARRAY ARRAY['decision', 'snapshot', 'audit', 'observation', 'experiment_audit',
                             'tuning_snapshot', 'tuning_adjustment', 'transition'] LOOP
        seq := pg_catalog.format('bandit.%I', t || '_id_seq');
        EXECUTE pg_catalog.format('SELECT last_value, is_called FROM %s', seq) INTO last, called;
        -- out of the extension first: that takes it out of extconfig, which a drop would leave naming it
        EXECUTE pg_catalog.format('ALTER EXTENSION bandit DROP SEQUENCE %s', seq);
        EXECUTE pg_catalog.format('ALTER TABLE bandit.%I ALTER COLUMN id DROP IDENTITY', t);
        EXECUTE pg_catalog.format('CREATE SEQUENCE %s AS bigint MAXVALUE 9007199254740991', seq);
        -- OWNED BY needs the table's owner, who may not be the role updating
        EXECUTE pg_catalog.format('ALTER SEQUENCE %s OWNER TO %I', seq,
                                  (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
                                   WHERE c.oid = pg_catalog.format('bandit.%I', t)::regclass));
        EXECUTE pg_catalog.format('ALTER SEQUENCE %s OWNED BY bandit.%I.id', seq, t);
        PERFORM pg_catalog.setval(seq::regclass, last, called);
        EXECUTE pg_catalog.format('ALTER TABLE bandit.%I ALTER COLUMN id SET DEFAULT bandit.new_id(%L)', t, seq);
        EXECUTE pg_catalog.format('COMMENT ON SEQUENCE %s IS %L', seq,
                                  pg_catalog.format('The local part of the ids of bandit.%s: bandit.new_id adds bandit.node_id * 2^53', t));
        PERFORM pg_catalog.pg_extension_config_dump(seq::regclass, '');
        EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE %s FROM PUBLIC', seq);
    END LOOP;
END
$$;

-- == issue 12: mergeable aggregates (src/summary.sql, src/ope.sql): a summary's text carries the
-- mean's low part; an enum alternative lets postgres_fdw push t_test down; ips/dr/snips states ship and merge
COMMENT ON FUNCTION bandit.summary_in(cstring) IS 'Text input of bandit.summary: (count,mean,m2), or (count,mean,m2,mean_low) with the low part of a double-double mean';
COMMENT ON FUNCTION bandit.summary_out(bandit.summary) IS 'Text output of bandit.summary, shortest exact decimals and the mean''s low part when not 0: input(output(x)) is x bit for bit';

-- The alternative as an enum: not collatable, so that postgres_fdw pushes down
-- a t_test aggregate given it as a constant (a text constant it does not).
-- The raw-row t_test's text overloads go: with none, a literal 'less' resolves
-- to the enum ones, which postgres_fdw pushes down, and the implicit cast keeps
-- text values working (a view of the user's on a text overload stops the update:
-- doc/upgrading.md)
DROP AGGREGATE bandit.t_test(float8, boolean, boolean, text);
DROP AGGREGATE bandit.t_test(float8, boolean, boolean, text, float8);
DROP FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text);
DROP FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text, float8);
CREATE TYPE bandit.alternative AS ENUM ('two-sided', 'less', 'greater');
COMMENT ON TYPE bandit.alternative IS
    'The alternative hypothesis of a t-test as an enum, for the raw-row bandit.t_test: unlike a text constant it lets postgres_fdw push the aggregate down; text casts to it implicitly. Privilege: none.';
CREATE CAST (text AS bandit.alternative) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (text AS bandit.alternative) IS
    'A text alternative (''two-sided'', ''less'', ''greater'') given to the raw-row bandit.t_test. Privilege: none.';
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative) IS
    'Transition of the raw-row bandit.t_test with an enum alternative. Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative) FROM PUBLIC;
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative, float8) IS
    'Transition of the raw-row bandit.t_test with an enum alternative and a level. Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative, float8) FROM PUBLIC;
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean, alternative bandit.alternative) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean, alternative bandit.alternative, level float8) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, bandit.alternative) IS
    'Two-sample t-test over raw rows with an alternative (the same on every row; a literal or text casts to bandit.alternative, which postgres_fdw pushes down); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic). Privilege: none.';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, bandit.alternative, float8) IS
    'Two-sample t-test over raw rows with an alternative and confidence level (the same on every row; a literal or text casts to bandit.alternative, which postgres_fdw pushes down); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic). Privilege: none.';

CREATE FUNCTION bandit.t_test(s1 bandit.summary, s2 bandit.summary, equal_var boolean, alternative bandit.alternative,
                              level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_summaries' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test(bandit.summary, bandit.summary, boolean, bandit.alternative, float8) IS
    'bandit.t_test(s1, s2, equal_var, alternative, level) with the alternative as bandit.alternative, which postgres_fdw ships (e.g. over pushed-down summaries). Privilege: none.';
CREATE FUNCTION bandit.t_test_one_sample(s bandit.summary, mu float8, alternative bandit.alternative,
                                         level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_one_sample' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_one_sample(bandit.summary, float8, bandit.alternative, float8) IS
    'bandit.t_test_one_sample(s, mu, alternative, level) with the alternative as bandit.alternative, which postgres_fdw ships. Privilege: none.';

-- Mergeable states for a coordinator: each shard ships a state, the
-- coordinator merges them (bandit.merge) and finishes them (bandit.estimate).
CREATE FUNCTION bandit.ips_terms_accum(bandit.summary, float8, float8, float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_ips_terms_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ips_terms_accum(bandit.summary, float8, float8, float8) IS
    'Transition of bandit.ips_terms: adds the term w reward, checked as bandit.ips checks it. Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.ips_terms_accum(bandit.summary, float8, float8, float8) FROM PUBLIC;
CREATE FUNCTION bandit.dr_terms_accum(bandit.summary, float8, float8, float8, float8, float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_dr_terms_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.dr_terms_accum(bandit.summary, float8, float8, float8, float8, float8) IS
    'Transition of bandit.dr_terms: adds the term reward_hat_target + w (reward - reward_hat_logged), checked as bandit.dr checks it. Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.dr_terms_accum(bandit.summary, float8, float8, float8, float8, float8) FROM PUBLIC;

CREATE AGGREGATE bandit.ips_terms(reward float8, target_propensity float8, logging_propensity float8) (
    SFUNC = bandit.ips_terms_accum,
    STYPE = bandit.summary,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.ips_terms(float8, float8, float8) IS
    'The state of bandit.ips as a bandit.summary of its terms w reward, for a shard to ship: bandit.estimate(bandit.merge(terms)) over the shards'' states is bandit.ips of all their rows. Privilege: none.';

CREATE AGGREGATE bandit.dr_terms(reward float8, target_propensity float8, logging_propensity float8,
                                 reward_hat_logged float8, reward_hat_target float8) (
    SFUNC = bandit.dr_terms_accum,
    STYPE = bandit.summary,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.dr_terms(float8, float8, float8, float8, float8) IS
    'The state of bandit.dr as a bandit.summary of its terms, for a shard to ship: bandit.estimate(bandit.merge(terms)) over the shards'' states is bandit.dr of all their rows. Privilege: none.';

CREATE FUNCTION bandit.estimate(terms bandit.summary) RETURNS bandit.ope_estimate
    AS 'MODULE_PATHNAME', 'bandit_terms_estimate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.estimate(bandit.summary) IS
    'Finishes a summary of IPS or DR terms (bandit.ips_terms, bandit.dr_terms, merged): the estimate bandit.ips or bandit.dr gives for the same rows; NULL for an empty summary. Privilege: none.';

CREATE TYPE bandit.snips_state;
CREATE FUNCTION bandit.snips_state_in(cstring) RETURNS bandit.snips_state
    AS 'MODULE_PATHNAME', 'bandit_snips_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.snips_state_out(bandit.snips_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'bandit_snips_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.snips_state_recv(internal) RETURNS bandit.snips_state
    AS 'MODULE_PATHNAME', 'bandit_snips_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.snips_state_send(bandit.snips_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bandit_snips_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE bandit.snips_state (
    INTERNALLENGTH = 48,
    INPUT = bandit.snips_state_in,
    OUTPUT = bandit.snips_state_out,
    RECEIVE = bandit.snips_state_recv,
    SEND = bandit.snips_state_send,
    ALIGNMENT = double
);
COMMENT ON TYPE bandit.snips_state IS
    'Mergeable state of bandit.snips: (count, sum w, V = w-weighted mean of the reward, sum w^2, w^2-weighted mean of the reward, its w^2-weighted squared deviations); text round-trips bit for bit. Privilege: none.';
COMMENT ON FUNCTION bandit.snips_state_in(cstring) IS 'Text input of bandit.snips_state: (count,sum_w,v,sum_w2,mean_w2,m2_w2), validated. Privilege: none.';
COMMENT ON FUNCTION bandit.snips_state_out(bandit.snips_state) IS 'Text output of bandit.snips_state, shortest exact decimals: round-trips bit for bit. Privilege: none.';
COMMENT ON FUNCTION bandit.snips_state_recv(internal) IS 'Binary input of bandit.snips_state, validated. Privilege: none.';
COMMENT ON FUNCTION bandit.snips_state_send(bandit.snips_state) IS 'Binary output of bandit.snips_state. Privilege: none.';

CREATE FUNCTION bandit.snips_state_accum(bandit.snips_state, float8, float8, float8) RETURNS bandit.snips_state
    AS 'MODULE_PATHNAME', 'bandit_snips_state_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_state_accum(bandit.snips_state, float8, float8, float8) IS
    'Transition of the bandit.snips_state aggregate, as bandit.snips. Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.snips_state_accum(bandit.snips_state, float8, float8, float8) FROM PUBLIC;
CREATE FUNCTION bandit.snips_state_combine(bandit.snips_state, bandit.snips_state) RETURNS bandit.snips_state
    AS 'MODULE_PATHNAME', 'bandit_snips_state_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_state_combine(bandit.snips_state, bandit.snips_state) IS
    'Merges two snips states; combine function of the bandit.snips_state aggregate and transition of bandit.merge(bandit.snips_state). Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.snips_state_combine(bandit.snips_state, bandit.snips_state) FROM PUBLIC;

CREATE AGGREGATE bandit.snips_state(reward float8, target_propensity float8, logging_propensity float8) (
    SFUNC = bandit.snips_state_accum,
    STYPE = bandit.snips_state,
    COMBINEFUNC = bandit.snips_state_combine,
    INITCOND = '(0,0,0,0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.snips_state(float8, float8, float8) IS
    'The state of bandit.snips, for a shard to ship: bandit.estimate(bandit.merge(state)) over the shards'' states is bandit.snips of all their rows. Privilege: none.';

CREATE AGGREGATE bandit.merge(state bandit.snips_state) (
    SFUNC = bandit.snips_state_combine,
    STYPE = bandit.snips_state,
    COMBINEFUNC = bandit.snips_state_combine,
    INITCOND = '(0,0,0,0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.merge(bandit.snips_state) IS
    'Merges snips states computed elsewhere (shards, nodes, days); bandit.estimate of the result is bandit.snips of all their rows. Privilege: none.';

CREATE FUNCTION bandit.estimate(state bandit.snips_state) RETURNS bandit.ope_estimate
    AS 'MODULE_PATHNAME', 'bandit_snips_state_estimate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.estimate(bandit.snips_state) IS
    'Finishes a snips state: the estimate bandit.snips gives for the same rows (NULL over no rows; estimate and se NULL when every weight is 0). Privilege: none.';

-- == issue 12: analysis from summaries (src/experiment.sql)
-- analyze and decide, and their forms from per-node summaries at a
-- coordinator, share one path: compare_variants is given the SRM p-value
-- (counted here or summed over the nodes), decide_variants the rows.

DROP FUNCTION bandit.compare_variants(bandit.experiment, text, text[], bandit.summary[], boolean, text);

-- src/cuped.sql
CREATE TYPE bandit.covariance_summary AS (n bigint, mean_x float8, mean_y float8, m2_x float8, m2_y float8, c_xy float8);
COMMENT ON TYPE bandit.covariance_summary IS
    'Mergeable summary of pairs (x, y): count, means, sums of squared deviations and the sum of cross deviations; bandit.merge merges them (Chan et al.); bandit.experiment_summaries(experiment, metric, covariate) gives a node''s';

-- Rejects what no sample of pairs could have produced.
CREATE FUNCTION bandit.covariance_summary_check(pairs bandit.covariance_summary) RETURNS bandit.covariance_summary
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pairs.n IS NULL OR pairs.mean_x IS NULL OR pairs.mean_y IS NULL OR pairs.m2_x IS NULL OR pairs.m2_y IS NULL OR pairs.c_xy IS NULL
       OR pairs.n < 0 OR pairs.m2_x < 0 OR pairs.m2_y < 0
       OR pairs.mean_x IN ('NaN', 'Infinity', '-Infinity') OR pairs.mean_y IN ('NaN', 'Infinity', '-Infinity')
       OR pairs.m2_x IN ('NaN', 'Infinity') OR pairs.m2_y IN ('NaN', 'Infinity') OR pairs.c_xy IN ('NaN', 'Infinity', '-Infinity')
       OR (pairs.n = 0 AND (pairs.mean_x <> 0 OR pairs.mean_y <> 0)) OR (pairs.n <= 1 AND (pairs.m2_x <> 0 OR pairs.m2_y <> 0 OR pairs.c_xy <> 0))
       OR pairs.c_xy ^ 2 > pairs.m2_x * pairs.m2_y * (1 + 1e-9) THEN
        RAISE EXCEPTION 'invalid covariance summary %: n >= 0, means finite, m2_x and m2_y finite and >= 0, c_xy^2 <= m2_x m2_y, and zeros below 2 pairs', pairs
            USING ERRCODE = '22023';
    END IF;
    RETURN pairs;
END
$$;
COMMENT ON FUNCTION bandit.covariance_summary_check(bandit.covariance_summary) IS
    'The covariance summary if some sample of pairs could have produced it, else 22023';

CREATE FUNCTION bandit.covariance_summary_combine(pairs1 bandit.covariance_summary, pairs2 bandit.covariance_summary)
RETURNS bandit.covariance_summary
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a bandit.covariance_summary;
    b bandit.covariance_summary;
    n bigint;
    dx float8;
    dy float8;
    w float8;
BEGIN
    a := bandit.covariance_summary_check(pairs1);
    b := bandit.covariance_summary_check(pairs2);
    IF b.n = 0 THEN
        RETURN a;
    ELSIF a.n = 0 THEN
        RETURN b;
    END IF;
    n := a.n + b.n;
    dx := b.mean_x - a.mean_x;
    dy := b.mean_y - a.mean_y;
    w := a.n::float8 * b.n / n;
    RETURN ROW(n, a.mean_x + dx * b.n / n, a.mean_y + dy * b.n / n,
               a.m2_x + b.m2_x + dx * dx * w, a.m2_y + b.m2_y + dy * dy * w, a.c_xy + b.c_xy + dx * dy * w);
END
$$;
COMMENT ON FUNCTION bandit.covariance_summary_combine(bandit.covariance_summary, bandit.covariance_summary) IS
    'Merges two covariance summaries (Chan et al.); transition and combine function of bandit.merge(bandit.covariance_summary)';

CREATE AGGREGATE bandit.merge(s bandit.covariance_summary) (
    SFUNC = bandit.covariance_summary_combine,
    STYPE = bandit.covariance_summary,
    COMBINEFUNC = bandit.covariance_summary_combine,
    INITCOND = '(0,0,0,0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.merge(bandit.covariance_summary) IS
    'Merges covariance summaries computed elsewhere (nodes, days) into one (Chan et al.); one that no sample could have produced is 22023';

CREATE FUNCTION bandit.covariance_summary_final(n bigint, mean_x float8, mean_y float8, m2_x float8, m2_y float8, c_xy float8)
RETURNS bandit.covariance_summary
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.covariance_summary_check(
        ROW(n, coalesce(mean_x, 0), coalesce(mean_y, 0), CASE WHEN n > 1 THEN m2_x ELSE 0 END,
            CASE WHEN n > 1 THEN m2_y ELSE 0 END, CASE WHEN n > 1 THEN c_xy ELSE 0 END)::bandit.covariance_summary)
$$;
COMMENT ON FUNCTION bandit.covariance_summary_final(bigint, float8, float8, float8, float8, float8) IS
    'A covariance summary from count(*), avg(x), avg(y), regr_sxx(y, x), regr_syy(y, x), regr_sxy(y, x) (PostgreSQL''s Youngs-Cramer sums); checked as bandit.merge checks its input (22023)';

REVOKE ALL ON FUNCTION bandit.covariance_summary_check(bandit.covariance_summary) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.covariance_summary_combine(bandit.covariance_summary, bandit.covariance_summary) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.covariance_summary_final(bigint, float8, float8, float8, float8, float8) FROM PUBLIC;

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

CREATE OR REPLACE FUNCTION bandit.srm_check(experiment text) RETURNS float8
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

CREATE OR REPLACE FUNCTION bandit.analyze(experiment text, metric text)
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

CREATE OR REPLACE FUNCTION bandit.analyze(experiment text, metric text, covariate text)
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

CREATE OR REPLACE FUNCTION bandit.decide(experiment text, metric text)
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

REVOKE ALL ON FUNCTION bandit.compare_variants(bandit.experiment, text, text[], bandit.summary[], boolean, text, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.srm_p_value(bandit.experiment, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.summaries_binary(bandit.summary[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.decide_variants(bandit.experiment, bandit.variant_result[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.summaries_order(bandit.experiment, text[], bigint[], bigint[], integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.cuped_moments(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.cuped_adjust(bandit.covariance_summary[], bandit.summary[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.cuped_adjusted(bandit.covariance_summary, float8, float8) FROM PUBLIC;

-- == issue 13: operating policies (src/policy.sql): parameters budget_smoothing, reward_wait,
-- default_reward and learning; the decision log records observed cost and latency, expiry,
-- batched rewards not yet learned and the canary that served; arms count the decisions learned
ALTER TABLE bandit.arm ADD COLUMN rewarded bigint NOT NULL DEFAULT 0,
    ADD COLUMN reward_sum float8 NOT NULL DEFAULT 0;
COMMENT ON TABLE bandit.arm IS
    'Arms of each policy and what it learned: Beta posterior (alpha, beta), rewards credited (pulls), their discounted weight, mean and m2 (weighted Welford), budget estimates (cost, latency_ms), LinUCB state (a_inv = inverse of A, b) as of its last fold (bandit.linucb_pending holds the rewards since), state_stamp, a random stamp renewed (= DEFAULT) by every write of a_inv or b: it names the stored state for bandit.linucb_pending and the per-backend LinUCB cache, changed_xid, the transaction that last wrote the row (set by the trigger arm_written), which refreshes the per-backend arm cache, and for bandit.policy_metrics the decisions learned on this arm (rewarded, expired ones included) and the sum of their rewards (reward_sum): counts of the log, not learned state, so restore keeps them';
ALTER TABLE bandit.decision ADD COLUMN cost float8, ADD COLUMN latency_ms float8,
    ADD COLUMN expired boolean NOT NULL DEFAULT false, ADD COLUMN to_learn boolean, ADD COLUMN canary_of text;
-- Rewards recorded and not yet learned (batched policies): a short list for
-- bandit.learn_pending.  An immediate reward leaves to_learn NULL, so its
-- update of the decision stays HOT.
CREATE INDEX decision_to_learn ON bandit.decision (policy, id) WHERE to_learn;
COMMENT ON TABLE bandit.decision IS
    'Decision log: the arm served and the probability it had (propensity), what the policy itself chose (policy_arm, policy_propensity; differs in shadow mode), the context, the reward once credited with the cost and latency observed, whether it was the default_reward of an expired decision (expired), to_learn (true: recorded by a batched policy, not yet learned by bandit.learn_pending), and canary_of, the policy whose choose served this decision from its canary candidate';
ALTER TABLE bandit.snapshot ADD COLUMN parent bigint,
    ADD COLUMN status text NOT NULL DEFAULT 'archived' CHECK (status IN ('active', 'candidate', 'archived'));
COMMENT ON TABLE bandit.snapshot IS
    'Saved copies of a policy''s whole learned state, for bandit.restore, with their lineage (bandit.policy_versions): parent, the snapshot this state descends from, and status (active: the state in service; candidate: a canary''s; archived)';

-- A policy's reward_wait parameter as an interval.
CREATE FUNCTION bandit.reward_wait(wait jsonb) RETURNS interval
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result interval;
BEGIN
    BEGIN
        result := (wait #>> '{}')::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
        result := NULL;
    END;
    IF jsonb_typeof(wait) IS DISTINCT FROM 'string' OR result IS NULL OR result <= interval '0' THEN
        RAISE EXCEPTION 'reward_wait must be a positive interval as text, e.g. "30 minutes", got %', wait
            USING ERRCODE = '22023';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION bandit.reward_wait(jsonb) IS
    'A policy''s reward_wait parameter (a JSON string) as a positive interval; anything else is 22023. Used by bandit.policy_params and bandit.expire_decisions';
REVOKE ALL ON FUNCTION bandit.reward_wait(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION bandit.policy_params(algorithm text, arms text[], params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    defaults constant jsonb := '{"prior_alpha": 1, "prior_beta": 1, "epsilon": 0.1, "epsilon_decay": 1.0,
        "min_epsilon": 0, "c": 1, "temperature": 0.1, "discount": 1.0, "alpha": 1.0, "dim": null,
        "mode": "active", "default_arm": null, "budget_smoothing": 0.1, "reward_wait": null,
        "default_reward": null, "learning": "immediate"}';
    result jsonb;
    k text;
    v jsonb;
BEGIN
    IF algorithm IS NULL OR arms IS NULL OR params IS NULL THEN
        RAISE EXCEPTION 'algorithm, arms and params must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_param_keys(params, defaults);
    result := defaults || jsonb_build_object('default_arm', arms[1]) || jsonb_strip_nulls(params);
    FOR k, v IN SELECT * FROM jsonb_each(result) LOOP
        CONTINUE WHEN k IN ('mode', 'default_arm', 'learning', 'reward_wait') OR v = 'null';
        IF jsonb_typeof(v) <> 'number' THEN
            RAISE EXCEPTION 'parameter "%" must be a number, got %', k, v USING ERRCODE = '22023';
        END IF;
    END LOOP;
    -- limits that keep every later choose computable (Beta quadrature, scores, softmax weights)
    IF (result->>'prior_alpha')::float8 NOT BETWEEN 1e-6 AND 1e6 OR (result->>'prior_beta')::float8 NOT BETWEEN 1e-6 AND 1e6 THEN
        RAISE EXCEPTION 'prior_alpha and prior_beta must be between 1e-06 and 1000000, got % and %',
            (result->>'prior_alpha')::float8, (result->>'prior_beta')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon')::float8 NOT BETWEEN 0 AND 1 OR (result->>'min_epsilon')::float8 NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'epsilon and min_epsilon must be between 0 and 1, got % and %',
            (result->>'epsilon')::float8, (result->>'min_epsilon')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon_decay')::float8 <= 0 OR (result->>'epsilon_decay')::float8 > 1 THEN
        RAISE EXCEPTION 'epsilon_decay must be in (0, 1], got %', (result->>'epsilon_decay')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'discount')::float8 <= 0 OR (result->>'discount')::float8 > 1 THEN
        RAISE EXCEPTION 'discount must be in (0, 1], got %', (result->>'discount')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'c')::float8 NOT BETWEEN 0 AND 1e100 OR (result->>'alpha')::float8 NOT BETWEEN 0 AND 1e100 THEN
        RAISE EXCEPTION 'c and alpha must be between 0 and 1e+100, got % and %',
            (result->>'c')::float8, (result->>'alpha')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'temperature')::float8 < 1e-300 THEN
        RAISE EXCEPTION 'temperature must be at least 1e-300, got %', (result->>'temperature')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'budget_smoothing')::float8 <= 0 OR (result->>'budget_smoothing')::float8 > 1 THEN
        RAISE EXCEPTION 'budget_smoothing must be in (0, 1], got %', (result->>'budget_smoothing')::float8
            USING ERRCODE = '22003';
    END IF;
    IF NOT result->>'learning' = ANY ('{immediate,batched}') THEN
        RAISE EXCEPTION 'learning must be immediate or batched, got %', result->'learning' USING ERRCODE = '22023';
    END IF;
    -- a decision that never hears back is credited default_reward after reward_wait: both or neither
    IF (result->'reward_wait' = 'null') <> (result->'default_reward' = 'null') THEN
        RAISE EXCEPTION 'reward_wait and default_reward go together, got % and %', result->'reward_wait', result->'default_reward'
            USING ERRCODE = '22023', HINT = 'A decision not rewarded within reward_wait is credited default_reward.';
    END IF;
    IF result->'reward_wait' <> 'null' THEN
        PERFORM bandit.reward_wait(result->'reward_wait');
        IF (result->>'default_reward')::float8 NOT BETWEEN (CASE WHEN algorithm = 'thompson' THEN 0 ELSE -1e100 END)
                                                       AND (CASE WHEN algorithm = 'thompson' THEN 1 ELSE 1e100 END) THEN
            RAISE EXCEPTION 'default_reward must be a reward the policy takes (thompson: from 0 to 1; others: from -1e+100 to 1e+100), got %',
                (result->>'default_reward')::float8 USING ERRCODE = '22003';
        END IF;
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
        IF (result->>'dim')::float8 <> trunc((result->>'dim')::float8) OR (result->>'dim')::float8 < 1 THEN
            RAISE EXCEPTION 'dim must be a positive integer, got %', (result->>'dim')::float8 USING ERRCODE = '22003';
        END IF;
        IF (result->>'dim')::float8 > 1024 THEN
            RAISE EXCEPTION 'dim must be at most 1024, got %', (result->>'dim')::float8 USING ERRCODE = '54000';
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

-- == issue 13: canaries and versions (src/canary.sql; snapshot and restore of src/policy.sql record
-- lineage: parent, status); choose's canary routing is in the library (src/policy.c)
COMMENT ON TABLE bandit.audit IS
    'Audit trail of every change to a policy''s configuration or state: create, arm_added, arm_retired, arm_budget, mode, snapshot, restore, canary_started, canary_promoted, canary_stopped';
COMMENT ON FUNCTION bandit.choose(text, jsonb) IS
    'Chooses an arm and logs the decision; propensity is the probability this arm had (Thompson: exact P(best) by quadrature; epsilon-greedy and softmax: exact; UCB1 and LinUCB: 1 / number of tied arms). Context {"max_cost": x, "max_latency_ms": y} serves only arms within budget (unknown estimates fit), else the default arm; for LinUCB context->''features'' is the feature vector, otherwise its keys are hashed into dim features; a context whose features overflow a LinUCB score is 22003. With a canary (bandit.start_canary), while the policy and its candidate are both in active mode, its share of the calls is served as choose(candidate) would, logged under the candidate with canary_of = policy. Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.reward(bigint, float8) IS
    'Credits a logged decision exactly once (a second reward is error 23505 and changes nothing); Thompson takes rewards in [0, 1], the others from -1e100 to 1e100; a reward that would take the arm''s state out of range (e.g. a LinUCB context with huge features) is 22003 and changes nothing. A canary''s decision teaches the candidate that made it and needs use on the policy it served (canary_of). Privilege: use on the policy.';

CREATE OR REPLACE FUNCTION bandit.snapshot(policy text, label text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    snapshot_id bigint;
    version bigint;
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    -- lineage: the new snapshot descends from the policy's current version (its
    -- active snapshot) and becomes it; the policy's row lock orders concurrent
    -- snapshots and restores (NO KEY: choose and reward do not wait)
    PERFORM 1 FROM bandit.policy t WHERE t.name = p.name FOR NO KEY UPDATE;
    SELECT max(t.id) INTO version FROM bandit.snapshot t WHERE t.policy = p.name AND t.status = 'active';
    UPDATE bandit.snapshot t SET status = 'archived' WHERE t.policy = p.name AND t.status = 'active';
    -- one statement, one snapshot: each LinUCB arm with the pending updates of its stored state
    INSERT INTO bandit.snapshot (policy, label, policy_row, arms, parent, status)
    SELECT p.name, label, to_jsonb(p),
           coalesce((SELECT jsonb_agg(to_jsonb(a) || coalesce(
                         (SELECT jsonb_build_object('linucb_pending',
                                                    jsonb_agg(jsonb_build_object('decision', q.decision, 'reward', q.reward) ORDER BY q.seq))
                          FROM bandit.linucb_pending q
                          WHERE q.stamp = a.state_stamp AND q.policy = a.policy AND q.arm = a.arm
                          HAVING count(*) > 0), '{}') ORDER BY a.arm)
                     FROM bandit.arm a WHERE a.policy = p.name), '[]'),
           version, 'active'
    RETURNING id INTO snapshot_id;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'snapshot', jsonb_build_object('snapshot_id', snapshot_id, 'label', label, 'parent', version));
    RETURN snapshot_id;
END
$$;
COMMENT ON FUNCTION bandit.snapshot(text, text) IS
    'Saves the policy''s whole learned state (configuration and every arm, exactly, with a LinUCB arm''s pending updates); returns the snapshot id for bandit.restore. The snapshot''s parent is the policy''s current version (its active snapshot, if any), and it becomes that version: status active, the previous one archived (bandit.policy_versions). Privilege: manage on the policy.';

CREATE OR REPLACE FUNCTION bandit.restore(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bandit.snapshot;
    p bandit.policy;
    pending record;
    version bigint;
BEGIN
    IF snapshot_id IS NULL THEN
        RAISE EXCEPTION 'snapshot_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO s FROM bandit.snapshot WHERE id = snapshot_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'snapshot % does not exist', snapshot_id USING ERRCODE = '42704';
    END IF;
    PERFORM bandit.require('policy', s.policy, 'manage');
    -- the privilege was checked on s.policy: the snapshot writes that policy only
    -- (a row written by hand under 0.1.0 could name another inside)
    IF s.policy_row->>'name' IS DISTINCT FROM s.policy
       OR EXISTS (SELECT FROM jsonb_array_elements(s.arms) e WHERE e->>'policy' IS DISTINCT FROM s.policy) THEN
        RAISE EXCEPTION 'snapshot % of policy "%" holds the state of another policy', snapshot_id, s.policy
            USING ERRCODE = 'XX001';
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
    -- follows the row and lands on the restored state; every restored arm
    -- gets a new state_stamp (a_inv and b are written)
    UPDATE bandit.arm a SET alpha = r.alpha, beta = r.beta, pulls = r.pulls, weight = r.weight,
           mean_reward = r.mean_reward, m2 = r.m2, cost = r.cost, latency_ms = r.latency_ms,
           a_inv = r.a_inv, b = r.b, retired = r.retired, added_at = r.added_at, last_update = r.last_update,
           state_stamp = DEFAULT
    FROM jsonb_populate_recordset(NULL::bandit.arm, s.arms) r
    WHERE a.policy = p.name AND a.arm = r.arm;
    DELETE FROM bandit.arm a WHERE a.policy = p.name
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.arms) e WHERE e->>'arm' = a.arm);
    INSERT INTO bandit.arm (policy, arm, alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms,
                            a_inv, b, retired, added_at, last_update)
    SELECT r.policy, r.arm, r.alpha, r.beta, r.pulls, r.weight, r.mean_reward, r.m2, r.cost, r.latency_ms,
           r.a_inv, r.b, r.retired, r.added_at, r.last_update
    FROM jsonb_populate_recordset(NULL::bandit.arm, s.arms) r
    WHERE NOT EXISTS (SELECT 1 FROM bandit.arm a WHERE a.policy = p.name AND a.arm = r.arm);
    -- the LinUCB updates pending at the snapshot, in their order, on the restored states; each
    -- takes its features from its decision's context, which must still be there, of that arm
    SELECT e->>'arm' AS arm, coalesce(v.item->>'decision', 'NULL') AS decision INTO pending
    FROM jsonb_array_elements(s.arms) e
    CROSS JOIN LATERAL jsonb_array_elements(e->'linucb_pending') v(item)
    WHERE NOT EXISTS (SELECT FROM bandit.decision d
                      WHERE d.id = (v.item->>'decision')::bigint AND d.policy = p.name AND d.arm = e->>'arm'
                        AND d.reward = (v.item->>'reward')::float8)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'snapshot % cannot be restored: decision %, rewarded on arm "%" of policy "%" and pending there, no longer exists',
            snapshot_id, pending.decision, pending.arm, p.name
            USING ERRCODE = '42704', HINT = 'A pending LinUCB update takes its features from its decision''s context.';
    END IF;
    DELETE FROM bandit.linucb_pending q WHERE q.policy = p.name;
    INSERT INTO bandit.linucb_pending (policy, arm, stamp, decision, reward)
    SELECT a.policy, a.arm, a.state_stamp, u.decision, u.reward
    FROM jsonb_array_elements(s.arms) e
    JOIN bandit.arm a ON a.policy = p.name AND a.arm = e->>'arm'
    CROSS JOIN LATERAL jsonb_array_elements(e->'linucb_pending') WITH ORDINALITY v(item, n)
    CROSS JOIN LATERAL jsonb_populate_record(NULL::bandit.linucb_pending, v.item) u
    ORDER BY a.arm, v.n;
    INSERT INTO bandit.arm_count (policy, arms)
    SELECT p.name, count(*) FROM bandit.arm a WHERE a.policy = p.name
    ON CONFLICT (policy) DO UPDATE SET arms = excluded.arms;
    -- lineage: the restored snapshot is the policy's version now
    SELECT max(t.id) INTO version FROM bandit.snapshot t WHERE t.policy = p.name AND t.status = 'active';
    UPDATE bandit.snapshot t SET status = CASE WHEN t.id = s.id THEN 'active' ELSE 'archived' END
    WHERE t.policy = p.name AND (t.status = 'active' OR t.id = s.id);
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'restore', jsonb_build_object('snapshot_id', snapshot_id, 'label', s.label, 'taken_at', s.taken_at,
                                                  'previous_version', version));
END
$$;
COMMENT ON FUNCTION bandit.restore(bigint) IS
    'Puts back a policy''s whole learned state exactly as a snapshot saved it (arms added since are removed; each arm''s state_stamp is renewed, LinUCB''s pending updates put back on it; a pending update whose decision is gone since is 42704 and restores nothing). The restored snapshot becomes the policy''s current version (status active, the others active before archived; the audit row names the previous version). Privilege: manage on the policy.';

CREATE TABLE bandit.canary (
    policy text PRIMARY KEY,
    candidate text NOT NULL,
    share float8 NOT NULL CHECK (share > 0 AND share < 1),
    gates jsonb NOT NULL,
    started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_by text NOT NULL DEFAULT bandit.caller()::text
);
COMMENT ON TABLE bandit.canary IS
    'Canaries in progress (bandit.start_canary): choose(policy) serves share of its calls from candidate, another policy over the same active arms, logged under candidate with canary_of = policy; gates (defaults filled in) decide bandit.canary_status''s recommendation; started_at, and started_by the role that started it; one canary per policy';
SELECT pg_catalog.pg_extension_config_dump('bandit.canary', '');
GRANT SELECT ON bandit.canary TO PUBLIC;
ALTER TABLE bandit.canary ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.canary FOR SELECT USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));

-- A canary's gates, checked, with their defaults filled in.
CREATE FUNCTION bandit.canary_gates(gates jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    defaults constant jsonb := '{"min_decisions": 100, "min_value": null, "max_std_error": null, "max_regression": 0}';
    result jsonb;
    k text;
    v jsonb;
BEGIN
    IF gates IS NULL OR jsonb_typeof(gates) <> 'object' THEN
        RAISE EXCEPTION 'gates must be a JSON object, got %', gates USING ERRCODE = '22023';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(gates) LOOP
        IF NOT defaults ? k THEN
            RAISE EXCEPTION 'unknown gate "%"', k
                USING ERRCODE = '22023', HINT = 'Known gates: max_regression, max_std_error, min_decisions, min_value.';
        END IF;
        IF jsonb_typeof(v) NOT IN ('number', 'null') THEN
            RAISE EXCEPTION 'gate "%" must be a number, got %', k, v USING ERRCODE = '22023';
        END IF;
    END LOOP;
    result := defaults || gates;
    IF result->'min_decisions' = 'null' THEN
        result := result || '{"min_decisions": 100}';
    END IF;
    IF result->'max_regression' = 'null' THEN
        result := result || '{"max_regression": 0}';
    END IF;
    IF (result->>'min_decisions')::numeric NOT BETWEEN 2 AND 1000000000
       OR (result->>'min_decisions')::numeric <> trunc((result->>'min_decisions')::numeric) THEN
        RAISE EXCEPTION 'min_decisions must be an integer from 2 to 1000000000, got %', result->'min_decisions'
            USING ERRCODE = '22003';
    END IF;
    IF (result->>'min_value')::numeric NOT BETWEEN -1e100 AND 1e100 THEN
        RAISE EXCEPTION 'min_value must be from -1e+100 to 1e+100, got %', (result->>'min_value')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'max_std_error')::numeric <= 0 OR (result->>'max_std_error')::numeric > 1e100 THEN
        RAISE EXCEPTION 'max_std_error must be in (0, 1e+100], got %', (result->>'max_std_error')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'max_regression')::numeric NOT BETWEEN 0 AND 1e100 THEN
        RAISE EXCEPTION 'max_regression must be from 0 to 1e+100, got %', (result->>'max_regression')::float8 USING ERRCODE = '22003';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION bandit.canary_gates(jsonb) IS
    'Checks a canary''s gates and fills in the defaults (min_decisions 100, min_value none, max_std_error none, max_regression 0): unknown keys and non-numbers are 22023, values out of range 22003; used by bandit.start_canary';

-- The active arms of two policies, when they are not the same set.
CREATE FUNCTION bandit.canary_arms_differ(policy text, candidate text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('policy "%s" serves %s, candidate "%s" serves %s', $1,
                  (SELECT coalesce(array_agg(a.arm ORDER BY a.arm), '{}') FROM bandit.arm a WHERE a.policy = $1 AND NOT a.retired),
                  $2,
                  (SELECT coalesce(array_agg(a.arm ORDER BY a.arm), '{}') FROM bandit.arm a WHERE a.policy = $2 AND NOT a.retired))
    WHERE EXISTS (SELECT a.arm FROM bandit.arm a WHERE a.policy = $1 AND NOT a.retired
                  EXCEPT SELECT a.arm FROM bandit.arm a WHERE a.policy = $2 AND NOT a.retired)
       OR EXISTS (SELECT a.arm FROM bandit.arm a WHERE a.policy = $2 AND NOT a.retired
                  EXCEPT SELECT a.arm FROM bandit.arm a WHERE a.policy = $1 AND NOT a.retired)
$$;
COMMENT ON FUNCTION bandit.canary_arms_differ(text, text) IS
    'NULL when two policies have the same active (not retired) arm names, else a message listing both sets; used by bandit.start_canary, bandit.promote_canary and bandit.canary_status';

-- How two policies' expiry differs (reward_wait, default_reward), if it does.
CREATE FUNCTION bandit.canary_expiry_differ(policy text, candidate text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('policy "%s" has reward_wait %s and default_reward %s, candidate "%s" has %s and %s',
                  p.name, coalesce(p.params->>'reward_wait', 'none'), coalesce(p.params->>'default_reward', 'none'),
                  c.name, coalesce(c.params->>'reward_wait', 'none'), coalesce(c.params->>'default_reward', 'none'))
    FROM bandit.policy p, bandit.policy c
    WHERE p.name = $1 AND c.name = $2
      AND ((SELECT bandit.reward_wait(p.params->'reward_wait') WHERE p.params->>'reward_wait' IS NOT NULL)
               IS DISTINCT FROM (SELECT bandit.reward_wait(c.params->'reward_wait') WHERE c.params->>'reward_wait' IS NOT NULL)
           OR (p.params->>'default_reward')::float8 IS DISTINCT FROM (c.params->>'default_reward')::float8)
$$;
COMMENT ON FUNCTION bandit.canary_expiry_differ(text, text) IS
    'NULL when two policies expire their decisions alike (the same reward_wait as an interval and the same default_reward, or neither), else a message showing both; used by bandit.canary_status';

CREATE FUNCTION bandit.start_canary(policy text, candidate text, share float8, gates jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    c bandit.policy;
    full_gates jsonb;
    differ text;
    existing bandit.canary;
BEGIN
    IF candidate IS NULL THEN
        RAISE EXCEPTION 'candidate must not be NULL' USING ERRCODE = '22004';
    END IF;
    c := bandit.policy_row(candidate);
    PERFORM bandit.require('policy', policy, 'manage');
    PERFORM bandit.require('policy', candidate, 'manage');
    IF share IS NULL OR gates IS NULL THEN
        RAISE EXCEPTION 'share and gates must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF c.name = p.name THEN
        RAISE EXCEPTION 'policy "%" cannot be its own canary', p.name USING ERRCODE = '22023';
    END IF;
    IF NOT (share > 0 AND share < 1) THEN
        RAISE EXCEPTION 'share must be in (0, 1), got %', share USING ERRCODE = '22003';
    END IF;
    full_gates := bandit.canary_gates(gates);
    differ := bandit.canary_arms_differ(p.name, c.name);
    IF differ IS NOT NULL THEN
        RAISE EXCEPTION 'a canary''s candidate must have the same active arms as its policy: %', differ
            USING ERRCODE = '22023';
    END IF;
    -- the candidate serves the policy's calls with their contexts: a LinUCB
    -- candidate needs the policy's feature vectors (else those calls fail)
    IF c.algorithm = 'linucb' AND (p.algorithm <> 'linucb' OR (p.params->>'dim')::numeric <> (c.params->>'dim')::numeric) THEN
        RAISE EXCEPTION 'candidate "%" is linucb with dim %, policy "%" is % %: choose(%) would fail on the candidate''s share of its calls',
            c.name, c.params->>'dim', p.name, p.algorithm,
            CASE WHEN p.algorithm = 'linucb' THEN 'with dim ' || (p.params->>'dim') ELSE '(no feature vector)' END, p.name
            USING ERRCODE = '22023', HINT = 'A LinUCB candidate needs a LinUCB policy of the same dim.';
    END IF;
    -- two policies canarying each other: neither is production, and their
    -- promotions would lock the two policies in opposite orders
    IF EXISTS (SELECT FROM bandit.canary k WHERE k.policy = c.name AND k.candidate = p.name) THEN
        RAISE EXCEPTION 'policy "%" already has policy "%" as its canary''s candidate', c.name, p.name
            USING ERRCODE = '22023', HINT = 'End that canary first.';
    END IF;
    -- a row whose candidate was deleted by hand is a leftover
    DELETE FROM bandit.canary k WHERE k.policy = p.name
       AND NOT EXISTS (SELECT FROM bandit.policy t WHERE t.name = k.candidate);
    INSERT INTO bandit.canary (policy, candidate, share, gates)
    VALUES (p.name, c.name, share, full_gates)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO existing FROM bandit.canary k WHERE k.policy = p.name;
        RAISE EXCEPTION 'policy "%" already has a canary, candidate "%"', p.name, existing.candidate
            USING ERRCODE = '23505', HINT = 'End it with bandit.stop_canary or bandit.promote_canary first.';
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'canary_started', jsonb_build_object('candidate', c.name, 'share', share, 'gates', full_gates));
END
$$;
COMMENT ON FUNCTION bandit.start_canary(text, text, float8, jsonb) IS
    'Starts a canary: from now on choose(policy) serves share (in (0, 1), 22003 otherwise) of its calls as choose(candidate) would (while both are in active mode: a policy in shadow or off mode serves its default arm, a candidate not active or gone serves nothing; an arm the candidate chose that is not an active arm of the policy is not served, the policy serves that call), drawn from the session''s generator (bandit.set_seed), logged under candidate with canary_of = policy and rewarded by whoever may use policy. The candidate must be another policy with the same active (not retired) arm names (22023), and a LinUCB candidate needs a LinUCB policy of the same dim, whose callers send its feature vectors (22023); with another reward_wait or default_reward than the policy''s, canary_status does not compare the two (continue). gates: min_decisions (100), min_value (none), max_std_error (none), max_regression (0), see bandit.canary_status; unknown gates 22023. One canary per policy (a second is 23505); two policies may not be each other''s candidates (22023); unknown policies 42704. Audited. The candidate needs manage too. Privilege: manage on the policy.';

-- The candidate's probability of choosing each active arm now, without a
-- context: what its choose would log as propensity (Thompson: P(best) by
-- quadrature; epsilon-greedy: epsilon / n + (1 - epsilon) / ties on the
-- greedy arms; softmax: exp((mean - top) / temperature), normalized; UCB1:
-- 1 / ties on the top upper bounds).  LinUCB's depends on the context: none.
CREATE FUNCTION bandit.canary_propensities(candidate text)
RETURNS TABLE (arm text, propensity float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c bandit.policy := bandit.policy_row(candidate);
    prm jsonb := bandit.policy_params(c.algorithm, ARRAY[c.default_arm], c.params - 'default_arm');
    epsilon float8;
BEGIN
    IF c.algorithm = 'thompson' THEN
        RETURN QUERY
        WITH active AS (SELECT array_agg(a.arm) arms, array_agg(a.alpha) alphas, array_agg(a.beta) betas
                        FROM bandit.arm a WHERE a.policy = c.name AND NOT a.retired)
        SELECT x.arm, x.p FROM active, LATERAL unnest(active.arms, bandit.prob_best(active.alphas, active.betas)) x(arm, p);
    ELSIF c.algorithm = 'epsilon_greedy' THEN
        epsilon := greatest((prm->>'min_epsilon')::float8,
                            (prm->>'epsilon')::float8 * power((prm->>'epsilon_decay')::float8, c.decisions::float8));
        RETURN QUERY
        WITH s AS (SELECT a.arm, CASE WHEN a.weight > 0 THEN a.mean_reward ELSE 0 END score
                   FROM bandit.arm a WHERE a.policy = c.name AND NOT a.retired),
             t AS (SELECT max(s.score) top, count(*) n, count(*) FILTER (WHERE s.score = (SELECT max(score) FROM s)) ties FROM s)
        SELECT s.arm, epsilon / t.n + CASE WHEN s.score = t.top THEN (1 - epsilon) / t.ties ELSE 0 END FROM s, t;
    ELSIF c.algorithm = 'softmax' THEN
        RETURN QUERY
        WITH s AS (SELECT a.arm, CASE WHEN a.weight > 0 THEN a.mean_reward ELSE 0 END score
                   FROM bandit.arm a WHERE a.policy = c.name AND NOT a.retired),
             w AS (SELECT s.arm, CASE WHEN (s.score - m.top) / (prm->>'temperature')::float8 < -745 THEN 0
                                      ELSE exp((s.score - m.top) / (prm->>'temperature')::float8) END weight
                   FROM s, (SELECT max(score) top FROM s) m)
        SELECT w.arm, w.weight / sum(w.weight) OVER () FROM w;
    ELSIF c.algorithm = 'ucb1' THEN
        RETURN QUERY
        WITH s AS (SELECT a.arm, CASE WHEN a.weight <= 0 THEN 'Infinity'::float8
                                      ELSE a.mean_reward + (prm->>'c')::float8 * sqrt(2 * ln(sum(a.weight) OVER ()) / a.weight) END score
                   FROM bandit.arm a WHERE a.policy = c.name AND NOT a.retired),
             t AS (SELECT max(s.score) top FROM s)
        SELECT s.arm, CASE WHEN s.score = t.top THEN 1 / (count(*) FILTER (WHERE s.score = t.top) OVER ())::float8 ELSE 0 END
        FROM s, t;
    END IF;
END
$$;
COMMENT ON FUNCTION bandit.canary_propensities(text) IS
    'The probability a policy''s choose would give each active arm now, without a context (budgets ignored): Thompson P(best) by quadrature, epsilon-greedy epsilon / n + (1 - epsilon) / ties on the greedy arms, softmax exp((mean - top) / temperature) normalized, UCB1 1 / ties on the top upper bounds; no rows for LinUCB, whose choice depends on the context; used by bandit.canary_status';

CREATE FUNCTION bandit.canary_status(policy text)
RETURNS TABLE (candidate text, share float8, started_at timestamptz,
               production_n bigint, production_mean float8, candidate_n bigint, candidate_mean float8,
               method text, difference float8, std_error float8, p_value float8, prob_candidate_better float8,
               ope_n bigint, ope_ess float8, ope_ips float8, ope_snips float8, ope_std_error float8,
               recommendation text, reason text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    k bandit.canary;
    prod bandit.summary;
    cand bandit.summary;
    prod_beta float8[];
    cand_beta float8[];
    unit boolean;
    min_n bigint;
    min_value float8;
    max_se float8;
    max_regression float8;
    differ text;
    expiry text;
BEGIN
    PERFORM bandit.require('policy', policy, 'read');
    SELECT * INTO k FROM bandit.canary t WHERE t.policy = p.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'policy "%" has no canary', p.name USING ERRCODE = '42704';
    END IF;
    PERFORM bandit.require('policy', k.candidate, 'read');
    min_n := (k.gates->>'min_decisions')::bigint;
    min_value := (k.gates->>'min_value')::float8;
    max_se := (k.gates->>'max_std_error')::float8;
    max_regression := (k.gates->>'max_regression')::float8;

    -- the rewarded decisions of each side since the canary started, each side's
    -- own choices (active mode): production's and the candidate's through this canary
    SELECT bandit.summarize(d.reward), ARRAY[(bandit.beta_posterior(d.reward, 1, 1) FILTER (WHERE d.reward BETWEEN 0 AND 1)).alpha,
                                             (bandit.beta_posterior(d.reward, 1, 1) FILTER (WHERE d.reward BETWEEN 0 AND 1)).beta],
           coalesce(bool_and(d.reward BETWEEN 0 AND 1), true)
    INTO prod, prod_beta, unit
    FROM bandit.decision d
    WHERE d.policy = p.name AND d.created_at >= k.started_at AND d.canary_of IS NULL
      AND d.mode = 'active' AND d.reward IS NOT NULL;
    SELECT bandit.summarize(d.reward), ARRAY[(bandit.beta_posterior(d.reward, 1, 1) FILTER (WHERE d.reward BETWEEN 0 AND 1)).alpha,
                                             (bandit.beta_posterior(d.reward, 1, 1) FILTER (WHERE d.reward BETWEEN 0 AND 1)).beta],
           unit AND coalesce(bool_and(d.reward BETWEEN 0 AND 1), true)
    INTO cand, cand_beta, unit
    FROM bandit.decision d
    WHERE d.policy = k.candidate AND d.created_at >= k.started_at AND d.canary_of = p.name
      AND d.mode = 'active' AND d.reward IS NOT NULL;

    candidate := k.candidate;
    share := k.share;
    started_at := k.started_at;
    production_n := coalesce(bandit.n(prod), 0);
    candidate_n := coalesce(bandit.n(cand), 0);
    production_mean := bandit.mean(prod);
    candidate_mean := bandit.mean(cand);
    difference := candidate_mean - production_mean;
    method := CASE WHEN unit THEN 'beta' ELSE 'welch' END;
    IF production_n >= 2 AND candidate_n >= 2 THEN
        std_error := sqrt(bandit.stddev(prod) ^ 2 / production_n + bandit.stddev(cand) ^ 2 / candidate_n);
        IF std_error > 0 THEN
            p_value := (bandit.t_test(cand, prod, false, 'two-sided', 0.95)).p_value;
        END IF;
        -- as experiments do: exact Beta posteriors for rewards in [0, 1], else N(mean, sd^2 / n)
        IF unit THEN
            prob_candidate_better := (bandit.prob_best(ARRAY[prod_beta[1], cand_beta[1]],
                                                       ARRAY[prod_beta[2], cand_beta[2]]))[2];
        ELSIF std_error > 0 THEN
            prob_candidate_better := (bandit.normal_prob_best(
                ARRAY[production_mean, candidate_mean],
                ARRAY[bandit.stddev(prod) / sqrt(production_n), bandit.stddev(cand) / sqrt(candidate_n)]))[2];
        END IF;
    END IF;

    -- the candidate's value off-policy, on production's log since the start:
    -- its propensity now for each logged arm over the logged propensity
    SELECT count(*), sum(coalesce(t.propensity, 0) / d.propensity) ^ 2 / nullif(sum((coalesce(t.propensity, 0) / d.propensity) ^ 2), 0),
           (bandit.ips(d.reward, coalesce(t.propensity, 0), d.propensity)).estimate,
           (bandit.snips(d.reward, coalesce(t.propensity, 0), d.propensity)).estimate,
           (bandit.snips(d.reward, coalesce(t.propensity, 0), d.propensity)).std_error
    INTO ope_n, ope_ess, ope_ips, ope_snips, ope_std_error
    FROM bandit.decision d
    LEFT JOIN bandit.canary_propensities(k.candidate) t ON t.arm = d.arm
    WHERE d.policy = p.name AND d.created_at >= k.started_at AND d.canary_of IS NULL
      AND d.mode = 'active' AND d.reward IS NOT NULL AND d.propensity > 0
      AND EXISTS (SELECT FROM bandit.canary_propensities(k.candidate));
    IF ope_n = 0 THEN
        ope_n := NULL;
    END IF;

    -- the gates, in this order; a candidate that no longer has the policy's
    -- active arms cannot be promoted (choose serves its other arms' calls itself)
    differ := bandit.canary_arms_differ(p.name, k.candidate);
    expiry := bandit.canary_expiry_differ(p.name, k.candidate);
    IF differ IS NOT NULL THEN
        recommendation := 'rollback';
        reason := format('the candidate''s active arms are no longer the policy''s: %s', differ);
    ELSIF expiry IS NOT NULL THEN
        recommendation := 'continue';
        reason := format('the two sides expire decisions differently, so their rewards do not compare: %s', expiry);
    ELSIF production_n < min_n OR candidate_n < min_n THEN
        recommendation := 'continue';
        reason := format('too little data: %s production and %s candidate rewards, min_decisions %s',
                         production_n, candidate_n, min_n);
    ELSIF candidate_mean < min_value THEN
        recommendation := 'rollback';
        reason := format('candidate mean reward %s is below min_value %s', candidate_mean, min_value);
    ELSIF std_error IS NULL OR std_error > max_se THEN
        recommendation := 'continue';
        reason := format('standard error of the difference %s is above max_std_error %s', std_error, max_se);
    ELSIF prob_candidate_better IS NULL THEN
        recommendation := 'continue';
        reason := 'no variance on either side: no comparison';
    ELSIF prob_candidate_better < 0.05 AND difference < -max_regression THEN
        recommendation := 'rollback';
        reason := format('candidate worse: P(candidate better) %s < 0.05, difference %s beyond max_regression %s',
                         round(prob_candidate_better::numeric, 4), difference, max_regression);
    ELSIF prob_candidate_better > 0.95 AND ope_ess >= min_n
          AND ope_snips + 1.96 * ope_std_error < production_mean - max_regression THEN
        recommendation := 'continue';
        reason := format('P(candidate better) %s > 0.95, but the upper 95%% bound of its off-policy estimate on the production log, %s, is below production''s mean %s by more than max_regression %s',
                         round(prob_candidate_better::numeric, 4), ope_snips + 1.96 * ope_std_error, production_mean, max_regression);
    ELSIF prob_candidate_better > 0.95 THEN
        recommendation := 'promote';
        reason := format('candidate better: P(candidate better) %s > 0.95', round(prob_candidate_better::numeric, 4));
    ELSE
        recommendation := 'continue';
        reason := format('no clear difference yet: P(candidate better) %s', round(prob_candidate_better::numeric, 4));
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION bandit.canary_status(text) IS
    'A canary''s evidence and recommendation. Rewarded decisions since it started, each side''s own choices (active mode): production''s (production_n, production_mean) against the candidate''s through the canary (candidate_n, candidate_mean); difference = candidate - production with std_error sqrt(s1^2/n1 + s2^2/n2) and Welch''s p_value; method beta when every reward is in [0, 1] (prob_candidate_better from the exact Beta(1 + sum r, 1 + n - sum r) posteriors, bandit.prob_best), else welch (normal posteriors N(mean, s^2/n), bandit.normal_prob_best). Off-policy: bandit.ips and bandit.snips of the candidate on production''s log since the start, weighting each logged arm by the candidate''s context-free propensity now (bandit.canary_propensities) over the logged one, with the effective sample size of those weights, ope_ess = (sum w)^2 / sum w^2; NULL for LinUCB candidates. Gates in order: the candidate''s active arms no longer the policy''s: rollback; the two sides'' reward_wait or default_reward differ (default_reward credited on one side only would decide): continue; either side under min_decisions: continue; candidate_mean < min_value: rollback; std_error above max_std_error: continue; prob_candidate_better < 0.05 and difference < -max_regression: rollback; prob_candidate_better > 0.95: promote, unless ope_ess >= min_decisions and ope_snips + 1.96 ope_std_error < production_mean - max_regression (continue: the production log, where it says enough, contradicts the canary); otherwise continue. No canary is 42704. The candidate needs read too. Privilege: read on the policy.';

CREATE FUNCTION bandit.promote_canary(policy text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    k bandit.canary;
    c bandit.policy;
    differ text;
    before_id bigint;
    candidate_id bigint;
    promoted_id bigint;
    s bandit.snapshot;
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    SELECT * INTO k FROM bandit.canary t WHERE t.policy = p.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'policy "%" has no canary', p.name USING ERRCODE = '42704';
    END IF;
    c := bandit.policy_row(k.candidate);
    PERFORM bandit.require('policy', c.name, 'manage');
    differ := bandit.canary_arms_differ(p.name, c.name);
    IF differ IS NOT NULL THEN
        RAISE EXCEPTION 'the candidate no longer has the same active arms as its policy: %', differ
            USING ERRCODE = '22023', HINT = 'Stop the canary with bandit.stop_canary.';
    END IF;
    -- after promotion the policy's callers send the contexts they send now
    IF c.algorithm = 'linucb' AND (p.algorithm <> 'linucb' OR (p.params->>'dim')::numeric <> (c.params->>'dim')::numeric) THEN
        RAISE EXCEPTION 'candidate "%" is linucb with dim %, policy "%" is % %: choose(%) would fail after promotion',
            c.name, c.params->>'dim', p.name, p.algorithm,
            CASE WHEN p.algorithm = 'linucb' THEN 'with dim ' || (p.params->>'dim') ELSE '(no feature vector)' END, p.name
            USING ERRCODE = '22023', HINT = 'Stop the canary with bandit.stop_canary.';
    END IF;
    -- the production state first (archived by the restore below)
    before_id := bandit.snapshot(p.name, format('before promoting canary %s', c.name));
    -- the candidate's state, status candidate; the candidate's own current version
    -- stays: the new snapshot's parent, read by snapshot under the candidate's row
    -- lock (a concurrent snapshot of the candidate is waited for, and is that version)
    candidate_id := bandit.snapshot(c.name, format('promoted into %s', p.name));
    SELECT * INTO s FROM bandit.snapshot t WHERE t.id = candidate_id;
    UPDATE bandit.snapshot t SET status = CASE WHEN t.id = candidate_id THEN 'candidate' ELSE 'active' END
    WHERE t.id IN (candidate_id, s.parent);
    -- the same state under the policy's name: its configuration but its mode, and its
    -- arms (LinUCB's with their pending updates applied: those name the candidate's decisions)
    INSERT INTO bandit.snapshot (policy, label, policy_row, arms, parent, status)
    SELECT p.name, format('canary %s promoted', c.name),
           s.policy_row || jsonb_build_object('name', p.name, 'mode', p.mode),
           coalesce(jsonb_agg(e - 'linucb_pending' || jsonb_build_object('policy', p.name)
                              || coalesce((SELECT jsonb_build_object('a_inv', l.a_inv, 'b', l.b)
                                           FROM bandit.linucb_state(c.name, e->>'arm') l
                                           WHERE c.algorithm = 'linucb'), '{}')
                              ORDER BY e->>'arm'), '[]'),
           candidate_id, 'candidate'
    FROM jsonb_array_elements(s.arms) e
    RETURNING id INTO promoted_id;
    PERFORM bandit.restore(promoted_id);
    DELETE FROM bandit.canary t WHERE t.policy = p.name;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'canary_promoted',
            jsonb_build_object('candidate', c.name, 'share', k.share, 'started_at', k.started_at,
                               'snapshot_before', before_id, 'candidate_snapshot', candidate_id, 'snapshot_id', promoted_id));
END
$$;
COMMENT ON FUNCTION bandit.promote_canary(text) IS
    'Ends a canary by making the candidate''s configuration (algorithm, params, default arm; the policy keeps its mode) and learned state (every arm, LinUCB''s pending updates applied) the policy''s: snapshots the policy first (status archived after), snapshots the candidate (status candidate, in the candidate''s lineage), restores a copy of it under the policy''s name (status active, parent the candidate''s snapshot), and audits; the recommendation is advice, not a condition. The candidate keeps its own state. No canary is 42704, a candidate whose active arms changed since, or a LinUCB candidate of a policy that is not LinUCB of the same dim, 22023. The candidate needs manage too. Privilege: manage on the policy.';

CREATE FUNCTION bandit.stop_canary(policy text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    k bandit.canary;
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    DELETE FROM bandit.canary t WHERE t.policy = p.name RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'policy "%" has no canary', p.name USING ERRCODE = '42704';
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'canary_stopped', jsonb_build_object('candidate', k.candidate, 'share', k.share, 'started_at', k.started_at));
END
$$;
COMMENT ON FUNCTION bandit.stop_canary(text) IS
    'Ends a canary (a rollback): choose(policy) serves every call itself again; the candidate''s decisions stay logged under it. No canary is 42704. Audited. Privilege: manage on the policy.';

CREATE FUNCTION bandit.policy_versions(policy text)
RETURNS TABLE (snapshot_id bigint, parent bigint, status text, label text, created_at timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    PERFORM bandit.require('policy', policy, 'read');
    RETURN QUERY SELECT s.id, s.parent, s.status, s.label, s.taken_at
                 FROM bandit.snapshot s WHERE s.policy = p.name ORDER BY s.id;
END
$$;
COMMENT ON FUNCTION bandit.policy_versions(text) IS
    'A policy''s snapshots with their lineage, oldest first: parent is the snapshot the saved state descended from (the policy''s version when it was taken; for a promoted canary, the candidate''s snapshot), status active for the policy''s current version (its last snapshotted, restored or promoted state: at most one), candidate for a candidate''s state taken when it was promoted, archived otherwise. Privilege: read on the policy.';

-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.canary_gates(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.canary_arms_differ(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.canary_expiry_differ(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.canary_propensities(text) FROM PUBLIC;

-- == issue 13: learned budgets and batched learning (src/learn.sql; src/policy.sql: bandit.reward)

CREATE FUNCTION bandit.learn_budget(estimate float8, observed float8, smoothing float8) RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_learn_budget' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.learn_budget(float8, float8, float8) IS
    'A budget estimate (cost or latency) after an observation: estimate + smoothing * (observed - estimate), observed itself when there was no estimate, the estimate when nothing was observed (NULL). Used by bandit.reward''s UPDATE of the arm';

-- The state is internal: the aggregate only ever runs ordered, inside
-- learn_pending, never in parallel or on another node.  Like every
-- aggregate, PUBLIC may run it (its support functions stay internal).
CREATE FUNCTION bandit.learn_fold_step(state internal, start float8[], reward float8, cost float8, latency_ms float8,
                                       prior_alpha float8, prior_beta float8, discount float8, smoothing float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'bandit_learn_fold_step' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.learn_fold_step(internal, float8[], float8, float8, float8, float8, float8, float8, float8) IS
    'Transition of bandit.learn_fold: one reward learned as bandit.learn_step and bandit.learn_budget learn it';

CREATE FUNCTION bandit.learn_fold_final(state internal) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_learn_fold_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.learn_fold_final(internal) IS
    'Final function of bandit.learn_fold: {alpha, beta, weight, mean_reward, m2, cost, latency_ms, reward_sum}';

CREATE AGGREGATE bandit.learn_fold(start float8[], reward float8, cost float8, latency_ms float8,
                                   prior_alpha float8, prior_beta float8, discount float8, smoothing float8) (
    SFUNC = bandit.learn_fold_step,
    STYPE = internal,
    FINALFUNC = bandit.learn_fold_final
);
COMMENT ON AGGREGATE bandit.learn_fold(float8[], float8, float8, float8, float8, float8, float8, float8) IS
    'An arm''s state after its rewards, taken in the aggregate''s ORDER BY: start is the arm as {alpha, beta, weight, mean_reward, m2, cost, latency_ms, reward_sum}, each reward learned as bandit.reward learns it (the same C arithmetic); returns the new state in that layout. Used by bandit.learn_pending';

CREATE FUNCTION bandit.learn_recorded(decision_ids bigint[]) RETURNS bigint
AS 'MODULE_PATHNAME', 'bandit_learn_recorded' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.learn_recorded(bigint[]) IS
    'Learns the rewards recorded on these decisions, in the order given, as bandit.reward would have (LinUCB''s learning); returns how many. Used by bandit.learn_pending, which picks them (to_learn), locks them and clears to_learn';

CREATE FUNCTION bandit.learn_pending(policy text DEFAULT NULL, max_rows integer DEFAULT 100000) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policies text[];
    folded bigint;
    linucb bigint[];
    picked bigint;
    learned bigint;
    one bigint;
BEGIN
    IF max_rows IS NULL THEN
        RAISE EXCEPTION 'max_rows must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be at least 1, got %', max_rows USING ERRCODE = '22003';
    END IF;
    IF policy IS NOT NULL THEN
        PERFORM bandit.policy_row(policy);
        PERFORM bandit.require('policy', policy, 'manage');
        policies := ARRAY[policy];
    ELSE
        -- every policy the caller may manage; the others are left alone
        SELECT coalesce(array_agg(o.name), '{}') INTO policies
        FROM bandit.object o
        WHERE o.kind = 'policy' AND bandit.may_manage(o.name);
    END IF;
    -- One statement.  The recorded rewards are taken in (rewarded_at, id)
    -- order and locked, skipping those another learn_pending holds: each is
    -- learned exactly once.  Their arms are then locked in one fixed order
    -- (that of reward's batches), and read as the lock leaves them (the
    -- latest committed state), so that a concurrent immediate reward is
    -- neither lost nor deadlocked.  learn_fold learns each arm's rewards in
    -- order with reward's own arithmetic.  LinUCB's arms learn below.
    WITH picked AS MATERIALIZED (
        SELECT d.id, d.policy, d.arm, d.reward, d.cost, d.latency_ms, d.rewarded_at
        FROM bandit.decision d
        WHERE d.to_learn AND d.policy = ANY (policies)
        ORDER BY d.rewarded_at, d.id
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    ), arms AS MATERIALIZED (
        SELECT a.policy, a.arm, a.alpha, a.beta, a.weight, a.mean_reward, a.m2, a.cost, a.latency_ms, a.reward_sum
        FROM bandit.arm a
        WHERE (a.policy, a.arm) IN (SELECT p.policy, p.arm FROM picked p)
        ORDER BY a.policy, a.arm
        FOR UPDATE
    ), params AS MATERIALIZED (
        SELECT t.name, t.algorithm,
               coalesce((t.params->>'prior_alpha')::float8, 1) AS prior_alpha,
               coalesce((t.params->>'prior_beta')::float8, 1) AS prior_beta,
               coalesce((t.params->>'discount')::float8, 1) AS discount,
               coalesce((t.params->>'budget_smoothing')::float8, 0.1) AS smoothing
        FROM bandit.policy t WHERE t.name IN (SELECT p.policy FROM picked p)
    ), fold AS (
        SELECT a.policy, a.arm, count(*) AS n,
               bandit.learn_fold(ARRAY[a.alpha, a.beta, a.weight, a.mean_reward, a.m2, a.cost, a.latency_ms, a.reward_sum],
                                 p.reward, p.cost, p.latency_ms, t.prior_alpha, t.prior_beta, t.discount, t.smoothing
                                 ORDER BY p.rewarded_at, p.id) AS s
        FROM picked p
        JOIN arms a ON a.policy = p.policy AND a.arm = p.arm
        JOIN params t ON t.name = p.policy
        WHERE t.algorithm <> 'linucb'
        GROUP BY a.policy, a.arm
    ), learned AS (
        UPDATE bandit.arm a
        SET alpha = f.s[1], beta = f.s[2], weight = f.s[3], mean_reward = f.s[4], m2 = f.s[5],
            cost = f.s[6], latency_ms = f.s[7], reward_sum = f.s[8],
            pulls = a.pulls + f.n, rewarded = a.rewarded + f.n, last_update = now()
        FROM fold f
        WHERE a.policy = f.policy AND a.arm = f.arm
        RETURNING f.n
    ), done AS (
        UPDATE bandit.decision d SET to_learn = NULL
        FROM picked p
        WHERE d.id = p.id
        RETURNING d.id
    )
    SELECT (SELECT coalesce(sum(l.n), 0) FROM learned l),
           (SELECT array_agg(p.id ORDER BY p.rewarded_at, p.id)
            FROM picked p
            JOIN arms a ON a.policy = p.policy AND a.arm = p.arm
            JOIN params t ON t.name = p.policy
            WHERE t.algorithm = 'linucb'),
           (SELECT count(*) FROM done)
    INTO folded, linucb, picked;
    -- LinUCB learns each reward through its own learning (its arms are locked above)
    learned := folded;
    IF linucb IS NOT NULL THEN
        BEGIN
            learned := learned + bandit.learn_recorded(linucb);
        EXCEPTION WHEN numeric_value_out_of_range OR invalid_parameter_value OR array_subscript_error THEN
            -- a context too large for its arm's state, which reward would have refused (22003),
            -- or none LinUCB can learn from (a decision made before import_policy replaced the
            -- policy with a LinUCB one, or at another dim): learn the others one by one, rather than fail
            -- every run; take back the first kind of reward, drop the second
            FOREACH one IN ARRAY linucb LOOP
                BEGIN
                    learned := learned + bandit.learn_recorded(ARRAY[one]);
                EXCEPTION
                    WHEN numeric_value_out_of_range THEN
                        UPDATE bandit.decision d
                        SET reward = NULL, rewarded_at = NULL, cost = NULL, latency_ms = NULL, expired = false
                        WHERE d.id = one;
                        picked := picked - 1;
                        RAISE WARNING 'the reward of decision % would take the LinUCB state of its arm out of range: taken back', one
                            USING HINT = 'The decision''s context has features too large.';
                    WHEN invalid_parameter_value OR array_subscript_error THEN
                        picked := picked - 1;
                        RAISE WARNING 'the reward of decision % is dropped: %', one, SQLERRM
                            USING HINT = 'A LinUCB policy learns from the decision''s context; this one was made for another algorithm or dim.';
                END;
            END LOOP;
        END;
    END IF;
    IF picked > learned THEN
        RAISE WARNING 'learn_pending dropped % recorded rewards whose arms no longer exist', picked - learned;
    END IF;
    RETURN learned;
END
$$;
COMMENT ON FUNCTION bandit.learn_pending(text, integer) IS
    'Learns the rewards recorded and not yet learned (decisions with to_learn: a batched policy''s rewards, expired decisions) of the policy, or with NULL of every policy the caller may manage: at most max_rows (at least 1; 22003 below), oldest first, each arm''s in (rewarded_at, id) order, exactly as immediate learning would have (within rounding); exactly once, in one statement, and several sessions may run it at once (each skips what another holds). Returns how many it learned; a reward whose arm no longer exists is dropped with a WARNING, a LinUCB reward whose update would overflow (22003 for reward) is taken back (the decision unrewarded) with a WARNING, one whose decision has no context a LinUCB policy can learn from (made before import_policy replaced the policy with a LinUCB one, or at another dim) is dropped with a WARNING. Schedule it, e.g. with pg_cron; with NULL it leaves alone the policies the caller may not manage. Privilege: manage on the policy.';

REVOKE ALL ON FUNCTION bandit.learn_budget(float8, float8, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_fold_step(internal, float8[], float8, float8, float8, float8, float8, float8, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_fold_final(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_recorded(bigint[]) FROM PUBLIC;

CREATE FUNCTION bandit.reward(decision_id bigint, reward float8, cost float8, latency_ms float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_observed' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.reward(bigint, float8, float8, float8) IS
    'bandit.reward(decision_id, reward) with the cost and latency observed for the decision (finite, not negative: 22003 otherwise; NULL: not observed), recorded on the decision; they move the served arm''s budget estimates, which the shields of choose and recommend use, to an exponentially weighted mean (est + budget_smoothing * (observed - est); the first observation sets it), in the same update as the reward (batched: when bandit.learn_pending learns it). decision_id and reward must not be NULL (22004). Privilege: use on the policy.';

COMMENT ON FUNCTION bandit.reward(bigint, float8) IS
    'Credits a logged decision exactly once (a second reward is error 23505 and changes nothing); Thompson takes rewards in [0, 1], the others from -1e100 to 1e100; a reward that would take the arm''s state out of range (e.g. a LinUCB context with huge features) is 22003 and changes nothing. A policy with learning batched only records the reward on the decision (checked the same way; no arm row lock) for bandit.learn_pending. A canary''s decision teaches the candidate that made it and needs use on the policy it served (canary_of). Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.reward(bigint[], float8[]) IS
    'Credits many decisions in one statement, e.g. SELECT bandit.reward(array_agg(decision_id), array_agg(reward)) FROM events; all or nothing; at most 10000000 per call (54000 beyond); returns the number credited (a batched policy''s only recorded, for bandit.learn_pending). Privilege: use on the policy.';
COMMENT ON FUNCTION bandit.learn_step(float8, float8, float8, float8, float8, float8, float8, float8, float8, boolean) IS
    'An arm''s state after one reward, {alpha, beta, weight, mean_reward, m2}: evidence discounted, weighted Welford, Beta posterior when posterior; a state out of range is 22003. Used by bandit.reward''s UPDATE of the arm (bandit.learn_fold runs the same C arithmetic)';

-- == issue 13: delayed rewards and metrics (src/policy_expire.sql, src/policy_metrics.sql)
-- Delayed rewards: bandit.expire_decisions credits default_reward to the
-- decisions that heard nothing within reward_wait; and the per-policy
-- bookkeeping of the decision log that expiry and bandit.policy_metrics keep
-- so that neither reads the whole log again.
--
-- Both advance a horizon over decisions' created_at.  A decision's
-- created_at is now() of the transaction that logged it, which may commit
-- long after: a horizon may pass a time only once no transaction that started
-- before it is still open (bandit.decision_horizon).

-- No foreign key to bandit.policy: tests and operators TRUNCATE the policy
-- tables, which a key would refuse; a row is the policy's only while
-- policy_created_at matches (a policy dropped and created again starts afresh).
CREATE TABLE bandit.decision_rollup (
    policy text PRIMARY KEY,
    policy_created_at timestamptz NOT NULL,
    expired_to timestamptz,
    expired bigint NOT NULL DEFAULT 0,
    counted_to timestamptz,
    decisions bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE bandit.decision_rollup IS
    'Per policy (valid while policy_created_at is the policy''s created_at): expired_to, before which every decision was rewarded or expired (bandit.expire_decisions starts there), expired, the decisions it expired, counted_to, before which every decision is counted in decisions (bandit.refresh_metrics advances both); for bandit.policy_metrics';

CREATE TABLE bandit.metrics_sample (
    policy text NOT NULL,
    taken_at timestamptz NOT NULL,
    rewarded bigint NOT NULL,
    reward_sum float8 NOT NULL,
    PRIMARY KEY (policy, taken_at)
);
COMMENT ON TABLE bandit.metrics_sample IS
    'Samples of a policy''s reward totals (decisions rewarded, the sum of their rewards) taken by bandit.refresh_metrics, kept back to the newest one at least an hour old: bandit.policy_metrics''s last-hour rewards are the totals now minus that sample''s';

SELECT pg_catalog.pg_extension_config_dump('bandit.decision_rollup', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.metrics_sample', '');
GRANT SELECT ON bandit.decision_rollup, bandit.metrics_sample TO PUBLIC;
ALTER TABLE bandit.decision_rollup ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.decision_rollup FOR SELECT
    USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));
ALTER TABLE bandit.metrics_sample ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.metrics_sample FOR SELECT
    USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));

-- The latest time a horizon over decisions' created_at may pass now.
CREATE FUNCTION bandit.decision_horizon() RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- under a transaction snapshot (repeatable read, serializable) a decision
    -- committed since the snapshot is invisible to the caller's statements
    -- however old its created_at: hold still (read committed takes a new
    -- snapshot for each statement, after this look at the open transactions)
    IF pg_catalog.current_setting('transaction_isolation') IN ('repeatable read', 'serializable') THEN
        RETURN NULL;
    END IF;
    -- a prepared transaction's start time is not shown anywhere: hold still
    -- until it ends (it was open, so counted below, when it last advanced)
    IF EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts x WHERE x.database = pg_catalog.current_database()) THEN
        RETURN NULL;
    END IF;
    -- every transaction open in this database; one whose start is hidden
    -- (the function's owner lacks pg_read_all_stats) holds it still too.  The
    -- second is the window in which a starting transaction has taken its
    -- start time but not yet published it.
    RETURN (SELECT CASE WHEN bool_or(a.query = '<insufficient privilege>') THEN NULL
                        ELSE least(min(a.xact_start), pg_catalog.now()) - interval '1 second' END
            FROM pg_catalog.pg_stat_activity a
            WHERE a.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()));
END
$$;
COMMENT ON FUNCTION bandit.decision_horizon() IS
    'Internal: a time before which no decision can still appear: a second before the start of the oldest transaction open in this database (pg_stat_activity.xact_start; a decision''s created_at is its transaction''s now()); NULL while a prepared transaction of this database is open, a session''s start is hidden from the function''s owner, or the caller''s transaction is repeatable read or serializable (its snapshot hides decisions committed since)';
REVOKE ALL ON FUNCTION bandit.decision_horizon() FROM PUBLIC;

-- The policy's rollup row, locked (expiry and refresh of one policy take
-- turns), made or reset when missing or left by an earlier policy of that name.
CREATE FUNCTION bandit.decision_rollup_row(policy text) RETURNS bandit.decision_rollup
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p constant bandit.policy := bandit.policy_row(policy);
    r bandit.decision_rollup;
BEGIN
    INSERT INTO bandit.decision_rollup AS t (policy, policy_created_at)
    VALUES (p.name, p.created_at)
    ON CONFLICT ON CONSTRAINT decision_rollup_pkey DO UPDATE
        SET policy_created_at = excluded.policy_created_at, expired_to = NULL, expired = 0, counted_to = NULL, decisions = 0
        WHERE t.policy_created_at IS DISTINCT FROM excluded.policy_created_at;
    SELECT * INTO r FROM bandit.decision_rollup t WHERE t.policy = p.name FOR UPDATE;
    RETURN r;
END
$$;
COMMENT ON FUNCTION bandit.decision_rollup_row(text) IS
    'Internal: the policy''s bandit.decision_rollup row, locked; made, or reset when it was another policy''s of the same name (policy_created_at differs); an unknown policy is 42704';
REVOKE ALL ON FUNCTION bandit.decision_rollup_row(text) FROM PUBLIC;

-- Whether the caller may manage a policy (without raising).
CREATE FUNCTION bandit.may_manage(policy text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM bandit.object o
                   WHERE o.kind = 'policy' AND o.name = $1
                     AND (bandit.holds(o.owner)
                          OR EXISTS (SELECT FROM bandit.permission g
                                     WHERE g.kind = 'policy' AND g.name = $1 AND g.privilege = 'manage'
                                       AND bandit.holds(g.grantee))))
$$;
COMMENT ON FUNCTION bandit.may_manage(text) IS
    'Internal: whether the caller holds manage on the policy (owner, member of the owner or of a role granted manage, superuser); picks the policies of bandit.learn_pending(), bandit.expire_decisions() and bandit.refresh_metrics() without a policy';
REVOKE ALL ON FUNCTION bandit.may_manage(text) FROM PUBLIC;

CREATE FUNCTION bandit.expire_decisions(policy text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    r bandit.decision_rollup;
    bound constant timestamptz := bandit.decision_horizon();
    cutoff timestamptz;
    n bigint;
    total bigint := 0;
BEGIN
    IF policy IS NOT NULL THEN
        PERFORM bandit.policy_row(policy);
        PERFORM bandit.require('policy', policy, 'manage');
        IF NOT (SELECT t.params ? 'reward_wait' FROM bandit.policy t WHERE t.name = policy) THEN
            RAISE EXCEPTION 'policy "%" has no reward_wait: its decisions never expire', policy
                USING ERRCODE = '22023',
                      HINT = 'Create the policy with the params reward_wait and default_reward.';
        END IF;
    END IF;
    -- policies in name order, so that concurrent runs lock their rollup rows in one order
    FOR p IN SELECT t.name, t.params FROM bandit.policy t
             WHERE t.params ? 'reward_wait'
               AND CASE WHEN expire_decisions.policy IS NULL THEN bandit.may_manage(t.name)
                        ELSE t.name = expire_decisions.policy END
             ORDER BY t.name
    LOOP
        r := bandit.decision_rollup_row(p.name);
        BEGIN
            cutoff := now() - bandit.reward_wait(p.params->'reward_wait');
        EXCEPTION WHEN datetime_field_overflow THEN
            -- a wait reaching before the earliest timestamp: nothing is that old
            cutoff := '-infinity';
        END;
        -- exactly once: a concurrent reward of a row holds its lock, and when it
        -- commits, READ COMMITTED checks reward IS NULL again on the new version
        -- (and skips it); a reward coming after this finds reward set: 23505
        WITH credited AS (
            UPDATE bandit.decision d
            SET reward = (p.params->>'default_reward')::float8, rewarded_at = now(), expired = true, to_learn = true
            WHERE d.policy = p.name AND d.created_at < cutoff AND d.created_at >= coalesce(r.expired_to, '-infinity')
              AND d.reward IS NULL
            RETURNING 1)
        SELECT count(*) INTO n FROM credited;
        -- every decision before the new horizon is visible now: rewarded or just expired
        UPDATE bandit.decision_rollup t
        SET expired = t.expired + n,
            expired_to = CASE WHEN bound IS NULL THEN t.expired_to
                              ELSE greatest(t.expired_to, least(cutoff, bound)) END
        WHERE t.policy = p.name;
        -- an immediate policy learns them now, with anything else waiting (left by
        -- a time as a batched policy): nobody runs learn_pending for it
        IF n > 0 AND p.params->>'learning' IS DISTINCT FROM 'batched' THEN
            PERFORM bandit.learn_pending(p.name, least((SELECT count(*) FROM bandit.decision d
                                                        WHERE d.policy = p.name AND d.to_learn), 2147483647)::integer);
        END IF;
        IF n > 0 THEN
            INSERT INTO bandit.audit (policy, action, detail)
            VALUES (p.name, 'expire', jsonb_build_object('decisions', n, 'default_reward', p.params->'default_reward',
                                                        'before', cutoff));
        END IF;
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION bandit.expire_decisions(text) IS
    'Credits default_reward to every decision of the policy (NULL: of every policy with a reward_wait that the caller may manage) logged more than reward_wait ago and not rewarded: exactly once, also against concurrent rewards (a reward after expiry is 23505), marked expired, learned at once (learning immediate) or left to bandit.learn_pending (batched); returns how many. Examines only decisions from where its last run left off (a horizon that waits for open transactions). A policy without reward_wait is 22023. Privilege: manage on the policy.';

-- Learning metrics to alert on, cheap to poll on a long decision log: totals
-- from counters kept by the statements that already write them (the arms'
-- rewarded and reward_sum, by the learning UPDATE that locks the arm anyway;
-- decisions counted up to a horizon and expiries, by bandit.refresh_metrics
-- and bandit.expire_decisions), plus short index range scans.  choose writes
-- nothing new.

-- Its own plan, made for the value of since: in the view's plan the planner
-- would take a third of the log for created_at >= r.counted_to, and the last
-- hour's range times the ~370 rows it assumes of a never-analyzed policy
-- table, and on a long log compile the view with JIT (20-80 ms a poll).
CREATE FUNCTION bandit.decisions_since(policy text, since timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT count(*) FROM bandit.decision d WHERE d.policy = decisions_since.policy AND d.created_at >= since);
END
$$;
COMMENT ON FUNCTION bandit.decisions_since(text, timestamptz) IS
    'The number of the policy''s decisions logged at or after since (one index range); used by bandit.policy_metrics. Privilege: none (row-level security counts only the decisions of policies the caller may read).';

CREATE FUNCTION bandit.refresh_metrics(policy text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    r bandit.decision_rollup;
    bound constant timestamptz := bandit.decision_horizon();
    n integer := 0;
BEGIN
    IF policy IS NOT NULL THEN
        PERFORM bandit.policy_row(policy);
        PERFORM bandit.require('policy', policy, 'manage');
    END IF;
    FOR p IN SELECT t.name FROM bandit.policy t
             WHERE CASE WHEN refresh_metrics.policy IS NULL THEN bandit.may_manage(t.name)
                        ELSE t.name = refresh_metrics.policy END
             ORDER BY t.name
    LOOP
        r := bandit.decision_rollup_row(p.name);
        -- every decision before bound is visible now: count those not yet counted
        IF bound > coalesce(r.counted_to, '-infinity') THEN
            UPDATE bandit.decision_rollup t
            SET decisions = t.decisions + (SELECT count(*) FROM bandit.decision d
                                           WHERE d.policy = p.name AND d.created_at >= coalesce(r.counted_to, '-infinity')
                                             AND d.created_at < bound),
                counted_to = bound
            WHERE t.policy = p.name;
        END IF;
        -- the totals as bandit.policy_metrics computes them
        INSERT INTO bandit.metrics_sample (policy, taken_at, rewarded, reward_sum)
        SELECT p.name, statement_timestamp(), coalesce(a.rewarded, 0) + q.n, coalesce(a.reward_sum, 0) + coalesce(q.s, 0)
        FROM (SELECT sum(t.rewarded)::bigint AS rewarded, sum(t.reward_sum) AS reward_sum
              FROM bandit.arm t WHERE t.policy = p.name) a,
             (SELECT count(*) AS n, sum(d.reward) AS s
              FROM bandit.decision d WHERE d.policy = p.name AND d.to_learn) q
        ON CONFLICT DO NOTHING;
        -- keep the newest sample at least an hour old, and those after it
        DELETE FROM bandit.metrics_sample s
        WHERE s.policy = p.name
          AND s.taken_at < (SELECT max(o.taken_at) FROM bandit.metrics_sample o
                            WHERE o.policy = p.name AND o.taken_at <= statement_timestamp() - interval '1 hour');
        n := n + 1;
    END LOOP;
    -- samples of policies no longer there
    DELETE FROM bandit.metrics_sample s
    WHERE refresh_metrics.policy IS NULL
      AND NOT EXISTS (SELECT FROM bandit.policy t WHERE t.name = s.policy AND t.created_at <= s.taken_at);
    RETURN n;
END
$$;
COMMENT ON FUNCTION bandit.refresh_metrics(text) IS
    'Keeps bandit.policy_metrics cheap for the policy (NULL: every policy the caller may manage): counts the decisions logged since its last run up to a horizon that waits for open transactions, and samples the reward totals for the last-hour columns (schedule it every minute, e.g. with pg_cron); returns the number of policies refreshed. Privilege: manage on the policy.';

CREATE VIEW bandit.policy_metrics WITH (security_invoker = true) AS
SELECT p.name AS policy,
       c.decisions,
       t.rewarded,
       c.decisions - t.rewarded AS pending,
       coalesce(r.expired, 0) AS expired,
       t.reward_sum / nullif(t.rewarded, 0) AS mean_reward,
       bandit.decisions_since(p.name, now() - interval '1 hour') AS decisions_last_hour,
       h.rewarded AS rewards_last_hour,
       h.reward_sum / nullif(h.rewarded, 0) AS mean_reward_last_hour,
       (SELECT max(d.created_at) FROM bandit.decision d WHERE d.policy = p.name) AS last_decision_at,
       t.last_reward_at
FROM bandit.policy p
LEFT JOIN bandit.decision_rollup r ON r.policy = p.name AND r.policy_created_at = p.created_at
-- rewarded: learned (the arms' counters) or recorded and waiting for
-- bandit.learn_pending (to_learn, a partial index)
CROSS JOIN LATERAL (
    SELECT coalesce(a.rewarded, 0) + q.n AS rewarded, coalesce(a.reward_sum, 0) + coalesce(q.s, 0) AS reward_sum,
           greatest(a.last_update, q.last) AS last_reward_at
    FROM (SELECT sum(x.rewarded)::bigint AS rewarded, sum(x.reward_sum) AS reward_sum,
                 max(x.last_update) FILTER (WHERE x.rewarded > 0) AS last_update
          FROM bandit.arm x WHERE x.policy = p.name) a,
         (SELECT count(*) AS n, sum(d.reward) AS s, max(d.rewarded_at) AS last
          FROM bandit.decision d WHERE d.policy = p.name AND d.to_learn) q) t
CROSS JOIN LATERAL (
    SELECT coalesce(r.decisions, 0) + bandit.decisions_since(p.name, coalesce(r.counted_to, '-infinity')) AS decisions) c
-- the last hour's rewards: the totals less the newest sample at least an hour
-- old; all of them for a policy not an hour old; else unknown
LEFT JOIN LATERAL (
    SELECT t.rewarded - s.rewarded AS rewarded, t.reward_sum - s.reward_sum AS reward_sum
    FROM ((SELECT o.rewarded, o.reward_sum FROM bandit.metrics_sample o
           WHERE o.policy = p.name AND o.taken_at >= p.created_at AND o.taken_at <= now() - interval '1 hour'
           ORDER BY o.taken_at DESC LIMIT 1)
          UNION ALL
          SELECT 0, 0 WHERE p.created_at >= now() - interval '1 hour'
          LIMIT 1) s) h ON true;
COMMENT ON VIEW bandit.policy_metrics IS
    'Per policy the caller may read: decisions logged, rewarded (expired ones included), pending (neither), expired, mean_reward of the rewarded; decisions logged in the last hour, rewards credited since the newest bandit.refresh_metrics sample at least an hour old (refreshed every minute: the last 60 to 61 minutes; NULL without one, unless the policy is younger than an hour) and their mean; last_decision_at, last_reward_at. Cheap on a long log: counters, the decisions since the last refresh and the last hour''s, by index';
GRANT SELECT ON bandit.policy_metrics TO PUBLIC;

-- == issue 13: export / import (src/export.sql): bandit.export_policy writes a policy as a JSON
-- document, floats bit for bit; bandit.import_policy creates or replaces a policy from one
-- A float8 as export_policy writes it (called under its extra_float_digits).
CREATE FUNCTION bandit.export_float(x float8) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.float8send(x) = '\x8000000000000000'::bytea THEN '"-0"'::jsonb
                ELSE pg_catalog.to_jsonb(x) END
$$;
COMMENT ON FUNCTION bandit.export_float(float8) IS
    'A float8 as bandit.export_policy writes it: a JSON number in shortest exact form (under extra_float_digits = 1), -0 as the string "-0"; NULL stays NULL';

CREATE FUNCTION bandit.export_floats(xs float8[]) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(xs) e
                                 WHERE e = 0 AND pg_catalog.float8send(e) = '\x8000000000000000'::bytea)
                THEN pg_catalog.to_jsonb(xs)
                ELSE (SELECT pg_catalog.jsonb_agg(bandit.export_float(e) ORDER BY n)
                      FROM pg_catalog.unnest(xs) WITH ORDINALITY u(e, n)) END
$$;
COMMENT ON FUNCTION bandit.export_floats(float8[]) IS
    'A one-dimensional float8 array as bandit.export_policy writes it: a JSON array of bandit.export_float values';

-- A float of a document: a JSON number or "-0".
CREATE FUNCTION bandit.import_is_float(item jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_typeof(item) = 'number' OR item = '"-0"'::jsonb
$$;
COMMENT ON FUNCTION bandit.import_is_float(jsonb) IS
    'Whether a JSON value is a float as bandit.export_policy writes them: a number, or the string "-0"';

CREATE FUNCTION bandit.export_policy(policy text, snapshots boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
SET TimeZone = 'UTC'
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    PERFORM bandit.require('policy', policy, 'read');
    IF snapshots IS NULL THEN
        RAISE EXCEPTION 'snapshots must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN jsonb_build_object(
        'format_version', 1, 'name', p.name, 'algorithm', p.algorithm, 'params', p.params, 'mode', p.mode,
        'default_arm', p.default_arm, 'decisions', p.decisions,
        'arms', (SELECT jsonb_agg(jsonb_build_object(
                     'arm', a.arm, 'alpha', bandit.export_float(a.alpha), 'beta', bandit.export_float(a.beta),
                     'pulls', a.pulls, 'weight', bandit.export_float(a.weight),
                     'mean_reward', bandit.export_float(a.mean_reward), 'm2', bandit.export_float(a.m2),
                     'cost', bandit.export_float(a.cost), 'latency_ms', bandit.export_float(a.latency_ms),
                     'retired', a.retired, 'added_at', a.added_at, 'last_update', a.last_update)
                     -- LinUCB: the state choose uses, its pending rewards applied
                     || CASE WHEN p.algorithm = 'linucb' THEN jsonb_build_object(
                            'a_inv', bandit.export_floats(CASE WHEN l.pending THEN (SELECT s.a_inv FROM bandit.linucb_state(p.name, a.arm) s)
                                                               ELSE a.a_inv END),
                            'b', bandit.export_floats(CASE WHEN l.pending THEN (SELECT s.b FROM bandit.linucb_state(p.name, a.arm) s)
                                                           ELSE a.b END))
                        ELSE '{}' END
                     ORDER BY a.arm COLLATE "C")
                 FROM bandit.arm a
                 CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM bandit.linucb_pending q
                                                    WHERE q.stamp = a.state_stamp AND q.policy = a.policy AND q.arm = a.arm)
                                     AS pending) l
                 WHERE a.policy = p.name))
        -- snapshots in the order they were taken; parent is a position in this list
        || CASE WHEN snapshots THEN jsonb_build_object('snapshots', (
               WITH s AS (SELECT t.*, row_number() OVER (ORDER BY t.taken_at, t.id) n
                          FROM bandit.snapshot t WHERE t.policy = p.name)
               SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'parent', up.n, 'status', s.status, 'label', s.label, 'taken_at', s.taken_at,
                          'policy_row', s.policy_row, 'arms', s.arms) ORDER BY s.n), '[]')
               FROM s LEFT JOIN s up ON up.id = s.parent))
           ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION bandit.export_policy(text, boolean) IS
    'The policy as a JSON document for bandit.import_policy: format_version (1), name, algorithm, params, mode, default_arm, decisions (the counter epsilon_decay uses) and arms, each with every learned column (alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms, retired, added_at, last_update; LinUCB a_inv and b with the pending rewards applied, as bandit.linucb_state shows them), floats bit for bit (-0 as the string "-0"); with snapshots = true also its snapshots (status, label, taken_at, the saved state, parent as a position in the list). Not exported: the decision log, the audit trail, the log counters rewarded and reward_sum. Changes nothing. Privilege: read on the policy.';

CREATE FUNCTION bandit.export_policy(policy text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN bandit.export_policy(policy, false);
END
$$;
COMMENT ON FUNCTION bandit.export_policy(text) IS
    'The policy as a JSON document for bandit.import_policy, without its snapshots: bandit.export_policy(policy, false). Privilege: read on the policy.';

CREATE FUNCTION bandit.import_policy(doc jsonb, name text DEFAULT NULL, replace boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    top_keys constant text[] := '{format_version,name,algorithm,params,mode,default_arm,decisions,arms,snapshots}';
    arm_keys constant text[] := '{arm,alpha,beta,pulls,weight,mean_reward,m2,cost,latency_ms,retired,added_at,last_update,a_inv,b}';
    snapshot_keys constant text[] := '{parent,status,label,taken_at,policy_row,arms}';
    target text;
    version numeric;
    full_params jsonb;
    arm_names text[];
    dim integer;
    problem text;
    unknown text;
    existed boolean;
    n_snapshots integer := 0;
    snapshot_ids bigint[];
BEGIN
    IF doc IS NULL OR replace IS NULL THEN
        RAISE EXCEPTION 'doc and replace must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(doc) <> 'object' THEN
        RAISE EXCEPTION 'doc must be a JSON object, as bandit.export_policy writes, got %', jsonb_typeof(doc)
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(doc->'format_version') IS DISTINCT FROM 'number'
       OR (doc->>'format_version')::numeric <> trunc((doc->>'format_version')::numeric)
       OR (doc->>'format_version')::numeric < 1 THEN
        RAISE EXCEPTION 'doc must have a "format_version", a whole number from 1, got %', coalesce((doc->'format_version')::text, 'none')
            USING ERRCODE = '22023';
    END IF;
    version := (doc->>'format_version')::numeric;
    IF version > 1 THEN
        RAISE EXCEPTION 'doc has format_version %, newer than this version of bandit reads (1)', version
            USING ERRCODE = '22023', HINT = 'Import it with the bandit version that exported it, or a newer one.';
    END IF;
    -- the shape of everything, before anything is written
    SELECT string_agg(format('"%s" must be %s, got %s', k, what, coalesce((doc->k)::text, 'none')), '; ' ORDER BY o) INTO problem
    FROM (VALUES (1, 'name', 'string', 'a string'), (2, 'algorithm', 'string', 'a string'),
                 (3, 'params', 'object', 'an object'), (4, 'mode', 'string', 'a string'),
                 (5, 'default_arm', 'string', 'a string'), (6, 'decisions', 'number', 'a whole number from 0'),
                 (7, 'arms', 'array', 'a non-empty array of objects')) c(o, k, t, what)
    WHERE CASE WHEN jsonb_typeof(doc->k) IS DISTINCT FROM t THEN true
               WHEN k = 'decisions' THEN (doc->>k)::numeric < 0 OR (doc->>k)::numeric <> trunc((doc->>k)::numeric)
                                         OR (doc->>k)::numeric > 9223372036854775807
               WHEN k = 'arms' THEN jsonb_array_length(doc->k) = 0
                                    OR EXISTS (SELECT FROM jsonb_array_elements(doc->k) e WHERE jsonb_typeof(e) <> 'object')
               ELSE false END;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
    END IF;
    IF doc ? 'snapshots' AND jsonb_typeof(doc->'snapshots') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION '"snapshots" must be an array, got %', doc->'snapshots' USING ERRCODE = '22023';
    END IF;
    target := coalesce(name, doc->>'name');
    IF NOT doc->>'algorithm' = ANY ('{thompson,ucb1,epsilon_greedy,softmax,linucb}') THEN
        RAISE EXCEPTION 'unknown algorithm "%"', doc->>'algorithm'
            USING ERRCODE = '22023', HINT = 'Use thompson, ucb1, epsilon_greedy, softmax or linucb.';
    END IF;
    IF jsonb_array_length(doc->'arms') > 100000 THEN
        RAISE EXCEPTION 'a policy has at most 100000 arms, got %', jsonb_array_length(doc->'arms') USING ERRCODE = '54000';
    END IF;
    SELECT format('arm %s: "arm" must be a string, got %s', n, coalesce((e->'arm')::text, 'none')) INTO problem
    FROM jsonb_array_elements(doc->'arms') WITH ORDINALITY x(e, n)
    WHERE jsonb_typeof(e->'arm') IS DISTINCT FROM 'string' ORDER BY n LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(e->>'arm') INTO arm_names FROM jsonb_array_elements(doc->'arms') e;
    IF (SELECT count(DISTINCT a) FROM unnest(arm_names) a) <> cardinality(arm_names) THEN
        RAISE EXCEPTION 'arms must be distinct, got "%" twice',
            (SELECT a FROM unnest(arm_names) a GROUP BY a HAVING count(*) > 1 ORDER BY a LIMIT 1) USING ERRCODE = '23505';
    END IF;
    -- the checks and defaults of create_policy; mode and default_arm are parameters there
    full_params := bandit.policy_params(doc->>'algorithm', arm_names,
                                        (doc->'params') || jsonb_build_object('mode', doc->'mode', 'default_arm', doc->'default_arm'));
    dim := (full_params->>'dim')::integer;
    IF cardinality(arm_names)::float8 * dim * dim > 268435456 THEN
        RAISE EXCEPTION 'LinUCB state of % arms at dim % exceeds 268435456 numbers (2 GiB)', cardinality(arm_names), dim
            USING ERRCODE = '54000';
    END IF;
    -- every arm: the first problem, named
    SELECT format('arm "%s": %s', e->>'arm', m) INTO problem
    FROM jsonb_array_elements(doc->'arms') WITH ORDINALITY x(e, n)
    CROSS JOIN LATERAL (SELECT CASE
        WHEN NOT (e ?& '{alpha,beta,pulls,weight,mean_reward,m2,cost,latency_ms,retired,added_at,last_update}') THEN
            format('missing %s', (SELECT string_agg(format('"%s"', k), ', ' ORDER BY k)
                                  FROM unnest('{alpha,beta,pulls,weight,mean_reward,m2,cost,latency_ms,retired,added_at,last_update}'::text[]) k
                                  WHERE NOT e ? k))
        WHEN (SELECT bool_or(NOT bandit.import_is_float(e->k)) FROM unnest('{alpha,beta,weight,mean_reward,m2}'::text[]) k) THEN
            (SELECT format('"%s" must be a number, got %s', k, e->k)
             FROM unnest('{alpha,beta,weight,mean_reward,m2}'::text[]) k WHERE NOT bandit.import_is_float(e->k) LIMIT 1)
        WHEN (e->>'alpha')::numeric <= 0 OR (e->>'beta')::numeric <= 0 THEN
            format('"alpha" and "beta" must be positive, got %s and %s', e->'alpha', e->'beta')
        WHEN (e->>'weight')::numeric < 0 THEN format('"weight" must not be negative, got %s', e->'weight')
        WHEN jsonb_typeof(e->'pulls') <> 'number' OR (e->>'pulls')::numeric < 0
             OR (e->>'pulls')::numeric <> trunc((e->>'pulls')::numeric) OR (e->>'pulls')::numeric > 9223372036854775807 THEN
            format('"pulls" must be a whole number from 0, got %s', e->'pulls')
        WHEN (e->'cost' <> 'null' AND NOT (bandit.import_is_float(e->'cost') AND (e->>'cost')::numeric >= 0))
             OR (e->'latency_ms' <> 'null' AND NOT (bandit.import_is_float(e->'latency_ms') AND (e->>'latency_ms')::numeric >= 0)) THEN
            format('"cost" and "latency_ms" must be null or numbers from 0, got %s and %s', e->'cost', e->'latency_ms')
        WHEN jsonb_typeof(e->'retired') <> 'boolean' THEN format('"retired" must be true or false, got %s', e->'retired')
        WHEN jsonb_typeof(e->'added_at') <> 'string' OR jsonb_typeof(e->'last_update') NOT IN ('string', 'null') THEN
            format('"added_at" must be a timestamp string, "last_update" one or null, got %s and %s', e->'added_at', e->'last_update')
        WHEN dim IS NULL AND (coalesce(e->'a_inv', 'null') <> 'null' OR coalesce(e->'b', 'null') <> 'null') THEN
            format('"a_inv" and "b" belong to linucb arms, not %s ones', doc->>'algorithm')
        WHEN dim IS NOT NULL AND (jsonb_typeof(e->'a_inv') IS DISTINCT FROM 'array' OR jsonb_array_length(e->'a_inv') <> dim * dim
                                  OR jsonb_typeof(e->'b') IS DISTINCT FROM 'array' OR jsonb_array_length(e->'b') <> dim) THEN
            format('"a_inv" must be an array of dim^2 = %s numbers and "b" one of dim = %s numbers, got %s and %s numbers',
                   dim * dim, dim, coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(e->'a_inv') = 'array' THEN e->'a_inv' END)::text, 'no array'),
                   coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(e->'b') = 'array' THEN e->'b' END)::text, 'no array'))
        WHEN dim IS NOT NULL AND EXISTS (SELECT FROM jsonb_array_elements(e->'a_inv') v WHERE NOT bandit.import_is_float(v)
                                         UNION ALL
                                         SELECT FROM jsonb_array_elements(e->'b') v WHERE NOT bandit.import_is_float(v)) THEN
            '"a_inv" and "b" must hold numbers only'
        END) c(m)
    WHERE m IS NOT NULL ORDER BY n LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
    END IF;
    -- the values as the arm's columns read them (float8in reads a number's digits and "-0" exactly)
    BEGIN
        PERFORM count(*) FROM jsonb_populate_recordset(NULL::bandit.arm, doc->'arms');
    EXCEPTION WHEN numeric_value_out_of_range OR invalid_datetime_format OR datetime_field_overflow
                   OR invalid_text_representation THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', SQLERRM USING ERRCODE = SQLSTATE;
    END;
    -- snapshots: their shape, and that restore can read their state
    IF doc ? 'snapshots' THEN
        n_snapshots := jsonb_array_length(doc->'snapshots');
        SELECT format('snapshot %s: %s', n, m) INTO problem
        FROM jsonb_array_elements(doc->'snapshots') WITH ORDINALITY x(e, n)
        CROSS JOIN LATERAL (SELECT CASE
            WHEN jsonb_typeof(e) <> 'object' THEN format('must be an object, got %s', e)
            WHEN jsonb_typeof(e->'policy_row') IS DISTINCT FROM 'object' OR jsonb_typeof(e->'arms') IS DISTINCT FROM 'array'
                 OR EXISTS (SELECT FROM jsonb_array_elements(e->'arms') a WHERE jsonb_typeof(a) <> 'object') THEN
                '"policy_row" must be an object and "arms" an array of objects'
            WHEN NOT coalesce(e->>'status', '') = ANY ('{active,candidate,archived}') THEN
                format('"status" must be active, candidate or archived, got %s', coalesce((e->'status')::text, 'none'))
            WHEN jsonb_typeof(e->'taken_at') IS DISTINCT FROM 'string' THEN
                format('"taken_at" must be a timestamp string, got %s', coalesce((e->'taken_at')::text, 'none'))
            WHEN jsonb_typeof(coalesce(e->'label', 'null')) NOT IN ('string', 'null') THEN
                format('"label" must be a string or null, got %s', e->'label')
            WHEN coalesce(e->'parent', 'null') <> 'null'
                 AND (jsonb_typeof(e->'parent') <> 'number' OR (e->>'parent')::numeric NOT BETWEEN 1 AND n_snapshots
                      OR (e->>'parent')::numeric <> trunc((e->>'parent')::numeric) OR (e->>'parent')::numeric = n) THEN
                format('"parent" must be null or the position of another snapshot in the list (1 to %s), got %s', n_snapshots, e->'parent')
            END) c(m)
        WHERE m IS NOT NULL ORDER BY n LIMIT 1;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
        END IF;
        BEGIN
            PERFORM count(*) FROM jsonb_array_elements(doc->'snapshots') e,
                LATERAL (SELECT (e->>'taken_at')::timestamptz) t,
                LATERAL jsonb_populate_record(NULL::bandit.policy, e->'policy_row') p,
                LATERAL (SELECT count(*) FROM jsonb_populate_recordset(NULL::bandit.arm, e->'arms')) a;
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: a snapshot''s state does not read as a policy''s: %', SQLERRM
                USING ERRCODE = '22023';
        END;
    END IF;
    -- keys this format does not know are ignored, and named
    SELECT string_agg(k, ', ' ORDER BY o, k) INTO unknown FROM (
        SELECT DISTINCT 1 o, k FROM jsonb_object_keys(doc) k WHERE NOT k = ANY (top_keys)
        UNION
        SELECT DISTINCT 2, 'arms[].' || k FROM jsonb_array_elements(doc->'arms') e, jsonb_object_keys(e) k WHERE NOT k = ANY (arm_keys)
        UNION
        SELECT DISTINCT 3, 'snapshots[].' || k FROM jsonb_array_elements(coalesce(doc->'snapshots', '[]')) e, jsonb_object_keys(e) k
        WHERE NOT k = ANY (snapshot_keys)) u;
    IF unknown IS NOT NULL THEN
        RAISE NOTICE 'import_policy ignores unknown keys: %', unknown;
    END IF;

    -- the target
    IF target IS NULL THEN
        RAISE EXCEPTION 'name must not be NULL' USING ERRCODE = '22004';
    END IF;
    existed := EXISTS (SELECT FROM bandit.policy t WHERE t.name = target);
    IF existed AND NOT replace THEN
        RAISE EXCEPTION 'policy "%" already exists', target
            USING ERRCODE = '23505', HINT = 'Pass replace => true to replace it, or name => to import it under another name.';
    END IF;
    IF existed THEN
        PERFORM bandit.require('policy', target, 'manage');
        -- as restore: concurrent rewards wait for the import, not the other way round
        PERFORM 1 FROM bandit.policy t WHERE t.name = target FOR UPDATE;
        existed := FOUND;
    END IF;
    IF existed THEN
        -- what it replaces stays restorable, no longer the version in service
        -- (the document's active snapshot, if any, is: bandit.policy_versions)
        PERFORM bandit.snapshot(target, 'before import_policy');
        UPDATE bandit.snapshot t SET status = 'archived' WHERE t.policy = target AND t.status = 'active';
        UPDATE bandit.policy t SET algorithm = doc->>'algorithm', params = jsonb_strip_nulls(full_params - 'mode' - 'default_arm'),
               mode = full_params->>'mode', default_arm = full_params->>'default_arm', decisions = (doc->>'decisions')::bigint,
               updated_at = now()
        WHERE t.name = target;
        -- as restore: arms updated in place (their log counters stay), the others removed, new ones added
        UPDATE bandit.arm a SET alpha = r.alpha, beta = r.beta, pulls = r.pulls, weight = r.weight,
               mean_reward = r.mean_reward, m2 = r.m2, cost = r.cost, latency_ms = r.latency_ms,
               a_inv = r.a_inv, b = r.b, retired = r.retired, added_at = r.added_at, last_update = r.last_update,
               state_stamp = DEFAULT
        FROM jsonb_populate_recordset(NULL::bandit.arm, doc->'arms') r
        WHERE a.policy = target AND a.arm = r.arm;
        DELETE FROM bandit.arm a WHERE a.policy = target AND NOT a.arm = ANY (arm_names);
        DELETE FROM bandit.linucb_pending q WHERE q.policy = target;
    ELSE
        INSERT INTO bandit.policy (name, algorithm, params, mode, default_arm, decisions)
        VALUES (target, doc->>'algorithm', jsonb_strip_nulls(full_params - 'mode' - 'default_arm'),
                full_params->>'mode', full_params->>'default_arm', (doc->>'decisions')::bigint)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'policy "%" already exists', target USING ERRCODE = '23505';
        END IF;
        -- an owner row without its policy is a leftover of a policy deleted by hand: its grants go with it
        DELETE FROM bandit.object o WHERE o.kind = 'policy' AND o.name = target;
        INSERT INTO bandit.object (kind, name, owner) VALUES ('policy', target, bandit.caller());
    END IF;
    INSERT INTO bandit.arm (policy, arm, alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms,
                            a_inv, b, retired, added_at, last_update)
    SELECT target, r.arm, r.alpha, r.beta, r.pulls, r.weight, r.mean_reward, r.m2, r.cost, r.latency_ms,
           r.a_inv, r.b, r.retired, r.added_at, r.last_update
    FROM jsonb_populate_recordset(NULL::bandit.arm, doc->'arms') r
    WHERE NOT EXISTS (SELECT FROM bandit.arm a WHERE a.policy = target AND a.arm = r.arm);
    INSERT INTO bandit.arm_count (policy, arms) VALUES (target, cardinality(arm_names))
    ON CONFLICT (policy) DO UPDATE SET arms = excluded.arms;
    IF n_snapshots > 0 THEN
        -- new ids; a parent is a position in the document's list
        SELECT array_agg(bandit.new_id('bandit.snapshot_id_seq') ORDER BY i) INTO snapshot_ids FROM generate_series(1, n_snapshots) i;
        INSERT INTO bandit.snapshot (id, policy, label, taken_at, policy_row, arms, parent, status)
        SELECT snapshot_ids[n], target, e->>'label', (e->>'taken_at')::timestamptz,
               (e->'policy_row') || jsonb_build_object('name', target),
               coalesce((SELECT jsonb_agg(a || jsonb_build_object('policy', target) ORDER BY m)
                         FROM jsonb_array_elements(e->'arms') WITH ORDINALITY y(a, m)), '[]'),
               snapshot_ids[(e->>'parent')::integer], e->>'status'
        FROM jsonb_array_elements(doc->'snapshots') WITH ORDINALITY x(e, n)
        ORDER BY n;
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (target, 'import', jsonb_build_object('source', doc->>'name', 'format_version', version,
                                                 'arms', cardinality(arm_names), 'snapshots', n_snapshots, 'replaced', existed));
    RETURN target;
END
$$;
COMMENT ON FUNCTION bandit.import_policy(jsonb, text, boolean) IS
    'Creates the policy a bandit.export_policy document describes, under name (default: the document''s), owned by the caller, every learned value exactly (export after import gives the same document); with replace = true an existing policy of that name is replaced in one step as bandit.restore would (snapshot of the replaced state first; owner, grants, log and log counters stay), otherwise it is 23505. A newer format_version is 22023; unknown keys are ignored with a NOTICE naming them; any other problem (missing or mistyped keys, parameters create_policy refuses, arms not matching) is an error naming it, and nothing is imported. Audited as import with the source name. Privilege: EXECUTE, granted by a DBA (not PUBLIC); creates a policy owned by the caller, and replacing an existing one needs manage on the policy.';

REVOKE ALL ON FUNCTION bandit.import_policy(jsonb, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.export_float(float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.export_floats(float8[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.import_is_float(jsonb) FROM PUBLIC;

-- == issue 14: LinTS and forgetting for linear policies (src/policy.sql, src/learn.sql, src/canary.sql,
-- src/export.sql): algorithm lints (parameter v) on LinUCB's state, wherever a LinUCB state is
-- learned, exported, imported or canaried; discount for linucb and lints (each fold restores the prior I).
ALTER TABLE bandit.policy DROP CONSTRAINT policy_algorithm_check,
    ADD CONSTRAINT policy_algorithm_check CHECK (algorithm IN ('thompson', 'ucb1', 'epsilon_greedy', 'softmax', 'linucb', 'lints'));

CREATE OR REPLACE FUNCTION bandit.policy_params(algorithm text, arms text[], params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    defaults constant jsonb := '{"prior_alpha": 1, "prior_beta": 1, "epsilon": 0.1, "epsilon_decay": 1.0,
        "min_epsilon": 0, "c": 1, "temperature": 0.1, "discount": 1.0, "alpha": 1.0, "dim": null, "v": null,
        "mode": "active", "default_arm": null, "budget_smoothing": 0.1, "reward_wait": null,
        "default_reward": null, "learning": "immediate"}';
    result jsonb;
    k text;
    v jsonb;
BEGIN
    IF algorithm IS NULL OR arms IS NULL OR params IS NULL THEN
        RAISE EXCEPTION 'algorithm, arms and params must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_param_keys(params, defaults);
    result := defaults || jsonb_build_object('default_arm', arms[1]) || jsonb_strip_nulls(params);
    FOR k, v IN SELECT * FROM jsonb_each(result) LOOP
        CONTINUE WHEN k IN ('mode', 'default_arm', 'learning', 'reward_wait') OR v = 'null';
        IF jsonb_typeof(v) <> 'number' THEN
            RAISE EXCEPTION 'parameter "%" must be a number, got %', k, v USING ERRCODE = '22023';
        END IF;
    END LOOP;
    -- limits that keep every later choose computable (Beta quadrature, scores, softmax weights)
    IF (result->>'prior_alpha')::float8 NOT BETWEEN 1e-6 AND 1e6 OR (result->>'prior_beta')::float8 NOT BETWEEN 1e-6 AND 1e6 THEN
        RAISE EXCEPTION 'prior_alpha and prior_beta must be between 1e-06 and 1000000, got % and %',
            (result->>'prior_alpha')::float8, (result->>'prior_beta')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon')::float8 NOT BETWEEN 0 AND 1 OR (result->>'min_epsilon')::float8 NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'epsilon and min_epsilon must be between 0 and 1, got % and %',
            (result->>'epsilon')::float8, (result->>'min_epsilon')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon_decay')::float8 <= 0 OR (result->>'epsilon_decay')::float8 > 1 THEN
        RAISE EXCEPTION 'epsilon_decay must be in (0, 1], got %', (result->>'epsilon_decay')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'discount')::float8 <= 0 OR (result->>'discount')::float8 > 1 THEN
        RAISE EXCEPTION 'discount must be in (0, 1], got %', (result->>'discount')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'c')::float8 NOT BETWEEN 0 AND 1e100 OR (result->>'alpha')::float8 NOT BETWEEN 0 AND 1e100 THEN
        RAISE EXCEPTION 'c and alpha must be between 0 and 1e+100, got % and %',
            (result->>'c')::float8, (result->>'alpha')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'temperature')::float8 < 1e-300 THEN
        RAISE EXCEPTION 'temperature must be at least 1e-300, got %', (result->>'temperature')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'budget_smoothing')::float8 <= 0 OR (result->>'budget_smoothing')::float8 > 1 THEN
        RAISE EXCEPTION 'budget_smoothing must be in (0, 1], got %', (result->>'budget_smoothing')::float8
            USING ERRCODE = '22003';
    END IF;
    IF NOT result->>'learning' = ANY ('{immediate,batched}') THEN
        RAISE EXCEPTION 'learning must be immediate or batched, got %', result->'learning' USING ERRCODE = '22023';
    END IF;
    -- a decision that never hears back is credited default_reward after reward_wait: both or neither
    IF (result->'reward_wait' = 'null') <> (result->'default_reward' = 'null') THEN
        RAISE EXCEPTION 'reward_wait and default_reward go together, got % and %', result->'reward_wait', result->'default_reward'
            USING ERRCODE = '22023', HINT = 'A decision not rewarded within reward_wait is credited default_reward.';
    END IF;
    IF result->'reward_wait' <> 'null' THEN
        PERFORM bandit.reward_wait(result->'reward_wait');
        IF (result->>'default_reward')::float8 NOT BETWEEN (CASE WHEN algorithm = 'thompson' THEN 0 ELSE -1e100 END)
                                                       AND (CASE WHEN algorithm = 'thompson' THEN 1 ELSE 1e100 END) THEN
            RAISE EXCEPTION 'default_reward must be a reward the policy takes (thompson: from 0 to 1; others: from -1e+100 to 1e+100), got %',
                (result->>'default_reward')::float8 USING ERRCODE = '22003';
        END IF;
    END IF;
    IF NOT result->>'mode' = ANY ('{active,shadow,off}') THEN
        RAISE EXCEPTION 'mode must be active, shadow or off, got %', result->>'mode' USING ERRCODE = '22023';
    END IF;
    IF NOT result->>'default_arm' = ANY (arms) THEN
        RAISE EXCEPTION 'default_arm "%" is not one of the arms', result->>'default_arm' USING ERRCODE = '22023';
    END IF;
    IF algorithm IN ('linucb', 'lints') THEN
        IF result->'dim' = 'null' THEN
            RAISE EXCEPTION '% needs the parameter "dim"', algorithm USING ERRCODE = '22023';
        END IF;
        IF (result->>'dim')::float8 <> trunc((result->>'dim')::float8) OR (result->>'dim')::float8 < 1 THEN
            RAISE EXCEPTION 'dim must be a positive integer, got %', (result->>'dim')::float8 USING ERRCODE = '22003';
        END IF;
        IF (result->>'dim')::float8 > 1024 THEN
            RAISE EXCEPTION 'dim must be at most 1024, got %', (result->>'dim')::float8 USING ERRCODE = '54000';
        END IF;
    ELSIF result->'dim' <> 'null' THEN
        RAISE EXCEPTION 'dim applies to linucb and lints only' USING ERRCODE = '22023';
    END IF;
    -- LinTS draws theta ~ N(A^-1 b, v^2 A^-1)
    IF algorithm = 'lints' THEN
        result := result || jsonb_build_object('v', coalesce((result->>'v')::float8, 1));
        IF (result->>'v')::float8 NOT BETWEEN 0 AND 1e6 THEN
            RAISE EXCEPTION 'v must be between 0 and 1000000, got %', (result->>'v')::float8 USING ERRCODE = '22003';
        END IF;
    ELSIF result->'v' <> 'null' THEN
        RAISE EXCEPTION 'v applies to lints only' USING ERRCODE = '22023';
    END IF;
    RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION bandit.create_policy(name text, algorithm text, arms text[], params jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    full_params jsonb;
    p bandit.policy;
    dim integer;
BEGIN
    IF name IS NULL OR algorithm IS NULL OR arms IS NULL OR params IS NULL THEN
        RAISE EXCEPTION 'name, algorithm, arms and params must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT algorithm = ANY ('{thompson,ucb1,epsilon_greedy,softmax,linucb,lints}') THEN
        RAISE EXCEPTION 'unknown algorithm "%"', algorithm
            USING ERRCODE = '22023', HINT = 'Use thompson, ucb1, epsilon_greedy, softmax, linucb or lints.';
    END IF;
    IF array_ndims(arms) > 1 THEN
        RAISE EXCEPTION 'arms must be a one-dimensional array' USING ERRCODE = '2202E';
    END IF;
    IF cardinality(arms) = 0 OR array_position(arms, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'arms must be a non-empty array without NULLs' USING ERRCODE = '22023';
    END IF;
    IF cardinality(arms) > 100000 THEN
        RAISE EXCEPTION 'a policy has at most 100000 arms, got %', cardinality(arms) USING ERRCODE = '54000';
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
    -- an owner row without its policy is a leftover of a policy deleted by hand: its grants go with it
    DELETE FROM bandit.object o WHERE o.kind = 'policy' AND o.name = p.name;
    INSERT INTO bandit.object (kind, name, owner) VALUES ('policy', p.name, bandit.caller());
    -- every arm starts from the prior (LinUCB: A^-1 = I, b = 0), built once for all of them
    dim := (p.params->>'dim')::integer;
    IF cardinality(arms)::float8 * dim * dim > 268435456 THEN
        RAISE EXCEPTION 'LinUCB state of % arms at dim % exceeds 268435456 numbers (2 GiB)', cardinality(arms), dim
            USING ERRCODE = '54000', HINT = 'Use fewer arms or a smaller dim.';
    END IF;
    INSERT INTO bandit.arm (policy, arm, alpha, beta, a_inv, b)
    SELECT p.name, a, (p.params->>'prior_alpha')::float8, (p.params->>'prior_beta')::float8, ident, zero
    FROM unnest(arms) a,
         (SELECT bandit.identity_matrix(dim) ident,
                 CASE WHEN dim IS NOT NULL THEN array_fill(0::float8, ARRAY[dim]) END zero) s;
    INSERT INTO bandit.arm_count (policy, arms) VALUES (p.name, cardinality(arms));
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'create', jsonb_build_object('algorithm', p.algorithm, 'arms', arms, 'params', full_params));
END
$$;

CREATE OR REPLACE FUNCTION bandit.learn_pending(policy text DEFAULT NULL, max_rows integer DEFAULT 100000) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policies text[];
    folded bigint;
    linucb bigint[];
    picked bigint;
    learned bigint;
    one bigint;
BEGIN
    IF max_rows IS NULL THEN
        RAISE EXCEPTION 'max_rows must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be at least 1, got %', max_rows USING ERRCODE = '22003';
    END IF;
    IF policy IS NOT NULL THEN
        PERFORM bandit.policy_row(policy);
        PERFORM bandit.require('policy', policy, 'manage');
        policies := ARRAY[policy];
    ELSE
        -- every policy the caller may manage; the others are left alone
        SELECT coalesce(array_agg(o.name), '{}') INTO policies
        FROM bandit.object o
        WHERE o.kind = 'policy' AND bandit.may_manage(o.name);
    END IF;
    -- One statement.  The recorded rewards are taken in (rewarded_at, id)
    -- order and locked, skipping those another learn_pending holds: each is
    -- learned exactly once.  Their arms are then locked in one fixed order
    -- (that of reward's batches), and read as the lock leaves them (the
    -- latest committed state), so that a concurrent immediate reward is
    -- neither lost nor deadlocked.  learn_fold learns each arm's rewards in
    -- order with reward's own arithmetic.  LinUCB's arms learn below.
    WITH picked AS MATERIALIZED (
        SELECT d.id, d.policy, d.arm, d.reward, d.cost, d.latency_ms, d.rewarded_at
        FROM bandit.decision d
        WHERE d.to_learn AND d.policy = ANY (policies)
        ORDER BY d.rewarded_at, d.id
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    ), arms AS MATERIALIZED (
        SELECT a.policy, a.arm, a.alpha, a.beta, a.weight, a.mean_reward, a.m2, a.cost, a.latency_ms, a.reward_sum
        FROM bandit.arm a
        WHERE (a.policy, a.arm) IN (SELECT p.policy, p.arm FROM picked p)
        ORDER BY a.policy, a.arm
        FOR UPDATE
    ), params AS MATERIALIZED (
        SELECT t.name, t.algorithm,
               coalesce((t.params->>'prior_alpha')::float8, 1) AS prior_alpha,
               coalesce((t.params->>'prior_beta')::float8, 1) AS prior_beta,
               coalesce((t.params->>'discount')::float8, 1) AS discount,
               coalesce((t.params->>'budget_smoothing')::float8, 0.1) AS smoothing
        FROM bandit.policy t WHERE t.name IN (SELECT p.policy FROM picked p)
    ), fold AS (
        SELECT a.policy, a.arm, count(*) AS n,
               bandit.learn_fold(ARRAY[a.alpha, a.beta, a.weight, a.mean_reward, a.m2, a.cost, a.latency_ms, a.reward_sum],
                                 p.reward, p.cost, p.latency_ms, t.prior_alpha, t.prior_beta, t.discount, t.smoothing
                                 ORDER BY p.rewarded_at, p.id) AS s
        FROM picked p
        JOIN arms a ON a.policy = p.policy AND a.arm = p.arm
        JOIN params t ON t.name = p.policy
        WHERE t.algorithm NOT IN ('linucb', 'lints')
        GROUP BY a.policy, a.arm
    ), learned AS (
        UPDATE bandit.arm a
        SET alpha = f.s[1], beta = f.s[2], weight = f.s[3], mean_reward = f.s[4], m2 = f.s[5],
            cost = f.s[6], latency_ms = f.s[7], reward_sum = f.s[8],
            pulls = a.pulls + f.n, rewarded = a.rewarded + f.n, last_update = now()
        FROM fold f
        WHERE a.policy = f.policy AND a.arm = f.arm
        RETURNING f.n
    ), done AS (
        UPDATE bandit.decision d SET to_learn = NULL
        FROM picked p
        WHERE d.id = p.id
        RETURNING d.id
    )
    SELECT (SELECT coalesce(sum(l.n), 0) FROM learned l),
           (SELECT array_agg(p.id ORDER BY p.rewarded_at, p.id)
            FROM picked p
            JOIN arms a ON a.policy = p.policy AND a.arm = p.arm
            JOIN params t ON t.name = p.policy
            WHERE t.algorithm IN ('linucb', 'lints')),
           (SELECT count(*) FROM done)
    INTO folded, linucb, picked;
    -- LinUCB learns each reward through its own learning (its arms are locked above)
    learned := folded;
    IF linucb IS NOT NULL THEN
        BEGIN
            learned := learned + bandit.learn_recorded(linucb);
        EXCEPTION WHEN numeric_value_out_of_range OR invalid_parameter_value OR array_subscript_error THEN
            -- a context too large for its arm's state, which reward would have refused (22003),
            -- or none LinUCB can learn from (a decision made before import_policy replaced the
            -- policy with a LinUCB one, or at another dim): learn the others one by one, rather than fail
            -- every run; take back the first kind of reward, drop the second
            FOREACH one IN ARRAY linucb LOOP
                BEGIN
                    learned := learned + bandit.learn_recorded(ARRAY[one]);
                EXCEPTION
                    WHEN numeric_value_out_of_range THEN
                        UPDATE bandit.decision d
                        SET reward = NULL, rewarded_at = NULL, cost = NULL, latency_ms = NULL, expired = false
                        WHERE d.id = one;
                        picked := picked - 1;
                        RAISE WARNING 'the reward of decision % would take the LinUCB state of its arm out of range: taken back', one
                            USING HINT = 'The decision''s context has features too large.';
                    WHEN invalid_parameter_value OR array_subscript_error THEN
                        picked := picked - 1;
                        RAISE WARNING 'the reward of decision % is dropped: %', one, SQLERRM
                            USING HINT = 'A LinUCB policy learns from the decision''s context; this one was made for another algorithm or dim.';
                END;
            END LOOP;
        END;
    END IF;
    IF picked > learned THEN
        RAISE WARNING 'learn_pending dropped % recorded rewards whose arms no longer exist', picked - learned;
    END IF;
    RETURN learned;
END
$$;

CREATE OR REPLACE FUNCTION bandit.start_canary(policy text, candidate text, share float8, gates jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    c bandit.policy;
    full_gates jsonb;
    differ text;
    existing bandit.canary;
BEGIN
    IF candidate IS NULL THEN
        RAISE EXCEPTION 'candidate must not be NULL' USING ERRCODE = '22004';
    END IF;
    c := bandit.policy_row(candidate);
    PERFORM bandit.require('policy', policy, 'manage');
    PERFORM bandit.require('policy', candidate, 'manage');
    IF share IS NULL OR gates IS NULL THEN
        RAISE EXCEPTION 'share and gates must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF c.name = p.name THEN
        RAISE EXCEPTION 'policy "%" cannot be its own canary', p.name USING ERRCODE = '22023';
    END IF;
    IF NOT (share > 0 AND share < 1) THEN
        RAISE EXCEPTION 'share must be in (0, 1), got %', share USING ERRCODE = '22003';
    END IF;
    full_gates := bandit.canary_gates(gates);
    differ := bandit.canary_arms_differ(p.name, c.name);
    IF differ IS NOT NULL THEN
        RAISE EXCEPTION 'a canary''s candidate must have the same active arms as its policy: %', differ
            USING ERRCODE = '22023';
    END IF;
    -- the candidate serves the policy's calls with their contexts: a LinUCB
    -- candidate needs the policy's feature vectors (else those calls fail)
    IF c.algorithm IN ('linucb', 'lints') AND (p.algorithm NOT IN ('linucb', 'lints') OR (p.params->>'dim')::numeric <> (c.params->>'dim')::numeric) THEN
        RAISE EXCEPTION 'candidate "%" is % with dim %, policy "%" is % %: choose(%) would fail on the candidate''s share of its calls',
            c.name, c.algorithm, c.params->>'dim', p.name, p.algorithm,
            CASE WHEN p.algorithm IN ('linucb', 'lints') THEN 'with dim ' || (p.params->>'dim') ELSE '(no feature vector)' END, p.name
            USING ERRCODE = '22023', HINT = 'A LinUCB or LinTS candidate needs a LinUCB or LinTS policy of the same dim.';
    END IF;
    -- two policies canarying each other: neither is production, and their
    -- promotions would lock the two policies in opposite orders
    IF EXISTS (SELECT FROM bandit.canary k WHERE k.policy = c.name AND k.candidate = p.name) THEN
        RAISE EXCEPTION 'policy "%" already has policy "%" as its canary''s candidate', c.name, p.name
            USING ERRCODE = '22023', HINT = 'End that canary first.';
    END IF;
    -- a row whose candidate was deleted by hand is a leftover
    DELETE FROM bandit.canary k WHERE k.policy = p.name
       AND NOT EXISTS (SELECT FROM bandit.policy t WHERE t.name = k.candidate);
    INSERT INTO bandit.canary (policy, candidate, share, gates)
    VALUES (p.name, c.name, share, full_gates)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO existing FROM bandit.canary k WHERE k.policy = p.name;
        RAISE EXCEPTION 'policy "%" already has a canary, candidate "%"', p.name, existing.candidate
            USING ERRCODE = '23505', HINT = 'End it with bandit.stop_canary or bandit.promote_canary first.';
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'canary_started', jsonb_build_object('candidate', c.name, 'share', share, 'gates', full_gates));
END
$$;

CREATE OR REPLACE FUNCTION bandit.promote_canary(policy text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    k bandit.canary;
    c bandit.policy;
    differ text;
    before_id bigint;
    candidate_id bigint;
    promoted_id bigint;
    s bandit.snapshot;
BEGIN
    PERFORM bandit.require('policy', policy, 'manage');
    SELECT * INTO k FROM bandit.canary t WHERE t.policy = p.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'policy "%" has no canary', p.name USING ERRCODE = '42704';
    END IF;
    c := bandit.policy_row(k.candidate);
    PERFORM bandit.require('policy', c.name, 'manage');
    differ := bandit.canary_arms_differ(p.name, c.name);
    IF differ IS NOT NULL THEN
        RAISE EXCEPTION 'the candidate no longer has the same active arms as its policy: %', differ
            USING ERRCODE = '22023', HINT = 'Stop the canary with bandit.stop_canary.';
    END IF;
    -- after promotion the policy's callers send the contexts they send now
    IF c.algorithm IN ('linucb', 'lints') AND (p.algorithm NOT IN ('linucb', 'lints') OR (p.params->>'dim')::numeric <> (c.params->>'dim')::numeric) THEN
        RAISE EXCEPTION 'candidate "%" is % with dim %, policy "%" is % %: choose(%) would fail after promotion',
            c.name, c.algorithm, c.params->>'dim', p.name, p.algorithm,
            CASE WHEN p.algorithm IN ('linucb', 'lints') THEN 'with dim ' || (p.params->>'dim') ELSE '(no feature vector)' END, p.name
            USING ERRCODE = '22023', HINT = 'Stop the canary with bandit.stop_canary.';
    END IF;
    -- the production state first (archived by the restore below)
    before_id := bandit.snapshot(p.name, format('before promoting canary %s', c.name));
    -- the candidate's state, status candidate; the candidate's own current version
    -- stays: the new snapshot's parent, read by snapshot under the candidate's row
    -- lock (a concurrent snapshot of the candidate is waited for, and is that version)
    candidate_id := bandit.snapshot(c.name, format('promoted into %s', p.name));
    SELECT * INTO s FROM bandit.snapshot t WHERE t.id = candidate_id;
    UPDATE bandit.snapshot t SET status = CASE WHEN t.id = candidate_id THEN 'candidate' ELSE 'active' END
    WHERE t.id IN (candidate_id, s.parent);
    -- the same state under the policy's name: its configuration but its mode, and its
    -- arms (LinUCB's with their pending updates applied: those name the candidate's decisions)
    INSERT INTO bandit.snapshot (policy, label, policy_row, arms, parent, status)
    SELECT p.name, format('canary %s promoted', c.name),
           s.policy_row || jsonb_build_object('name', p.name, 'mode', p.mode),
           coalesce(jsonb_agg(e - 'linucb_pending' || jsonb_build_object('policy', p.name)
                              || coalesce((SELECT jsonb_build_object('a_inv', l.a_inv, 'b', l.b)
                                           FROM bandit.linucb_state(c.name, e->>'arm') l
                                           WHERE c.algorithm IN ('linucb', 'lints')), '{}')
                              ORDER BY e->>'arm'), '[]'),
           candidate_id, 'candidate'
    FROM jsonb_array_elements(s.arms) e
    RETURNING id INTO promoted_id;
    PERFORM bandit.restore(promoted_id);
    DELETE FROM bandit.canary t WHERE t.policy = p.name;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'canary_promoted',
            jsonb_build_object('candidate', c.name, 'share', k.share, 'started_at', k.started_at,
                               'snapshot_before', before_id, 'candidate_snapshot', candidate_id, 'snapshot_id', promoted_id));
END
$$;

CREATE OR REPLACE FUNCTION bandit.export_policy(policy text, snapshots boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
SET TimeZone = 'UTC'
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
    PERFORM bandit.require('policy', policy, 'read');
    IF snapshots IS NULL THEN
        RAISE EXCEPTION 'snapshots must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN jsonb_build_object(
        'format_version', 1, 'name', p.name, 'algorithm', p.algorithm, 'params', p.params, 'mode', p.mode,
        'default_arm', p.default_arm, 'decisions', p.decisions,
        'arms', (SELECT jsonb_agg(jsonb_build_object(
                     'arm', a.arm, 'alpha', bandit.export_float(a.alpha), 'beta', bandit.export_float(a.beta),
                     'pulls', a.pulls, 'weight', bandit.export_float(a.weight),
                     'mean_reward', bandit.export_float(a.mean_reward), 'm2', bandit.export_float(a.m2),
                     'cost', bandit.export_float(a.cost), 'latency_ms', bandit.export_float(a.latency_ms),
                     'retired', a.retired, 'added_at', a.added_at, 'last_update', a.last_update)
                     -- LinUCB: the state choose uses, its pending rewards applied
                     || CASE WHEN p.algorithm IN ('linucb', 'lints') THEN jsonb_build_object(
                            'a_inv', bandit.export_floats(CASE WHEN l.pending THEN (SELECT s.a_inv FROM bandit.linucb_state(p.name, a.arm) s)
                                                               ELSE a.a_inv END),
                            'b', bandit.export_floats(CASE WHEN l.pending THEN (SELECT s.b FROM bandit.linucb_state(p.name, a.arm) s)
                                                           ELSE a.b END))
                        ELSE '{}' END
                     ORDER BY a.arm COLLATE "C")
                 FROM bandit.arm a
                 CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM bandit.linucb_pending q
                                                    WHERE q.stamp = a.state_stamp AND q.policy = a.policy AND q.arm = a.arm)
                                     AS pending) l
                 WHERE a.policy = p.name))
        -- snapshots in the order they were taken; parent is a position in this list
        || CASE WHEN snapshots THEN jsonb_build_object('snapshots', (
               WITH s AS (SELECT t.*, row_number() OVER (ORDER BY t.taken_at, t.id) n
                          FROM bandit.snapshot t WHERE t.policy = p.name)
               SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'parent', up.n, 'status', s.status, 'label', s.label, 'taken_at', s.taken_at,
                          'policy_row', s.policy_row, 'arms', s.arms) ORDER BY s.n), '[]')
               FROM s LEFT JOIN s up ON up.id = s.parent))
           ELSE '{}' END;
END
$$;

CREATE OR REPLACE FUNCTION bandit.import_policy(doc jsonb, name text DEFAULT NULL, replace boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    top_keys constant text[] := '{format_version,name,algorithm,params,mode,default_arm,decisions,arms,snapshots}';
    arm_keys constant text[] := '{arm,alpha,beta,pulls,weight,mean_reward,m2,cost,latency_ms,retired,added_at,last_update,a_inv,b}';
    snapshot_keys constant text[] := '{parent,status,label,taken_at,policy_row,arms}';
    target text;
    version numeric;
    full_params jsonb;
    arm_names text[];
    dim integer;
    problem text;
    unknown text;
    existed boolean;
    n_snapshots integer := 0;
    snapshot_ids bigint[];
BEGIN
    IF doc IS NULL OR replace IS NULL THEN
        RAISE EXCEPTION 'doc and replace must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(doc) <> 'object' THEN
        RAISE EXCEPTION 'doc must be a JSON object, as bandit.export_policy writes, got %', jsonb_typeof(doc)
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(doc->'format_version') IS DISTINCT FROM 'number'
       OR (doc->>'format_version')::numeric <> trunc((doc->>'format_version')::numeric)
       OR (doc->>'format_version')::numeric < 1 THEN
        RAISE EXCEPTION 'doc must have a "format_version", a whole number from 1, got %', coalesce((doc->'format_version')::text, 'none')
            USING ERRCODE = '22023';
    END IF;
    version := (doc->>'format_version')::numeric;
    IF version > 1 THEN
        RAISE EXCEPTION 'doc has format_version %, newer than this version of bandit reads (1)', version
            USING ERRCODE = '22023', HINT = 'Import it with the bandit version that exported it, or a newer one.';
    END IF;
    -- the shape of everything, before anything is written
    SELECT string_agg(format('"%s" must be %s, got %s', k, what, coalesce((doc->k)::text, 'none')), '; ' ORDER BY o) INTO problem
    FROM (VALUES (1, 'name', 'string', 'a string'), (2, 'algorithm', 'string', 'a string'),
                 (3, 'params', 'object', 'an object'), (4, 'mode', 'string', 'a string'),
                 (5, 'default_arm', 'string', 'a string'), (6, 'decisions', 'number', 'a whole number from 0'),
                 (7, 'arms', 'array', 'a non-empty array of objects')) c(o, k, t, what)
    WHERE CASE WHEN jsonb_typeof(doc->k) IS DISTINCT FROM t THEN true
               WHEN k = 'decisions' THEN (doc->>k)::numeric < 0 OR (doc->>k)::numeric <> trunc((doc->>k)::numeric)
                                         OR (doc->>k)::numeric > 9223372036854775807
               WHEN k = 'arms' THEN jsonb_array_length(doc->k) = 0
                                    OR EXISTS (SELECT FROM jsonb_array_elements(doc->k) e WHERE jsonb_typeof(e) <> 'object')
               ELSE false END;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
    END IF;
    IF doc ? 'snapshots' AND jsonb_typeof(doc->'snapshots') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION '"snapshots" must be an array, got %', doc->'snapshots' USING ERRCODE = '22023';
    END IF;
    target := coalesce(name, doc->>'name');
    IF NOT doc->>'algorithm' = ANY ('{thompson,ucb1,epsilon_greedy,softmax,linucb,lints}') THEN
        RAISE EXCEPTION 'unknown algorithm "%"', doc->>'algorithm'
            USING ERRCODE = '22023', HINT = 'Use thompson, ucb1, epsilon_greedy, softmax, linucb or lints.';
    END IF;
    IF jsonb_array_length(doc->'arms') > 100000 THEN
        RAISE EXCEPTION 'a policy has at most 100000 arms, got %', jsonb_array_length(doc->'arms') USING ERRCODE = '54000';
    END IF;
    SELECT format('arm %s: "arm" must be a string, got %s', n, coalesce((e->'arm')::text, 'none')) INTO problem
    FROM jsonb_array_elements(doc->'arms') WITH ORDINALITY x(e, n)
    WHERE jsonb_typeof(e->'arm') IS DISTINCT FROM 'string' ORDER BY n LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(e->>'arm') INTO arm_names FROM jsonb_array_elements(doc->'arms') e;
    IF (SELECT count(DISTINCT a) FROM unnest(arm_names) a) <> cardinality(arm_names) THEN
        RAISE EXCEPTION 'arms must be distinct, got "%" twice',
            (SELECT a FROM unnest(arm_names) a GROUP BY a HAVING count(*) > 1 ORDER BY a LIMIT 1) USING ERRCODE = '23505';
    END IF;
    -- the checks and defaults of create_policy; mode and default_arm are parameters there
    full_params := bandit.policy_params(doc->>'algorithm', arm_names,
                                        (doc->'params') || jsonb_build_object('mode', doc->'mode', 'default_arm', doc->'default_arm'));
    dim := (full_params->>'dim')::integer;
    IF cardinality(arm_names)::float8 * dim * dim > 268435456 THEN
        RAISE EXCEPTION 'LinUCB state of % arms at dim % exceeds 268435456 numbers (2 GiB)', cardinality(arm_names), dim
            USING ERRCODE = '54000';
    END IF;
    -- every arm: the first problem, named
    SELECT format('arm "%s": %s', e->>'arm', m) INTO problem
    FROM jsonb_array_elements(doc->'arms') WITH ORDINALITY x(e, n)
    CROSS JOIN LATERAL (SELECT CASE
        WHEN NOT (e ?& '{alpha,beta,pulls,weight,mean_reward,m2,cost,latency_ms,retired,added_at,last_update}') THEN
            format('missing %s', (SELECT string_agg(format('"%s"', k), ', ' ORDER BY k)
                                  FROM unnest('{alpha,beta,pulls,weight,mean_reward,m2,cost,latency_ms,retired,added_at,last_update}'::text[]) k
                                  WHERE NOT e ? k))
        WHEN (SELECT bool_or(NOT bandit.import_is_float(e->k)) FROM unnest('{alpha,beta,weight,mean_reward,m2}'::text[]) k) THEN
            (SELECT format('"%s" must be a number, got %s', k, e->k)
             FROM unnest('{alpha,beta,weight,mean_reward,m2}'::text[]) k WHERE NOT bandit.import_is_float(e->k) LIMIT 1)
        WHEN (e->>'alpha')::numeric <= 0 OR (e->>'beta')::numeric <= 0 THEN
            format('"alpha" and "beta" must be positive, got %s and %s', e->'alpha', e->'beta')
        WHEN (e->>'weight')::numeric < 0 THEN format('"weight" must not be negative, got %s', e->'weight')
        WHEN jsonb_typeof(e->'pulls') <> 'number' OR (e->>'pulls')::numeric < 0
             OR (e->>'pulls')::numeric <> trunc((e->>'pulls')::numeric) OR (e->>'pulls')::numeric > 9223372036854775807 THEN
            format('"pulls" must be a whole number from 0, got %s', e->'pulls')
        WHEN (e->'cost' <> 'null' AND NOT (bandit.import_is_float(e->'cost') AND (e->>'cost')::numeric >= 0))
             OR (e->'latency_ms' <> 'null' AND NOT (bandit.import_is_float(e->'latency_ms') AND (e->>'latency_ms')::numeric >= 0)) THEN
            format('"cost" and "latency_ms" must be null or numbers from 0, got %s and %s', e->'cost', e->'latency_ms')
        WHEN jsonb_typeof(e->'retired') <> 'boolean' THEN format('"retired" must be true or false, got %s', e->'retired')
        WHEN jsonb_typeof(e->'added_at') <> 'string' OR jsonb_typeof(e->'last_update') NOT IN ('string', 'null') THEN
            format('"added_at" must be a timestamp string, "last_update" one or null, got %s and %s', e->'added_at', e->'last_update')
        WHEN dim IS NULL AND (coalesce(e->'a_inv', 'null') <> 'null' OR coalesce(e->'b', 'null') <> 'null') THEN
            format('"a_inv" and "b" belong to linucb and lints arms, not %s ones', doc->>'algorithm')
        WHEN dim IS NOT NULL AND (jsonb_typeof(e->'a_inv') IS DISTINCT FROM 'array' OR jsonb_array_length(e->'a_inv') <> dim * dim
                                  OR jsonb_typeof(e->'b') IS DISTINCT FROM 'array' OR jsonb_array_length(e->'b') <> dim) THEN
            format('"a_inv" must be an array of dim^2 = %s numbers and "b" one of dim = %s numbers, got %s and %s numbers',
                   dim * dim, dim, coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(e->'a_inv') = 'array' THEN e->'a_inv' END)::text, 'no array'),
                   coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(e->'b') = 'array' THEN e->'b' END)::text, 'no array'))
        WHEN dim IS NOT NULL AND EXISTS (SELECT FROM jsonb_array_elements(e->'a_inv') v WHERE NOT bandit.import_is_float(v)
                                         UNION ALL
                                         SELECT FROM jsonb_array_elements(e->'b') v WHERE NOT bandit.import_is_float(v)) THEN
            '"a_inv" and "b" must hold numbers only'
        END) c(m)
    WHERE m IS NOT NULL ORDER BY n LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
    END IF;
    -- the values as the arm's columns read them (float8in reads a number's digits and "-0" exactly)
    BEGIN
        PERFORM count(*) FROM jsonb_populate_recordset(NULL::bandit.arm, doc->'arms');
    EXCEPTION WHEN numeric_value_out_of_range OR invalid_datetime_format OR datetime_field_overflow
                   OR invalid_text_representation THEN
        RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', SQLERRM USING ERRCODE = SQLSTATE;
    END;
    -- snapshots: their shape, and that restore can read their state
    IF doc ? 'snapshots' THEN
        n_snapshots := jsonb_array_length(doc->'snapshots');
        SELECT format('snapshot %s: %s', n, m) INTO problem
        FROM jsonb_array_elements(doc->'snapshots') WITH ORDINALITY x(e, n)
        CROSS JOIN LATERAL (SELECT CASE
            WHEN jsonb_typeof(e) <> 'object' THEN format('must be an object, got %s', e)
            WHEN jsonb_typeof(e->'policy_row') IS DISTINCT FROM 'object' OR jsonb_typeof(e->'arms') IS DISTINCT FROM 'array'
                 OR EXISTS (SELECT FROM jsonb_array_elements(e->'arms') a WHERE jsonb_typeof(a) <> 'object') THEN
                '"policy_row" must be an object and "arms" an array of objects'
            WHEN NOT coalesce(e->>'status', '') = ANY ('{active,candidate,archived}') THEN
                format('"status" must be active, candidate or archived, got %s', coalesce((e->'status')::text, 'none'))
            WHEN jsonb_typeof(e->'taken_at') IS DISTINCT FROM 'string' THEN
                format('"taken_at" must be a timestamp string, got %s', coalesce((e->'taken_at')::text, 'none'))
            WHEN jsonb_typeof(coalesce(e->'label', 'null')) NOT IN ('string', 'null') THEN
                format('"label" must be a string or null, got %s', e->'label')
            WHEN coalesce(e->'parent', 'null') <> 'null'
                 AND (jsonb_typeof(e->'parent') <> 'number' OR (e->>'parent')::numeric NOT BETWEEN 1 AND n_snapshots
                      OR (e->>'parent')::numeric <> trunc((e->>'parent')::numeric) OR (e->>'parent')::numeric = n) THEN
                format('"parent" must be null or the position of another snapshot in the list (1 to %s), got %s', n_snapshots, e->'parent')
            END) c(m)
        WHERE m IS NOT NULL ORDER BY n LIMIT 1;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: %', problem USING ERRCODE = '22023';
        END IF;
        BEGIN
            PERFORM count(*) FROM jsonb_array_elements(doc->'snapshots') e,
                LATERAL (SELECT (e->>'taken_at')::timestamptz) t,
                LATERAL jsonb_populate_record(NULL::bandit.policy, e->'policy_row') p,
                LATERAL (SELECT count(*) FROM jsonb_populate_recordset(NULL::bandit.arm, e->'arms')) a;
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'doc is not a policy as bandit.export_policy writes it: a snapshot''s state does not read as a policy''s: %', SQLERRM
                USING ERRCODE = '22023';
        END;
    END IF;
    -- keys this format does not know are ignored, and named
    SELECT string_agg(k, ', ' ORDER BY o, k) INTO unknown FROM (
        SELECT DISTINCT 1 o, k FROM jsonb_object_keys(doc) k WHERE NOT k = ANY (top_keys)
        UNION
        SELECT DISTINCT 2, 'arms[].' || k FROM jsonb_array_elements(doc->'arms') e, jsonb_object_keys(e) k WHERE NOT k = ANY (arm_keys)
        UNION
        SELECT DISTINCT 3, 'snapshots[].' || k FROM jsonb_array_elements(coalesce(doc->'snapshots', '[]')) e, jsonb_object_keys(e) k
        WHERE NOT k = ANY (snapshot_keys)) u;
    IF unknown IS NOT NULL THEN
        RAISE NOTICE 'import_policy ignores unknown keys: %', unknown;
    END IF;

    -- the target
    IF target IS NULL THEN
        RAISE EXCEPTION 'name must not be NULL' USING ERRCODE = '22004';
    END IF;
    existed := EXISTS (SELECT FROM bandit.policy t WHERE t.name = target);
    IF existed AND NOT replace THEN
        RAISE EXCEPTION 'policy "%" already exists', target
            USING ERRCODE = '23505', HINT = 'Pass replace => true to replace it, or name => to import it under another name.';
    END IF;
    IF existed THEN
        PERFORM bandit.require('policy', target, 'manage');
        -- as restore: concurrent rewards wait for the import, not the other way round
        PERFORM 1 FROM bandit.policy t WHERE t.name = target FOR UPDATE;
        existed := FOUND;
    END IF;
    IF existed THEN
        -- what it replaces stays restorable, no longer the version in service
        -- (the document's active snapshot, if any, is: bandit.policy_versions)
        PERFORM bandit.snapshot(target, 'before import_policy');
        UPDATE bandit.snapshot t SET status = 'archived' WHERE t.policy = target AND t.status = 'active';
        UPDATE bandit.policy t SET algorithm = doc->>'algorithm', params = jsonb_strip_nulls(full_params - 'mode' - 'default_arm'),
               mode = full_params->>'mode', default_arm = full_params->>'default_arm', decisions = (doc->>'decisions')::bigint,
               updated_at = now()
        WHERE t.name = target;
        -- as restore: arms updated in place (their log counters stay), the others removed, new ones added
        UPDATE bandit.arm a SET alpha = r.alpha, beta = r.beta, pulls = r.pulls, weight = r.weight,
               mean_reward = r.mean_reward, m2 = r.m2, cost = r.cost, latency_ms = r.latency_ms,
               a_inv = r.a_inv, b = r.b, retired = r.retired, added_at = r.added_at, last_update = r.last_update,
               state_stamp = DEFAULT
        FROM jsonb_populate_recordset(NULL::bandit.arm, doc->'arms') r
        WHERE a.policy = target AND a.arm = r.arm;
        DELETE FROM bandit.arm a WHERE a.policy = target AND NOT a.arm = ANY (arm_names);
        DELETE FROM bandit.linucb_pending q WHERE q.policy = target;
    ELSE
        INSERT INTO bandit.policy (name, algorithm, params, mode, default_arm, decisions)
        VALUES (target, doc->>'algorithm', jsonb_strip_nulls(full_params - 'mode' - 'default_arm'),
                full_params->>'mode', full_params->>'default_arm', (doc->>'decisions')::bigint)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'policy "%" already exists', target USING ERRCODE = '23505';
        END IF;
        -- an owner row without its policy is a leftover of a policy deleted by hand: its grants go with it
        DELETE FROM bandit.object o WHERE o.kind = 'policy' AND o.name = target;
        INSERT INTO bandit.object (kind, name, owner) VALUES ('policy', target, bandit.caller());
    END IF;
    INSERT INTO bandit.arm (policy, arm, alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms,
                            a_inv, b, retired, added_at, last_update)
    SELECT target, r.arm, r.alpha, r.beta, r.pulls, r.weight, r.mean_reward, r.m2, r.cost, r.latency_ms,
           r.a_inv, r.b, r.retired, r.added_at, r.last_update
    FROM jsonb_populate_recordset(NULL::bandit.arm, doc->'arms') r
    WHERE NOT EXISTS (SELECT FROM bandit.arm a WHERE a.policy = target AND a.arm = r.arm);
    INSERT INTO bandit.arm_count (policy, arms) VALUES (target, cardinality(arm_names))
    ON CONFLICT (policy) DO UPDATE SET arms = excluded.arms;
    IF n_snapshots > 0 THEN
        -- new ids; a parent is a position in the document's list
        SELECT array_agg(bandit.new_id('bandit.snapshot_id_seq') ORDER BY i) INTO snapshot_ids FROM generate_series(1, n_snapshots) i;
        INSERT INTO bandit.snapshot (id, policy, label, taken_at, policy_row, arms, parent, status)
        SELECT snapshot_ids[n], target, e->>'label', (e->>'taken_at')::timestamptz,
               (e->'policy_row') || jsonb_build_object('name', target),
               coalesce((SELECT jsonb_agg(a || jsonb_build_object('policy', target) ORDER BY m)
                         FROM jsonb_array_elements(e->'arms') WITH ORDINALITY y(a, m)), '[]'),
               snapshot_ids[(e->>'parent')::integer], e->>'status'
        FROM jsonb_array_elements(doc->'snapshots') WITH ORDINALITY x(e, n)
        ORDER BY n;
    END IF;
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (target, 'import', jsonb_build_object('source', doc->>'name', 'format_version', version,
                                                 'arms', cardinality(arm_names), 'snapshots', n_snapshots, 'replaced', existed));
    RETURN target;
END
$$;

COMMENT ON FUNCTION bandit.create_policy(text, text, text[], jsonb) IS
    'Creates a policy over arms (a one-dimensional array, at most 100000, and for LinUCB at most 268435456 numbers of state, arms x dim^2; 54000 beyond); algorithm thompson, ucb1, epsilon_greedy, softmax, linucb or lints (linear Thompson sampling on LinUCB''s state); params prior_alpha, prior_beta (1, 1; each from 1e-6 to 1e6), epsilon (0.1), epsilon_decay (1), min_epsilon (0), c (1; at most 1e100), temperature (0.1; at least 1e-300), discount (1, in (0, 1]; for linucb and lints A <- discount A + x x'' with the prior I restored at each fold, so A >= I/2), alpha (1; at most 1e100), dim (linucb and lints; at most 1024, 54000 beyond) and v (lints: theta ~ N(A^-1 b, v^2 A^-1); 1, from 0 to 1e6), mode (active), default_arm (the first arm); unknown keys are an error, out-of-range values 22003. Privilege: EXECUTE, granted by a DBA (not PUBLIC); creates a policy owned by the caller.';

COMMENT ON TABLE bandit.linucb_pending IS
    'LinUCB rewards not yet folded into bandit.arm: each the rank-one update of the arm state whose state_stamp is stamp by reward and the features of decision (its context''s, derived again as reward derived them: the decision must be kept until the arm folds), applied on read in seq order after the stored a_inv and b (bandit.linucb_state shows the result); every (2 dim)-th reward of an arm (with a discount < 1, every min(2 dim, floor(ln 2 / -ln discount)), at least 1, the fold also restoring the prior I) folds them into a_inv and b and deletes them; LinTS (lints) policies share this state';

COMMENT ON FUNCTION bandit.linucb_state(text, text) IS
    'A LinUCB or LinTS arm''s A^-1 (row-major) and b as choose and recommend use them (LinTS''s posterior: mean A^-1 b, covariance v^2 A^-1): bandit.arm''s a_inv and b with the pending rewards of bandit.linucb_pending applied in order, and how many are pending; NULL arguments are 22004, an unknown policy or arm 42704, a policy of another algorithm 22023. Privilege: read on the policy.';

COMMENT ON FUNCTION bandit.choose(text, jsonb) IS
    'Chooses an arm and logs the decision; propensity is the probability this arm had (Thompson: exact P(best) by quadrature; epsilon-greedy and softmax: exact; UCB1 and LinUCB: 1 / number of tied arms; LinTS: exact P(best) of the independent normal scores x.theta_i ~ N(x.A_i^-1 b_i, v^2 x''A_i^-1 x) by normal_prob_best''s quadrature). Context {"max_cost": x, "max_latency_ms": y} serves only arms within budget (unknown estimates fit), else the default arm; for LinUCB and LinTS context->''features'' is the feature vector, otherwise its keys are hashed into dim features; a context whose features overflow a LinUCB score is 22003. With a canary (bandit.start_canary), while the policy and its candidate are both in active mode, its share of the calls is served as choose(candidate) would, logged under the candidate with canary_of = policy. Privilege: use on the policy.';

COMMENT ON FUNCTION bandit.recommend(text, integer, jsonb) IS
    'The top k active arms within the context''s budget, ranked without logging a decision: Thompson by probability to be best, UCB1 and LinUCB by upper confidence bound, LinTS by posterior mean score x.A^-1 b (an unpulled UCB1 arm has none yet: score NULL, ranked first), epsilon-greedy by mean reward, softmax by choice probability; policy and k must not be NULL (22004). Privilege: use on the policy.';

COMMENT ON FUNCTION bandit.export_policy(text, boolean) IS
    'The policy as a JSON document for bandit.import_policy: format_version (1), name, algorithm, params, mode, default_arm, decisions (the counter epsilon_decay uses) and arms, each with every learned column (alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms, retired, added_at, last_update; LinUCB and LinTS a_inv and b with the pending rewards applied, as bandit.linucb_state shows them), floats bit for bit (-0 as the string "-0"); with snapshots = true also its snapshots (status, label, taken_at, the saved state, parent as a position in the list). Not exported: the decision log, the audit trail, the log counters rewarded and reward_sum. Changes nothing. Privilege: read on the policy.';

COMMENT ON FUNCTION bandit.import_policy(jsonb, text, boolean) IS
    'Creates the policy a bandit.export_policy document describes, under name (default: the document''s), owned by the caller, every learned value exactly (export after import gives the same document); with replace = true an existing policy of that name is replaced in one step as bandit.restore would (snapshot of the replaced state first; owner, grants, log and log counters stay), otherwise it is 23505. A newer format_version is 22023; unknown keys are ignored with a NOTICE naming them; any other problem (missing or mistyped keys, parameters create_policy refuses, arms not matching) is an error naming it, and nothing is imported. Audited as import with the source name. Privilege: EXECUTE, granted by a DBA (not PUBLIC); creates a policy owned by the caller, and replacing an existing one needs manage on the policy.';


-- == issue 14: eligible arms and best-arm identification (src/policy.sql, src/policy.c): policy
-- params stop_at and min_pulls; arm_stats gains the column converged at the end.  A new result
-- type needs DROP and CREATE (no view or other object depends on arm_stats: plpgsql callers are
-- not dependencies); its EXECUTE stays PUBLIC's as in a fresh install.
CREATE OR REPLACE FUNCTION bandit.policy_params(algorithm text, arms text[], params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    defaults constant jsonb := '{"prior_alpha": 1, "prior_beta": 1, "epsilon": 0.1, "epsilon_decay": 1.0,
        "min_epsilon": 0, "c": 1, "temperature": 0.1, "discount": 1.0, "alpha": 1.0, "dim": null, "v": null,
        "mode": "active", "default_arm": null, "budget_smoothing": 0.1, "reward_wait": null,
        "default_reward": null, "learning": "immediate"}';
    result jsonb;
    k text;
    v jsonb;
BEGIN
    IF algorithm IS NULL OR arms IS NULL OR params IS NULL THEN
        RAISE EXCEPTION 'algorithm, arms and params must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- stop_at and min_pulls (arm_stats's converged) are kept only when given: arm_stats has their defaults
    PERFORM bandit.check_param_keys(params, defaults || '{"stop_at": null, "min_pulls": null}');
    result := defaults || jsonb_build_object('default_arm', arms[1]) || jsonb_strip_nulls(params);
    FOR k, v IN SELECT * FROM jsonb_each(result) LOOP
        CONTINUE WHEN k IN ('mode', 'default_arm', 'learning', 'reward_wait') OR v = 'null';
        IF jsonb_typeof(v) <> 'number' THEN
            RAISE EXCEPTION 'parameter "%" must be a number, got %', k, v USING ERRCODE = '22023';
        END IF;
    END LOOP;
    -- limits that keep every later choose computable (Beta quadrature, scores, softmax weights)
    IF (result->>'prior_alpha')::float8 NOT BETWEEN 1e-6 AND 1e6 OR (result->>'prior_beta')::float8 NOT BETWEEN 1e-6 AND 1e6 THEN
        RAISE EXCEPTION 'prior_alpha and prior_beta must be between 1e-06 and 1000000, got % and %',
            (result->>'prior_alpha')::float8, (result->>'prior_beta')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon')::float8 NOT BETWEEN 0 AND 1 OR (result->>'min_epsilon')::float8 NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'epsilon and min_epsilon must be between 0 and 1, got % and %',
            (result->>'epsilon')::float8, (result->>'min_epsilon')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'epsilon_decay')::float8 <= 0 OR (result->>'epsilon_decay')::float8 > 1 THEN
        RAISE EXCEPTION 'epsilon_decay must be in (0, 1], got %', (result->>'epsilon_decay')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'discount')::float8 <= 0 OR (result->>'discount')::float8 > 1 THEN
        RAISE EXCEPTION 'discount must be in (0, 1], got %', (result->>'discount')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'c')::float8 NOT BETWEEN 0 AND 1e100 OR (result->>'alpha')::float8 NOT BETWEEN 0 AND 1e100 THEN
        RAISE EXCEPTION 'c and alpha must be between 0 and 1e+100, got % and %',
            (result->>'c')::float8, (result->>'alpha')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'temperature')::float8 < 1e-300 THEN
        RAISE EXCEPTION 'temperature must be at least 1e-300, got %', (result->>'temperature')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'budget_smoothing')::float8 <= 0 OR (result->>'budget_smoothing')::float8 > 1 THEN
        RAISE EXCEPTION 'budget_smoothing must be in (0, 1], got %', (result->>'budget_smoothing')::float8
            USING ERRCODE = '22003';
    END IF;
    IF (result->>'stop_at')::float8 NOT BETWEEN 0.5 AND 1 THEN
        RAISE EXCEPTION 'stop_at must be between 0.5 and 1, got %', (result->>'stop_at')::float8 USING ERRCODE = '22003';
    END IF;
    IF (result->>'min_pulls')::float8 NOT BETWEEN 0 AND 1e15
       OR (result->>'min_pulls')::float8 <> trunc((result->>'min_pulls')::float8) THEN
        RAISE EXCEPTION 'min_pulls must be an integer from 0 to 1e+15, got %', (result->>'min_pulls')::float8
            USING ERRCODE = '22003';
    END IF;
    IF NOT result->>'learning' = ANY ('{immediate,batched}') THEN
        RAISE EXCEPTION 'learning must be immediate or batched, got %', result->'learning' USING ERRCODE = '22023';
    END IF;
    -- a decision that never hears back is credited default_reward after reward_wait: both or neither
    IF (result->'reward_wait' = 'null') <> (result->'default_reward' = 'null') THEN
        RAISE EXCEPTION 'reward_wait and default_reward go together, got % and %', result->'reward_wait', result->'default_reward'
            USING ERRCODE = '22023', HINT = 'A decision not rewarded within reward_wait is credited default_reward.';
    END IF;
    IF result->'reward_wait' <> 'null' THEN
        PERFORM bandit.reward_wait(result->'reward_wait');
        IF (result->>'default_reward')::float8 NOT BETWEEN (CASE WHEN algorithm = 'thompson' THEN 0 ELSE -1e100 END)
                                                       AND (CASE WHEN algorithm = 'thompson' THEN 1 ELSE 1e100 END) THEN
            RAISE EXCEPTION 'default_reward must be a reward the policy takes (thompson: from 0 to 1; others: from -1e+100 to 1e+100), got %',
                (result->>'default_reward')::float8 USING ERRCODE = '22003';
        END IF;
    END IF;
    IF NOT result->>'mode' = ANY ('{active,shadow,off}') THEN
        RAISE EXCEPTION 'mode must be active, shadow or off, got %', result->>'mode' USING ERRCODE = '22023';
    END IF;
    IF NOT result->>'default_arm' = ANY (arms) THEN
        RAISE EXCEPTION 'default_arm "%" is not one of the arms', result->>'default_arm' USING ERRCODE = '22023';
    END IF;
    IF algorithm IN ('linucb', 'lints') THEN
        IF result->'dim' = 'null' THEN
            RAISE EXCEPTION '% needs the parameter "dim"', algorithm USING ERRCODE = '22023';
        END IF;
        IF (result->>'dim')::float8 <> trunc((result->>'dim')::float8) OR (result->>'dim')::float8 < 1 THEN
            RAISE EXCEPTION 'dim must be a positive integer, got %', (result->>'dim')::float8 USING ERRCODE = '22003';
        END IF;
        IF (result->>'dim')::float8 > 1024 THEN
            RAISE EXCEPTION 'dim must be at most 1024, got %', (result->>'dim')::float8 USING ERRCODE = '54000';
        END IF;
    ELSIF result->'dim' <> 'null' THEN
        RAISE EXCEPTION 'dim applies to linucb and lints only' USING ERRCODE = '22023';
    END IF;
    -- LinTS draws theta ~ N(A^-1 b, v^2 A^-1)
    IF algorithm = 'lints' THEN
        result := result || jsonb_build_object('v', coalesce((result->>'v')::float8, 1));
        IF (result->>'v')::float8 NOT BETWEEN 0 AND 1e6 THEN
            RAISE EXCEPTION 'v must be between 0 and 1000000, got %', (result->>'v')::float8 USING ERRCODE = '22003';
        END IF;
    ELSIF result->'v' <> 'null' THEN
        RAISE EXCEPTION 'v applies to lints only' USING ERRCODE = '22023';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION bandit.policy_params(text, text[], jsonb) IS
    'Checks a policy''s parameters and fills in the defaults (not those of stop_at and min_pulls, kept only when given: bandit.arm_stats has them); used by bandit.create_policy';

DROP FUNCTION bandit.arm_stats(text);
CREATE FUNCTION bandit.arm_stats(policy text)
RETURNS TABLE (arm text, pulls bigint, mean_reward float8, alpha float8, beta float8, prob_best float8,
               variance float8, weight float8, cost float8, latency_ms float8, retired boolean,
               last_update timestamptz, converged boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    stop_at constant float8 := coalesce((p.params->>'stop_at')::float8, 0.95);
    min_pulls constant float8 := coalesce((p.params->>'min_pulls')::float8, 10);
BEGIN
    PERFORM bandit.require('policy', policy, 'read');
    RETURN QUERY
    -- prob_best takes the arms in any order: unsorted aggregates of one scan
    -- see the rows in the same order (three ORDER BYs sorted the arms three times)
    WITH active AS (
        SELECT array_agg(a.arm) arms, array_agg(a.alpha) alphas, array_agg(a.beta) betas,
               bool_and(a.pulls >= min_pulls) pulled
        FROM bandit.arm a WHERE a.policy = p.name AND NOT a.retired),
    best AS (
        SELECT x.arm, x.p FROM active,
        LATERAL unnest(active.arms, bandit.prob_best(active.alphas, active.betas)) x(arm, p)),
    -- one leader, even should rounding tie two arms at stop_at 0.5
    leader AS (
        SELECT best.arm, best.p >= stop_at AND active.pulled AS converged
        FROM best, active ORDER BY best.p DESC, best.arm COLLATE "C" LIMIT 1)
    SELECT a.arm, a.pulls, CASE WHEN a.weight > 0 THEN a.mean_reward END, a.alpha, a.beta, best.p,
           CASE WHEN a.weight > 1 THEN a.m2 / (a.weight - 1) END, a.weight, a.cost, a.latency_ms,
           a.retired, a.last_update,
           CASE WHEN NOT a.retired THEN coalesce(a.arm = leader.arm AND leader.converged, false) END
    FROM bandit.arm a LEFT JOIN best ON best.arm = a.arm LEFT JOIN leader ON true
    WHERE a.policy = p.name
    ORDER BY a.arm;
END
$$;
COMMENT ON FUNCTION bandit.arm_stats(text) IS
    'One row per arm: rewards credited (pulls), mean reward, Beta posterior, probability to be the best active arm under it (exact quadrature; NULL for retired arms), reward variance, discounted weight, budget estimates, retired, last update, and converged (best-arm identification): true for the one active arm with the largest prob_best when that is at least the policy''s parameter stop_at (default 0.95) and every active arm has at least min_pulls (default 10) pulls, false for the other active arms, NULL for retired ones. Privilege: read on the policy.';

-- == src/access_final.sql (0.1.0's hand-made grants included): the last block, after
-- every section that creates objects
-- Runs after every capability's SQL.  Default privileges (ALTER DEFAULT
-- PRIVILEGES of the installing role) and, on an update, grants made by hand
-- for 0.1.0 may have given other roles privileges on bandit's objects; a
-- TRIGGER, TRUNCATE or CREATE among them would let a role act as the
-- extension's owner.  Only what the scripts grant stays: SELECT on tables and
-- views and USAGE on the schema for PUBLIC, EXECUTE on the functions as each
-- file decided.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS rel, c.relkind, a.grantee, a.privilege_type
        FROM pg_catalog.pg_class c
        CROSS JOIN LATERAL (SELECT x.grantee, x.privilege_type FROM pg_catalog.aclexplode(c.relacl) x
                            UNION ALL
                            SELECT x.grantee, x.privilege_type
                            FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) x
                            WHERE t.attrelid = c.oid) a
        WHERE c.relnamespace = 'bandit'::regnamespace AND a.grantee <> c.relowner
          AND NOT (a.grantee = 0 AND a.privilege_type = 'SELECT' AND c.relkind IN ('r', 'v'))
    LOOP
        EXECUTE pg_catalog.format('REVOKE %s ON %s %s FROM %s', r.privilege_type,
                                  CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.rel,
                                  CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END);
    END LOOP;
    FOR r IN
        SELECT DISTINCT p.oid::regprocedure AS fn, a.grantee
        FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
        WHERE p.pronamespace = 'bandit'::regnamespace AND a.grantee NOT IN (0, p.proowner)
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.fn,
                                  pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)));
    END LOOP;
    FOR r IN
        SELECT DISTINCT a.grantee, a.privilege_type
        FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
        WHERE n.nspname = 'bandit' AND a.grantee <> n.nspowner AND NOT (a.grantee = 0 AND a.privilege_type = 'USAGE')
    LOOP
        EXECUTE pg_catalog.format('REVOKE %s ON SCHEMA bandit FROM %s', r.privilege_type,
                                  CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END);
    END LOOP;
END
$$;
