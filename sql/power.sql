-- Power and sample size; expected values from scipy 1.10 / statsmodels 0.13
-- (exact roots of statsmodels' power equations, solved with brentq to 1e-15).
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- noncentral t: scipy.stats.nct.cdf / .sf
SELECT round(bandit.nct_cdf(1, 10, 0.5)::numeric, 12) AS cdf_0_678630638691,
       round(bandit.nct_sf(1, 10, 0.5)::numeric, 12) AS sf_0_321369361309;
SELECT round(bandit.nct_cdf(-1, 3, 2)::numeric, 12) AS cdf_0_003005247595,
       round(bandit.nct_sf(2, 5, 1)::numeric, 12) AS sf_0_221925337384,
       round(bandit.nct_cdf(0, 4, 1.5)::numeric, 12) AS cdf_0_066807201269;
-- large df, where GSL's incomplete beta gives up
SELECT round(bandit.nct_cdf(0.5, 1e6, -3)::numeric, 12) AS cdf_0_999767370621,
       round((bandit.nct_sf(45, 1e7, 40) * 1e7)::numeric, 9) AS sf_times_1e7_2_870297806;
-- far tails are computed directly: P(T > 2 | df 20, nc -5) = 1.14599132247e-11
-- (mpmath at 40 digits; Boost's value 1.145994e-11 loses 5 digits to cancellation)
SELECT round((bandit.nct_sf(2, 20, -5) * 1e11)::numeric, 10) AS sf_times_1e11_1_1459913225;
SELECT bandit.nct_cdf(3, 1e7, 40) > 0 AND bandit.nct_cdf(3, 1e7, 40) < 1e-299 AS tiny_not_zero;
SELECT bandit.nct_cdf('infinity', 5, 1) AS one, bandit.nct_sf('infinity', 5, 1) AS zero,
       bandit.nct_cdf('-infinity', 5, 1) AS zero;
-- nc = 0 is Student's t: scipy.stats.t.cdf(2, 7) = 0.95719033572
SELECT round(bandit.nct_cdf(2, 7, 0)::numeric, 12) AS t_cdf_0_957190335719, round(bandit.nct_cdf(2, 7, 0) + bandit.nct_sf(2, 7, 0)) AS total;

-- power of the two-sample t-test: TTestIndPower().power
SELECT round(bandit.power_t_test(0.5, 64)::numeric, 10) AS p_0_8014595579;
SELECT round(bandit.power_t_test(0.5, 64, 0.05, 'greater')::numeric, 10) AS p_0_8786641914,
       round(bandit.power_t_test(-0.5, 64, 0.05, 'less')::numeric, 10) AS p_0_8786641914,
       round(bandit.power_t_test(0.5, 64, 0.05, 'less')::numeric, 12) AS p_0_000004131985;
SELECT round(bandit.power_t_test(-0.3, 100, 0.01)::numeric, 10) AS p_0_3183723102,
       round(bandit.power_t_test(0.01, 1000)::numeric, 10) AS p_0_0557417087;
-- extremes: the smallest integer n, a huge n, no effect (power = alpha)
SELECT round(bandit.power_t_test(3, 2)::numeric, 10) AS p_0_3874001285,
       bandit.power_t_test(0.2, 1e6) AS one,
       round(bandit.power_t_test(0, 50)::numeric, 10) AS alpha;

-- sample size per group: TTestIndPower().solve_power(nobs1=None)
SELECT round(bandit.sample_size_t_test(0.5)::numeric, 8) AS n_63_76561019;
SELECT round(bandit.sample_size_t_test(0.5, 0.8, 0.05, 'greater')::numeric, 8) AS n_50_15078339,
       round(bandit.sample_size_t_test(-0.5, 0.9, 0.01, 'less')::numeric, 8) AS n_105_50036937,
       round(bandit.sample_size_t_test(-0.2, 0.95)::numeric, 8) AS n_650_69740594;
SELECT round(bandit.sample_size_t_test(0.01)::numeric, 4) AS n_156978_1706,
       round(bandit.sample_size_t_test(3)::numeric, 8) AS n_3_07000908;
-- round trip
SELECT round(bandit.power_t_test(0.3, bandit.sample_size_t_test(0.3, 0.9))::numeric, 12) AS power_0_9;

-- two proportions: NormalIndPower on Cohen's h = proportion_effectsize(p1, p2)
SELECT round(bandit.sample_size_proportions(0.10, 0.12)::numeric, 6) AS n_3834_595740,
       round(bandit.sample_size_proportions(0.5, 0.4, 0.9, 0.01)::numeric, 8) AS n_733_96880826,
       round(bandit.sample_size_proportions(0.3, 0.2)::numeric, 8) AS n_291_68866834,
       round(bandit.sample_size_proportions(0, 1)::numeric, 8) AS n_1_59051167;
SELECT round(bandit.power_proportions(0.10, 0.12, 3841)::numeric, 10) AS p_0_8006540435,
       round(bandit.power_proportions(0.2, 0.3, 1)::numeric, 10) AS p_0_0530881201,
       round(bandit.power_proportions(0, 1, 0.5)::numeric, 10) AS p_0_3487832469,
       round(bandit.power_proportions(0.5, 0.5, 100)::numeric, 10) AS alpha;

-- NULL arguments: STRICT
SELECT bandit.nct_cdf(NULL, 5, 1) IS NULL AS n1, bandit.nct_sf(1, NULL, 1) IS NULL AS n2,
       bandit.power_t_test(0.5, NULL) IS NULL AS n3, bandit.power_t_test(0.5, 10, 0.05, NULL) IS NULL AS n4,
       bandit.sample_size_t_test(NULL) IS NULL AS n5, bandit.sample_size_proportions(0.1, NULL) IS NULL AS n6,
       bandit.power_proportions(0.1, 0.2, NULL) IS NULL AS n7;

-- bad input
SELECT pg_temp.err($$SELECT bandit.nct_cdf('NaN', 5, 1)$$);
SELECT pg_temp.err($$SELECT bandit.nct_cdf(1, 0, 1)$$);
SELECT pg_temp.err($$SELECT bandit.nct_sf(1, 'infinity', 1)$$);
SELECT pg_temp.err($$SELECT bandit.nct_sf(1, 5, 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.power_t_test(0.5, 1)$$);
SELECT pg_temp.err($$SELECT bandit.power_t_test(0.5, 'infinity')$$);
SELECT pg_temp.err($$SELECT bandit.power_t_test('NaN', 10)$$);
SELECT pg_temp.err($$SELECT bandit.power_t_test(0.5, 10, 0)$$);
SELECT pg_temp.err($$SELECT bandit.power_t_test(0.5, 10, 1)$$);
SELECT pg_temp.err($$SELECT bandit.power_t_test(0.5, 10, 0.05, 'two_sided')$$);
SELECT pg_temp.err($$SELECT bandit.power_t_test(0.5, 1.001)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(0)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(0.5, 1)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(0.5, 0.8, 0)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(0.5, 0.05)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(0.5, 0.8, 0.05, 'less')$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(-0.5, 0.8, 0.05, 'greater')$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(0.5, 0.8, 0.05, 'sideways')$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test('-infinity')$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_t_test(3, 0.0500001)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_proportions(0.3, 0.3)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_proportions(1.1, 0.3)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_proportions(0.3, -0.1)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_proportions(0.1, 0.2, 0.01)$$);
SELECT pg_temp.err($$SELECT bandit.sample_size_proportions(0.1, 0.2, 0.8, 1.5)$$);
SELECT pg_temp.err($$SELECT bandit.power_proportions(0.1, 0.2, 0)$$);
SELECT pg_temp.err($$SELECT bandit.power_proportions(0.1, 'NaN', 10)$$);
SELECT pg_temp.err($$SELECT bandit.power_proportions(0.1, 0.2, 10, -0.05)$$);
