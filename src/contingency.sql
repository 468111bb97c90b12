CREATE FUNCTION bandit.chi2_test(successes1 bigint, n1 bigint, successes2 bigint, n2 bigint,
                                 correction boolean DEFAULT true,
                                 OUT statistic float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_chi2_test'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.chi2_test(bigint, bigint, bigint, bigint, boolean) IS
    'Chi-square test of independence of the 2x2 table [[successes1, n1 - successes1], [successes2, n2 - successes2]], with Yates'' continuity correction unless correction is false; = scipy.stats.chi2_contingency. An all-success or all-failure table is an error (an expected count would be zero)';

CREATE FUNCTION bandit.chi2_contingency(observed bigint[], correction boolean DEFAULT true,
                                        OUT statistic float8, OUT df integer, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_chi2_contingency'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.chi2_contingency(bigint[], boolean) IS
    'Pearson chi-square test of independence of an r x c table of counts given as a two-dimensional array (one row per inner array); Yates'' correction applies only when df = 1; one row or one column gives statistic 0, df 0, p-value 1; = scipy.stats.chi2_contingency. A row or column of zeros is an error (an expected count would be zero)';

CREATE FUNCTION bandit.fisher_exact(a bigint, b bigint, c bigint, d bigint,
                                    alternative text DEFAULT 'two-sided',
                                    OUT odds_ratio float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_fisher_exact'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.fisher_exact(bigint, bigint, bigint, bigint, text) IS
    'Fisher''s exact test of the 2x2 table [[a, b], [c, d]]; alternative ''two-sided'' (tables no more probable than the observed one, ties within a relative 1e-14 included), ''less'' or ''greater''; = scipy.stats.fisher_exact. odds_ratio is a*d / (b*c), Infinity when b or c is 0; when a row or column is all zero it is NULL (scipy: NaN) and p_value is 1. Fast for counts up to 1e7 and beyond; the total must be at most 2^53';

CREATE FUNCTION bandit.chisquare(observed float8[], expected float8[] DEFAULT NULL,
                                 OUT statistic float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'bandit_chisquare'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.chisquare(float8[], float8[]) IS
    'Pearson''s chi-square goodness-of-fit test of observed counts against expected counts (NULL: all categories equal), k - 1 degrees of freedom; = scipy.stats.chisquare. The two must sum alike (relative 1e-8); at least 2 categories; observed counts that are all 0 are an error (22023) where scipy answers NaN';
