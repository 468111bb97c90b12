-- Hardening of the statistics (issue 9): overflow is 22003 and never a
-- stored value the type's own input rejects; aggregate support functions
-- are internal (no EXECUTE for PUBLIC) and reject crafted states (XX001);
-- messages show numbers as passed; long comparisons have a limit and can
-- be cancelled; degenerate inputs answer as documented.  Every case here
-- failed on 0.1.0 unless marked "documents".
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- == overflow: 22003, as float8's own aggregates (0.1.0 stored these)
-- (3,3.3e+307,Infinity) in 0.1.0: m2 = 2/3 (1e308)^2 is beyond float8
SELECT pg_temp.err($$SELECT bandit.summarize(x) FROM unnest('{1e308,2,4}'::float8[]) x$$);
-- (2,NaN,NaN) in 0.1.0: 1e308 - (-1e308) is beyond float8
SELECT pg_temp.err($$SELECT bandit.summarize(x) FROM unnest('{1e308,-1e308}'::float8[]) x$$);
-- (3,0,Infinity) in 0.1.0: m2 = (1e200)^2 * 2
SELECT pg_temp.err($$SELECT bandit.make_summary(3, 0, 1e200)$$);
-- a negative count in 0.1.0
SELECT pg_temp.err($$SELECT bandit.merge(s) FROM (VALUES ('(9223372036854775807,0,0)'::bandit.summary), ('(1,5,0)')) t(s)$$);
SELECT pg_temp.err($$SELECT bandit.merge(s) FROM (VALUES ('(2,1e308,0)'::bandit.summary), ('(2,-1e308,0)')) t(s)$$);
SELECT pg_temp.err($$SELECT bandit.t_test_paired(x, 0) FROM unnest('{1e308,-1e308}'::float8[]) x$$);
SELECT pg_temp.err($$SELECT bandit.t_test(x, g) FROM (VALUES (1e308, false), (-1e308, false), (1, true), (2, true)) t(x, g)$$);
SELECT pg_temp.err($$SELECT bandit.ips(r, 1, 1) FROM unnest('{1e308,-1e308}'::float8[]) r$$);
SELECT pg_temp.err($$SELECT bandit.dr(r, 1, 1, 0, 0) FROM unnest('{1e308,-1e308}'::float8[]) r$$);
SELECT pg_temp.err($$SELECT bandit.snips(r, 1, 1) FROM unnest('{1e308,-1e308}'::float8[]) r$$);
-- sds far below the means' spacing (0.1.0: {NaN,NaN,NaN}): equal point-like
-- arms tie, 1/3 each; against a wider one at the same mean, 1/4, 1/4, 1/2;
-- the loss of two at one mean is sqrt(sd1^2 + sd2^2) / sqrt(2 pi)
SELECT bandit.normal_prob_best('{0.5,0.5,0.5}', '{5e-324,5e-324,5e-324}') AS tie,
       (SELECT array_agg(round(p::numeric, 12)) FROM unnest(bandit.normal_prob_best('{0.5,0.5,0.5}', '{5e-324,1e-323,2e-300}')) p) AS wide,
       (SELECT bool_and(abs(l / 8.920620580763856e-301 - 1) < 1e-12)
        FROM unnest(bandit.normal_expected_loss('{1e300,1e300}', '{1e-300,2e-300}')) l) AS loss_ok;
-- means 1e20 sds apart, not exact as differences: the narrow arms are point
-- masses where they are (was {NaN,NaN}); P = Phi(1e20 / sqrt(2)) = 1, scipy
SELECT bandit.normal_prob_best('{1e20,2}', '{1,1}') AS far_apart,
       bandit.normal_prob_best('{1e20,1e20,2}', '{1,1,1}') AS far_tie;
