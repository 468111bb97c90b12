-- Policies: online learning over tables (src/policy.c holds the hot path,
-- choose and reward; the management functions are here).
--
-- Concurrency design: choose takes no locks (it reads the committed arm rows
-- and inserts its decision); reward updates the decision row (unique, so
-- never contended) and then the arm row with one UPDATE whose arithmetic
-- runs in the server, so the arm's row lock is held from that statement to
-- commit and no longer.  Those updates are not HOT: a trigger stamps each
-- written arm row with its transaction (changed_xid, indexed with the
-- policy), which lets backends read only the arms written since they last
-- looked.

-- A fresh name for a learned state (see bandit.arm.state_stamp).
CREATE FUNCTION bandit.state_stamp() RETURNS bigint
AS 'MODULE_PATHNAME', 'bandit_state_stamp' LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.state_stamp() IS
    'A random 64-bit stamp from the strong random source (not bandit.set_seed''s generator), for bandit.arm.state_stamp and bandit.policy.arms_stamp';

CREATE TABLE bandit.policy (
    name text PRIMARY KEY,
    algorithm text NOT NULL
        CHECK (algorithm IN ('thompson', 'ucb1', 'epsilon_greedy', 'softmax', 'linucb', 'lints')),
    params jsonb NOT NULL,
    mode text NOT NULL DEFAULT 'active' CHECK (mode IN ('active', 'shadow', 'off')),
    default_arm text NOT NULL,
    decisions bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    arms_stamp bigint NOT NULL DEFAULT bandit.state_stamp()
);
COMMENT ON TABLE bandit.policy IS
    'Bandit policies: algorithm, parameters (all keys, defaults filled in), mode, default arm, decisions made (counted when epsilon decays per decision), and arms_stamp, a random stamp renewed (= DEFAULT) whenever arms are deleted, renamed or moved, which keys the per-backend arm caches';

-- toast_tuple_target: a LinUCB arm keeps b in TOAST beside a_inv (from dim 60
-- on), so that a reward's update of the arm row (pulls) writes b's pointer, not b.
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
    state_stamp bigint NOT NULL DEFAULT bandit.state_stamp(),
    changed_xid xid8 NOT NULL DEFAULT '0',
    rewarded bigint NOT NULL DEFAULT 0,
    reward_sum float8 NOT NULL DEFAULT 0,
    PRIMARY KEY (policy, arm)
) WITH (fillfactor = 50, toast_tuple_target = 512);
COMMENT ON TABLE bandit.arm IS
    'Arms of each policy and what it learned: Beta posterior (alpha, beta), rewards credited (pulls), their discounted weight, mean and m2 (weighted Welford), budget estimates (cost, latency_ms), LinUCB state (a_inv = inverse of A, b) as of its last fold (bandit.linucb_pending holds the rewards since), state_stamp, a random stamp renewed (= DEFAULT) by every write of a_inv or b: it names the stored state for bandit.linucb_pending and the per-backend LinUCB cache, changed_xid, the transaction that last wrote the row (set by the trigger arm_written), which refreshes the per-backend arm cache, and for bandit.policy_metrics the decisions learned on this arm (rewarded, expired ones included) and the sum of their rewards (reward_sum): counts of the log, not learned state, so restore keeps them';

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

-- The number of arms of each policy, so that add_arm checks the limits
-- without counting them.  Apart from the policy row, so
-- that add_arm calls take turns on the count's row lock without waiting on
-- the policy row's other writers (a decaying epsilon counts its decisions there).
CREATE TABLE bandit.arm_count (
    policy text PRIMARY KEY REFERENCES bandit.policy (name) ON DELETE CASCADE,
    arms integer NOT NULL
);
COMMENT ON TABLE bandit.arm_count IS
    'Number of arms of each policy (retired ones included), kept by create_policy, add_arm and restore so that add_arm checks the arm limits without counting; its row lock makes concurrent add_arm calls on one policy take turns';

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.decision_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.decision (
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.decision_id_seq'),
    policy text NOT NULL,
    arm text NOT NULL,
    propensity float8 NOT NULL,
    policy_arm text,
    policy_propensity float8,
    mode text NOT NULL,
    context jsonb,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reward float8,
    rewarded_at timestamptz,
    cost float8,
    latency_ms float8,
    expired boolean NOT NULL DEFAULT false,
    to_learn boolean,
    canary_of text
-- fillfactor: each decision is updated once, by its reward, soon after it is
-- logged; room on its page keeps that update HOT (no index entries, no
-- page image on another page after a checkpoint) for rows up to ~1.6 KB,
-- such as a LinUCB context of 64 features
) WITH (fillfactor = 80);
ALTER SEQUENCE bandit.decision_id_seq OWNED BY bandit.decision.id;
CREATE INDEX decision_policy_created_at ON bandit.decision (policy, created_at);
-- Rewards recorded and not yet learned (batched policies): a short list for
-- bandit.learn_pending.  An immediate reward leaves to_learn NULL, so its
-- update of the decision stays HOT.
CREATE INDEX decision_to_learn ON bandit.decision (policy, id) WHERE to_learn;
COMMENT ON TABLE bandit.decision IS
    'Decision log: the arm served and the probability it had (propensity), what the policy itself chose (policy_arm, policy_propensity; differs in shadow mode), the context, the reward once credited with the cost and latency observed, whether it was the default_reward of an expired decision (expired), to_learn (true: recorded by a batched policy, not yet learned by bandit.learn_pending), and canary_of, the policy whose choose served this decision from its canary candidate';

