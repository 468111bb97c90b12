-- A tour of bandit 0.2.0: the statistics behind a bandit or an A/B test,
-- computed where the data already is, and an application role that may use
-- a policy and nothing more.  Every statement below is plain SQL; run it as a
-- superuser with  psql -X -v ON_ERROR_STOP=1 --echo-all -f test/demo.sql
-- (bash test/demo does it for you).
--
-- It prints the same output every run: random draws are seeded with
-- bandit.set_seed, simulated clicks come from a hash of the visitor, and no
-- timestamps are shown.  Everything it creates is named demo_* (a role, a
-- policy, an experiment, an agent, two priors) or is a temporary table, and
-- is removed at the end -- and at the start, in case a run was interrupted --
-- so it can run again in the same database.

-- It creates a role and the extension, so it needs a superuser.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'test/demo.sql needs a superuser: it creates the extension and a role'
            USING ERRCODE = '42501';
    END IF;
END
$$;

-- The extension is created if missing, and then dropped at the end.
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'bandit')
    AS demo_creates_extension \gset
\if :demo_creates_extension
CREATE EXTENSION bandit;
\endif

-- Removes what an earlier run of the demo left.  0.2.0 has no call that drops
-- a policy or forgets an applied signal, so the superuser deletes the demo's
-- rows itself (a policy's arms and an object's grants go with them).
CREATE FUNCTION pg_temp.demo_cleanup() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM bandit.experiment WHERE name = 'demo_checkout_copy') THEN
        PERFORM bandit.drop_experiment('demo_checkout_copy');
    END IF;
    DELETE FROM bandit.experiment_audit WHERE experiment = 'demo_checkout_copy';
    PERFORM bandit.q_forget('demo_router');
    DELETE FROM bandit.canary WHERE policy IN ('demo_buy_button', 'demo_buy_button_v2');
    DELETE FROM bandit.policy WHERE name IN ('demo_buy_button', 'demo_buy_button_v2');
    DELETE FROM bandit.decision WHERE policy IN ('demo_buy_button', 'demo_buy_button_v2');
    DELETE FROM bandit.snapshot WHERE policy IN ('demo_buy_button', 'demo_buy_button_v2');
    DELETE FROM bandit.audit WHERE policy IN ('demo_buy_button', 'demo_buy_button_v2');
    DELETE FROM bandit.object
    WHERE (kind, name) IN (('policy', 'demo_buy_button'), ('policy', 'demo_buy_button_v2'), ('agent', 'demo_router'));
    DELETE FROM bandit.prior WHERE key LIKE 'demo\_%';
    DELETE FROM bandit.prior_signal WHERE cluster_hash = 'demo_eu-west';
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'demo_app') THEN
        DELETE FROM bandit.permission WHERE grantee = 'demo_app'::regrole;
        DROP OWNED BY demo_app;  -- revokes whatever it was granted in this database
        DROP ROLE demo_app;
    END IF;
END
$$;
SELECT pg_temp.demo_cleanup();

-- Two versions of a "Buy" button, A and B.  Each row is one visitor and
-- whether they clicked: A got 12 clicks from 100 visitors, B 20 from 100.
CREATE TEMP TABLE visits AS
    SELECT 'A' AS arm, i <= 12 AS clicked FROM generate_series(1, 100) AS i
    UNION ALL
    SELECT 'B', i <= 20 FROM generate_series(1, 100) AS i;

-- 1. Beta posteriors.  Starting from a uniform Beta(1, 1) prior, each click
--    adds one to alpha and each non-click one to beta.  beta_posterior is an
--    aggregate (one value per GROUP BY group) returning a composite; (p).alpha
--    takes a field of it.
CREATE TEMP TABLE posterior AS
    SELECT arm, (p).alpha, (p).beta
    FROM (SELECT arm, bandit.beta_posterior(clicked) AS p
          FROM visits GROUP BY arm) AS s;
SELECT * FROM posterior ORDER BY arm;

-- The same posterior from a handful of raw outcomes written inline:
SELECT bandit.beta_posterior(clicked)
FROM (VALUES (true), (false), (false), (true), (false)) AS v(clicked);

-- 2. Where the true click rate probably lies: 95 % equal-tailed credible
--    intervals (the Beta quantiles at 2.5 % and 97.5 %).  A function
--    returning a row, in FROM after the table, runs once per row of it.
SELECT arm,
       round((alpha / (alpha + beta))::numeric, 4) AS posterior_mean,
       round(ci.lower::numeric, 4) AS lower,
       round(ci.upper::numeric, 4) AS upper
