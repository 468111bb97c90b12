-- Mergeable summaries and t-tests (src/summary.c).

CREATE TYPE bandit.summary;

CREATE FUNCTION bandit.summary_in(cstring) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.summary_out(bandit.summary) RETURNS cstring
    AS 'MODULE_PATHNAME', 'bandit_summary_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.summary_recv(internal) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.summary_send(bandit.summary) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bandit_summary_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE bandit.summary (
    INTERNALLENGTH = 32,
    INPUT = bandit.summary_in,
    OUTPUT = bandit.summary_out,
    RECEIVE = bandit.summary_recv,
    SEND = bandit.summary_send,
    ALIGNMENT = double
);
COMMENT ON TYPE bandit.summary IS
    'Sufficient statistics of a sample: (count,mean,m2), m2 the sum of squared deviations; merged exactly with Chan''s formula';
COMMENT ON FUNCTION bandit.summary_in(cstring) IS 'Text input of bandit.summary: (count,mean,m2), or (count,mean,m2,mean_low) with the low part of a double-double mean';
COMMENT ON FUNCTION bandit.summary_out(bandit.summary) IS 'Text output of bandit.summary, shortest exact decimals and the mean''s low part when not 0: input(output(x)) is x bit for bit';
COMMENT ON FUNCTION bandit.summary_recv(internal) IS 'Binary input of bandit.summary, validated';
COMMENT ON FUNCTION bandit.summary_send(bandit.summary) IS 'Binary output of bandit.summary';

