-- Learned budgets and batched learning (src/policy.c holds the arithmetic:
-- LearnStep, BudgetStep).  A batched policy's reward is only recorded on its
-- decision (to_learn); bandit.learn_pending folds the recorded rewards into
-- the arms later, in one statement, exactly as immediate learning would.

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
COMMENT ON FUNCTION bandit.learn_pending(text, integer) IS
    'Learns the rewards recorded and not yet learned (decisions with to_learn: a batched policy''s rewards, expired decisions) of the policy, or with NULL of every policy the caller may manage: at most max_rows (at least 1; 22003 below), oldest first, each arm''s in (rewarded_at, id) order, exactly as immediate learning would have (within rounding); exactly once, in one statement, and several sessions may run it at once (each skips what another holds). Returns how many it learned; a reward whose arm no longer exists is dropped with a WARNING, a LinUCB reward whose update would overflow (22003 for reward) is taken back (the decision unrewarded) with a WARNING, one whose decision has no context a LinUCB policy can learn from (made before import_policy replaced the policy with a LinUCB one, or at another dim) is dropped with a WARNING. Schedule it, e.g. with pg_cron; with NULL it leaves alone the policies the caller may not manage. Privilege: manage on the policy.';

REVOKE ALL ON FUNCTION bandit.learn_budget(float8, float8, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_fold_step(internal, float8[], float8, float8, float8, float8, float8, float8, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_fold_final(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_recorded(bigint[]) FROM PUBLIC;