FROM posterior, bandit.beta_interval(alpha, beta, 0.95) AS ci
ORDER BY arm;

-- 3. Which button is better?  prob_best is the probability that each arm
--    has the highest click rate; expected_loss is how much click rate we
--    would give up, on average, by shipping that arm.  Both are computed by
--    deterministic quadrature, not by simulation: run it twice, same answer.
--    They take one array per parameter: array_agg(... ORDER BY arm) builds
--    aligned arrays, unnest(a, b, c) zips the results back into rows.
WITH arms AS (
    SELECT array_agg(arm ORDER BY arm) AS arm,
           array_agg(alpha ORDER BY arm) AS alpha,
           array_agg(beta ORDER BY arm) AS beta
    FROM posterior)
SELECT u.arm,
       round(u.prob_best::numeric, 4) AS prob_best,
       round(u.expected_loss::numeric, 5) AS expected_loss
FROM arms,
     unnest(arms.arm,
            bandit.prob_best(arms.alpha, arms.beta),
            bandit.expected_loss(arms.alpha, arms.beta))
         AS u(arm, prob_best, expected_loss);

-- Thompson sampling in one line: draw from each posterior, take the largest.
-- set_seed makes this session's draws reproducible.
SELECT bandit.set_seed(42);
SELECT arm, round(bandit.beta_sample(alpha, beta)::numeric, 4) AS draw
FROM posterior ORDER BY draw DESC;

-- 4. A continuous metric: seconds to complete checkout on the old page (A)
--    and the new one (B).
CREATE TEMP TABLE checkout (arm text, seconds float8);
INSERT INTO checkout VALUES
    ('A', 31.2), ('A', 28.4), ('A', 35.9), ('A', 30.1), ('A', 27.8), ('A', 33.5),
    ('A', 29.9), ('A', 36.2), ('A', 32.7), ('A', 30.8), ('A', 34.1), ('A', 29.3),
    ('B', 27.1), ('B', 25.9), ('B', 30.4), ('B', 24.8), ('B', 28.6), ('B', 26.2),
    ('B', 31.0), ('B', 23.9), ('B', 27.7), ('B', 29.3), ('B', 25.4), ('B', 26.8);

-- A summary keeps count, mean and spread of a sample; it is what a parallel
-- scan, a shard or yesterday's batch hands over, and summaries merge exactly.
SELECT arm, bandit.summarize(seconds) AS summary,
       bandit.n(bandit.summarize(seconds)) AS n,
       round(bandit.mean(bandit.summarize(seconds))::numeric, 3) AS mean,
       round(bandit.stddev(bandit.summarize(seconds))::numeric, 3) AS sd
FROM checkout GROUP BY arm ORDER BY arm;

-- Welch's t-test straight from the rows: group2 is true for B's rows, so
-- the difference is A minus B.  (scipy.stats.ttest_ind(A, B,
-- equal_var=False) gives t = 4.2633, p = 0.00035.)
SELECT round((r).statistic::numeric, 4) AS t, round((r).df::numeric, 2) AS df,
       round((r).p_value::numeric, 6) AS p_value,
       round((r).mean_diff::numeric, 3) AS a_minus_b,
       round((r).ci_lower::numeric, 3) AS ci_lower,
       round((r).ci_upper::numeric, 3) AS ci_upper,
       round((r).cohens_d::numeric, 3) AS cohens_d
FROM (SELECT bandit.t_test(seconds, arm = 'B') AS r FROM checkout) AS t;

-- The same test from two summaries, e.g. stored per day and merged
-- (FILTER (WHERE ...) feeds an aggregate only some of the rows):
SELECT round(t.statistic::numeric, 4) AS t, round(t.p_value::numeric, 6) AS p_value
FROM (SELECT bandit.summarize(seconds) FILTER (WHERE arm = 'A') AS a,
             bandit.summarize(seconds) FILTER (WHERE arm = 'B') AS b
      FROM checkout) AS s,
     bandit.t_test(s.a, s.b) AS t;

-- Or from published statistics alone (n, mean, sd of each group); here a
-- one-sided question: is group 1 greater?
SELECT round(statistic::numeric, 4) AS t, round(p_value::numeric, 6) AS p_value,
       round(ci_lower::numeric, 4) AS ci_lower, ci_upper
FROM bandit.t_test(40, 5.2, 1.1, 45, 4.6, 1.3, alternative => 'greater');

