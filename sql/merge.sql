-- Mergeable states for a coordinator (issue 12): text round trips, the
-- enum alternative, ips_terms/dr_terms/snips_state merged and finished.
-- The numeric routes are checked against one node in test/merge_test.py;
-- here, the C paths (for valgrind) with answers that need no arithmetic.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE TEMP TABLE o AS
SELECT i, (i % 7) * 0.125 AS r, (i % 4) * 0.25 AS t, 0.5 + (i % 2) * 0.5 AS l, 1e9 + i AS x, i % 2 = 0 AS g
FROM generate_series(1, 40) i;

-- a summary's mean low part is written and read back
SELECT '(2,1,0,-1e-17)'::bandit.summary::text AS with_low, '(3,2,2)'::bandit.summary::text AS without,
       '(1,-0,0)'::bandit.summary::text AS negative_zero, '(0,0,0,-0)'::bandit.summary::text AS low_negative_zero;
SELECT pg_temp.err($$SELECT '(2,1,0,1e-15)'::bandit.summary$$);
SELECT pg_temp.err($$SELECT '(2,1,0,)'::bandit.summary$$);
SELECT bool_and(bandit.summary_send(s) = bandit.summary_send(s::text::bandit.summary)) AS round_trip
FROM (SELECT bandit.summarize(x / 3) s FROM o GROUP BY i % 5) z;

-- snips_state: text, validation, merge, estimate = snips
SELECT '(0,0,0,0,0,0)'::bandit.snips_state::text AS empty, '(2,1,0.5,1,0.5,0.5)'::bandit.snips_state::text AS two;
SELECT pg_temp.err($$SELECT '(1,2,3,4,5,6)'::bandit.snips_state$$);
SELECT pg_temp.err($$SELECT '(1,2,3)'::bandit.snips_state$$);
SELECT pg_temp.err($$SELECT '(0.5,0,0,0,0,0)'::bandit.snips_state$$);
SELECT abs((bandit.estimate(bandit.merge(s))).estimate - (SELECT (bandit.snips(r, t, l)).estimate FROM o))
           <= 1e-12 * (SELECT (bandit.snips(r, t, l)).estimate FROM o) AS snips_merged,
       bool_and(bandit.snips_state_send(s) = bandit.snips_state_send(s::text::bandit.snips_state)) AS round_trip
FROM (SELECT bandit.snips_state(r, t, l) s FROM o GROUP BY i % 2) z;
SELECT bandit.estimate('(0,0,0,0,0,0)'::bandit.snips_state) IS NULL AS no_rows,
       bandit.estimate('(3,0,0,0,0,0)'::bandit.snips_state)::text AS zero_weights;
SELECT pg_temp.err($$SELECT bandit.snips_state(1, 0.5, 0) FROM o$$);

-- ips_terms, dr_terms: estimate of the term summary = ips, dr (n exact, the
-- means within 1e-12: the summary's mean carries a low part, ips's does not)
SELECT abs((bandit.estimate(bandit.ips_terms(r, t, l))).estimate - (bandit.ips(r, t, l)).estimate)
           <= 1e-12 * (bandit.ips(r, t, l)).estimate AS ips,
       (bandit.estimate(bandit.ips_terms(r, t, l))).n = 40 AS ips_n,
       abs((bandit.estimate(bandit.dr_terms(r, t, l, 0.5, 0.25))).estimate - (bandit.dr(r, t, l, 0.5, 0.25)).estimate)
           <= 1e-12 * abs((bandit.dr(r, t, l, 0.5, 0.25)).estimate) AS dr
FROM o;
SELECT bandit.estimate('(0,0,0)'::bandit.summary) IS NULL AS no_rows,
       bandit.estimate('(1,0.5,0)'::bandit.summary)::text AS one_row;
SELECT pg_temp.err($$SELECT bandit.ips_terms(1, 2, 0.5) FROM o$$);
SELECT pg_temp.err($$SELECT bandit.dr_terms(1, 0.5, 0.5, 'NaN', 0) FROM o$$);

-- the enum alternative: the same test as the text one
SELECT bandit.t_test(x, g, false, 'less'::bandit.alternative) = bandit.t_test(x, g, false, 'less') AS less,
       bandit.t_test(x, g, true, 'greater'::bandit.alternative, 0.9) = bandit.t_test(x, g, true, 'greater', 0.9) AS greater
FROM o;
SELECT pg_temp.err($$SELECT bandit.t_test(x, g, false, 'sideways'::bandit.alternative) FROM o$$);
SELECT pg_temp.err($$SELECT bandit.t_test(x, g, false, CASE WHEN i < 5 THEN 'less' ELSE 'greater' END::bandit.alternative) FROM o$$);
SELECT bandit.t_test(bandit.make_summary(10, 1, 1), bandit.make_summary(12, 2, 1.5), true, 'less'::bandit.alternative, 0.9)
         = bandit.t_test(bandit.make_summary(10, 1, 1), bandit.make_summary(12, 2, 1.5), true, 'less', 0.9) AS summaries,
       bandit.t_test_one_sample(bandit.make_summary(10, 1, 1), 0.5, 'two-sided'::bandit.alternative)
         = bandit.t_test_one_sample(bandit.make_summary(10, 1, 1), 0.5) AS one_sample;
-- white space around the numbers, as float8in allows; a missing number is still refused
SELECT '( 3 , 2 , 2 )'::bandit.summary AS spaced, ' (4,3.5,21,-1.1102230246251565e-16) '::bandit.summary AS spaced_low;
SELECT pg_temp.err($$SELECT '(1, ,2)'::bandit.summary$$);
