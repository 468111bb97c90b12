-- The mixture SPRT (Johari, Pekelis, Walsh 2017): always-valid p-value and
-- confidence sequence.  Expected values: the paper's formulas transcribed in
-- mpmath at 50 digits.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- p = min(1, 1 / Lambda); small effects leave p at 1 but still narrow the sequence
SELECT round(p_value::numeric, 12) AS p_1, round(ci_lower::numeric, 12) AS lo_m0_116673836703,
       round(ci_upper::numeric, 12) AS hi_0_156673836703
FROM bandit.msprt(1000, 0.52, 1, 1000, 0.5, 1, 0.1);
SELECT round(ci_lower::numeric, 12) AS lo_m0_103905735027, round(ci_upper::numeric, 12) AS hi_0_143905735027
FROM bandit.msprt(1000, 0.52, 1, 1000, 0.5, 1, 0.1, 0.1);
SELECT round(p_value::numeric, 15) AS p_0_000959422478877, round(ci_lower::numeric, 12) AS lo_0_054367677548,
       round(ci_upper::numeric, 12) AS hi_0_345632322452
FROM bandit.msprt(5000, 10.3, 2.5, 4000, 10.1, 2.0, 0.2);
SELECT round(ci_lower::numeric, 12) AS lo_0_030121711451, round(ci_upper::numeric, 12) AS hi_0_369878288549
FROM bandit.msprt(5000, 10.3, 2.5, 4000, 10.1, 2.0, 0.2, 0.01);
-- one observation per group
SELECT round(p_value::numeric, 12) AS p_0_877568047817, round(ci_lower::numeric, 10) AS lo_m4_1952867513,
       round(ci_upper::numeric, 10) AS hi_8_1952867513
FROM bandit.msprt(1, 3, 1, 1, 1, 1, 1);
-- no difference
SELECT p_value AS p_1, round(ci_lower::numeric, 12) AS lo_m0_430852331342, round(ci_upper::numeric, 12) AS hi_0_430852331342
FROM bandit.msprt(100, 1, 1, 100, 1, 1, 0.5);
-- extremes: Lambda = e^250000 (p underflows to 0, not NaN), a tiny and a huge mixing sd
SELECT p_value AS p_0, round(ci_lower::numeric, 12) AS lo_0_993817141737, round(ci_upper::numeric, 12) AS hi_1_006182858263
FROM bandit.msprt(1e6, 1, 1, 1e6, 0, 1, 1);
SELECT p_value AS p_0, round((ci_lower * 1e3)::numeric, 12) AS lo_times_1e3_0_993817141737,
       round((ci_upper * 1e3)::numeric, 12) AS hi_times_1e3_1_006182858263
FROM bandit.msprt(1e12, 1e-3, 1, 1e12, 0, 1, 1e-3);
SELECT round(p_value::numeric, 12) AS p_1, round(ci_lower::numeric, 7) AS lo_m48954_8366150,
       round(ci_upper::numeric, 7) AS hi_48955_0366150
FROM bandit.msprt(100, 0.1, 1, 100, 0, 1, 1e-6);
SELECT round(p_value::numeric, 12) AS p_1, round(ci_lower::numeric, 12) AS lo_m0_766423783936,
       round(ci_upper::numeric, 12) AS hi_0_966423783936
FROM bandit.msprt(100, 0.1, 1, 100, 0, 1, 1e6);
SELECT p_value AS p_0, ci_lower > 1e299 AS lo_huge, ci_upper < 'infinity' AS hi_finite
FROM bandit.msprt(10, 1e300, 1e-300, 10, -1e300, 1e-300, 1e300);
-- no variance at all: the difference is known
SELECT * FROM bandit.msprt(10, 1, 0, 10, 1, 0, 1);
SELECT * FROM bandit.msprt(10, 1, 0, 10, 2.5, 0, 1);

-- from two summaries: the sample sd (n - 1) of each
SELECT round(p_value::numeric, 12) AS p_0_163106129618, round(ci_lower::numeric, 12) AS lo_m0_336651335738,
       round(ci_upper::numeric, 12) AS hi_3_119984669071
FROM bandit.msprt((SELECT bandit.summarize(x) FROM unnest('{1.5,2.0,2.5,3.5,4.0,1.0}'::float8[]) x),
                  (SELECT bandit.summarize(y) FROM unnest('{1.0,1.2,0.8,1.1}'::float8[]) y), 0.5);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt((SELECT bandit.summarize(x) FROM unnest('{1.5}'::float8[]) x),
                           (SELECT bandit.summarize(y) FROM unnest('{1.0,1.2}'::float8[]) y), 0.5)$$);

-- NULL inputs: STRICT
SELECT p_value IS NULL AS n1 FROM bandit.msprt(NULL, 1, 1, 10, 1, 1, 1);
SELECT p_value IS NULL AS n2 FROM bandit.msprt(10, 1, 1, 10, 1, 1, 1, NULL);
SELECT p_value IS NULL AS n3 FROM bandit.msprt(NULL::bandit.summary, NULL::bandit.summary, 1);

-- bad input
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(0.5, 1, 1, 10, 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 'NaN', 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 'infinity', 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 'infinity', 1, 10, 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 'NaN', 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1e308, 1, 10, -1e308, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, -1, 10, 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 1, 'infinity', 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 1, 1, 0)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 1, 1, -1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 1, 1, 'NaN')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 1, 1, 1, 0)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 1, 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.msprt(10, 1, 1, 10, 1, 1, 1, 'NaN')$$);