-- 5. Fisher's exact test on Fisher's own tea-tasting experiment: the lady
--    named 3 of 4 milk-first cups correctly.  Odds ratio 9, but p = 0.4857:
--    four cups each way cannot tell skill from luck.
SELECT * FROM bandit.fisher_exact(3, 1, 1, 3);

-- 6. Planning the next test.  Visitors per group to detect a medium effect
--    (Cohen's d = 0.5) with 80 % power at alpha = 0.05:
SELECT ceil(bandit.sample_size_t_test(0.5)) AS n_per_group;
-- ... and to detect a click rate of 15 % against 12 %:
SELECT ceil(bandit.sample_size_proportions(0.12, 0.15)) AS n_per_group;

-- 7. A policy that learns inside the database.  The application asks which
--    button to show (choose logs the decision and the probability it had),
--    and reports the click later, by decision id.  Thompson sampling sends
--    most visitors to the best button while it learns.
SELECT bandit.create_policy('demo_buy_button', 'thompson', ARRAY['grey', 'green', 'orange']);

--    The application does not run as a superuser.  It gets its own role and
--    'use' on this one policy: choose and reward, nothing else.  ('read' is
--    for analysts -- arm_stats, reports, the policy's rows in bandit's tables;
--    'manage' is for the owner -- arms, modes, snapshots, grants.  The creator
--    of an object owns it and holds all three.)  NOLOGIN: the demo becomes it
--    with SET ROLE, as the application's connection would log in as it.
CREATE ROLE demo_app NOLOGIN;
SELECT bandit.grant('policy', 'demo_buy_button', 'demo_app', 'use');
SELECT kind, name, grantee, privilege, granted_by
FROM bandit.privileges WHERE grantee = 'demo_app'::regrole;

SET ROLE demo_app;
--    From here on the statements run as demo_app.  An application serves one
--    visitor per request:
--        SELECT decision_id, arm FROM bandit.choose('demo_buy_button', $1);
--        ... later, when the visitor clicked or left:
--        SELECT bandit.reward($decision_id, 1);   -- or 0
--    Here 2000 simulated visitors in one statement: the LATERAL join calls
--    choose once per row of generate_series, with the visitor as context
--    (logged with the decision); reward, in the select list, credits each
--    decision as it is made; count() folds the 2000 rows into one line.
--    True click rates are 10 %, 12 % and 15 %; whether a visitor clicks comes
--    from a hash of visitor and arm (assignment_point, a number in [0, 1)),
--    and choose's own draws from the seed, so every run prints the same
--    (another seed gives other numbers; most send most visitors to orange).
SELECT bandit.set_seed(4);
SELECT count(bandit.reward(c.decision_id,
           (bandit.assignment_point('demo_click', c.arm || visitor)
            < CASE c.arm WHEN 'grey' THEN 0.10 WHEN 'green' THEN 0.12 ELSE 0.15 END)::int))
FROM generate_series(1, 2000) AS visitor,
     LATERAL bandit.choose('demo_buy_button', jsonb_build_object('visitor', visitor)) AS c;

--    'use' does not include 'read': the statistics are refused with 42501
--    (insufficient_privilege), a HINT naming the grant that would allow them,
--    and nothing changes.  (The demo lets this one error pass, and hides
--    the CONTEXT lines that say where inside bandit it was raised.)
\set ON_ERROR_STOP off
\set SHOW_CONTEXT never
SELECT arm, pulls FROM bandit.arm_stats('demo_buy_button');
\set SHOW_CONTEXT errors
\set ON_ERROR_STOP on
\echo SQLSTATE :LAST_ERROR_SQLSTATE
--    bandit's tables are readable by everyone, but row-level security shows
--    each role only the objects it may read: demo_app sees none of the
--    decisions it just logged.
SELECT count(*) AS decisions_visible_to_demo_app FROM bandit.decision;
RESET ROLE;

--    Back as the owner: what the policy learned.
SELECT arm, pulls, round(mean_reward::numeric, 3) AS click_rate, round(prob_best::numeric, 3) AS prob_best
FROM bandit.arm_stats('demo_buy_button') ORDER BY pulls DESC;

--    Shipping a new policy: shadow, canary, promote.  Green is restyled and
--    now gets 22 % clicks (orange still 15 %, grey 10 %).  The policy has 2000
--    visitors of evidence that green is worse and seldom tries it again; a
--    candidate that forgets (discount 0.99: a reward 100 rewards old weighs
--    37 %) would notice.  It is created in shadow mode: choose on it serves
--    the default arm and logs what it would have chosen.  The owner
--    snapshots the production policy (the version to go back to), and warms
--    the candidate with the last 300 visitors' clicks (reward by policy and
--    arm).
SELECT bandit.snapshot('demo_buy_button', 'spring') IS NOT NULL AS saved;
SET ROLE demo_app;
SELECT bandit.set_seed(5);
SELECT count(bandit.reward(c.decision_id,
           (bandit.assignment_point('demo_click_summer', c.arm || visitor)
            < CASE c.arm WHEN 'grey' THEN 0.10 WHEN 'green' THEN 0.22 ELSE 0.15 END)::int))