-- a standard error or difference beyond float8: 22003, not "both sds are 0"
SELECT pg_temp.err($$SELECT bandit.t_test(2, 0, 1e200, 2, 0, 1e200)$$);
SELECT pg_temp.err($$SELECT bandit.t_test(2, 1e308, 1, 2, -1e308, 1)$$);
SELECT pg_temp.err($$SELECT bandit.t_test('(2,1e308,2)'::bandit.summary, '(2,-1e308,2)'::bandit.summary)$$);
SELECT pg_temp.err($$SELECT bandit.t_test_one_sample('(3,1e300,1e-300)'::bandit.summary)$$);
-- 0.1.0: a confidence sequence (-Infinity, Infinity); chisquare (Infinity, NaN)
SELECT pg_temp.err($$SELECT bandit.msprt(10, 1.5, 1e308, 50, 1, 1.5, 0.1, 0.05)$$);
SELECT pg_temp.err($$SELECT bandit.msprt('(2,1e308,1e308)'::bandit.summary, '(3,1,1)', 0.1, 0.05)$$);
SELECT pg_temp.err($$SELECT bandit.chisquare('{1e308,0.1}')$$);
SELECT pg_temp.err($$SELECT bandit.chisquare('{1e308,1e308}')$$);
-- 0.1.0: ci_lower NaN at 1e300 degrees of freedom, where t is normal:
-- se = sqrt(1/40) (pooled variance 1), scipy norm.sf(0.5 / se) = 0.000782701129001274,
-- 0.5 - norm.isf(0.05) se = 0.2399258060622212
SELECT round(p_value::numeric, 15) AS p_value, round(ci_lower::numeric, 13) AS ci_lower, ci_upper
FROM bandit.t_test(1e300, 1.5, 1, 40, 1, 0.5, true, 'greater', 0.95);
-- 0.1.0: "both standard deviations are 0", the pooled variance having
-- overflowed: it is 1e10 here (n1 = 1e300), se = 1e5 sqrt(1/40),
-- t = 1 / se = 6.324555320336758e-05, scipy 2 norm.sf(t) = 0.9999495373495932, d = 1e-5
SELECT round((statistic * 1e5)::numeric, 12) AS statistic_1e5, round(p_value::numeric, 15) AS p_value, cohens_d
FROM bandit.t_test(1e300, 1, 1e5, 40, 0, 1, true);
-- 0.1.0: ci_lower Infinity above ci_upper -Infinity at n = 2^63 - 1
SELECT ci_lower <= 1 AND ci_upper >= 1 AND ci_upper - ci_lower < 1e-15 AS tight_interval
FROM bandit.t_test_one_sample('(9223372036854775807,1,1)', 0, 'two-sided', 0.95);
-- the largest summaries that fit are still produced (and exact): (2,1e308,0), (2,0,2e306)
SELECT bandit.summarize(x) FROM unnest('{1e308,1e308}'::float8[]) x;
SELECT bandit.summarize(x) FROM unnest('{1e153,-1e153}'::float8[]) x;

-- every summary a function produces is accepted by the type's input (text
-- and binary, through COPY), so that pg_dump restores it
SELECT current_setting('data_directory') || '/bandit_regress_harden_stats.bin' AS binfile \gset
CREATE TEMP TABLE produced AS
SELECT 'summarize' AS what, bandit.summarize(x) s FROM unnest('{1e153,-1e153,5e-324,1e150}'::float8[]) x
UNION ALL SELECT 'summarize 1e9', bandit.summarize(1e9 + x / 7.0) FROM generate_series(1, 1000) x
UNION ALL SELECT 'make_summary', bandit.make_summary(9223372036854775807, -1e308, 1e-150)
UNION ALL SELECT 'make_summary big', bandit.make_summary(3, 0, 9e153)
UNION ALL SELECT 'merge', bandit.merge(s) FROM (VALUES ('(9223372036854775806,1,0)'::bandit.summary), ('(1,1,0)')) t(s)
UNION ALL SELECT 'empty', bandit.summarize(x) FROM generate_series(1, 0) x;
COPY produced TO :'binfile' (FORMAT binary);
CREATE TEMP TABLE restored (what text, s bandit.summary);
COPY restored FROM :'binfile' (FORMAT binary);
SELECT p.what, p.s::text::bandit.summary::text = p.s::text AS text_round_trip,
       r.s::text = p.s::text AS binary_round_trip
FROM produced p JOIN restored r USING (what) ORDER BY 1;

-- == aggregate support functions: internal to the aggregates
SELECT p.oid::regprocedure AS support_function_executable_by_public
FROM pg_proc p
WHERE p.pronamespace = 'bandit'::regnamespace
  AND p.proname IN ('summary_accum', 'summary_combine', 'summary_diff_accum', 't_test_paired_final',
                    't_test_accum', 't_test_combine', 't_test_final', 'beta_posterior_bool_accum',
                    'beta_posterior_accum', 'beta_posterior_combine', 'beta_posterior_final', 'ips_accum',
                    'dr_accum', 'ope_moments_combine', 'ope_moments_final', 'snips_accum', 'snips_combine',
                    'snips_final')
  AND has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY 1;