-- LinUCB rewards not yet folded into their arm's a_inv and b (see src/linucb.c).
-- A row names the decision it rewards instead of holding x: the decision's
-- context gives x again (by primary key), so a reward does not log 8 dim
-- bytes of features a second time.  No foreign key: the decision log is the
-- operator's to truncate or prune, which a key would refuse while any reward
-- is pending; a pending row whose decision is gone is an error (XX001) where
-- it is read, and restore checks the decisions of a snapshot's rows.
--
-- seq is no node-unique id but an order: it sorts an arm's rewards on the
-- node that holds the policy, never leaves it (restore numbers a snapshot's
-- rows afresh) and must keep increasing if bandit.node_id ever changes, so
-- it stays a plain identity.
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
    'LinUCB rewards not yet folded into bandit.arm: each the rank-one update of the arm state whose state_stamp is stamp by reward and the features of decision (its context''s, derived again as reward derived them: the decision must be kept until the arm folds), applied on read in seq order after the stored a_inv and b (bandit.linucb_state shows the result); every (2 dim)-th reward of an arm (with a discount < 1, every min(2 dim, floor(ln 2 / -ln discount)), at least 1, the fold also restoring the prior I) folds them into a_inv and b and deletes them; LinTS (lints) policies share this state';

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.snapshot_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.snapshot (
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.snapshot_id_seq'),
    policy text NOT NULL,
    label text,
    taken_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    policy_row jsonb NOT NULL,
    arms jsonb NOT NULL,
    parent bigint,
    status text NOT NULL DEFAULT 'archived' CHECK (status IN ('active', 'candidate', 'archived'))
);
ALTER SEQUENCE bandit.snapshot_id_seq OWNED BY bandit.snapshot.id;
COMMENT ON TABLE bandit.snapshot IS
    'Saved copies of a policy''s whole learned state, for bandit.restore, with their lineage (bandit.policy_versions): parent, the snapshot this state descends from, and status (active: the state in service; candidate: a canary''s; archived)';

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.audit_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.audit (
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.audit_id_seq'),
    policy text NOT NULL,
    action text NOT NULL,
    detail jsonb,
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    by_user text NOT NULL DEFAULT bandit.caller()::text
);
ALTER SEQUENCE bandit.audit_id_seq OWNED BY bandit.audit.id;
CREATE INDEX audit_policy_at ON bandit.audit (policy, at);
COMMENT ON TABLE bandit.audit IS
    'Audit trail of every change to a policy''s configuration or state: create, arm_added, arm_retired, arm_budget, mode, snapshot, restore, canary_started, canary_promoted, canary_stopped';

SELECT pg_catalog.pg_extension_config_dump('bandit.policy', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.arm', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.decision', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.audit', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.arm_count', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.decision_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.snapshot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.audit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.linucb_pending', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.linucb_pending_seq_seq', '');

-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.policy, bandit.arm, bandit.decision, bandit.snapshot, bandit.audit, bandit.linucb_pending,
    bandit.arm_count TO PUBLIC;
-- ids come from the functions alone (the default ACL, made explicit)
REVOKE ALL ON SEQUENCE bandit.decision_id_seq, bandit.snapshot_id_seq, bandit.audit_id_seq,
    bandit.linucb_pending_seq_seq FROM PUBLIC;
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
ALTER TABLE bandit.linucb_pending ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.linucb_pending FOR SELECT
    USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));
ALTER TABLE bandit.arm_count ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.arm_count FOR SELECT USING (policy IN (SELECT r.name FROM bandit.readable('policy') r));

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

-- The parameters of a policy, checked, with their defaults filled in.
CREATE FUNCTION bandit.policy_params(algorithm text, arms text[], params jsonb) RETURNS jsonb
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

