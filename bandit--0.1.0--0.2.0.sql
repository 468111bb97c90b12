-- bandit 0.1.0 -> 0.2.0.  Every change to installed SQL since 0.1.0, so that
-- ALTER EXTENSION bandit UPDATE gives the catalog a fresh 0.2.0 install has
-- (test/upgrade_test.py compares the two).
\echo Use "ALTER EXTENSION bandit UPDATE TO '0.2.0'" to load this file. \quit

-- == hardening: policies (src/policy.sql, src/choice.sql)

-- LinUCB's cache is keyed by a stamp that no rewrite of bandit.arm reassigns
-- (see src/policy.c, LinUcbKey); new_arm built a whole bandit.arm row and
-- gives way to INSERTs that leave state_stamp to its default.
DROP FUNCTION bandit.new_arm(bandit.policy, text);
CREATE FUNCTION bandit.state_stamp() RETURNS bigint
AS 'MODULE_PATHNAME', 'bandit_state_stamp' LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.state_stamp() IS
    'A random 64-bit stamp from the strong random source (not bandit.set_seed''s generator), for bandit.arm.state_stamp';
ALTER TABLE bandit.arm ADD COLUMN state_stamp bigint NOT NULL DEFAULT bandit.state_stamp();
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
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'create', jsonb_build_object('algorithm', p.algorithm, 'arms', arms, 'params', full_params));
END
$$;
COMMENT ON FUNCTION bandit.create_policy(text, text, text[], jsonb) IS
    'Creates a policy over arms (a one-dimensional array, at most 100000, and for LinUCB at most 268435456 numbers of state, arms x dim^2; 54000 beyond); algorithm thompson, ucb1, epsilon_greedy, softmax or linucb; params prior_alpha, prior_beta (1, 1; each from 1e-6 to 1e6), epsilon (0.1), epsilon_decay (1), min_epsilon (0), c (1; at most 1e100), temperature (0.1; at least 1e-300), discount (1), alpha (1; at most 1e100) and dim (LinUCB; at most 1024, 54000 beyond), mode (active), default_arm (the first arm); unknown keys are an error, out-of-range values 22003';

