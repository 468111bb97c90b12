-- Contingency tables: chi2_test, chi2_contingency, fisher_exact.
-- Reference values (the "scipy" columns) are scipy 1.10.1, computed independently
-- with scipy.stats.fisher_exact / chi2_contingency; where scipy itself is inaccurate
-- the reference is an exact sum with mpmath (40 digits), as noted.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

--
-- fisher_exact
--
-- Fisher's tea-tasting experiment (Fisher 1935): 3 of 4 cups named right.
-- Published: two-sided p = 0.4857142857, one-sided ("greater") p = 0.2428571429.
SELECT alternative, odds_ratio, round(p_value::numeric, 10) AS p_value
FROM unnest(ARRAY['two-sided', 'less', 'greater']) AS alternative,
     LATERAL bandit.fisher_exact(3, 1, 1, 3, alternative);
-- the default alternative is two-sided
SELECT odds_ratio, round(p_value::numeric, 10) AS p_value FROM bandit.fisher_exact(3, 1, 1, 3);

-- normal use, ties (p = 1 at the mode), zeros (odds ratio 0 or Infinity)
SELECT a, b, c, d, alt, odds_ratio, round(p_value::numeric, 10) AS p_value,
       odds_ratio = scipy_odds AS odds_ok,
       abs(p_value - scipy_p) <= 1e-12 * scipy_p AS p_ok
FROM (VALUES
    (8, 2, 1, 5, 'two-sided', 20.0::float8, 0.034965034965034975::float8),
    (8, 2, 1, 5, 'less', 20.0, 0.9991258741258742),
    (8, 2, 1, 5, 'greater', 20.0, 0.024475524475524483),
    (12, 5, 9, 7, 'two-sided', 1.8666666666666667, 0.4812658187035515),
    (12, 5, 9, 7, 'less', 1.8666666666666667, 0.8884638325998291),
    (12, 5, 9, 7, 'greater', 1.8666666666666667, 0.3110493140526512),
    (2, 7, 8, 2, 'two-sided', 0.07142857142857142, 0.02301413756522116),
    (2, 7, 8, 2, 'less', 0.07142857142857142, 0.01852172595206651),
    (2, 7, 8, 2, 'greater', 0.07142857142857142, 0.9990149169715733),
    (100, 120, 90, 140, 'two-sided', 1.2962962962962963, 0.1825069041052248),
    (100, 120, 90, 140, 'less', 1.2962962962962963, 0.9269452820434405),
    (100, 120, 90, 140, 'greater', 1.2962962962962963, 0.1034096154829667),
    (5, 5, 5, 5, 'two-sided', 1.0, 1.0),
    (5, 5, 5, 5, 'less', 1.0, 0.6718591006516703),
    (5, 5, 5, 5, 'greater', 1.0, 0.6718591006516703),
    (5, 0, 0, 3, 'two-sided', 'Infinity', 0.017857142857142853),
    (5, 0, 0, 3, 'less', 'Infinity', 1.0),
    (5, 0, 0, 3, 'greater', 'Infinity', 0.01785714285714286),
    (0, 5, 3, 0, 'two-sided', 0.0, 0.01785714285714286),
    (0, 5, 3, 0, 'less', 0.0, 0.01785714285714286),
    (0, 5, 3, 0, 'greater', 0.0, 1.0)
) AS t(a, b, c, d, alt, scipy_odds, scipy_p),
LATERAL bandit.fisher_exact(a, b, c, d, alt);

-- a zero row or column: scipy's odds ratio is NaN, ours NULL; p = 1
SELECT a, b, c, d, alt, odds_ratio IS NULL AS odds_null, p_value
FROM (VALUES (7, 0, 0, 0), (0, 5, 0, 3), (0, 0, 3, 4), (0, 0, 0, 0)) AS t(a, b, c, d),
     unnest(ARRAY['two-sided', 'less', 'greater']) AS alt,
     LATERAL bandit.fisher_exact(a, b, c, d, alt)
ORDER BY alt, a, b, c, d;

