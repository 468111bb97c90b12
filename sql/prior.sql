-- Reinforcement priors from aggregated signals: apply_signal (the contract's
-- Beta pooling, sample-weighted means, confidence), exactly-once per
-- (cluster_hash, aggregation_round), validate_signal, prior_adjusted_score,
-- cleanup_priors, prior_metrics.  Expected numbers were computed in exact
-- rational arithmetic with Python's fractions and decimal modules.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- the contract's table
SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = 'bandit' AND table_name = 'prior' ORDER BY ordinal_position;
SELECT * FROM bandit.prior_metrics;

-- round 1 of cluster c1; gpt: s = round(0.5 * 5) = 3 (halves away from zero), tiny: s = round(0.7) = 1
SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "c1", "participant_count": 3,
  "reward_signals": {"gpt": {"success_rate": 0.5, "avg_latency": 120, "quality_score": 0.9, "total_samples": 5},
                     "llama": {"success_rate": 0.25, "avg_latency": 80, "quality_score": 0.7, "total_samples": 4},
                     "tiny": {"success_rate": 0.7, "avg_latency": 0, "quality_score": 0, "total_samples": 1}}}');
SELECT key, round(success_rate::numeric, 12) AS success_rate, round(latency_ms::numeric, 12) AS latency_ms,
       round(quality::numeric, 12) AS quality, sample_count, round(confidence::numeric, 12) AS confidence,
       now() - last_updated < interval '1 minute' AS recent
FROM bandit.prior ORDER BY key;

-- a replay changes nothing and returns 0; so does a second apply in the same transaction
SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "c1", "participant_count": 3,
  "reward_signals": {"gpt": {"success_rate": 0.5, "avg_latency": 120, "quality_score": 0.9, "total_samples": 5},
                     "llama": {"success_rate": 0.25, "avg_latency": 80, "quality_score": 0.7, "total_samples": 4},
                     "tiny": {"success_rate": 0.7, "avg_latency": 0, "quality_score": 0, "total_samples": 1}}}');
-- a replay with other content is ignored too, with a warning
SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "c1", "participant_count": 9,
  "reward_signals": {"gpt": {"success_rate": 1, "avg_latency": 1, "quality_score": 1, "total_samples": 1000}}}');
SELECT key, success_rate, latency_ms, quality, sample_count FROM bandit.prior ORDER BY key;
SELECT cluster_hash, aggregation_round, participant_count, keys_updated, replays, now() - last_replayed_at < interval '1 minute' AS replayed_recently
FROM bandit.prior_signal;

-- round 2 pools with round 1: gpt alpha = 0.6*5 + 76 = 79, beta = 0.4*5 + 19 = 21;
-- llama s = round(0.35 * 2) = 1, alpha = 2, beta = 4
SELECT bandit.apply_signal('{"aggregation_round": 2, "cluster_hash": "c1", "participant_count": 4,
  "reward_signals": {"gpt": {"success_rate": 0.8, "avg_latency": 200, "quality_score": 0.5, "total_samples": 95},
                     "llama": {"success_rate": 0.35, "avg_latency": 40, "quality_score": 0.4, "total_samples": 2}}}');
-- round 1 of another cluster is another signal
SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "c2", "participant_count": 2,
  "reward_signals": {"mistral": {"success_rate": 0.125, "avg_latency": 1500, "quality_score": 0.75, "total_samples": 8},
                     "gpt": {"success_rate": 0.5, "avg_latency": 100, "quality_score": 1, "total_samples": 100}}}');
SELECT key, round(success_rate::numeric, 12) AS success_rate, round(latency_ms::numeric, 12) AS latency_ms,
       round(quality::numeric, 12) AS quality, sample_count, round(confidence::numeric, 12) AS confidence
FROM bandit.prior ORDER BY key;
SELECT signals_applied, updates_applied, signals_replayed, active_priors, confident_priors,
       last_update = last_signal_at AS same_transaction, now() - last_signal_at < interval '1 minute' AS recent
FROM bandit.prior_metrics;

-- validate_signal: an empty array when valid, else every problem
SELECT bandit.validate_signal('{"aggregation_round": 0, "cluster_hash": "c", "participant_count": 1,
  "reward_signals": {"k": {"success_rate": 1, "avg_latency": 0, "quality_score": 0, "total_samples": 9007199254740992}}}');
