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