-- extremes: cells near 1e7, and tiny p-values (relative accuracy 1e-8 asked;
-- at these sizes scipy's own error is up to 4e-9, ours below 1e-12 against mpmath)
SELECT a, b, c, d, alt, odds_ratio,
       to_char(p_value, '9.999999EEEE') AS p_value,
       abs(p_value - reference) <= 1e-8 * reference AS p_ok
FROM (VALUES
    -- scipy
    (10000000, 9995000, 9995000, 10000000, 'two-sided', 0.11387340827742536::float8),
    (10000000, 9995000, 9995000, 10000000, 'less', 0.9431355713949069),
    (10000000, 9995000, 9995000, 10000000, 'greater', 0.05693670413871268),
    (1000000, 1000000, 1000000, 1000000, 'two-sided', 1.0),
    (1000000, 1000000, 1000000, 1000000, 'less', 0.5003989420967477),
    (100, 0, 0, 100, 'two-sided', 2.208760693199503e-59),
    (100, 0, 0, 100, 'greater', 1.1043803465997516e-59),
    (1975634, 8024366, 2036230, 7963770, 'two-sided', 5.717656185736351e-251),
    (1975634, 8024366, 2036230, 7963770, 'less', 2.8588280928681754e-251),
    (913903, 1086097, 1186097, 1313903, 'two-sided', 6.563178472117622e-299),
    (913903, 1086097, 1186097, 1313903, 'less', 3.392719956060526e-299),
    (981523, 1018477, 1018477, 981523, 'less', 3.13512705814939e-299),
    -- mpmath: here scipy's pmf underflows early (to 0 below about 5e-300), so
    -- scipy 1.10 returns only the lower tail, 3.135e-299, for the two-sided test
    (981523, 1018477, 1018477, 981523, 'two-sided', 6.27025411939945e-299),
    -- mpmath: at 2e9 per cell scipy's hypergeometric is off by 2.4e-7
    (1000000000, 1000050000, 1000000000, 1000000000, 'two-sided', 0.42921664450980155)
) AS t(a, b, c, d, alt, reference),
LATERAL bandit.fisher_exact(a, b, c, d, alt);
-- p-values below the double range are 0, not an error
SELECT odds_ratio, p_value FROM bandit.fisher_exact(10000000, 0, 0, 10000000);

-- NULL inputs (STRICT)
SELECT * FROM bandit.fisher_exact(NULL, 1, 1, 1);
SELECT * FROM bandit.fisher_exact(1, 1, 1, 1, NULL);

-- bad input
SELECT pg_temp.err($$SELECT * FROM bandit.fisher_exact(-1, 1, 1, 1)$$);                -- a negative: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.fisher_exact(1, 1, 1, -5)$$);                -- d negative: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.fisher_exact(1, 1, 1, 1, 'two_sided')$$);    -- unknown alternative: 22023
SELECT pg_temp.err($$SELECT * FROM bandit.fisher_exact(9223372036854775807, 1, 0, 0)$$);  -- total overflows: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.fisher_exact(4503599627370497, 4503599627370496, 0, 0)$$);  -- total > 2^53: 22003

--
-- chi2_test: the 2x2 table [[s1, n1 - s1], [s2, n2 - s2]]
--
SELECT s1, n1, s2, n2, correction, round(statistic::numeric, 10) AS statistic,
       round(p_value::numeric, 10) AS p_value,
       abs(statistic - scipy_statistic) <= 1e-12 * scipy_statistic AS statistic_ok,
       abs(p_value - scipy_p) <= 1e-12 * scipy_p AS p_ok
FROM (VALUES
    (10, 30, 30, 70, true, 0.4464285714285714::float8, 0.5040358664525046::float8),
    (10, 30, 30, 70, false, 0.7936507936507936, 0.37299848361348686),
    (5, 10, 1, 10, true, 2.142857142857143, 0.1432349075246656),
    (5, 10, 1, 10, false, 3.8095238095238093, 0.050961936967763424),
    -- |observed - expected| < 0.5: Yates' correction stops at zero
    (10, 20, 10, 21, true, 0.0, 1.0),
    (10, 20, 10, 21, false, 0.02324263038548757, 0.8788278129295307),
    (500000, 1000000, 502000, 1000000, true, 7.992033968135873, 0.004698360391350802),
    (500000, 1000000, 502000, 1000000, false, 8.000032000128, 0.0046776523135191915)
) AS t(s1, n1, s2, n2, correction, scipy_statistic, scipy_p),
LATERAL bandit.chi2_test(s1, n1, s2, n2, correction);
-- default: with Yates' correction; tiny p-values keep their relative accuracy
SELECT round(statistic::numeric, 8) AS statistic, to_char(p_value, '9.99999999EEEE') AS p_value,
       abs(p_value - 4.635583808723597e-183) <= 1e-10 * 4.635583808723597e-183 AS p_ok