SELECT bandit.validate_signal(NULL);
SELECT unnest(bandit.validate_signal('{"aggregation_round": -1.5, "cluster_hash": "", "extra": 1, "zeta": null,
  "reward_signals": {"": 3, "x": {"success_rate": 1e400, "avg_latency": "1", "quality_score": 1e-400, "total_samples": 0, "foo": 1},
                     "y": {"success_rate": null, "avg_latency": -0.5, "quality_score": 1.5}}}')) AS problem;

-- every kind of bad signal: apply_signal's SQLSTATE and validate_signal's problem
CREATE TABLE bad (name text, signal jsonb);
INSERT INTO bad SELECT name, base || patch FROM (VALUES
    ('{"aggregation_round": 7, "cluster_hash": "c9", "participant_count": 1, "reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}}}'::jsonb)) b(base),
  (VALUES ('unknown key', '{"round": 7}'::jsonb),
          ('cluster_hash number', '{"cluster_hash": 12}'),
          ('cluster_hash empty', '{"cluster_hash": ""}'),
          ('cluster_hash blank', '{"cluster_hash": "  "}'),
          ('cluster_hash null', '{"cluster_hash": null}'),
          ('round string', '{"aggregation_round": "7"}'),
          ('round fraction', '{"aggregation_round": 7.5}'),
          ('round negative', '{"aggregation_round": -1}'),
          ('round beyond bigint', '{"aggregation_round": 9223372036854775808}'),
          ('participants zero', '{"participant_count": 0}'),
          ('participants fraction', '{"participant_count": 1.5}'),
          ('participants bool', '{"participant_count": true}'),
          ('signals array', '{"reward_signals": []}'),
          ('signals empty', '{"reward_signals": {}}'),
          ('entry not object', '{"reward_signals": {"k": 0.5}}'),
          ('entry empty key', '{"reward_signals": {"": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}}}'),
          ('entry unknown key', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2, "avg_latency_ms": 3}}}'),
          ('entry missing key', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "total_samples": 2}}}'),
          ('success_rate > 1', '{"reward_signals": {"k": {"success_rate": 1.0000001, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}}}'),
          ('success_rate < 0', '{"reward_signals": {"k": {"success_rate": -0.1, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}}}'),
          ('success_rate string', '{"reward_signals": {"k": {"success_rate": "0.5", "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}}}'),
          ('success_rate 1e-400', '{"reward_signals": {"k": {"success_rate": 1e-400, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}}}'),
          ('latency negative', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": -1, "quality_score": 0.5, "total_samples": 2}}}'),
          ('latency 1e400', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 1e400, "quality_score": 0.5, "total_samples": 2}}}'),
          ('latency null', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": null, "quality_score": 0.5, "total_samples": 2}}}'),
          ('quality > 1', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 2, "total_samples": 2}}}'),
          ('quality object', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": {}, "total_samples": 2}}}'),
          ('samples zero', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 0}}}'),
          ('samples fraction', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2.5}}}'),
          ('samples beyond 2^53', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 9007199254740993}}}'),
          ('one good key, one bad', '{"reward_signals": {"a": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}, "b": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": -2}}}')
  ) p(name, patch);
INSERT INTO bad VALUES ('not an object', '[1, 2]'), ('a string', '"signal"'),
    ('missing keys', '{"reward_signals": {"k": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 2}}}');
