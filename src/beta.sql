-- The Beta distribution and Bayesian comparison of arms (src/beta.c).

CREATE TYPE bandit.beta_params AS (alpha float8, beta float8);
COMMENT ON TYPE bandit.beta_params IS 'Parameters of a Beta(alpha, beta) distribution';

CREATE FUNCTION bandit.beta_sample(alpha float8, beta float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_beta_sample' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.beta_sample(float8, float8) IS
    'One draw from Beta(alpha, beta) with this session''s generator (see bandit.set_seed)';

CREATE FUNCTION bandit.beta_quantile(alpha float8, beta float8, p float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_beta_quantile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_quantile(float8, float8, float8) IS
    'The p-quantile of Beta(alpha, beta), as scipy.stats.beta.ppf(p, alpha, beta)';

CREATE FUNCTION bandit.beta_interval(alpha float8, beta float8, level float8 DEFAULT 0.95,
                                     OUT lower float8, OUT upper float8)
    AS 'MODULE_PATHNAME', 'bandit_beta_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_interval(float8, float8, float8) IS
    'Equal-tailed credible interval of Beta(alpha, beta) at level';

CREATE FUNCTION bandit.prob_best(alpha float8[], beta float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_prob_best' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ Beta(alpha_i, beta_i), by deterministic quadrature (accurate to 1e-6 absolute, in practice ~1e-12); at most 100000 arms (54000)';

CREATE FUNCTION bandit.expected_loss(alpha float8[], beta float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_expected_loss' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ Beta(alpha_i, beta_i): what choosing arm i costs in expectation; at most 100000 arms (54000)';

CREATE FUNCTION bandit.beta_posterior_bool_accum(float8[], boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_bool_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_bool_accum(float8[], boolean) IS
    'Transition of bandit.beta_posterior(boolean)';
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_bool_accum(float8[], boolean) FROM PUBLIC;
CREATE FUNCTION bandit.beta_posterior_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_accum(float8[], float8, float8, float8) IS
    'Transition of bandit.beta_posterior(float8, float8, float8)';
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_accum(float8[], float8, float8, float8) FROM PUBLIC;
CREATE FUNCTION bandit.beta_posterior_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_combine(float8[], float8[]) IS
    'Combine of bandit.beta_posterior: adds the evidence, counts the prior once';
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_combine(float8[], float8[]) FROM PUBLIC;
CREATE FUNCTION bandit.beta_posterior_final(float8[]) RETURNS bandit.beta_params
    AS 'MODULE_PATHNAME', 'bandit_beta_posterior_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.beta_posterior_final(float8[]) IS
    'Final of bandit.beta_posterior: prior plus evidence';
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_final(float8[]) FROM PUBLIC;

CREATE AGGREGATE bandit.beta_posterior(success boolean) (
    SFUNC = bandit.beta_posterior_bool_accum,
    STYPE = float8[],
    FINALFUNC = bandit.beta_posterior_final,
    COMBINEFUNC = bandit.beta_posterior_combine,
    INITCOND = '{1,1,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.beta_posterior(boolean) IS
    'Posterior Beta(1 + successes, 1 + failures) from a uniform prior; NULLs are skipped';

CREATE AGGREGATE bandit.beta_posterior(reward float8, prior_alpha float8, prior_beta float8) (
    SFUNC = bandit.beta_posterior_accum,
    STYPE = float8[],
    FINALFUNC = bandit.beta_posterior_final,
    COMBINEFUNC = bandit.beta_posterior_combine,
    INITCOND = '{-1,-1,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.beta_posterior(float8, float8, float8) IS
    'Posterior Beta(prior_alpha + sum r, prior_beta + sum (1 - r)) from rewards r in [0, 1] (fractional successes); the prior must be the same on every row; NULL over no rows';