FROM bandit.chi2_test(3000, 10000, 5000, 10000);

-- NULL inputs (STRICT)
SELECT * FROM bandit.chi2_test(NULL, 10, 1, 10);
SELECT * FROM bandit.chi2_test(1, 10, 1, 10, NULL);

-- bad input
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_test(-1, 10, 1, 10)$$);   -- negative count: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_test(1, 10, 1, -10)$$);   -- negative n: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_test(11, 10, 1, 10)$$);   -- successes1 > n1: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_test(1, 10, 12, 10)$$);   -- successes2 > n2: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_test(0, 0, 1, 10)$$);     -- empty group: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_test(0, 10, 0, 10)$$);    -- no successes at all: 22023
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_test(10, 10, 5, 5)$$);    -- no failures at all: 22023

--
-- chi2_contingency: r x c tables as 2-D arrays
--
SELECT observed, correction, round(statistic::numeric, 10) AS statistic, df,
       round(p_value::numeric, 10) AS p_value,
       abs(statistic - scipy_statistic) <= 1e-12 * scipy_statistic AS statistic_ok,
       df = scipy_df AS df_ok,
       abs(p_value - scipy_p) <= 1e-12 * scipy_p AS p_ok
FROM (VALUES
    ('{{10,20},{30,40}}'::bigint[], true, 0.4464285714285714::float8, 1, 0.5040358664525046::float8),
    ('{{10,20},{30,40}}', false, 0.7936507936507936, 1, 0.37299848361348686),
    -- Yates' correction applies only when df = 1
    ('{{10,20,30},{20,20,20}}', true, 5.333333333333334, 2, 0.0694834512228015),
    ('{{12,7,9},{5,15,8},{9,6,14}}', true, 10.06955879810639, 4, 0.03927213287544329),
    -- one row or one column: df = 0, statistic 0, p = 1
    ('{{1,2,3}}', true, 0.0, 0, 1.0),
    ('{{4},{5},{6}}', false, 0.0, 0, 1.0)
) AS t(observed, correction, scipy_statistic, scipy_df, scipy_p),
LATERAL bandit.chi2_contingency(observed, correction);
-- the default is correction = true
SELECT round(statistic::numeric, 10) AS statistic, df, round(p_value::numeric, 10) AS p_value
FROM bandit.chi2_contingency('{{10,20},{30,40}}');
-- a tiny p-value (scipy: 2.558292947640901e-281)
SELECT round(statistic::numeric, 8) AS statistic, df, to_char(p_value, '9.99999999EEEE') AS p_value,
       abs(p_value - 2.558292947640901e-281) <= 1e-10 * 2.558292947640901e-281 AS p_ok
FROM bandit.chi2_contingency('{{685,302,761,472,828},{362,816,483,715,949},{498,717,150,157,818},{564,370,81,464,429}}');
-- array lower bounds do not matter
SELECT df, round(p_value::numeric, 10) AS p_value FROM bandit.chi2_contingency('[0:1][5:6]={{10,20},{30,40}}');

-- NULL inputs (STRICT)
SELECT * FROM bandit.chi2_contingency(NULL);
SELECT * FROM bandit.chi2_contingency('{{1,2},{3,4}}', NULL);

-- bad input
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{1,2,3}')$$);              -- one-dimensional: 2202E
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{{{1,2},{3,4}}}')$$);      -- three-dimensional: 2202E
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{}')$$);                   -- empty: 2202E
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{{1,NULL},{3,4}}')$$);     -- NULL element: 22004
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{{1,-2},{3,4}}')$$);       -- negative count: 22003
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{{0,0},{3,4}}')$$);        -- empty row: 22023
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{{1,0,2},{3,0,4}}')$$);    -- empty column: 22023
SELECT pg_temp.err($$SELECT * FROM bandit.chi2_contingency('{{0,0},{0,0}}')$$);        -- no observations: 22023
