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
