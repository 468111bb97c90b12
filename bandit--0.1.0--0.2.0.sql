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

-- == hardening: statistics and aggregate support functions (src/summary.sql, src/beta.sql, src/normal.sql, src/power.sql, src/ope.sql, src/contingency.sql, src/sequential.sql, src/random.sql)

-- == hardening: other
