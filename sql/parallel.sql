-- Aggregates run in parallel plans and give the serial answer.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE TABLE par AS
SELECT i, (i % 1000) / 7.0 + sin(i) AS x, i % 3 = 0 AS g, i % 5 <> 0 AS ok, abs(sin(i)) AS r
FROM generate_series(1, 300000) i;
ANALYZE par;

SET max_parallel_workers_per_gather = 0;
CREATE TABLE par_serial AS
SELECT bandit.summarize(x) s, bandit.beta_posterior(ok) bp, bandit.t_test(x, g) tt,
       bandit.t_test(x, g, true, 'less', 0.9) tt_student, bandit.t_test_paired(x, x * 0.5 + 1) tp,
       bandit.beta_posterior(r, 2, 3) bf
FROM par;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;

-- the comparison itself runs the aggregates in parallel workers; values that may be
-- near 0 are compared with a tolerance relative to 1 + |value|
\set compare 'SELECT bandit.n(p.s) = bandit.n(s.s) AS n, abs(bandit.mean(p.s) / bandit.mean(s.s) - 1) < 1e-12 AS mean, abs(bandit.variance(p.s) / bandit.variance(s.s) - 1) < 1e-12 AS variance, p.bp = s.bp AS beta_posterior, abs((p.bf).alpha / (s.bf).alpha - 1) < 1e-12 AND abs((p.bf).beta / (s.bf).beta - 1) < 1e-12 AS fractional_posterior, abs((p.tt).statistic - (s.tt).statistic) < 1e-10 * (1 + abs((s.tt).statistic)) AND abs((p.tt).df / (s.tt).df - 1) < 1e-10 AND abs((p.tt).ci_lower - (s.tt).ci_lower) < 1e-10 * (1 + abs((s.tt).ci_lower)) AS welch, abs((p.tt_student).p_value - (s.tt_student).p_value) < 1e-10 AND (p.tt_student).ci_lower = ''-Infinity'' AND (p.tt_student).df = (s.tt_student).df AS student, abs((p.tp).statistic - (s.tp).statistic) < 1e-10 * (1 + abs((s.tp).statistic)) AS paired, bandit.n(p.s) AS rows, p.bp AS posterior FROM (SELECT bandit.summarize(x) s, bandit.beta_posterior(ok) bp, bandit.t_test(x, g) tt, bandit.t_test(x, g, true, ''less'', 0.9) tt_student, bandit.t_test_paired(x, x * 0.5 + 1) tp, bandit.beta_posterior(r, 2, 3) bf FROM par) p, par_serial s'
EXPLAIN (COSTS OFF) :compare;
:compare;

-- options that differ between rows are caught in the workers as in the leader
SELECT pg_temp.err($$SELECT bandit.t_test(x, g, i > 150000) FROM par$$);
SELECT pg_temp.err($$SELECT bandit.beta_posterior(r, 2, 3 + (i > 100)::int) FROM par$$);
RESET ALL;
DROP TABLE par, par_serial;