FROM generate_series(1, 300) AS visitor,
     LATERAL bandit.choose('demo_buy_button', jsonb_build_object('visitor', visitor)) AS c;
RESET ROLE;
SELECT bandit.create_policy('demo_buy_button_v2', 'thompson', ARRAY['grey', 'green', 'orange'],
                            '{"discount": 0.99, "mode": "shadow"}');
SELECT count(bandit.reward('demo_buy_button_v2', arm, reward))
FROM (SELECT * FROM (SELECT id, arm, reward FROM bandit.decision WHERE policy = 'demo_buy_button'
                     ORDER BY id DESC LIMIT 300) AS last ORDER BY id) AS recent;
--    In shadow, 100 calls: every one serves grey (the default arm), while the
--    log shows what the candidate would have served.
CREATE TEMP TABLE shadow AS
    SELECT c.decision_id FROM generate_series(1, 100) AS i,
                              LATERAL bandit.choose('demo_buy_button_v2' || left(i::text, 0)) AS c;
SELECT d.arm AS served, d.policy_arm AS would_choose, count(*) AS calls
FROM shadow JOIN bandit.decision AS d ON d.id = shadow.decision_id
GROUP BY 1, 2 ORDER BY 1, 2;
SELECT max(decision_id) AS decision_id FROM shadow \gset

--    The canary: the candidate goes active and serves 30 % of the policy's
--    visitors.  The application keeps calling choose('demo_buy_button') and
--    needs no grant on the candidate; its decisions are logged under the
--    candidate (canary_of names the policy) and it rewards them as usual.
SELECT bandit.set_mode('demo_buy_button_v2', 'active');
SELECT bandit.start_canary('demo_buy_button', 'demo_buy_button_v2', 0.3, '{"min_decisions": 200}');
SET ROLE demo_app;
SELECT count(bandit.reward(c.decision_id,
           (bandit.assignment_point('demo_click_summer', c.arm || visitor)
            < CASE c.arm WHEN 'grey' THEN 0.10 WHEN 'green' THEN 0.22 ELSE 0.15 END)::int))
FROM generate_series(301, 3000) AS visitor,
     LATERAL bandit.choose('demo_buy_button', jsonb_build_object('visitor', visitor)) AS c;
RESET ROLE;
SELECT policy, count(*) AS visitors, round(avg(reward)::numeric, 3) AS click_rate
FROM bandit.decision WHERE canary_of = 'demo_buy_button' OR (policy = 'demo_buy_button' AND id > :decision_id)
GROUP BY policy ORDER BY policy;

--    The gates compare the two by their clicks (exact Beta posteriors: the
--    probability the candidate is better), estimate the candidate off-policy
--    on production's own log, and recommend promote, continue or rollback.
--    Here the off-policy estimate says little: production almost never showed
--    green, the candidate's choice, so its log weighs as a dozen visitors
--    (ope_ess), too few to overrule the canary (min_decisions 200).
SELECT production_n, round(production_mean::numeric, 3) AS production, candidate_n,
       round(candidate_mean::numeric, 3) AS candidate, round(prob_candidate_better::numeric, 4) AS p_better,
       round(ope_snips::numeric, 3) AS off_policy, round(ope_ess) AS ope_ess, recommendation
FROM bandit.canary_status('demo_buy_button');

--    Promote: the policy is snapshotted, then takes the candidate's
--    configuration and learned state; the versions show where it came from.
SELECT bandit.promote_canary('demo_buy_button');
SELECT row_number() OVER (ORDER BY snapshot_id) AS version, status, label,
       (SELECT policy FROM bandit.snapshot WHERE id = v.parent) AS parent_of_policy
FROM bandit.policy_versions('demo_buy_button') AS v ORDER BY snapshot_id;
SELECT algorithm, params->>'discount' AS discount FROM bandit.policy WHERE name = 'demo_buy_button';