-- LinUCB starts from A = I: A^-1 = I, b = 0.
CREATE FUNCTION bandit.identity_matrix(dim integer) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_identity_matrix' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.identity_matrix(integer) IS
    'The dim x dim identity, row-major, as LinUCB''s initial A^-1; dim from 1 to 1024 (54000 beyond)';

CREATE FUNCTION bandit.policy_row(policy text) RETURNS bandit.policy
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

CREATE FUNCTION bandit.create_policy(name text, algorithm text, arms text[], params jsonb DEFAULT '{}')
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
COMMENT ON FUNCTION bandit.create_policy(text, text, text[], jsonb) IS
    'Creates a policy over arms (a one-dimensional array, at most 100000, and for LinUCB at most 268435456 numbers of state, arms x dim^2; 54000 beyond); algorithm thompson, ucb1, epsilon_greedy, softmax, linucb or lints (linear Thompson sampling on LinUCB''s state); params prior_alpha, prior_beta (1, 1; each from 1e-6 to 1e6), epsilon (0.1), epsilon_decay (1), min_epsilon (0), c (1; at most 1e100), temperature (0.1; at least 1e-300), discount (1, in (0, 1]; for linucb and lints A <- discount A + x x'' with the prior I restored at each fold, so A >= I/2), alpha (1; at most 1e100), dim (linucb and lints; at most 1024, 54000 beyond) and v (lints: theta ~ N(A^-1 b, v^2 A^-1); 1, from 0 to 1e6), mode (active), default_arm (the first arm); unknown keys are an error, out-of-range values 22003. Privilege: EXECUTE, granted by a DBA (not PUBLIC); creates a policy owned by the caller.';

CREATE FUNCTION bandit.check_budget(cost float8, latency_ms float8) RETURNS void
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

CREATE FUNCTION bandit.add_arm(policy text, arm text, cost float8 DEFAULT NULL, latency_ms float8 DEFAULT NULL)
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

CREATE FUNCTION bandit.set_arm_budget(policy text, arm text, cost float8, latency_ms float8)
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

CREATE FUNCTION bandit.retire_arm(policy text, arm text) RETURNS void
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

CREATE FUNCTION bandit.set_mode(policy text, mode text) RETURNS void
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
COMMENT ON FUNCTION bandit.set_mode(text, text) IS
    'active: serve the policy''s choice; shadow: serve the default arm and log what the policy would have chosen; off: serve the default arm. Privilege: manage on the policy.';

CREATE FUNCTION bandit.snapshot(policy text, label text DEFAULT NULL) RETURNS bigint
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

CREATE FUNCTION bandit.restore(snapshot_id bigint) RETURNS void
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

CREATE FUNCTION bandit.linucb_state(policy text, arm text, OUT a_inv float8[], OUT b float8[], OUT pending integer)
AS 'MODULE_PATHNAME', 'bandit_linucb_state' LANGUAGE C STABLE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.linucb_state(text, text) IS
    'A LinUCB or LinTS arm''s A^-1 (row-major) and b as choose and recommend use them (LinTS''s posterior: mean A^-1 b, covariance v^2 A^-1): bandit.arm''s a_inv and b with the pending rewards of bandit.linucb_pending applied in order, and how many are pending; NULL arguments are 22004, an unknown policy or arm 42704, a policy of another algorithm 22023. Privilege: read on the policy.';

CREATE FUNCTION bandit.choose(policy text, context jsonb DEFAULT NULL)
RETURNS TABLE (decision_id bigint, arm text, propensity float8)
AS 'MODULE_PATHNAME', 'bandit_choose' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.choose(text, jsonb) IS
    'Chooses an arm and logs the decision; propensity is the probability this arm had (Thompson: exact P(best) by quadrature; epsilon-greedy and softmax: exact; UCB1 and LinUCB: 1 / number of tied arms; LinTS: exact P(best) of the independent normal scores x.theta_i ~ N(x.A_i^-1 b_i, v^2 x''A_i^-1 x) by normal_prob_best''s quadrature). Context {"max_cost": x, "max_latency_ms": y} serves only arms within budget (unknown estimates fit), else the default arm; for LinUCB and LinTS context->''features'' is the feature vector, otherwise its keys are hashed into dim features; a context whose features overflow a LinUCB score is 22003. With a canary (bandit.start_canary), while the policy and its candidate are both in active mode, its share of the calls is served as choose(candidate) would, logged under the candidate with canary_of = policy. Privilege: use on the policy.';