CREATE OR REPLACE FUNCTION bandit.add_arm(policy text, arm text, cost float8 DEFAULT NULL, latency_ms float8 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
    dim constant integer := (p.params->>'dim')::integer;
    n bigint;
BEGIN
    IF arm IS NULL THEN
        RAISE EXCEPTION 'arm must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM bandit.check_budget(cost, latency_ms);
    n := (SELECT count(*) FROM bandit.arm a WHERE a.policy = p.name);
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
    'Adds an arm to a policy, starting from the prior, with optional cost and latency estimates for budget shields; a policy has at most 100000 arms, a LinUCB policy at most 268435456 numbers of state (arms x dim^2; 54000 beyond)';

CREATE OR REPLACE FUNCTION bandit.set_arm_budget(policy text, arm text, cost float8, latency_ms float8)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
    'Sets an arm''s cost and latency estimates (NULL: unknown, never over budget)';

CREATE OR REPLACE FUNCTION bandit.retire_arm(policy text, arm text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p bandit.policy := bandit.policy_row(policy);
BEGIN
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
    'Retires an arm: it is never chosen again, keeps what it learned, and still takes rewards of earlier decisions';

CREATE OR REPLACE FUNCTION bandit.restore(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bandit.snapshot;
    p bandit.policy;
BEGIN
    IF snapshot_id IS NULL THEN
        RAISE EXCEPTION 'snapshot_id must not be NULL' USING ERRCODE = '22004';
    END IF;
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
    INSERT INTO bandit.audit (policy, action, detail)
    VALUES (p.name, 'restore', jsonb_build_object('snapshot_id', snapshot_id, 'label', s.label, 'taken_at', s.taken_at));
END
$$;
COMMENT ON FUNCTION bandit.restore(bigint) IS
    'Puts back a policy''s whole learned state exactly as a snapshot saved it (arms added since are removed; each arm''s state_stamp is renewed)';

-- arm updates through learn_step (checked state); comments: limits and errors
CREATE FUNCTION bandit.learn_step(alpha float8, beta float8, weight float8, mean_reward float8, m2 float8,
                                  reward float8, prior_alpha float8, prior_beta float8, discount float8,
                                  posterior boolean) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_learn_step' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.learn_step(float8, float8, float8, float8, float8, float8, float8, float8, float8, boolean) IS
    'An arm''s state after one reward, {alpha, beta, weight, mean_reward, m2}: evidence discounted, weighted Welford, Beta posterior when posterior; a state out of range is 22003. Used by bandit.reward''s UPDATE of the arm';

COMMENT ON FUNCTION bandit.choose(text, jsonb) IS
    'Chooses an arm and logs the decision; propensity is the probability this arm had (Thompson: exact P(best) by quadrature; epsilon-greedy and softmax: exact; UCB1 and LinUCB: 1 / number of tied arms). Context {"max_cost": x, "max_latency_ms": y} serves only arms within budget (unknown estimates fit), else the default arm; for LinUCB context->''features'' is the feature vector, otherwise its keys are hashed into dim features; a context whose features overflow a LinUCB score is 22003';
COMMENT ON FUNCTION bandit.reward(bigint, float8) IS
    'Credits a logged decision exactly once (a second reward is error 23505 and changes nothing); Thompson takes rewards in [0, 1], the others from -1e100 to 1e100; a reward that would take the arm''s state out of range (e.g. a LinUCB context with huge features) is 22003 and changes nothing';
COMMENT ON FUNCTION bandit.reward(text, text, float8) IS
    'Credits an arm directly, without a logged decision (not for LinUCB, which learns from a decision''s context); rewards as for bandit.reward(bigint, float8)';
COMMENT ON FUNCTION bandit.reward(bigint[], float8[]) IS
    'Credits many decisions in one statement, e.g. SELECT bandit.reward(array_agg(decision_id), array_agg(reward)) FROM events; all or nothing; at most 10000000 per call (54000 beyond); returns the number credited';
COMMENT ON FUNCTION bandit.recommend(text, integer, jsonb) IS
    'The top k active arms within the context''s budget, ranked without logging a decision: Thompson by probability to be best, UCB1 and LinUCB by upper confidence bound (an unpulled UCB1 arm has none yet: score NULL, ranked first), epsilon-greedy by mean reward, softmax by choice probability; policy and k must not be NULL (22004)';
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
    -- by ordinality, whatever the arrays' lower bounds
    INSERT INTO bandit.variant (experiment, variant, position, allocation, is_control)
    SELECT name, v.variant, v.position, v.share, v.position = 1
    FROM unnest(variants, allocation) WITH ORDINALITY v(variant, share, position);
    INSERT INTO bandit.experiment_audit (experiment, action, detail)
    VALUES (name, 'created', jsonb_build_object('variants', variants, 'allocation', allocation, 'params', p));
END
$$;
COMMENT ON FUNCTION bandit.create_experiment(text, text[], float8[], jsonb) IS
    'Creates an experiment in status draft; the first variant is the control (2 to 1000 variants: more is 54000); allocation (NULL: equal) must sum to 1, one share per variant in the same order. params: hypothesis, min_sample_size (100), max_sample_size (planned per variant, for futility), alpha (0.05), early_alpha (0.01), min_effect (0), sequential (false), metrics (names, or name: "binary"/"continuous"), mixing_sd (mSPRT mixing scale; default min_effect if positive, else 0.1 pooled standard deviations), salt (default random)';

-- report: bars drawn by characters, box drawing in UTF-8 databases, ASCII elsewhere
-- (0.1.0 sliced its Unicode bars by bytes in SQL_ASCII and was mojibake in LATIN1)
CREATE OR REPLACE FUNCTION bandit.report(experiment text, metric text) RETURNS SETOF text
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
    'A text report of an experiment on one metric for psql (SELECT * FROM bandit.report(...)): each variant''s n, mean and interval drawn as a bar on one common axis, each treatment against the control, and the decision. Bars are 40 characters wide and drawn by characters: in a UTF-8 database with box drawing (U+2501 the interval, U+25CF the mean, U+2502 the frame, U+251C U+2500 U+2524 the axis, U+2014 the dash before remarks); in any other encoding with ASCII (= the interval, o the mean, | the frame, |-| the axis, - the dash), so a line has as many characters in every database (SQL_ASCII, which knows no characters, counts a non-ASCII name''s bytes)';

-- apply_signal: the latency mean weighs before it adds, so a latency near the float8 maximum cannot overflow
CREATE OR REPLACE FUNCTION bandit.apply_signal(signal jsonb) RETURNS integer
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
    'Folds a signal {"aggregation_round", "cluster_hash", "participant_count", "reward_signals": {key: {"success_rate", "avg_latency", "quality_score", "total_samples"}}} into bandit.prior once; returns the priors updated, 0 for a (cluster_hash, aggregation_round) already applied (a replay: counted, WARNING if its content differs). Per key, n = total_samples, s = round(success_rate * n) in exact decimal (halves away from zero); from the prior (rate, count; count 0 for a new key): alpha = rate*count + s, beta = (1 - rate)*count + (n - s), rate = alpha/(alpha + beta); latency_ms and quality are sample-weighted means with avg_latency and quality_score; sample_count += n; confidence = sample_count/(sample_count + 100). An invalid signal (see bandit.validate_signal) applies nothing: 22003 when every problem is a number out of range, else 22023 (NULL: 22004); the message names the first, DETAIL lists all';

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
