-- Canaries: a candidate policy serves a share of another policy's choose
-- calls (src/policy.c, bandit_choose), quality gates recommend promoting it
-- or rolling it back, and promote_canary makes the candidate's configuration
-- and learned state the policy's through snapshot and restore.
--
-- bandit.canary has no foreign keys to bandit.policy: the tests and
-- operators TRUNCATE bandit.policy with its own tables, and this file is
-- loaded before src/policy.sql.  choose of a policy whose candidate is gone
-- serves every call itself; start_canary clears such a leftover row.

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
