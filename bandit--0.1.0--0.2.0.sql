-- bandit 0.1.0 -> 0.2.0.  Every change to installed SQL since 0.1.0, so that
-- ALTER EXTENSION bandit UPDATE gives the catalog a fresh 0.2.0 install has
-- (test/upgrade_test.py compares the two).
\echo Use "ALTER EXTENSION bandit UPDATE TO '0.2.0'" to load this file. \quit

-- == hardening: policies (src/policy.sql, src/choice.sql)

-- == hardening: experiments, Q-learning, priors, adjustment (src/experiment.sql, src/qlearn.sql, src/prior.sql, src/adjust.sql)

-- == hardening: statistics and aggregate support functions (src/summary.sql, src/beta.sql, src/normal.sql, src/power.sql, src/ope.sql, src/contingency.sql, src/sequential.sql, src/random.sql)
-- Aggregate support functions are internal: PUBLIC keeps EXECUTE on the
-- aggregates (PostgreSQL checks it there), not on their parts.  Comments
-- document degenerate inputs, overflow (22003) and the arm limit.
-- src/summary.sql
REVOKE EXECUTE ON FUNCTION bandit.summary_accum(bandit.summary, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.summary_combine(bandit.summary, bandit.summary) FROM PUBLIC;
COMMENT ON AGGREGATE bandit.summarize(float8) IS
    'Summary (count, mean, m2) of the non-NULL values; NaN and infinities are rejected (22003), and so is a mean or m2 beyond float8 (22003, as float8''s own aggregates, where numpy answers inf or NaN)';
COMMENT ON AGGREGATE bandit.merge(bandit.summary) IS
    'Merges summaries computed elsewhere (shards, nodes, days) into one; a count beyond bigint or a mean or m2 beyond float8 is 22003';
COMMENT ON FUNCTION bandit.make_summary(bigint, float8, float8) IS
    'A summary from published statistics: count, mean and sample standard deviation (n - 1); an m2 = stddev^2 (n - 1) beyond float8 is 22003';
COMMENT ON FUNCTION bandit.t_test(float8, float8, float8, float8, float8, float8, boolean, text, float8) IS
    'Two-sample t-test of group 1 minus group 2 from n, mean and sd (Welch unless equal_var), as scipy.stats.ttest_ind_from_stats; confidence interval at level (one-sided for one-sided alternatives); Cohen''s d with the pooled sd. Where scipy answers NaN or an infinite statistic this is an error: n1 or n2 below 2 (22003), both sds 0 (22023); a statistic beyond float8 is 22003';
COMMENT ON FUNCTION bandit.t_test(bandit.summary, bandit.summary, boolean, text, float8) IS
    'Two-sample t-test of s1 minus s2 from two summaries (Welch unless equal_var); a summary of fewer than 2 values, or both with zero variance, is an error (22023) where scipy answers NaN or an infinite statistic';
COMMENT ON FUNCTION bandit.t_test_one_sample(bandit.summary, float8, text, float8) IS
    'One-sample t-test of mean - mu, as scipy.stats.ttest_1samp; mean_diff and its interval are of mean - mu, cohens_d = (mean - mu) / sd. Fewer than 2 values (a single value included) or zero variance is an error (22023) where scipy answers NaN or an infinite statistic';
REVOKE EXECUTE ON FUNCTION bandit.summary_diff_accum(bandit.summary, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_paired_final(bandit.summary) FROM PUBLIC;
COMMENT ON AGGREGATE bandit.t_test_paired(float8, float8) IS
    'Paired t-test of x - y over rows, as scipy.stats.ttest_rel (two-sided, 95 % interval); NULL below 2 pairs or with constant differences (scipy: NaN or an infinite statistic). Other alternatives: bandit.t_test_one_sample(bandit.summarize(x - y), 0, alternative, level)';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, text, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.t_test_final(float8[]) FROM PUBLIC;
COMMENT ON AGGREGATE bandit.t_test(float8, boolean) IS
    'Welch t-test over raw rows: group 1 (group2 false) minus group 2 (group2 true), two-sided, 95 % interval; NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean) IS
    'Two-sample t-test over raw rows, Student''s when equal_var, else Welch''s; group 1 (group2 false) minus group 2; NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, text) IS
    'Two-sample t-test over raw rows with an alternative (the same on every row); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, text, float8) IS
    'Two-sample t-test over raw rows with an alternative and confidence level (the same on every row); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
-- src/beta.sql
COMMENT ON FUNCTION bandit.prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ Beta(alpha_i, beta_i), by deterministic quadrature (accurate to 1e-6 absolute, in practice ~1e-12); at most 100000 arms (54000)';
COMMENT ON FUNCTION bandit.expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ Beta(alpha_i, beta_i): what choosing arm i costs in expectation; at most 100000 arms (54000)';
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_bool_accum(float8[], boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_accum(float8[], float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.beta_posterior_final(float8[]) FROM PUBLIC;
-- src/normal.sql
COMMENT ON FUNCTION bandit.normal_prob_best(float8[], float8[]) IS
    'P(theta_i is the largest) for independent theta_i ~ N(mean_i, sd_i^2), by deterministic Gauss-Kronrod quadrature (accurate to 1e-9 absolute); sd_i = 0 is a point mass, and equal point masses that tie for the largest share their chance equally; 1 to 100000 arms (54000 beyond)';
COMMENT ON FUNCTION bandit.normal_expected_loss(float8[], float8[]) IS
    'E[max_j theta_j - theta_i] for independent theta_i ~ N(mean_i, sd_i^2) (sd_i = 0: a point mass): what choosing arm i costs in expectation; 1 to 100000 arms (54000 beyond)';
-- src/ope.sql
REVOKE EXECUTE ON FUNCTION bandit.ips_accum(float8[], float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.dr_accum(float8[], float8, float8, float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ope_moments_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.ope_moments_final(float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.snips_accum(float8[], float8, float8, float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.snips_combine(float8[], float8[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bandit.snips_final(float8[]) FROM PUBLIC;
-- src/contingency.sql
COMMENT ON FUNCTION bandit.chisquare(float8[], float8[]) IS
    'Pearson''s chi-square goodness-of-fit test of observed counts against expected counts (NULL: all categories equal), k - 1 degrees of freedom; = scipy.stats.chisquare. The two must sum alike (relative 1e-8); at least 2 categories; observed counts that are all 0 are an error (22023) where scipy answers NaN';

-- == hardening: other
