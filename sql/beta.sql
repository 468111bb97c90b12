-- Beta distribution: quantiles, intervals, prob_best, expected_loss, posteriors.
-- Reference values: scipy.stats.beta (1.10) and closed forms, noted beside each.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- quantiles against scipy.stats.beta.ppf
SELECT round(bandit.beta_quantile(2.5, 7.5, 0.3)::numeric, 12) AS q;                -- 0.166943273202
SELECT abs(bandit.beta_quantile(1e7, 2e7, 0.3) / 0.33328819743787697 - 1) < 1e-10 AS huge_params;
SELECT abs(bandit.beta_quantile(0.5, 100, 1e-12) / 7.873641070203257e-27 - 1) < 1e-10 AS tiny_p;
SELECT abs(bandit.beta_quantile(0.01, 5, 0.975) / 0.010386887238859577 - 1) < 1e-10 AS tiny_alpha;
-- tiny alpha, huge beta: references by mpmath at 50 digits
SELECT abs(bandit.beta_quantile(0.015869457536474407, 8872698.299480205, 0.016442422011528852)
           / 2.4407933211466001e-120 - 1) < 1e-10 AS tiny_alpha_huge_beta;
SELECT abs(lower / 2.7357825168923331e-47 - 1) < 1e-10 AS lower_ok, abs(upper / 8.9990852983106821e-15 - 1) < 1e-10 AS upper_ok
  FROM bandit.beta_interval(0.01639002391008954, 9762561.64982668, 0.5466483010078631);
-- closed forms: Beta(a, 1) has quantile p^(1/a); Beta(1, b) has 1 - (1-p)^(1/b)
SELECT abs(bandit.beta_quantile(1e7, 1, 0.5) / power(0.5::float8, 1e-7) - 1) < 1e-12 AS a_huge_b_one,
       abs(bandit.beta_quantile(0.01, 1, 0.5) / power(0.5::float8, 100) - 1) < 1e-10 AS a_tiny_b_one,
       abs(bandit.beta_quantile(1, 3, 0.9) / (1 - power(0.1::float8, 1.0 / 3)) - 1) < 1e-12 AS a_one,
       round(bandit.beta_quantile(1, 1, 0.25)::numeric, 12) AS uniform;
SELECT bandit.beta_quantile(2, 3, 0) AS p0, bandit.beta_quantile(2, 3, 1) AS p1;

-- equal-tailed interval, scipy.stats.beta.interval(0.95, 10, 20) = (0.179383649235, 0.508323353810)
SELECT round(lower::numeric, 12) AS lower, round(upper::numeric, 12) AS upper FROM bandit.beta_interval(10, 20);
-- interval(0.5, 1e6, 3e6) = (0.249853945978, 0.250146008600)
SELECT round(lower::numeric, 12) AS lower, round(upper::numeric, 12) AS upper FROM bandit.beta_interval(1e6, 3e6, 0.5);

-- prob_best: Beta(1,1) vs Beta(2,1): P = 1/3, 2/3; E[max] = 3/4, so the losses are 1/4 and 1/12
SELECT array(SELECT round(x::numeric, 12) FROM unnest(bandit.prob_best('{1,2}', '{1,1}')) x) AS prob_best,
       array(SELECT round(x::numeric, 12) FROM unnest(bandit.expected_loss('{1,2}', '{1,1}')) x) AS expected_loss;
-- identical arms share exactly, however peaked or flat
SELECT bool_and(abs(p - 1.0 / 50) < 1e-9) AS fifty_equal_arms
FROM unnest(bandit.prob_best(array_fill(1e7::float8, '{50}'), array_fill(3e6::float8, '{50}'))) p;
SELECT bool_and(abs(p - 1.0 / 3) < 1e-9) AS flat_arms
FROM unnest(bandit.prob_best('{0.01,0.01,0.01}', '{0.01,0.01,0.01}')) p;
-- swapping two arms swaps their probabilities; probabilities sum to 1
WITH a AS (SELECT bandit.prob_best('{1e6,1000100,37}', '{1e6,1e6,40}') p,
                  bandit.prob_best('{1000100,1e6,37}', '{1e6,1e6,40}') q)