CREATE FUNCTION bandit.reward(decision_id bigint, reward float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_decision' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.reward(bigint, float8) IS
    'Credits a logged decision exactly once (a second reward is error 23505 and changes nothing); Thompson takes rewards in [0, 1], the others from -1e100 to 1e100; a reward that would take the arm''s state out of range (e.g. a LinUCB context with huge features) is 22003 and changes nothing. A policy with learning batched only records the reward on the decision (checked the same way; no arm row lock) for bandit.learn_pending. A canary''s decision teaches the candidate that made it and needs use on the policy it served (canary_of). Privilege: use on the policy.';

CREATE FUNCTION bandit.reward(decision_id bigint, reward float8, cost float8, latency_ms float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_observed' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.reward(bigint, float8, float8, float8) IS
    'bandit.reward(decision_id, reward) with the cost and latency observed for the decision (finite, not negative: 22003 otherwise; NULL: not observed), recorded on the decision; they move the served arm''s budget estimates, which the shields of choose and recommend use, to an exponentially weighted mean (est + budget_smoothing * (observed - est); the first observation sets it), in the same update as the reward (batched: when bandit.learn_pending learns it). decision_id and reward must not be NULL (22004). Privilege: use on the policy.';

CREATE FUNCTION bandit.reward(policy text, arm text, reward float8) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_reward_arm' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.reward(text, text, float8) IS
    'Credits an arm directly, without a logged decision (not for LinUCB, which learns from a decision''s context); rewards as for bandit.reward(bigint, float8). Privilege: use on the policy.';

CREATE FUNCTION bandit.reward(decision_ids bigint[], rewards float8[]) RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_reward_batch' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.reward(bigint[], float8[]) IS
    'Credits many decisions in one statement, e.g. SELECT bandit.reward(array_agg(decision_id), array_agg(reward)) FROM events; all or nothing; at most 10000000 per call (54000 beyond); returns the number credited (a batched policy''s only recorded, for bandit.learn_pending). Privilege: use on the policy.';

CREATE FUNCTION bandit.learn_step(alpha float8, beta float8, weight float8, mean_reward float8, m2 float8,
                                  reward float8, prior_alpha float8, prior_beta float8, discount float8,
                                  posterior boolean) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_learn_step' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.learn_step(float8, float8, float8, float8, float8, float8, float8, float8, float8, boolean) IS
    'An arm''s state after one reward, {alpha, beta, weight, mean_reward, m2}: evidence discounted, weighted Welford, Beta posterior when posterior; a state out of range is 22003. Used by bandit.reward''s UPDATE of the arm (bandit.learn_fold runs the same C arithmetic)';

CREATE FUNCTION bandit.recommend(policy text, k integer DEFAULT 3, context jsonb DEFAULT NULL)
RETURNS TABLE (arm text, score float8, rank integer)
AS 'MODULE_PATHNAME', 'bandit_recommend' LANGUAGE C STABLE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.recommend(text, integer, jsonb) IS
    'The top k active arms within the context''s budget, ranked without logging a decision: Thompson by probability to be best, UCB1 and LinUCB by upper confidence bound, LinTS by posterior mean score x.A^-1 b (an unpulled UCB1 arm has none yet: score NULL, ranked first), epsilon-greedy by mean reward, softmax by choice probability; policy and k must not be NULL (22004). Privilege: use on the policy.';

CREATE FUNCTION bandit.hash_features(context jsonb, dim integer) RETURNS float8[]
AS 'MODULE_PATHNAME', 'bandit_hash_features' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.hash_features(jsonb, integer) IS
    'The hashing trick on a flat JSON object: each numeric or boolean key, and each key=value string, adds its value with a hashed sign to one of dim features; dim from 1 to 1024 (54000 beyond), a sum that overflows is 22003';

COMMENT ON SEQUENCE bandit.decision_id_seq IS 'The local part of the ids of bandit.decision: bandit.new_id adds bandit.node_id * 2^53';
COMMENT ON SEQUENCE bandit.snapshot_id_seq IS 'The local part of the ids of bandit.snapshot: bandit.new_id adds bandit.node_id * 2^53';
COMMENT ON SEQUENCE bandit.audit_id_seq IS 'The local part of the ids of bandit.audit: bandit.new_id adds bandit.node_id * 2^53';
COMMENT ON SEQUENCE bandit.linucb_pending_seq_seq IS 'Order of bandit.linucb_pending (commit order within an arm)';

-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.policy_row(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.policy_params(text, text[], jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.reward_wait(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.identity_matrix(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.check_budget(double precision, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.learn_step(double precision, double precision, double precision, double precision, double precision, double precision, double precision, double precision, double precision, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.state_stamp() FROM PUBLIC;
-- Creating objects is for the roles a DBA grants EXECUTE on these.
REVOKE ALL ON FUNCTION bandit.create_policy(text, text, text[], jsonb) FROM PUBLIC;