CREATE FUNCTION bandit.summary_accum(bandit.summary, float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.summary_accum(bandit.summary, float8) IS
    'Transition of bandit.summarize: adds one finite value (Welford)';
REVOKE EXECUTE ON FUNCTION bandit.summary_accum(bandit.summary, float8) FROM PUBLIC;
CREATE FUNCTION bandit.summary_combine(bandit.summary, bandit.summary) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.summary_combine(bandit.summary, bandit.summary) IS
    'Merges two summaries (Chan et al.); combine function of bandit.summarize and bandit.merge';
REVOKE EXECUTE ON FUNCTION bandit.summary_combine(bandit.summary, bandit.summary) FROM PUBLIC;

CREATE AGGREGATE bandit.summarize(value float8) (
    SFUNC = bandit.summary_accum,
    STYPE = bandit.summary,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.summarize(float8) IS
    'Summary (count, mean, m2) of the non-NULL values; NaN and infinities are rejected (22003), and so is a mean or m2 beyond float8 (22003, as float8''s own aggregates, where numpy answers inf or NaN)';

CREATE AGGREGATE bandit.merge(s bandit.summary) (
    SFUNC = bandit.summary_combine,
    STYPE = bandit.summary,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.merge(bandit.summary) IS
    'Merges summaries computed elsewhere (shards, nodes, days) into one; a count beyond bigint or a mean or m2 beyond float8 is 22003';

CREATE FUNCTION bandit.make_summary(n bigint, mean float8, stddev float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_make_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.make_summary(bigint, float8, float8) IS
    'A summary from published statistics: count, mean and sample standard deviation (n - 1); an m2 = stddev^2 (n - 1) beyond float8 is 22003';

CREATE FUNCTION bandit.n(bandit.summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'bandit_summary_n' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.n(bandit.summary) IS 'Number of values in the summary';
CREATE FUNCTION bandit.mean(bandit.summary) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_summary_mean' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.mean(bandit.summary) IS 'Mean of the summary; NULL when it is empty';
CREATE FUNCTION bandit.variance(bandit.summary) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_summary_variance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.variance(bandit.summary) IS 'Sample variance (n - 1); NULL below 2 values';
CREATE FUNCTION bandit.stddev(bandit.summary) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_summary_stddev' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.stddev(bandit.summary) IS 'Sample standard deviation (n - 1); NULL below 2 values';

CREATE FUNCTION bandit.t_test(n1 float8, mean1 float8, sd1 float8, n2 float8, mean2 float8, sd2 float8,
                              equal_var boolean DEFAULT false, alternative text DEFAULT 'two-sided',
                              level float8 DEFAULT 0.95,
                              OUT statistic float8, OUT df float8, OUT p_value float8, OUT mean_diff float8,
                              OUT ci_lower float8, OUT ci_upper float8, OUT cohens_d float8)
    AS 'MODULE_PATHNAME', 'bandit_t_test_stats' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test(float8, float8, float8, float8, float8, float8, boolean, text, float8) IS
    'Two-sample t-test of group 1 minus group 2 from n, mean and sd (Welch unless equal_var), as scipy.stats.ttest_ind_from_stats; confidence interval at level (one-sided for one-sided alternatives); Cohen''s d with the pooled sd. Where scipy answers NaN or an infinite statistic this is an error: n1 or n2 below 2 (22003), both sds 0 (22023); a statistic beyond float8 is 22003';

CREATE FUNCTION bandit.t_test(s1 bandit.summary, s2 bandit.summary, equal_var boolean DEFAULT false,
                              alternative text DEFAULT 'two-sided', level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_summaries' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test(bandit.summary, bandit.summary, boolean, text, float8) IS
    'Two-sample t-test of s1 minus s2 from two summaries (Welch unless equal_var); a summary of fewer than 2 values, or both with zero variance, is an error (22023) where scipy answers NaN or an infinite statistic';

CREATE FUNCTION bandit.t_test_one_sample(s bandit.summary, mu float8 DEFAULT 0,
                                         alternative text DEFAULT 'two-sided', level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_one_sample' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_one_sample(bandit.summary, float8, text, float8) IS
    'One-sample t-test of mean - mu, as scipy.stats.ttest_1samp; mean_diff and its interval are of mean - mu, cohens_d = (mean - mu) / sd. Fewer than 2 values (a single value included) or zero variance is an error (22023) where scipy answers NaN or an infinite statistic';

-- The paired test summarizes the differences and tests their mean against 0.
CREATE FUNCTION bandit.summary_diff_accum(bandit.summary, float8, float8) RETURNS bandit.summary
    AS 'MODULE_PATHNAME', 'bandit_summary_diff_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.summary_diff_accum(bandit.summary, float8, float8) IS
    'Transition of bandit.t_test_paired: adds the difference x - y';
REVOKE EXECUTE ON FUNCTION bandit.summary_diff_accum(bandit.summary, float8, float8) FROM PUBLIC;
CREATE FUNCTION bandit.t_test_paired_final(bandit.summary) RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_paired_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_paired_final(bandit.summary) IS
    'Final of bandit.t_test_paired: two-sided one-sample test of the differences, 95 % interval';
REVOKE EXECUTE ON FUNCTION bandit.t_test_paired_final(bandit.summary) FROM PUBLIC;
CREATE AGGREGATE bandit.t_test_paired(x float8, y float8) (
    SFUNC = bandit.summary_diff_accum,
    STYPE = bandit.summary,
    FINALFUNC = bandit.t_test_paired_final,
    COMBINEFUNC = bandit.summary_combine,
    INITCOND = '(0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.t_test_paired(float8, float8) IS
    'Paired t-test of x - y over rows, as scipy.stats.ttest_rel (two-sided, 95 % interval); NULL below 2 pairs or with constant differences (scipy: NaN or an infinite statistic). Other alternatives: bandit.t_test_one_sample(bandit.summarize(x - y), 0, alternative, level)';

-- Two-sample t-test over raw rows; its state carries both groups and the options.
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean) IS 'Transition of the raw-row bandit.t_test';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean) FROM PUBLIC;
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean) IS 'Transition of the raw-row bandit.t_test';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean) FROM PUBLIC;
CREATE FUNCTION bandit.t_test_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_combine(float8[], float8[]) IS 'Combine of the raw-row bandit.t_test (Chan''s merge per group)';
REVOKE EXECUTE ON FUNCTION bandit.t_test_combine(float8[], float8[]) FROM PUBLIC;
CREATE FUNCTION bandit.t_test_final(float8[]) RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_final(float8[]) IS 'Final of the raw-row bandit.t_test; NULL when a group has < 2 rows or there is no variance';
REVOKE EXECUTE ON FUNCTION bandit.t_test_final(float8[]) FROM PUBLIC;

CREATE AGGREGATE bandit.t_test(value float8, group2 boolean) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
COMMENT ON AGGREGATE bandit.t_test(float8, boolean) IS
    'Welch t-test over raw rows: group 1 (group2 false) minus group 2 (group2 true), two-sided, 95 % interval; NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean) IS
    'Two-sample t-test over raw rows, Student''s when equal_var, else Welch''s; group 1 (group2 false) minus group 2; NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic)';

-- The raw-row t_test takes its alternative as an enum: not collatable, so
-- that postgres_fdw pushes the aggregate down (a collatable constant it does
-- not).  With no text overload a literal 'less' resolves to it, and the
-- implicit cast keeps text values working.
CREATE TYPE bandit.alternative AS ENUM ('two-sided', 'less', 'greater');
COMMENT ON TYPE bandit.alternative IS
    'The alternative hypothesis of a t-test as an enum, for the raw-row bandit.t_test: unlike a text constant it lets postgres_fdw push the aggregate down; text casts to it implicitly. Privilege: none.';
CREATE CAST (text AS bandit.alternative) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (text AS bandit.alternative) IS
    'A text alternative (''two-sided'', ''less'', ''greater'') given to the raw-row bandit.t_test. Privilege: none.';
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_t_test_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative) IS
    'Transition of the raw-row bandit.t_test with an enum alternative. Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative) FROM PUBLIC;
COMMENT ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative, float8) IS
    'Transition of the raw-row bandit.t_test with an enum alternative and a level. Privilege: none (internal: PUBLIC may not run it).';
REVOKE EXECUTE ON FUNCTION bandit.t_test_accum(float8[], float8, boolean, boolean, bandit.alternative, float8) FROM PUBLIC;
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean, alternative bandit.alternative) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
CREATE AGGREGATE bandit.t_test(value float8, group2 boolean, equal_var boolean, alternative bandit.alternative, level float8) (
    SFUNC = bandit.t_test_accum, STYPE = float8[], FINALFUNC = bandit.t_test_final,
    COMBINEFUNC = bandit.t_test_combine, INITCOND = '{0,0,0,0,0,0,0,0,-1,-1,-1}', PARALLEL = SAFE);
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, bandit.alternative) IS
    'Two-sample t-test over raw rows with an alternative (the same on every row; a literal or text casts to bandit.alternative, which postgres_fdw pushes down); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic). Privilege: none.';
