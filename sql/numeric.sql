-- The numerics core (src/numeric.c, "distributions, moments and sums") at
-- its extremes.  References: mpmath at 50 digits (noted beside each value:
-- log(ncdf(z)), npdf(z)/ncdf(z), betainc(df/2, 1/2, 0, df/(df+t^2))/2 and
-- its inverse by Newton steps in mpmath), and PostgreSQL's numeric type
-- for moments.  Each line shows whether the relative error is within the
-- bound the core promises.

-- the core's scalar functions, through a temporary test entry point
CREATE FUNCTION pg_temp.probe(name text, x float8, y float8 DEFAULT 0) RETURNS float8
    AS '$libdir/bandit', 'bandit_numeric_probe' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION pg_temp.close(got float8, want float8, tol float8) RETURNS text
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT CASE WHEN abs(got - want) <= tol * abs(want) THEN 'ok'
                   ELSE format('got %s, want %s', got, want) END $$;

-- log Phi(z): relative accuracy from the far lower tail to the upper one
SELECT z, pg_temp.close(pg_temp.probe('log_normal_cdf', z), want, 1e-14) AS log_phi
FROM (VALUES (-1e5, -5000000012.4318639983),       -- mpmath
             (-40, -804.60844201375378817),
             (-37.5, -707.66898931750719107),
             (-30, -454.32124395634319711),
             (-29.5, -439.42947460915022775),
             (0, -0.69314718055994530942),
             (2, -0.023012909328963488465),
             (8, -6.2209605742717860585e-16)) t(z, want);
-- beyond -1.3e154, -z^2/2 itself leaves the doubles: -Infinity, never NaN
SELECT pg_temp.probe('log_normal_cdf', -1e160) AS log_phi_far;

-- phi(z) / Phi(z), about -z in the lower tail
SELECT z, pg_temp.close(pg_temp.probe('normal_mills_ratio', z), want, 1e-13) AS mills
FROM (VALUES (-1e5, 100000.00001), (-40, 40.024968847207263723),
             (0, 0.79788456080286535588)) t(z, want);

-- Student's t upper tail, tiny p and huge df included
SELECT t, df, pg_temp.close(pg_temp.probe('student_t_upper', t, df), want, 1e-12) AS t_upper
FROM (VALUES (10, 1e6, 7.6393053840891247767e-24),
             (30, 1e8, 4.9166821429416324936e-198),
             (12, 44, 9.0418986238283426537e-16),
             (1e10, 1, 3.1830988618379067154e-11),
             (0.5, 3.5, 0.32342521966127550961),
             (-3, 10, 0.9933281724887152114)) v(t, df, want);
SELECT pg_temp.probe('student_t_upper', 40, 1e5) AS t_upper_underflows,  -- 2.07e-347: below the doubles
       pg_temp.probe('student_t_upper', 0, 7) AS t_upper_at_0,
       pg_temp.probe('student_t_upper', 'Infinity', 7) AS t_upper_at_inf;

-- its quantile (scipy's t.isf is off by 4e-10 at 1e-20, by a factor 2 at 1e-300)
SELECT q, df, pg_temp.close(pg_temp.probe('student_t_upper_quantile', q, df), want, 1e-13) AS t_quantile
FROM (VALUES (1e-20, 44, 16.463068979377584512),
             (0.025, 1e7, 1.9599642217672054904),
             (1e-300, 5, 1.568392559099337809e+60),
             (0.3, 2, 0.61721339984836764104),
             (0.975, 3, -3.1824463052837095927)) v(q, df, want);

-- log(1 + e^x), log(e^u + e^v), expm1(x) - x
SELECT pg_temp.probe('log1pexp', 800) AS log1pexp_800,                     -- 800
       pg_temp.close(pg_temp.probe('log1pexp', -700), 9.8596765437597708567e-305, 1e-15) AS log1pexp_m700,
       pg_temp.close(pg_temp.probe('logaddexp', 1000, 999), 1000.3132616875182228, 1e-15) AS logaddexp,
       pg_temp.close(pg_temp.probe('expm1mx', 1e-5), 5.0000166667083334167e-11, 1e-15) AS expm1mx;

-- Welford and Chan on 1e9 + N(0, 1) (Box-Muller on a fixed sequence), in
-- 7 shards merged, against the exact mean and variance in numeric.  The
-- values are 1e9 + k / 2^20 for integers k, exact in float8 and in numeric.
CREATE TEMP TABLE big AS
SELECT i, k, 1e9::float8 + k / 1048576.0::float8 AS x
FROM (SELECT i, round(1048576 * sqrt(-2 * ln((i * 0.6180339887498949) - floor(i * 0.6180339887498949) + 1e-9))
                      * cos(2 * pi() * ((i * 0.7548776662466927) - floor(i * 0.7548776662466927))))::bigint AS k
      FROM generate_series(1, 20000) i) g;
WITH shards AS (SELECT bandit.summarize(x) s FROM big GROUP BY i % 7),
     merged AS (SELECT bandit.merge(s) m FROM shards),
     exact AS (SELECT avg(k::numeric) / 1048576 AS mean_offset, var_samp(k::numeric) / 1048576 ^ 2 AS var FROM big)
SELECT bandit.n(m),
       -- within half an ulp of 1e9 (2^-24)
       abs((bandit.mean(m) - 1e9)::text::numeric - mean_offset) <= 2 ^ -24 AS mean_exact,
       pg_temp.close(bandit.variance(m), var::float8, 1e-13) AS merged_variance,
       pg_temp.close(bandit.variance((SELECT bandit.summarize(x) FROM big)), var::float8, 1e-13) AS running_variance
FROM merged, exact;

-- near the top of the doubles (times 2^500, exact): no overflow, the same exactness
SELECT pg_temp.close(bandit.variance(bandit.summarize(x * 2::float8 ^ 500)),
                     (var_samp(k::numeric) / 1048576 ^ 2 * 2::numeric ^ 1000)::float8, 1e-13) AS variance_3e159
FROM big;
