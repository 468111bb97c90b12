-- Off-policy evaluation aggregates: ips, snips, dr.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE TABLE logs(r float8, t float8, l float8, rl float8, rt float8);
-- w = t / l = 2, 2, 0, 0.5; the IPS terms w r are 2, 0, 0, 0.5: mean 0.625, sd^2 = 2.6875 / 3;
-- SNIPS = 2.5 / 4.5; the DR terms rt + w (r - rl) are 1, 0, 0.3, 0.95: mean 0.5625.
-- Expected values from numpy (std with ddof=1), z = scipy.stats.norm.ppf(0.975):
--   ips   0.625               se 0.4732423621500228  ci -0.30253798577270596 .. 1.552537985772706
--   snips 0.5555555555555556  se 0.3200365776991536  ci -0.07170461047024013 .. 1.1828157215813513
--   dr    0.5625              se 0.24611565709370598 ci  0.08012217606492644 .. 1.0448778239350736
INSERT INTO logs VALUES (1, 0.5, 0.25, 0.8, 0.6), (0, 1, 0.5, 0.2, 0.4), (1, 0, 0.5, 0.6, 0.3), (1, 0.25, 0.5, 0.5, 0.7);

\set show 'round((e).estimate::numeric, 12) AS estimate, round((e).std_error::numeric, 12) AS std_error, round((e).ci_lower::numeric, 12) AS ci_lower, round((e).ci_upper::numeric, 12) AS ci_upper, (e).n'
SELECT 'ips' AS estimator, :show FROM (SELECT bandit.ips(r, t, l) e FROM logs) s
UNION ALL SELECT 'snips', :show FROM (SELECT bandit.snips(r, t, l) e FROM logs) s
UNION ALL SELECT 'dr', :show FROM (SELECT bandit.dr(r, t, l, rl, rt) e FROM logs) s;

-- the target policy equals the logging policy: IPS and SNIPS are the plain mean 0.75,
-- se = sd / sqrt(n) = sqrt(0.25) / 2 for IPS and sqrt(3 * 0.0625 + 0.5625) / 4 = sqrt(0.75) / 4 for SNIPS
SELECT round((bandit.ips(r, l, l)).std_error::numeric, 12) AS ips_se, round((bandit.ips(r, l, l)).estimate::numeric, 12) AS ips,
       round((bandit.snips(r, l, l)).std_error::numeric, 12) AS snips_se, round(sqrt(0.75) / 4, 12) AS want
FROM logs;

-- NULLs: rows with a NULL are skipped; no rows give NULL; one row has no standard error
SELECT bandit.ips(r, t, l) IS NULL AS ips, bandit.snips(r, t, l) IS NULL AS snips,
       bandit.dr(r, t, l, rl, rt) IS NULL AS dr FROM logs WHERE false;
SELECT (bandit.ips(r, CASE WHEN r = 0 THEN NULL ELSE t END, l)).n AS null_target_skipped,
       (bandit.dr(r, t, l, CASE WHEN r = 0 THEN NULL ELSE rl END, rt)).n AS null_model_skipped,
       (bandit.snips(r, t, NULLIF(l, 0.25))).n AS null_logging_skipped FROM logs;
SELECT (bandit.ips(1, 1, 0.5)).*;
SELECT (bandit.snips(1, 1, 0.5)).*;
SELECT (bandit.dr(1, 1, 0.5, 0.5, 0.25)).*;
-- every weight 0: SNIPS is undefined (NULL), IPS is 0
SELECT (bandit.snips(r, 0, l)).*, (bandit.ips(r, 0, l)).estimate AS ips FROM logs;

-- extremes: propensities at their bounds, tiny logging propensities, huge rewards
SELECT (bandit.ips(r, 1, 1)).estimate AS ips_on_policy FROM logs;
SELECT (bandit.ips(1, 1, 1e-300)).estimate = 1 / 1e-300::float8 AS ips_tiny_logging;
SELECT (bandit.snips(r, 1, 1e-150)).estimate AS snips_huge_w FROM logs;
-- SNIPS at an offset of 1e9: expanded into sums of powers, sum w^2 (r - V)^2 cancels to 0 in
-- doubles (numpy: 0.0); kept as deviations it does not.  Exact: 0.320036577699; V itself is
-- only known to ulp(1e9) = 1.2e-7 (numpy on the same doubles: 0.3200365791), hence 8 digits
SELECT round((bandit.snips(1e9 + r, t, l)).std_error::numeric, 8) AS snips_se_offset,
       round(((bandit.snips(1e9 + r, t, l)).estimate - 1e9)::numeric, 6) AS snips_minus_offset FROM logs;