SELECT abs(p[1] - q[2]) < 1e-12 AND abs(p[2] - q[1]) < 1e-12 AS swapped,
       abs(p[1] + p[2] + p[3] - 1) < 1e-12 AS sums_to_one FROM a;
-- one clearly better arm: probability 1, no loss
SELECT bandit.prob_best('{900,100}', '{100,900}') AS p, array(SELECT round(x::numeric, 12) FROM unnest(bandit.expected_loss('{900,100}', '{100,900}')) x) AS loss;
SELECT bandit.prob_best('{3}', '{4}') AS one_arm, bandit.prob_best('{}', '{}') AS no_arms;

-- posteriors: uniform prior plus counts; fractional rewards; NULLs skipped
SELECT (bandit.beta_posterior(x)).* FROM (VALUES (true), (false), (true), (NULL)) t(x);
SELECT (bandit.beta_posterior(x)).* FROM (VALUES (true)) t(x) WHERE false;
SELECT (bandit.beta_posterior(r, 2, 3)).* FROM (VALUES (0.5), (1), (0.25), (NULL)) t(r);
SELECT bandit.beta_posterior(r, 2, 3) IS NULL AS no_rows FROM (VALUES (0.5)) t(r) WHERE false;

-- draws stay in [0, 1] and average a / (a + b) (seeded, so this is deterministic)
SELECT bandit.set_seed(7);
SELECT abs(avg(bandit.beta_sample(2, 6)) - 0.25) < 0.005 AS mean_ok,
       bool_and(x BETWEEN 0 AND 1) AS in_range
FROM (SELECT bandit.beta_sample(0.01, 0.01) x FROM generate_series(1, 20000)) s;

-- bad input
SELECT pg_temp.err($$SELECT bandit.beta_quantile(0, 1, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.beta_quantile(1, -2, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.beta_quantile('NaN', 1, 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.beta_quantile(1, 'Infinity', 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.beta_quantile(1, 1, 1.5)$$);
SELECT pg_temp.err($$SELECT bandit.beta_quantile(1, 1, 'NaN')$$);
-- parameters far beyond 1e7, where the densities lose their precision: out of range, not an internal error
SELECT pg_temp.err($$SELECT bandit.beta_quantile(1e9, 1e9, 1e-10)$$);
SELECT pg_temp.err($$SELECT bandit.beta_quantile(1e12, 1e12, 1e-300)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.beta_interval(1, 1, 1)$$);
SELECT pg_temp.err($$SELECT * FROM bandit.beta_interval(1, 1, 0)$$);
SELECT pg_temp.err($$SELECT bandit.prob_best('{1,2}', '{1}')$$);
SELECT pg_temp.err($$SELECT bandit.prob_best('{1,NULL}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.prob_best('{{1,2},{3,4}}', '{{1,2},{3,4}}')$$);
SELECT pg_temp.err($$SELECT bandit.prob_best('{1,0}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.expected_loss('{1,NaN}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.beta_sample(0, 1)$$);
SELECT pg_temp.err($$SELECT bandit.beta_posterior(r, 1, 1) FROM (VALUES (1.5)) t(r)$$);
SELECT pg_temp.err($$SELECT bandit.beta_posterior(r, 1, 1) FROM (VALUES ('NaN'::float8)) t(r)$$);
SELECT pg_temp.err($$SELECT bandit.beta_posterior(r, 0, 1) FROM (VALUES (0.5)) t(r)$$);
SELECT pg_temp.err($$SELECT bandit.beta_posterior(r, p, 1) FROM (VALUES (0.5, 1), (0.5, 2)) t(r, p)$$);
-- NULL arguments: STRICT functions return NULL
SELECT bandit.beta_quantile(NULL, 1, 0.5) IS NULL AS n1, bandit.prob_best(NULL, '{1}') IS NULL AS n2;
