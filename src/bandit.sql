COMMENT ON SCHEMA bandit IS 'bandit: online learning and experiment statistics';

-- The composite results shared by several capabilities.
CREATE TYPE bandit.t_test_result AS (
    statistic float8,
    df float8,
    p_value float8,
    mean_diff float8,
    ci_lower float8,
    ci_upper float8,
    cohens_d float8
);
COMMENT ON TYPE bandit.t_test_result IS
    'Result of a t-test: statistic, degrees of freedom, p-value, mean difference with its confidence interval, Cohen''s d';
