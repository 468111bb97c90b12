-- Export and import of a policy as a JSON document (issue 13): its
-- configuration, every arm's learned state and optionally its snapshots,
-- floats bit for bit, to carry a policy to another database.
--
-- Floats are JSON numbers in float8's shortest exact form (extra_float_digits
-- = 1), which jsonb keeps digit for digit and float8in reads back to the same
-- double; -0, which a jsonb number cannot hold, is the string "-0".  The
-- decision log and the audit trail stay in their database; so do the arm
-- counters of the log (rewarded, reward_sum).  A LinUCB arm's pending rewards
-- need their decisions' contexts, which stay behind too: the export carries
-- the state choose uses (bandit.linucb_state, the pending rewards applied).

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
COMMENT ON FUNCTION bandit.export_policy(text, boolean) IS
    'The policy as a JSON document for bandit.import_policy: format_version (1), name, algorithm, params, mode, default_arm, decisions (the counter epsilon_decay uses) and arms, each with every learned column (alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms, retired, added_at, last_update; LinUCB and LinTS a_inv and b with the pending rewards applied, as bandit.linucb_state shows them), floats bit for bit (-0 as the string "-0"); with snapshots = true also its snapshots (status, label, taken_at, the saved state, parent as a position in the list). Not exported: the decision log, the audit trail, the log counters rewarded and reward_sum. Changes nothing. Privilege: read on the policy.';

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
COMMENT ON FUNCTION bandit.import_policy(jsonb, text, boolean) IS
    'Creates the policy a bandit.export_policy document describes, under name (default: the document''s), owned by the caller, every learned value exactly (export after import gives the same document); with replace = true an existing policy of that name is replaced in one step as bandit.restore would (snapshot of the replaced state first; owner, grants, log and log counters stay), otherwise it is 23505. A newer format_version is 22023; unknown keys are ignored with a NOTICE naming them; any other problem (missing or mistyped keys, parameters create_policy refuses, arms not matching) is an error naming it, and nothing is imported. Audited as import with the source name. Privilege: EXECUTE, granted by a DBA (not PUBLIC); creates a policy owned by the caller, and replacing an existing one needs manage on the policy.';

REVOKE ALL ON FUNCTION bandit.import_policy(jsonb, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.export_float(float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.export_floats(float8[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.import_is_float(jsonb) FROM PUBLIC;
