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
