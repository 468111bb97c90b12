CREATE FUNCTION bandit.nct_cdf(x float8, df float8, nc float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_nct_cdf'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.nct_cdf(float8, float8, float8) IS
    'Noncentral t distribution: P(T <= x) for df degrees of freedom and noncentrality nc, as scipy.stats.nct.cdf';

CREATE FUNCTION bandit.nct_sf(x float8, df float8, nc float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_nct_sf'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.nct_sf(float8, float8, float8) IS
    'Noncentral t distribution: P(T > x), computed directly (accurate in the far tail), as scipy.stats.nct.sf';

CREATE FUNCTION bandit.power_t_test(effect_size float8, n_per_group float8,
                                    alpha float8 DEFAULT 0.05,
                                    alternative text DEFAULT 'two-sided') RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_power_t_test'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.power_t_test(float8, float8, float8, text) IS
    'Power of the pooled two-sample t-test with n_per_group in each group for standardized effect size (Cohen''s d), as statsmodels TTestIndPower().power(effect_size, nobs1=n_per_group, alpha, ratio=1)';

CREATE FUNCTION bandit.sample_size_t_test(effect_size float8, power float8 DEFAULT 0.8,
                                          alpha float8 DEFAULT 0.05,
                                          alternative text DEFAULT 'two-sided') RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_sample_size_t_test'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.sample_size_t_test(float8, float8, float8, text) IS
    'Observations per group (unrounded) for the pooled two-sample t-test to reach power at level alpha, as statsmodels TTestIndPower().solve_power(nobs1=None); round up for a plan';

CREATE FUNCTION bandit.power_proportions(p1 float8, p2 float8, n_per_group float8,
                                         alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_power_proportions'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.power_proportions(float8, float8, float8, float8) IS
    'Power of the two-sided two-proportion z-test with n_per_group in each group, on Cohen''s h, as statsmodels NormalIndPower().power(proportion_effectsize(p1, p2), n_per_group, alpha)';

CREATE FUNCTION bandit.sample_size_proportions(p1 float8, p2 float8, power float8 DEFAULT 0.8,
                                               alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_sample_size_proportions'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.sample_size_proportions(float8, float8, float8, float8) IS
    'Observations per group (unrounded) for the two-sided two-proportion z-test to reach power at level alpha, as statsmodels NormalIndPower().solve_power on Cohen''s h; round up for a plan';