CREATE FUNCTION try_apply(signal jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN 'applied ' || bandit.apply_signal(signal);
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
CREATE TABLE before AS SELECT * FROM bandit.prior;
SELECT name, try_apply(signal) AS sqlstate, array_to_string(bandit.validate_signal(signal), ' | ') AS problems FROM bad;
-- the same errors at top level, and NULL
SELECT pg_temp.err($$SELECT bandit.apply_signal(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.apply_signal('[]')$$);
SELECT pg_temp.err($$SELECT bandit.apply_signal(signal) FROM bad WHERE name = 'success_rate > 1'$$);
SELECT pg_temp.err($$SELECT bandit.apply_signal(signal) FROM bad WHERE name = 'one good key, one bad'$$);
-- an error while updating (here a trigger failing on the second key) applies nothing either: not "aaa", not the signal
CREATE FUNCTION fail_on_gpt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key = 'gpt' THEN
        RAISE EXCEPTION 'refused' USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_on_gpt BEFORE UPDATE ON bandit.prior FOR EACH ROW EXECUTE FUNCTION fail_on_gpt();
SELECT pg_temp.err($$SELECT bandit.apply_signal('{"aggregation_round": 3, "cluster_hash": "c1", "participant_count": 1,
  "reward_signals": {"aaa": {"success_rate": 0.5, "avg_latency": 1, "quality_score": 1, "total_samples": 1},
                     "gpt": {"success_rate": 0.5, "avg_latency": 2, "quality_score": 1, "total_samples": 5}}}')$$);
DROP TRIGGER fail_on_gpt ON bandit.prior;
-- nothing changed
SELECT (SELECT count(*) FROM (SELECT * FROM bandit.prior EXCEPT SELECT * FROM before) d) AS changed_priors,
       (SELECT count(*) FROM bandit.prior) AS priors,
       (SELECT count(*) FROM bandit.prior_signal) AS signals,
       (SELECT sum(replays) FROM bandit.prior_signal) AS replays;

-- prior_adjusted_score: without a prior, the mean of 1/(1+cost), 1/(1+latency/1000), quality, 1/(1+carbon)
SELECT round(bandit.prior_adjusted_score('nothing', 0.5, 250, 0.8, 2)::numeric, 12) AS no_prior,
       round(bandit.prior_adjusted_score('nothing', 0.5, 250, 0.8, 2, NULL)::numeric, 12) AS null_weights,
       round(bandit.prior_adjusted_score('tiny', 0.5, 250, 0.8, 2)::numeric, 12) AS confidence_below_0_1,
       round(bandit.prior_adjusted_score('llama', 0.5, 250, 0.8, 2)::numeric, 12) AS llama_below_0_1;
-- gpt: confidence 2/3, latency 148, quality 0.76, success rate 0.645
SELECT round(bandit.prior_adjusted_score('gpt', 0.5, 250, 0.8, 2)::numeric, 12) AS blended,
       round(bandit.prior_adjusted_score('gpt', 0.5, 250, 0.8, 2, '{"quality": 1}')::numeric, 12) AS quality_weight_1,
       round(bandit.prior_adjusted_score('gpt', 0.5, 250, 0.8, 2, '{"cost": 0, "latency_ms": 0, "carbon": 0}')::numeric, 12) AS quality_only,
       round(bandit.prior_adjusted_score('nothing', 0.5, 250, 0.8, 2, '{"cost": 0, "latency_ms": 0, "carbon": 0}')::numeric, 12) AS quality_only_no_prior,
       bandit.prior_adjusted_score('gpt', 0.5, 250, 0.8, 2, '{"cost": 1e300, "latency_ms": 1e300, "quality": 1e300, "carbon": 1e300}')
         = bandit.prior_adjusted_score('gpt', 0.5, 250, 0.8, 2) AS scale_free;
-- a confidence of exactly 0.1 counts
INSERT INTO bandit.prior VALUES ('manual', 0.5, 1000, 0.2, 100.0 / 9, 0.1, now());
SELECT round(bandit.prior_adjusted_score('manual', 3, 0, 1, 0)::numeric, 12) AS at_0_1,
       round(bandit.prior_adjusted_score('manual', 3, 0, 1, 0, '{"cost": 2, "carbon": 0}')::numeric, 12) AS weighted;
DELETE FROM bandit.prior WHERE key = 'manual';
-- extremes stay in [0, 1]
SELECT bandit.prior_adjusted_score('nothing', 0, 0, 1, 0) AS best,
       bandit.prior_adjusted_score('nothing', 1e300, 1e300, 0, 1e300) < 1e-296 AS worst;
-- NULL arguments give NULL
SELECT bandit.prior_adjusted_score(NULL, 1, 1, 1, 1) IS NULL AS null_key,
       bandit.prior_adjusted_score('gpt', NULL, 1, 1, 1) IS NULL AS null_cost,
       bandit.prior_adjusted_score('gpt', 1, NULL, 1, 1) IS NULL AS null_latency,
       bandit.prior_adjusted_score('gpt', 1, 1, NULL, 1) IS NULL AS null_quality,
       bandit.prior_adjusted_score('gpt', 1, 1, 1, NULL) IS NULL AS null_carbon;
-- bad input
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', -1, 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 'NaN', 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 'Infinity', 1, 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, -0.5, 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 'NaN', 1, 1)$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1.5, 1)$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 'NaN', 1)$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, '-Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, 1, '{"latency": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, 1, '{"cost": -0.1}')$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, 1, '{"cost": "1"}')$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, 1, '{"cost": 1e400}')$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, 1, '{"cost": 0, "latency_ms": 0, "quality": 0, "carbon": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, 1, '[0.25]')$$);
SELECT pg_temp.err($$SELECT bandit.prior_adjusted_score('gpt', 1, 1, 1, 1, 'null')$$);

-- cleanup_priors: priors not updated within max_age go; the record of signals stays
UPDATE bandit.prior SET last_updated = now() - interval '8 days' WHERE key IN ('tiny', 'llama');
UPDATE bandit.prior SET last_updated = now() - interval '2 days' WHERE key = 'mistral';
SELECT bandit.cleanup_priors('1000000 years') AS none_that_old, bandit.cleanup_priors('8 days 1 minute') AS none_yet;
SELECT bandit.cleanup_priors() AS default_7_days;
SELECT bandit.cleanup_priors('1 day') AS older_than_a_day;
SELECT key FROM bandit.prior ORDER BY key;
SELECT pg_temp.err($$SELECT bandit.cleanup_priors(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.cleanup_priors('-1 second')$$);
-- a cleaned-up prior is not rebuilt by replaying an old round
SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "c1", "participant_count": 3,
  "reward_signals": {"gpt": {"success_rate": 0.5, "avg_latency": 120, "quality_score": 0.9, "total_samples": 5},
                     "llama": {"success_rate": 0.25, "avg_latency": 80, "quality_score": 0.7, "total_samples": 4},
                     "tiny": {"success_rate": 0.7, "avg_latency": 0, "quality_score": 0, "total_samples": 1}}}');
SELECT active_priors, confident_priors, signals_applied, updates_applied, signals_replayed FROM bandit.prior_metrics;

-- a hostile search_path changes nothing
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.round(numeric) RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
CREATE FUNCTION hostile.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS 'SELECT ''number''::text';
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT ''2000-01-01''::timestamptz';
CREATE TABLE hostile.prior (LIKE bandit.prior);
SET search_path = hostile, pg_catalog, public;
SELECT bandit.validate_signal('{"aggregation_round": "x"}');
SELECT bandit.apply_signal('{"aggregation_round": 5, "cluster_hash": "c3", "participant_count": 1,
  "reward_signals": {"h": {"success_rate": 0.5, "avg_latency": 10, "quality_score": 0.5, "total_samples": 3}}}');
SELECT round(bandit.prior_adjusted_score('gpt', 0.5, 250, 0.8, 2)::numeric, 12) AS blended;
SELECT bandit.cleanup_priors('1 day');
RESET search_path;
SELECT key, success_rate, sample_count, now() - last_updated < interval '1 minute' AS recent FROM bandit.prior WHERE key = 'h';
SELECT count(*) AS hostile_rows FROM hostile.prior;
DROP SCHEMA hostile CASCADE;

-- every object is documented and both tables are dumped
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented,
       c.oid = ANY (e.extconfig) AS dumped
FROM pg_class c, pg_extension e
WHERE e.extname = 'bandit' AND c.relnamespace = 'bandit'::regnamespace
  AND c.relname IN ('prior', 'prior_signal', 'prior_metrics') ORDER BY c.relname;
SELECT p.oid::regprocedure AS function, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented, p.provolatile
FROM pg_proc p WHERE p.pronamespace = 'bandit'::regnamespace
  AND p.proname IN ('apply_signal', 'validate_signal', 'prior_adjusted_score', 'cleanup_priors',
                    'prior_signal_problems', 'prior_number_problem')
ORDER BY p.oid::regprocedure::text COLLATE "C";
DROP TABLE bad, before;
DROP FUNCTION try_apply(jsonb);