-- bad input: 22003
SELECT pg_temp.err($$SELECT bandit.ips(1, 0.5, 0)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, 0.5, 1.5)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, 0.5, -0.5)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, -0.1, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, 1.1, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, 'NaN', 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1, 0.5, 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.ips('Infinity', 0.5, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.snips('NaN', 0.5, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.snips(1, 0.5, 0)$$);
SELECT pg_temp.err($$SELECT bandit.dr(1, 0.5, 0.5, 'Infinity', 0)$$);
SELECT pg_temp.err($$SELECT bandit.dr(1, 0.5, 0.5, 0, '-Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.dr(1, 0.5, 0, 0, 0)$$);
-- weights or terms that overflow
SELECT pg_temp.err($$SELECT bandit.ips(1, 1, 1e-320)$$);
SELECT pg_temp.err($$SELECT bandit.ips(1e300, 1, 1e-10)$$);
SELECT pg_temp.err($$SELECT bandit.snips(1, 1, 1e-200)$$);  -- w^2 overflows
SELECT pg_temp.err($$SELECT bandit.ips(x, 1, 1) FROM (VALUES (1e308::float8), (-1e308)) v(x)$$);

-- parallel plans give the serial answer
CREATE TABLE biglog AS
SELECT (i % 7) / 6::float8 AS r, (i % 5 + 1) / 5::float8 AS l, ((i * 7) % 11) / 10::float8 AS t,
       (i % 3) / 2::float8 AS rl, 0.4::float8 + (i % 4) / 10::float8 AS rt
FROM generate_series(1, 300000) i;
ANALYZE biglog;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE serial AS SELECT bandit.ips(r, t, l) i, bandit.snips(r, t, l) s, bandit.dr(r, t, l, rl, rt) d FROM biglog;
-- numpy on the same rows (std with ddof=1):
--   ips   0.570834912037 se 0.001413125306 ci 0.568065237331 .. 0.573604586743
--   snips 0.500001005676 se 0.000853106704 ci 0.498328947262 .. 0.501673064091
--   dr    0.550001523148 se 0.001553396423 ci 0.546956922106 .. 0.553046124191
SELECT 'ips' AS estimator, :show FROM (SELECT i e FROM serial) s
UNION ALL SELECT 'snips', :show FROM (SELECT s e FROM serial) s
UNION ALL SELECT 'dr', :show FROM (SELECT d e FROM serial) s;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
-- the comparison itself runs the aggregates in parallel workers
\set compare 'SELECT abs((p.i).estimate - (s.i).estimate) < 1e-12 * abs((s.i).estimate) AND abs((p.i).std_error / (s.i).std_error - 1) < 1e-12 AND abs((p.i).ci_lower - (s.i).ci_lower) < 1e-12 * (1 + abs((s.i).ci_lower)) AND (p.i).n = (s.i).n AS ips, abs((p.s).estimate - (s.s).estimate) < 1e-12 * abs((s.s).estimate) AND abs((p.s).std_error / (s.s).std_error - 1) < 1e-12 AND abs((p.s).ci_lower - (s.s).ci_lower) < 1e-12 * (1 + abs((s.s).ci_lower)) AND (p.s).n = (s.s).n AS snips, abs((p.d).estimate - (s.d).estimate) < 1e-12 * abs((s.d).estimate) AND abs((p.d).std_error / (s.d).std_error - 1) < 1e-12 AND abs((p.d).ci_lower - (s.d).ci_lower) < 1e-12 * (1 + abs((s.d).ci_lower)) AND (p.d).n = (s.d).n AS dr, (p.i).n, (p.s).n AS snips_n, (p.d).n AS dr_n FROM (SELECT bandit.ips(r, t, l) i, bandit.snips(r, t, l) s, bandit.dr(r, t, l, rl, rt) d FROM biglog) p, serial s'
EXPLAIN (COSTS OFF) :compare;
:compare;
-- bad input is caught in the workers too
SELECT pg_temp.err($$SELECT bandit.ips(r, t, CASE WHEN r > 0.9 AND l < 0.3 THEN 0 ELSE l END) FROM biglog$$);
RESET ALL;
DROP TABLE biglog, serial, logs;
