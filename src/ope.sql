-- Off-policy evaluation aggregates: IPS, SNIPS, doubly robust (src/ope.c).

CREATE TYPE bandit.ope_estimate AS (
    estimate float8,
    std_error float8,
    ci_lower float8,
    ci_upper float8,
    n bigint
);
COMMENT ON TYPE bandit.ope_estimate IS
    'Off-policy value estimate: estimate, its standard error, normal 95% confidence interval, number of logged rows';

CREATE FUNCTION bandit.ips_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_ips_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ips_accum(float8[], float8, float8, float8) IS
    'Transition of bandit.ips: moments of w r, w = target_propensity / logging_propensity';
REVOKE EXECUTE ON FUNCTION bandit.ips_accum(float8[], float8, float8, float8) FROM PUBLIC;

CREATE FUNCTION bandit.dr_accum(float8[], float8, float8, float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_dr_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.dr_accum(float8[], float8, float8, float8, float8, float8) IS
    'Transition of bandit.dr: moments of reward_hat_target + w (reward - reward_hat_logged)';
REVOKE EXECUTE ON FUNCTION bandit.dr_accum(float8[], float8, float8, float8, float8, float8) FROM PUBLIC;

CREATE FUNCTION bandit.ope_moments_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_ope_moments_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ope_moments_combine(float8[], float8[]) IS
    'Combine of bandit.ips and bandit.dr: merges count, mean and squared deviations (Chan)';
REVOKE EXECUTE ON FUNCTION bandit.ope_moments_combine(float8[], float8[]) FROM PUBLIC;

CREATE FUNCTION bandit.ope_moments_final(float8[]) RETURNS bandit.ope_estimate
    AS 'MODULE_PATHNAME', 'bandit_ope_moments_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.ope_moments_final(float8[]) IS
    'Final of bandit.ips and bandit.dr: mean of the per-row terms, se = sd / sqrt(n), normal 95% interval';
REVOKE EXECUTE ON FUNCTION bandit.ope_moments_final(float8[]) FROM PUBLIC;

CREATE FUNCTION bandit.snips_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_snips_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_accum(float8[], float8, float8, float8) IS
    'Transition of bandit.snips: w- and w^2-weighted moments of the reward';
REVOKE EXECUTE ON FUNCTION bandit.snips_accum(float8[], float8, float8, float8) FROM PUBLIC;

CREATE FUNCTION bandit.snips_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_snips_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_combine(float8[], float8[]) IS
    'Combine of bandit.snips: merges the weighted moments';
REVOKE EXECUTE ON FUNCTION bandit.snips_combine(float8[], float8[]) FROM PUBLIC;

CREATE FUNCTION bandit.snips_final(float8[]) RETURNS bandit.ope_estimate
    AS 'MODULE_PATHNAME', 'bandit_snips_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.snips_final(float8[]) IS
    'Final of bandit.snips: sum w r / sum w, delta-method se sqrt(sum w^2 (r - V)^2) / sum w, normal 95% interval';
REVOKE EXECUTE ON FUNCTION bandit.snips_final(float8[]) FROM PUBLIC;

CREATE AGGREGATE bandit.ips(reward float8, target_propensity float8, logging_propensity float8) (
    SFUNC = bandit.ips_accum,
    STYPE = float8[],
    FINALFUNC = bandit.ope_moments_final,
    COMBINEFUNC = bandit.ope_moments_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.ips(float8, float8, float8) IS
    'Inverse propensity scoring estimate of a target policy''s value from logged rows: mean of w reward, w = target_propensity / logging_propensity (target in [0, 1], logging in (0, 1]); se = sd(w reward) / sqrt(n) (NULL below 2 rows), normal 95% interval; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.snips(reward float8, target_propensity float8, logging_propensity float8) (
    SFUNC = bandit.snips_accum,
    STYPE = float8[],
    FINALFUNC = bandit.snips_final,
    COMBINEFUNC = bandit.snips_combine,
    INITCOND = '{0,0,0,0,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.snips(float8, float8, float8) IS
    'Self-normalized IPS estimate: V = sum w reward / sum w, w = target_propensity / logging_propensity; delta-method se sqrt(sum w^2 (reward - V)^2) / sum w (NULL below 2 rows), normal 95% interval; estimate NULL when every w is 0; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.dr(reward float8, target_propensity float8, logging_propensity float8,
                           reward_hat_logged float8, reward_hat_target float8) (
    SFUNC = bandit.dr_accum,
    STYPE = float8[],
    FINALFUNC = bandit.ope_moments_final,
    COMBINEFUNC = bandit.ope_moments_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.dr(float8, float8, float8, float8, float8) IS
    'Doubly robust estimate: mean of reward_hat_target + w (reward - reward_hat_logged), w = target_propensity / logging_propensity, with reward_hat_logged the model''s prediction for the logged arm and reward_hat_target its expected prediction under the target policy; se = sd / sqrt(n) (NULL below 2 rows), normal 95% interval; rows with a NULL are skipped, no rows give NULL';

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