COMMENT ON AGGREGATE bandit.t_test(float8, boolean, boolean, bandit.alternative, float8) IS
    'Two-sample t-test over raw rows with an alternative and confidence level (the same on every row; a literal or text casts to bandit.alternative, which postgres_fdw pushes down); NULL when a group has < 2 rows or neither group varies (scipy: NaN or an infinite statistic). Privilege: none.';
CREATE FUNCTION bandit.t_test(s1 bandit.summary, s2 bandit.summary, equal_var boolean, alternative bandit.alternative,
                              level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_summaries' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test(bandit.summary, bandit.summary, boolean, bandit.alternative, float8) IS
    'bandit.t_test(s1, s2, equal_var, alternative, level) with the alternative as bandit.alternative, which postgres_fdw ships (e.g. over pushed-down summaries). Privilege: none.';
CREATE FUNCTION bandit.t_test_one_sample(s bandit.summary, mu float8, alternative bandit.alternative,
                                         level float8 DEFAULT 0.95)
    RETURNS bandit.t_test_result
    AS 'MODULE_PATHNAME', 'bandit_t_test_one_sample' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.t_test_one_sample(bandit.summary, float8, bandit.alternative, float8) IS
    'bandit.t_test_one_sample(s, mu, alternative, level) with the alternative as bandit.alternative, which postgres_fdw ships. Privilege: none.';