CREATE ROLE regress_harden_stats;
GRANT USAGE ON SCHEMA bandit TO regress_harden_stats;
SET ROLE regress_harden_stats;
-- the aggregates keep working for everyone: (4,3.5,21), Welch t of {1,2}
-- minus {4,7} = -4 / sqrt(2.5) (scipy: -2.529822128134704), ips 1.75, (3,3)
SELECT bandit.summarize(x), round((bandit.t_test(x, x > 3)).statistic::numeric, 13) AS t_test,
       (bandit.ips(x, 0.5, 1)).estimate AS ips, bandit.beta_posterior(x > 3)
FROM unnest('{1,2,4,7}'::float8[]) x;
SELECT pg_temp.err($$SELECT bandit.t_test_accum('{}', 1.5, false)$$);
SELECT pg_temp.err($$SELECT bandit.ope_moments_final('{-5,1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.summary_combine('(1,1,0)', '(1,2,0)')$$);
RESET ROLE;
REVOKE USAGE ON SCHEMA bandit FROM regress_harden_stats;
DROP ROLE regress_harden_stats;

-- crafted states, called by a superuser: XX001 (0.1.0: XX000 or an answer)
SELECT s, pg_temp.err(format('SELECT bandit.t_test_accum(%L, 1.5, false)', s)) AS t_test_accum
FROM unnest(ARRAY['{}', '{1,2}', '{{0,0,0,0,0,0,0,0,-1,-1,-1}}', '{0,0,0,0,0,0,0,0,-1,-1,NULL}',
                  '{-1,0,0,0,0,0,0,0,0,0,0.95}', '{0.5,0,0,0,0,0,0,0,0,0,0.95}', '{1e300,0,0,0,0,0,0,0,0,0,0.95}',
                  '{2,NaN,1,0,0,0,0,0,0,0,0.95}', '{2,0,-1,0,0,0,0,0,0,0,0.95}', '{1,0,1,0,0,0,0,0,0,0,0.95}',
                  '{2,1,1,0.5,0,0,0,0,0,0,0.95}', '{0,0,0,0,0,0,0,0,2,0,0.95}', '{2,0,1,0,0,0,0,0,0,0,1.5}',
                  '{2,0,1,0,0,0,0,0,-1,-1,-1}', '{0,0,0,0,0,0,0,0,0,-1,0.95}']) s;
-- unknown alternative code 5: 0.1.0 answered with a garbage row
SELECT pg_temp.err($$SELECT bandit.t_test_final('{3,0,2,0,3,1,2,0,0,5,0.95}')$$);
SELECT pg_temp.err($$SELECT bandit.t_test_combine('{0,0,0,0,0,0,0,0,-1,-1,-1}', '{3,0,Infinity,0,0,0,0,0,0,0,0.95}')$$);
-- a valid state still answers: groups {1,2,3} and {4,5,6}, Welch, two-sided
-- (scipy.stats.ttest_ind([1,2,3],[4,5,6], equal_var=False): t -3.6742346141747673, p 0.021311641128756727)
SELECT round(statistic::numeric, 13) AS statistic, round(p_value::numeric, 14) AS p_value
FROM bandit.t_test_final('{3,2,2,0,3,5,2,0,0,0,0.95}');
-- ope: count -5 (0.1.0: an estimate of 1 over -5 rows), fractional counts, m2 < 0, spread with one row
SELECT s, pg_temp.err(format('SELECT bandit.ope_moments_final(%L)', s)) AS ope_moments_final
FROM unnest(ARRAY['{-5,1,1}', '{2.5,1,1}', '{2,1,-1}', '{1,1,1}', '{0,1,0}', '{2,Infinity,0}', '{1,2}']) s;
SELECT s, pg_temp.err(format('SELECT bandit.snips_final(%L)', s)) AS snips_final
FROM unnest(ARRAY['{-1,0,0,0,0,0}', '{1,-1,0.5,1,0.5,0}', '{2,0,0.5,0,0,0}', '{2,1,NaN,1,0.5,0}',
                  '{2,1,0.5,1,0.5,-1}', '{1,1,0.5,1,0.5,1}']) s;
SELECT s, pg_temp.err(format('SELECT bandit.beta_posterior_final(%L)', s)) AS beta_posterior_final
FROM unnest(ARRAY['{-1,-1,5,0}', '{0,1,0,0}', '{1,-1,0,0}', '{1,1,-2,0}', '{1,1,NaN,0}', '{Infinity,1,0,0}']) s;
SELECT pg_temp.err($$SELECT bandit.beta_posterior_combine('{1,1,0,0}', '{1,1,1.7976931348623157e308,0}')$$) AS ok,
       pg_temp.err($$SELECT bandit.beta_posterior_final('{1.7976931348623157e308,1,1.7976931348623157e308,0}')$$) AS overflow;

-- == messages show the value passed (0.1.0: "got 1", "got 0", %g's six digits)
SELECT pg_temp.err($$SELECT bandit.beta_quantile(1, 1, 1.0000001)$$);
SELECT pg_temp.err($$SELECT bandit.make_summary(3, 0, -1e-320)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, 1, 1.0000000000000002)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, 1, 1e-320)$$);
SELECT pg_temp.err($$SELECT bandit.snips(1, 1, 1e-160)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(0.5, 0.0500000001, 0.0500000002)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(-0.1234567891, 0.8, 0.05, 'greater')$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_proportions(0.1234567891, 0.1234567891)$$);
SELECT pg_temp.err($$SELECT bandit.chisquare('{10,10.000001}', '{10,10.000003}')$$);

-- == long comparisons: at most 100,000 arms (54000), and cancellable
SELECT pg_temp.err($$SELECT bandit.prob_best(array_fill(1::float8, '{100001}'), array_fill(1::float8, '{100001}'))$$);
SELECT pg_temp.err($$SELECT bandit.expected_loss(array_fill(1::float8, '{100001}'), array_fill(1::float8, '{100001}'))$$);
SELECT pg_temp.err($$SELECT bandit.normal_prob_best(array_fill(0::float8, '{100001}'), array_fill(1::float8, '{100001}'))$$);
-- 0.1.0 ran these for minutes past the timeout (100,000 distinct arms now take ~0.2 s)
CREATE TEMP TABLE arms AS
SELECT array_agg((1 + i % 7 + i * 1e-6)::float8) AS a, array_agg((1 + i % 5)::float8) AS b,
       array_agg((i % 11)::float8) AS mean, array_agg((1 + i % 3)::float8) AS sd
FROM generate_series(1, 100000) i;
SET statement_timeout = '20ms';
SELECT bandit.prob_best(a, b) FROM arms;
SELECT bandit.normal_prob_best(mean, sd) FROM arms;
RESET statement_timeout;
-- arms with the same parameters share one CDF: 10,000 fresh arms, each 1/10,000
SELECT min(p) = max(p) AS all_equal, abs(sum(p) - 1) < 1e-9 AS sums_to_1, abs(min(p) - 1e-4) < 1e-12 AS each_1e_4
FROM unnest(bandit.prob_best(array_fill(1::float8, '{10000}'), array_fill(1::float8, '{10000}'))) p;
-- twins among others: mpmath quadrature of f_i prod_{j != i} F_j gives
-- 0.27215007215007215 for each Beta(1, 1) and 0.091774891774891775 for each Beta(2, 3)
SELECT abs(p[1] - 0.27215007215007215) < 1e-12 AND p[1] = p[2] AND p[2] = p[3] AS beta_1_1,
       abs(p[4] - 0.091774891774891775) < 1e-12 AND p[4] = p[5] AS beta_2_3
FROM bandit.prob_best('{1,1,1,2,2}', '{1,1,1,3,3}') p;

-- == degenerate inputs, where scipy answers NaN or infinity (documents; see README)
-- one value, or no variance: an error (scipy: NaN, or t = +-inf with p = 0)
SELECT pg_temp.err($$SELECT bandit.t_test_one_sample('(1,5,0)')$$);
SELECT pg_temp.err($$SELECT bandit.t_test_one_sample('(3,5,0)', 4)$$);
SELECT pg_temp.err($$SELECT bandit.t_test(1, 0, 0, 3, 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.t_test(3, 0, 0, 3, 1, 0)$$);
SELECT pg_temp.err($$SELECT bandit.t_test('(3,0,0)'::bandit.summary, '(3,1,0)'::bandit.summary)$$);
-- the aggregates give NULL instead (scipy: NaN)
SELECT bandit.t_test(x, g) IS NULL AS t_test_one_row,
       bandit.t_test_paired(x, x + 1) IS NULL AS paired_constant
FROM (VALUES (1, false), (2, true), (3, true)) t(x, g);
-- Fisher's odds ratio with a zero row: NULL (scipy: NaN), p = 1; b = 0: Infinity (scipy: inf)
-- (exact p of [[3, 0], [3, 4]]: pmf(3) + pmf(0) = 1/6 + 1/30 = 1/5; scipy 0.19999999999999998)
SELECT * FROM bandit.fisher_exact(0, 0, 3, 4);
SELECT odds_ratio, round(p_value::numeric, 14) AS p_value FROM bandit.fisher_exact(3, 0, 3, 4);
SELECT pg_temp.err($$SELECT bandit.chisquare('{0,0}')$$);
