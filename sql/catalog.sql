-- Every object of the extension is documented, and the contract's
-- signatures exist exactly (API.md sections 1-8) with their volatility.

-- objects without a COMMENT (none expected)
SELECT pg_describe_object(classid, objid, 0) AS undocumented
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bandit')
  AND deptype = 'e'
  AND obj_description(objid, classid::regclass::text) IS NULL
ORDER BY 1;

-- every state table (and its sequences) is dumped by pg_dump
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) cfg(reloid) JOIN pg_class c ON c.oid = cfg.reloid
WHERE e.extname = 'bandit' ORDER BY 1;

-- the extension is not relocatable and lives in schema bandit
SELECT extrelocatable, extnamespace::regnamespace FROM pg_extension WHERE extname = 'bandit';

-- contract signatures (sections 1-8): name(argument types) -> volatility, parallel safety, strictness
SELECT p.oid::regprocedure AS function, p.provolatile, p.proparallel, p.proisstrict, p.prokind
FROM pg_proc p
WHERE p.pronamespace = 'bandit'::regnamespace
  AND p.oid::regprocedure::text IN (
    'bandit.set_seed(bigint)',
    'bandit.beta_sample(double precision,double precision)',
    'bandit.beta_quantile(double precision,double precision,double precision)',
    'bandit.beta_interval(double precision,double precision,double precision)',
    'bandit.prob_best(double precision[],double precision[])',
    'bandit.expected_loss(double precision[],double precision[])',
    'bandit.beta_posterior(boolean)',
    'bandit.beta_posterior(double precision,double precision,double precision)',
    'bandit.summarize(double precision)',
    'bandit.merge(bandit.summary)',
    'bandit.n(bandit.summary)', 'bandit.mean(bandit.summary)',
    'bandit.variance(bandit.summary)', 'bandit.stddev(bandit.summary)',
    'bandit.t_test(double precision,double precision,double precision,double precision,double precision,double precision,boolean,text,double precision)',
    'bandit.t_test(bandit.summary,bandit.summary,boolean,text,double precision)',
    'bandit.chi2_test(bigint,bigint,bigint,bigint,boolean)',
    'bandit.chi2_contingency(bigint[],boolean)',
    'bandit.fisher_exact(bigint,bigint,bigint,bigint,text)',
    'bandit.power_t_test(double precision,double precision,double precision,text)',
    'bandit.sample_size_t_test(double precision,double precision,double precision,text)',
    'bandit.sample_size_proportions(double precision,double precision,double precision,double precision)',
    'bandit.thompson_choice(text,double precision,double precision)',
    'bandit.ucb1_choice(text,bigint,double precision)',
    'bandit.ucb1_choice(text,bigint,double precision,double precision)',
    'bandit.epsilon_greedy_choice(text,double precision,double precision)',
    'bandit.softmax_choice(text,double precision,double precision)',
    'bandit.create_policy(text,text,text[],jsonb)',
    'bandit.choose(text,jsonb)',
    'bandit.reward(bigint,double precision)',
    'bandit.reward(text,text,double precision)',
    'bandit.arm_stats(text)',
    'bandit.snapshot(text,text)',
    'bandit.restore(bigint)',
    'bandit.ips(double precision,double precision,double precision)',
    'bandit.snips(double precision,double precision,double precision)',
    'bandit.dr(double precision,double precision,double precision,double precision,double precision)',
    'bandit.create_experiment(text,text[],double precision[],jsonb)',
    'bandit.start_experiment(text)',
    'bandit.stop_experiment(text,text)',
    'bandit.assign(text,text)',
    'bandit.record_metric(text,text,text,double precision)',
    'bandit.analyze(text,text)',
    'bandit.srm_check(text)',
    'bandit.decide(text,text)',
    'bandit.q_select(text,text,text[],double precision)',
    'bandit.q_learn(text,text,text,double precision,text,double precision,double precision)',
    'bandit.reward_score(jsonb,jsonb)',
    'bandit.apply_signal(jsonb)',
    'bandit.prior_adjusted_score(text,double precision,double precision,double precision,double precision,jsonb)',
    'bandit.cleanup_priors(interval)')
ORDER BY p.oid::regprocedure::text;

-- OUT columns of the record-returning functions
SELECT p.proname, p.proargnames
FROM pg_proc p
WHERE p.pronamespace = 'bandit'::regnamespace
  AND p.proname IN ('beta_interval', 't_test', 'chi2_test', 'chi2_contingency', 'fisher_exact', 'analyze', 'decide')
  AND p.prokind = 'f'
ORDER BY 1, 2;

-- aggregates are parallel safe and have a combine function, with a non-internal state;
-- the exceptions are the random selection aggregates, which must not run in
-- parallel workers (PARALLEL RESTRICTED: the generator and set_seed are per backend)
SELECT a.aggfnoid::regprocedure AS aggregate, a.aggcombinefn <> 0 AS has_combine,
       p.proparallel, a.aggtranstype::regtype AS state
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.pronamespace = 'bandit'::regnamespace
ORDER BY a.aggfnoid::regprocedure::text;

-- a hostile search_path does not change what the functions do
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.sqrt(float8) RETURNS float8 LANGUAGE sql AS 'SELECT 42::float8';
SET search_path = hostile, public;
SELECT round(bandit.stddev(bandit.summarize(x))::numeric, 12) AS stddev FROM generate_series(1, 10) x;
RESET search_path;
DROP SCHEMA hostile CASCADE;
