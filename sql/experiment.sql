-- Experiments: lifecycle, assignment, metrics, analysis, decisions.
-- Expected numbers: scipy 1.x and statsmodels, computed independently
-- (FNV-1a + fmix64 of the assignment reimplemented in Python; see the
-- values noted beside each query).
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- small statistics against scipy / statsmodels
SELECT round(x::numeric, 10) FROM unnest(bandit.holm('{0.01,0.04,0.03,0.5}')) x;   -- 0.04 0.09 0.09 0.5
SELECT bandit.holm('{}');
SELECT pg_temp.err($$SELECT bandit.holm('{0.5,1.5}')$$);
SELECT pg_temp.err($$SELECT bandit.holm('{0.5,NULL}')$$);
SELECT round(statistic::numeric, 10), round(p_value::numeric, 12) FROM bandit.chisquare('{10,20,30}');   -- 10, 0.006737946999
SELECT round(statistic::numeric, 10), round(p_value::numeric, 12) FROM bandit.chisquare('{5,15}', '{12,8}');   -- 10.2083333333, 0.001398074641
SELECT bandit.chisquare(NULL);
SELECT pg_temp.err($$SELECT bandit.chisquare('{5}')$$);
SELECT pg_temp.err($$SELECT bandit.chisquare('{5,15}', '{12,9}')$$);
SELECT pg_temp.err($$SELECT bandit.chisquare('{5,15}', '{12}')$$);
SELECT pg_temp.err($$SELECT bandit.chisquare('{5,-1}')$$);
SELECT pg_temp.err($$SELECT bandit.chisquare('{0,0}')$$);
SELECT round(lower::numeric, 12), round(upper::numeric, 12) FROM bandit.proportion_interval(3, 10, 0.9);   -- 0.126876583903, 0.558300204130
SELECT pg_temp.err($$SELECT bandit.proportion_interval(11, 10)$$);
SELECT pg_temp.err($$SELECT bandit.proportion_interval(1, 0)$$);
SELECT round(bandit.normal_quantile(0.975)::numeric, 12), bandit.normal_quantile(0.5),
       round(bandit.normal_quantile(1e-10)::numeric, 10), bandit.normal_quantile(0), bandit.normal_quantile(1);   -- 1.959963984540, -6.3613409
SELECT pg_temp.err($$SELECT bandit.normal_quantile(1.5)$$);
-- the assignment hash, = FNV-1a 64 + murmur3 fmix64 in Python: 0.405587791613 0.921540692624 0.783135082237
SELECT round(bandit.assignment_point('regress', u)::numeric, 12) FROM unnest('{u1,u2,u3}'::text[]) u;

-- creating experiments: every mistake is an error that changes nothing
SELECT bandit.create_experiment('ab', '{control,treat}', NULL,
    '{"salt": "regress", "min_sample_size": 10, "hypothesis": "treat converts better"}');
