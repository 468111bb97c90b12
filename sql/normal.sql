-- Bayesian comparison of normal posteriors: normal_prob_best, normal_expected_loss.
-- Expected values: scipy.stats.norm closed forms for two arms and point masses,
-- mpmath.quad at 30 digits for more arms (the oracle of test/normal_test.py, with
-- pieces cut at every arm sharper than the one integrated).
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
-- an array rounded for stable output
CREATE FUNCTION pg_temp.r(a float8[], digits int) RETURNS numeric[] LANGUAGE sql
    AS 'SELECT array(SELECT round(x::numeric, digits) FROM unnest(a) x)';

-- two arms, N(0, 1) and N(1, 2^2): P(1 > 2) = Phi(-1/sqrt 5), E[max] = m1 Phi(d/s) + m2 Phi(-d/s) + s phi(d/s)
SELECT pg_temp.r(bandit.normal_prob_best('{0,1}', '{1,2}'), 12)
         AS p_0_327360423009_0_672639576991,
       pg_temp.r(bandit.normal_expected_loss('{0,1}', '{1,2}'), 12)
         AS loss_1_479810706348_0_479810706348;
-- three equal sds
SELECT pg_temp.r(bandit.normal_prob_best('{0,0.5,1}', '{1,1,1}'), 12)
         AS p_0_150330582560_0_300925700890_0_548743716550,
       pg_temp.r(bandit.normal_expected_loss('{0,0.5,1}', '{1,1,1}'), 12)
         AS loss_1_448909276417_0_948909276417_0_448909276417;
-- sds from 1e-3 to 1e3; expected P 0.000439774251 0.022294694760 0.027507227593 0.449997660088
-- 0.499760643307, losses 401.743012273 401.643012273 401.943012273 398.743012273 399.243012273
SELECT arm, round(p::numeric, 12) AS p, round(loss::numeric, 9) AS loss
FROM unnest(bandit.normal_prob_best('{0,0.1,-0.2,3,2.5}', '{1e-3,0.05,1,2,1e3}'),
            bandit.normal_expected_loss('{0,0.1,-0.2,3,2.5}', '{1e-3,0.05,1,2,1e3}')) WITH ORDINALITY AS t(p, loss, arm);
-- sds 1e16 apart: each is best half the time; loss = 1e8 phi(0)
SELECT pg_temp.r(bandit.normal_prob_best('{0,0}', '{1e-8,1e8}'), 12) AS p_half_half,
       pg_temp.r(bandit.normal_expected_loss('{0,0}', '{1e-8,1e8}'), 6)
         AS loss_39894228_040143;
-- narrow arms far from 0 (sd = 1e5 ulps of the mean): Phi(-d / (sqrt 2 1e-8)) with d the doubles' difference
SELECT pg_temp.r(bandit.normal_prob_best('{1000,1000.00000001}', '{1e-8,1e-8}'), 12)
         AS p_0_239749886813_0_760250113187,
       pg_temp.r(bandit.normal_expected_loss('{1000,1000.00000001}', '{1e-8,1e-8}'), 18)
         AS loss_0_000000011996418315_0_000000001996410382;
-- means far apart: exactly 0 and 1
SELECT bandit.normal_prob_best('{0,1e6}', '{1,1}') AS p_0_1,
       pg_temp.r(bandit.normal_expected_loss('{0,1e6}', '{1,1}'), 12) AS loss_1e6_0;
-- P(N(-1e300, 1e300^2) < 1e300) = Phi(2)
SELECT pg_temp.r(bandit.normal_prob_best('{1e300,-1e300}', '{1e-300,1e300}'), 12)
         AS p_0_977249868052_0_022750131948;
-- one arm; 50 identical arms share equally
SELECT bandit.normal_prob_best('{5}', '{3}') AS p_1, round((bandit.normal_expected_loss('{5}', '{3}'))[1]::numeric, 12) AS loss_0;
SELECT count(*) AS arms, round(min(p)::numeric, 12) AS min_0_02, round(max(p)::numeric, 12) AS max_0_02,
       round(sum(p)::numeric, 12) AS sum_1
FROM unnest(bandit.normal_prob_best(array_fill(7::float8, '{50}'), array_fill(0.5::float8, '{50}'))) p;

-- point masses (sd 0): ties split equally; P = Phi(1)/2 each, Q(1) for N(0,1);
-- E[max] = 1 + phi(1) - Q(1)
SELECT pg_temp.r(bandit.normal_prob_best('{1,1,0}', '{0,0,1}'), 12)
         AS p_0_420672373034_0_420672373034_0_158655253931,
       pg_temp.r(bandit.normal_expected_loss('{1,1,0}', '{0,0,1}'), 12)
         AS loss_0_083315470588_0_083315470588_1_083315470588;
-- a point mass at the mean of N(0, 1): half each; both lose phi(0)
SELECT pg_temp.r(bandit.normal_prob_best('{0,0}', '{0,1}'), 12) AS p_half_half,
       pg_temp.r(bandit.normal_expected_loss('{0,0}', '{0,1}'), 12)
         AS loss_0_398942280401;
-- a point mass above the means
SELECT pg_temp.r(bandit.normal_prob_best('{10,10.5,9}', '{2,0,1}'), 12)
         AS p_0_396054258166_0_558708431682_0_045237310152,
       pg_temp.r(bandit.normal_expected_loss('{10,10.5,9}', '{2,0,1}'), 12)
         AS loss_1_092295752756_0_592295752756_2_092295752756;
-- only point masses
SELECT bandit.normal_prob_best('{1,2,2,0}', '{0,0,0,0}') AS p_0_half_half_0,
       bandit.normal_expected_loss('{1,2,2,0}', '{0,0,0,0}') AS loss_1_0_0_2;

-- the largest inputs: P(1 > 2) = Phi(2e308 / (sqrt 2 1e308)); a loss beyond float8 is an error
SELECT pg_temp.r(bandit.normal_prob_best('{1e308,-1e308}', '{1e308,1e308}'), 12)
         AS p_0_921350396475_0_078649603525;
SELECT pg_temp.err($$SELECT bandit.normal_expected_loss('{1e308,-1e308}', '{0,0}')$$);

-- NULL inputs: STRICT
SELECT bandit.normal_prob_best(NULL, '{1}') IS NULL AS n1, bandit.normal_expected_loss('{1}', NULL) IS NULL AS n2;

-- bad input
SELECT pg_temp.err($$SELECT bandit.normal_prob_best('{1,2}', '{1}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_prob_best('{}', '{}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_expected_loss('{{1,2},{3,4}}', '{{1,2},{3,4}}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_prob_best('{1,NULL}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_expected_loss('{1,2}', '{NULL,1}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_prob_best('{1,NaN}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_prob_best('{1,-infinity}', '{1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_expected_loss('{1,2}', '{1,infinity}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_prob_best('{1,2}', '{1,NaN}')$$);
SELECT pg_temp.err($$SELECT bandit.normal_prob_best('{1,2}', '{1,-1e-300}')$$);
