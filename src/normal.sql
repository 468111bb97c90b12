-- Bayesian comparison of normal posteriors (src/normal.c).

CREATE FUNCTION bandit.normal_prob_best(mean float8[], sd float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_normal_prob_best' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.normal_prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ N(mean_i, sd_i^2), by deterministic Gauss-Kronrod quadrature (accurate to 1e-9 absolute); sd_i = 0 is a point mass, and equal point masses that tie for the largest share their chance equally; 1 to 100000 arms (54000 beyond)';

CREATE FUNCTION bandit.normal_expected_loss(mean float8[], sd float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_normal_expected_loss' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.normal_expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ N(mean_i, sd_i^2) (sd_i = 0: a point mass): what choosing arm i costs in expectation; 1 to 100000 arms (54000 beyond)';