SELECT name, status, hypothesis, params->'alpha' AS alpha, params->'min_sample_size' AS min_n, salt FROM bandit.experiment;
SELECT variant, position, allocation, is_control FROM bandit.variant ORDER BY position;
SELECT pg_temp.err($$SELECT bandit.create_experiment('ab', '{x,y}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', '{0.5,0.6}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', '{0.5,0.25,0.25}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', '{1,0}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', '{NaN,0.5}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', '{0.5,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,x}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{{x,y}}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment(NULL, '{x,y}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('', '{x,y}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '{"colour": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '{"alpha": 2}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '{"alpha": "0.1"}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '{"sequential": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '{"min_sample_size": 2.5}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '{"min_sample_size": 10, "max_sample_size": 5}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '{"metrics": {"m": "ordinal"}}')$$);
SELECT pg_temp.err($$SELECT bandit.create_experiment('bad', '{x,y}', NULL, '[1]')$$);
SELECT count(*) AS experiments, (SELECT count(*) FROM bandit.variant) AS variants FROM bandit.experiment;

-- lifecycle: draft -> running -> completed
SELECT pg_temp.err($$SELECT bandit.assign('ab', 'u1')$$);
SELECT pg_temp.err($$SELECT bandit.record_metric('ab', 'u1', 'conv', 1)$$);
SELECT pg_temp.err($$SELECT bandit.assign('nope', 'u1')$$);
SELECT pg_temp.err($$SELECT bandit.start_experiment('nope')$$);
SELECT bandit.start_experiment('ab');
SELECT pg_temp.err($$SELECT bandit.start_experiment('ab')$$);
SELECT pg_temp.err($$SELECT bandit.assign(NULL, 'u1')$$);
SELECT pg_temp.err($$SELECT bandit.assign('ab', NULL)$$);
SELECT action FROM bandit.experiment_audit ORDER BY id;

-- assignment: by the hash (u1 -> control, u2 and u3 -> treat), sticky; 18 control, 22 treat
SELECT bandit.assign('ab', 'u' || i) FROM generate_series(1, 3) i;
SELECT variant, count(*) FROM (SELECT bandit.assign('ab', 'u' || i) AS variant FROM generate_series(1, 40) i) a
GROUP BY variant ORDER BY variant;
SELECT count(*) AS assignments FROM bandit.assignment;
SELECT round(bandit.srm_check('ab')::numeric, 12) AS srm;   -- scipy chisquare([18, 22], [20, 20]): 0.527089256866

-- metrics: conv = 1 when i % 3 = 0, or for treat when i is even (6/18 and 14/22);
-- revenue = 1.5 i, plus 3 for treat; rare = 1 for treat when i % 7 = 0 (2 of 22, none of 18)
SELECT bandit.record_metrics('ab', 'conv', array_agg(unit_id ORDER BY unit_id),
       array_agg(CASE WHEN i % 3 = 0 OR (variant = 'treat' AND i % 2 = 0) THEN 1.0 ELSE 0.0 END ORDER BY unit_id))
FROM (SELECT unit_id, variant, substr(unit_id, 2)::int AS i FROM bandit.assignment) a;
SELECT count(bandit.record_metric('ab', unit_id, 'revenue', 1.5 * substr(unit_id, 2)::int + CASE WHEN variant = 'treat' THEN 3 ELSE 0 END))
FROM bandit.assignment;
SELECT bandit.record_metrics('ab', 'rare', array_agg(unit_id),
       array_agg(CASE WHEN variant = 'treat' AND substr(unit_id, 2)::int % 7 = 0 THEN 1.0 ELSE 0.0 END))
FROM bandit.assignment;
SELECT metric, count(*) FROM bandit.observation GROUP BY metric ORDER BY metric;
SELECT pg_temp.err($$SELECT bandit.record_metric('ab', 'stranger', 'conv', 1)$$);
SELECT pg_temp.err($$SELECT bandit.record_metric('ab', 'u1', 'conv', 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.record_metric('ab', 'u1', 'conv', 'Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.record_metric('ab', NULL, 'conv', 1)$$);
SELECT pg_temp.err($$SELECT bandit.record_metric('ab', 'u1', NULL, 1)$$);
SELECT pg_temp.err($$SELECT bandit.record_metric('nope', 'u1', 'conv', 1)$$);
SELECT pg_temp.err($$SELECT bandit.record_metrics('ab', 'conv', '{u1,u2}', '{1}')$$);
SELECT pg_temp.err($$SELECT bandit.record_metrics('ab', 'conv', '{u1,stranger,u2}', '{1,1,1}')$$);
SELECT pg_temp.err($$SELECT bandit.record_metrics('ab', 'conv', '{u1,u2}', '{1,NaN}')$$);
SELECT count(*) AS observations FROM bandit.observation;

-- binary: scipy chi2_contingency([[14, 8], [6, 12]]) p 0.112036843686 (min expected 9);
-- Wilson control [0.162787747508, 0.562505327041], treat [0.429517080901, 0.802667953296];
-- diff 0.303030303030, Wald [0.006666597921, 0.599394008139], Cohen's h 0.616063540218
SELECT variant, n, round(mean::numeric, 12) AS mean, round(ci_lower::numeric, 12) AS ci_lower,
       round(ci_upper::numeric, 12) AS ci_upper, round(diff::numeric, 12) AS diff, round(p_value::numeric, 12) AS p,
       round(adjusted_p_value::numeric, 12) AS adjusted, round(effect_size::numeric, 12) AS h, test, significant,
       round(diff_ci_lower::numeric, 12) AS diff_lower, round(diff_ci_upper::numeric, 12) AS diff_upper,
       round(relative_lift::numeric, 12) AS lift, warning
FROM bandit.analyze('ab', 'conv');
-- P(best) from Beta(7, 13) and Beta(15, 9) sums to 1; the control's expected loss is larger
SELECT round(sum(prob_best)::numeric, 9) AS total, bool_and(prob_best BETWEEN 0 AND 1) AS probabilities,
       (array_agg(expected_loss ORDER BY variant))[1] > (array_agg(expected_loss ORDER BY variant))[2] AS control_loses_more
FROM bandit.analyze('ab', 'conv');
-- small counts: Fisher, scipy fisher_exact([[2, 20], [0, 18]]) 0.492307692308 (min expected 0.9)
SELECT variant, round(p_value::numeric, 12) AS p, test FROM bandit.analyze('ab', 'rare');
-- no data for a metric: n 0, no tests
SELECT variant, n, mean, p_value, prob_best, warning FROM bandit.analyze('ab', 'unrecorded');
SELECT pg_temp.err($$SELECT * FROM bandit.analyze('nope', 'conv')$$);
SELECT pg_temp.err($$SELECT * FROM bandit.analyze('ab', NULL)$$);

-- continuous: scipy ttest_ind(treat, control, equal_var=False) p 0.015687854045; Welch interval
-- [2.722934865630, 24.489186346491]; Cohen's d 0.804141420807; control t interval [16.570458823086, 33.262874510247]
-- (treat [30.972172413807, 46.073282131648]); P(best) of N(mean, sd^2/n): Phi(diff / se) = 0.994361
SELECT variant, n, round(mean::numeric, 10) AS mean, round(ci_lower::numeric, 10) AS ci_lower, round(ci_upper::numeric, 10) AS ci_upper,
       round(p_value::numeric, 12) AS p, round(diff_ci_lower::numeric, 10) AS diff_lower, round(diff_ci_upper::numeric, 10) AS diff_upper,
       round(effect_size::numeric, 10) AS d, test, significant, round(prob_best::numeric, 6) AS prob_best
FROM bandit.analyze('ab', 'revenue');
-- CUPED with a covariate equal to the metric explains it all: both variants adjusted to the same constant
SELECT variant, n, round(sd::numeric, 10) AS sd, test FROM bandit.analyze('ab', 'revenue', 'revenue');
-- decide: p 0.112 is no success at early_alpha 0.01
SELECT * FROM bandit.decide('ab', 'conv');

-- completed: no more assignments, metrics still recorded
SELECT bandit.stop_experiment('ab', 'enough data');
SELECT pg_temp.err($$SELECT bandit.stop_experiment('ab')$$);
SELECT pg_temp.err($$SELECT bandit.assign('ab', 'u41')$$);
SELECT bandit.record_metric('ab', 'u1', 'late', 1);
SELECT status, stop_reason, started_at <= ended_at AS ordered FROM bandit.experiment;
SELECT action, detail FROM bandit.experiment_audit ORDER BY id;

-- declared metrics: unknown names and non-0/1 values of binary ones are refused
SELECT bandit.create_experiment('declared', '{a,b}', '{0.25,0.75}', '{"metrics": {"clicked": "binary", "spend": "continuous"}, "salt": "d"}');
SELECT bandit.start_experiment('declared');
SELECT bandit.assign('declared', 'v1');
SELECT pg_temp.err($$SELECT bandit.record_metric('declared', 'v1', 'clicked', 0.5)$$);
SELECT pg_temp.err($$SELECT bandit.record_metric('declared', 'v1', 'views', 3)$$);
SELECT bandit.record_metric('declared', 'v1', 'spend', 0.5);
SELECT pg_temp.err($$SELECT bandit.record_metrics('declared', 'clicked', '{v1}', '{2}')$$);

-- stratified assignment: blocks of 4 (1 a, 3 b) per stratum
SELECT stratum, count(*) FILTER (WHERE variant = 'a') AS a, count(*) FILTER (WHERE variant = 'b') AS b
FROM (SELECT s AS stratum, bandit.assign('declared', 's' || s || '-' || i, s) AS variant
      FROM generate_series(1, 20) i, unnest('{north,south}'::text[]) s) x
GROUP BY stratum ORDER BY stratum;
SELECT bandit.assign('declared', 's' || 'north' || '-' || 1, 'north') = variant AS sticky
FROM bandit.assignment WHERE unit_id = 'snorth-1';
SELECT stratum, assigned FROM bandit.stratum ORDER BY stratum;
SELECT pg_temp.err($$SELECT bandit.assign('declared', 'v2', NULL)$$);

-- a hostile search_path changes nothing
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.sum(float8) RETURNS float8 LANGUAGE sql AS 'SELECT 0.5::float8';
SET search_path = hostile, public;
SELECT bandit.create_experiment('hostile', '{a,b}', '{0.5,0.5}');
RESET search_path;

SELECT bandit.drop_experiment('declared');
SELECT count(*) FROM bandit.assignment WHERE experiment = 'declared';
SELECT name FROM bandit.experiment ORDER BY name;
DROP SCHEMA hostile CASCADE;