-- 8. An A/B/n experiment: units are assigned by a hash of the unit id (the
--    same unit always gets the same variant), metrics are recorded, and the
--    database analyzes and decides.  Conversion here is simulated from a hash
--    of the unit id too, so the demo prints the same report every time.
--    The inner query assigns 20000 units; record_metrics takes the units and
--    their values as two arrays, so one call records a whole batch.
SELECT bandit.create_experiment('demo_checkout_copy', ARRAY['control', 'short', 'friendly'], NULL,
                                '{"hypothesis": "friendlier copy converts better", "salt": "demo"}');
SELECT bandit.start_experiment('demo_checkout_copy');
SELECT bandit.record_metrics('demo_checkout_copy', 'converted', array_agg(unit_id),
           array_agg((bandit.assignment_point('conversion', unit_id)
                      < CASE variant WHEN 'friendly' THEN 0.14 ELSE 0.10 END)::int::float8))
FROM (SELECT 'user' || i AS unit_id, bandit.assign('demo_checkout_copy', 'user' || i) AS variant
      FROM generate_series(1, 20000) AS i) AS units;
SELECT * FROM bandit.report('demo_checkout_copy', 'converted');

-- 9. A router that learns.  Requests go to a small or a large model.  Other
--    routers share what they saw as aggregated signals, which become priors;
--    each candidate gets a multi-objective score (cost, latency, quality,
--    carbon) with the prior blended in by its confidence.
SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "demo_eu-west", "participant_count": 12,
    "reward_signals": {
        "demo_small-model": {"success_rate": 0.82, "avg_latency": 120, "quality_score": 0.70, "total_samples": 900},
        "demo_large-model": {"success_rate": 0.95, "avg_latency": 850, "quality_score": 0.92, "total_samples": 400}}}');
SELECT key, round(success_rate::numeric, 3) AS success_rate, latency_ms, quality, sample_count,
       round(confidence::numeric, 3) AS confidence
FROM bandit.prior WHERE key LIKE 'demo\_%' ORDER BY key;
SELECT model, round(bandit.prior_adjusted_score(model, cost, latency_ms, quality, carbon)::numeric, 4) AS score
FROM (VALUES ('demo_small-model', 0.2, 100.0, 0.65, 0.1), ('demo_large-model', 2.0, 900.0, 0.90, 0.8))
     AS candidates(model, cost, latency_ms, quality, carbon);

--    Q-learning learns which model suits which kind of task.  The state is a
--    stable key of the task's context (numbers bucketed); the reward is a
--    weighted score of the outcome mapped to tiers (excellent ... failure).
--    400 simulated requests: long documents need the large model, short ones
--    do as well on the small one, which is cheaper.  Per request row, the
--    LATERAL subquery picks an action with q_select (epsilon-greedy, 20 %
--    exploring), then q_learn credits it (NULL next state: one step per
--    task), so each choice sees what the requests before it taught.
SELECT bandit.state_key('{"task": "summarize", "tokens": 1800}') AS state;
SELECT bandit.set_seed(7);
SELECT count(bandit.q_learn('demo_router', state, action,
           bandit.tiered_reward(bandit.reward_score(
               jsonb_build_object('quality', CASE WHEN tokens > 1000 AND action = 'small-model' THEN 0.4 ELSE 0.9 END,
                                  'cheap', CASE action WHEN 'small-model' THEN 1 ELSE 0.3 END),
               '{"quality": 0.8, "cheap": 0.2}')),
           NULL))
FROM (SELECT request, tokens, bandit.state_key(jsonb_build_object('task', 'summarize', 'tokens', tokens)) AS state
      FROM generate_series(1, 400) AS request,
           LATERAL (SELECT CASE WHEN request % 2 = 0 THEN 1800 ELSE 300 END AS tokens) AS t) AS requests,
     LATERAL (SELECT bandit.q_select('demo_router', state, ARRAY['small-model', 'large-model'], 0.2) AS action
              WHERE request > 0) AS chosen;
SELECT state, action AS best_model, round(q_value::numeric, 3) AS q_value FROM bandit.q_greedy('demo_router') ORDER BY state;

-- Every function documents itself:  \df+ bandit.*   and   \dT+ bandit.*

-- Clean up: the demo's rows and role, and the extension if the demo created it.
SELECT pg_temp.demo_cleanup();
\if :demo_creates_extension
DROP EXTENSION bandit;
\endif
