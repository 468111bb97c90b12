-- Mergeable summaries and t-tests.
-- References: exact arithmetic (numeric), R's t.test on the sleep data as
-- published in R's documentation, and scipy.stats 1.10 where noted.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

SELECT bandit.summarize(x) FROM generate_series(1, 10) x;             -- (10,5.5,82.5)
SELECT bandit.n(s), bandit.mean(s), bandit.variance(s), round(bandit.stddev(s)::numeric, 12) AS stddev
FROM (SELECT bandit.summarize(x) s FROM generate_series(1, 10) x) t;  -- var 82.5/9
SELECT bandit.summarize(x) FROM (VALUES (1.0), (NULL), (3.0)) t(x);    -- NULLs skipped
SELECT s, bandit.mean(s) IS NULL AS no_mean, bandit.variance(s) IS NULL AS no_variance
FROM (SELECT bandit.summarize(x) s FROM generate_series(1, 0) x) t;
SELECT bandit.variance('(1,4,0)') IS NULL AS one_value_no_variance;

-- text form round-trips bit for bit; binary send/receive too (through COPY BINARY)
-- (the file goes in the cluster's own data directory, which only its server writes)
SELECT current_setting('data_directory') || '/bandit_regress_summary.bin' AS binfile \gset
CREATE TEMP TABLE sums AS SELECT bandit.summarize(x / 3.0) s FROM generate_series(1, 7) x;
COPY sums TO :'binfile' (FORMAT binary);
CREATE TEMP TABLE sums2 (s bandit.summary);
COPY sums2 FROM :'binfile' (FORMAT binary);
SELECT sums.s::text = sums2.s::text AS binary_round_trip,
       sums.s::text::bandit.summary::text = sums.s::text AS text_round_trip
FROM sums, sums2;
SELECT '(3, 2, 2)'::bandit.summary, ' (3,2,2) '::bandit.summary;

-- merging shards equals summarizing everything (Chan's formula)
WITH shards AS (SELECT x % 4 AS shard, bandit.summarize(sin(x) * 100 + 5) s
                FROM generate_series(1, 1000) x GROUP BY 1),
     whole AS (SELECT bandit.summarize(sin(x) * 100 + 5) s FROM generate_series(1, 1000) x)
SELECT bandit.n(m) = bandit.n(w) AS n_equal,
       abs(bandit.mean(m) / bandit.mean(w) - 1) < 1e-13 AS mean_equal,
       abs(bandit.variance(m) / bandit.variance(w) - 1) < 1e-13 AS variance_equal
FROM (SELECT bandit.merge(s) m FROM shards) a, (SELECT s w FROM whole) b;

-- 1e9 + noise: the variance to 1e-9 relative, against exact numeric arithmetic
CREATE TEMP TABLE big AS
SELECT 1e9::float8 + ((i * 7919) % 10007 - 5003) / 2887.0 AS x FROM generate_series(1, 100000) i;
SELECT abs(bandit.variance(bandit.summarize(x)) / var_samp(x::numeric)::float8 - 1) < 1e-9 AS variance_1e9,
       abs(bandit.mean(bandit.summarize(x)) - avg(x::numeric)::float8) < 1e-6 AS mean_1e9
FROM big;

-- a summary from published statistics
SELECT bandit.n(s), bandit.mean(s), round(bandit.variance(s)::numeric, 12) AS variance   -- 82.5 / 9
FROM bandit.make_summary(10, 5.5, sqrt(82.5 / 9)) s;

-- Welch t-test on the sleep data, R: t = -1.8608, df = 17.776, p-value = 0.07939,
-- 95 percent confidence interval: -3.3654832  0.2054832
CREATE TEMP TABLE sleep (extra float8, grp int);
INSERT INTO sleep VALUES
 (0.7,1),(-1.6,1),(-0.2,1),(-1.2,1),(-0.1,1),(3.4,1),(3.7,1),(0.8,1),(0.0,1),(2.0,1),
 (1.9,2),(0.8,2),(1.1,2),(0.1,2),(-0.1,2),(4.4,2),(5.5,2),(1.6,2),(4.6,2),(3.4,2);
SELECT round(statistic::numeric, 4) AS t, round(df::numeric, 3) AS df, round(p_value::numeric, 5) AS p,
       round(ci_lower::numeric, 7) AS ci_lower, round(ci_upper::numeric, 7) AS ci_upper
FROM (SELECT (bandit.t_test(extra, grp = 2)).* FROM sleep) r;
-- the same from stats and from summaries
SELECT round(statistic::numeric, 4) AS t, round(p_value::numeric, 5) AS p
FROM bandit.t_test(10, 0.75, 1.789010, 10, 2.33, 2.002249);
SELECT round((r).statistic::numeric, 10) AS t, round((r).df::numeric, 10) AS df  -- as the aggregate: -1.8608134675, 17.7764735162
FROM (SELECT bandit.t_test(bandit.summarize(extra) FILTER (WHERE grp = 1),
                           bandit.summarize(extra) FILTER (WHERE grp = 2)) r FROM sleep) x;
-- Student's: R t.test(var.equal = TRUE): t = -1.8608, df = 18, p-value = 0.07919,
-- CI -3.363874 0.203874; scipy: Cohen's d = -0.8321810813
SELECT round(statistic::numeric, 4) AS t, df, round(p_value::numeric, 5) AS p,
       round(ci_lower::numeric, 6) AS ci_lower, round(ci_upper::numeric, 6) AS ci_upper,
       round(cohens_d::numeric, 10) AS d
FROM (SELECT (bandit.t_test(extra, grp = 2, true)).* FROM sleep) r;
-- one-sided: scipy p = 0.0395933571; R's one-sided bound -0.1076221683
SELECT round(p_value::numeric, 10) AS p, ci_lower, round(ci_upper::numeric, 10) AS ci_upper
FROM (SELECT (bandit.t_test(extra, grp = 2, true, 'less')).* FROM sleep) r;
SELECT round(p_value::numeric, 10) AS p
FROM (SELECT (bandit.t_test(extra, grp = 2, true, 'greater', 0.9)).* FROM sleep) r;  -- 1 - 0.0395933571
-- paired, R: t = -4.0621, df = 9, p-value = 0.002833, CI -2.4598858 -0.7001142, mean -1.58
SELECT round(statistic::numeric, 4) AS t, df, round(p_value::numeric, 6) AS p,
       round(ci_lower::numeric, 7) AS ci_lower, round(ci_upper::numeric, 7) AS ci_upper, mean_diff
FROM (SELECT (bandit.t_test_paired(a.extra, b.extra)).*
      FROM (SELECT extra, row_number() OVER () i FROM sleep WHERE grp = 1) a
      JOIN (SELECT extra, row_number() OVER () i FROM sleep WHERE grp = 2) b USING (i)) r;
-- one-sample against 0.5, scipy: t = 0.4419033802, p = 0.6689866236; CI of mean - 0.5: -1.0297804135 1.5297804135
SELECT round(statistic::numeric, 10) AS t, round(p_value::numeric, 10) AS p,
       round(ci_lower::numeric, 10) AS ci_lower, round(ci_upper::numeric, 10) AS ci_upper
FROM bandit.t_test_one_sample((SELECT bandit.summarize(extra) FROM sleep WHERE grp = 1), 0.5);
SELECT round(p_value::numeric, 10) AS p    -- scipy 'greater': 0.3344933118
FROM bandit.t_test_one_sample((SELECT bandit.summarize(extra) FROM sleep WHERE grp = 1), 0.5, 'greater');

-- extremes, scipy.stats.ttest_ind_from_stats: 1e9 per group: t = 2.2360679775, p = 0.0253473188;
-- a tiny p-value: 1.4719479757288813e-63
SELECT round(statistic::numeric, 10) AS t, round(p_value::numeric, 10) AS p
FROM bandit.t_test(1e9, 0.0001, 1, 1e9, 0, 1);
SELECT abs(p_value / 1.4719479757288813e-63 - 1) < 1e-9 AS tiny_p FROM bandit.t_test(1000, 1, 1, 1000, 0, 1.5);

-- too little data in an aggregate: NULL, as var_samp()
SELECT bandit.t_test(x, g) IS NULL AS one_row_group FROM (VALUES (1.0, false), (2.0, true), (3.0, true)) t(x, g);
SELECT bandit.t_test_paired(x, y) IS NULL AS one_pair FROM (VALUES (1.0, 2.0)) t(x, y);

-- bad input
SELECT pg_temp.err($$SELECT bandit.summarize(x) FROM (VALUES ('NaN'::float8)) t(x)$$);
SELECT pg_temp.err($$SELECT bandit.summarize(x) FROM (VALUES ('-Infinity'::float8)) t(x)$$);
SELECT pg_temp.err($$SELECT 'junk'::bandit.summary$$);
SELECT pg_temp.err($$SELECT '(3,2)'::bandit.summary$$);
SELECT pg_temp.err($$SELECT '(-1,0,0)'::bandit.summary$$);
SELECT pg_temp.err($$SELECT '(1,2,3)'::bandit.summary$$);
SELECT pg_temp.err($$SELECT '(3,2,-1)'::bandit.summary$$);
SELECT pg_temp.err($$SELECT bandit.make_summary(5, 1, -1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test(1, 0, 1, 10, 0, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test(10, 0, -1, 10, 0, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test(10, 'NaN', 1, 10, 0, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test(10, 0, 0, 10, 1, 0)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test(10, 0, 1, 10, 0, 1, false, 'sideways')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test(10, 0, 1, 10, 0, 1, false, 'two-sided', 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test('(1,0,0)'::bandit.summary, '(3,2,2)'::bandit.summary)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.t_test_one_sample('(3,2,0)'::bandit.summary)$$);
SELECT pg_temp.err($$SELECT bandit.t_test(x, g, e) FROM (VALUES (1.0, false, true), (2.0, true, false)) t(x, g, e)$$);
SELECT pg_temp.err($$SELECT bandit.t_test(x, g, false, 'up') FROM (VALUES (1.0, false)) t(x, g)$$);
SELECT pg_temp.err($$SELECT bandit.t_test_paired(x, y) FROM (VALUES (1.0, 'Infinity'::float8)) t(x, y)$$);
