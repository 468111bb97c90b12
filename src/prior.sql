-- Reinforcement priors from federated (aggregated) signals.
--
-- A signal is one aggregation round of one cluster: per key, a success rate,
-- mean latency, mean quality and sample count pooled over the participants.
-- bandit.apply_signal folds it into bandit.prior exactly once: the signal's
-- row in bandit.prior_signal, inserted with ON CONFLICT DO NOTHING in the
-- same transaction as the prior updates, is the gate.  A concurrent apply of
-- the same signal waits on that primary key until the first commits (then it
-- is a replay and returns 0) or rolls back (then it applies the signal);
-- under REPEATABLE READ or SERIALIZABLE that wait ends in a serialization
-- failure (40001) instead, to be retried as usual.
-- Priors are upserted in key order, so signals sharing keys never deadlock.

CREATE TABLE bandit.prior (
    key text PRIMARY KEY,
    success_rate float8 NOT NULL CHECK (success_rate BETWEEN 0 AND 1),
    latency_ms float8 NOT NULL CHECK (latency_ms >= 0 AND latency_ms <> 'Infinity'),
    quality float8 NOT NULL CHECK (quality BETWEEN 0 AND 1),
    sample_count float8 NOT NULL CHECK (sample_count >= 0 AND sample_count <> 'Infinity'),
    confidence float8 NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    last_updated timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE bandit.prior IS
    'Priors learned from aggregated signals, one per key: Beta-pooled success rate, sample-weighted mean latency (ms) and quality, samples seen, confidence = sample_count / (sample_count + 100), time of the last signal';

CREATE TABLE bandit.prior_signal (
    cluster_hash text NOT NULL,
    aggregation_round bigint NOT NULL,
    participant_count bigint NOT NULL,
    keys_updated integer NOT NULL,
    signal_sha256 bytea NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    replays bigint NOT NULL DEFAULT 0,
    last_replayed_at timestamptz,
    PRIMARY KEY (cluster_hash, aggregation_round)
);
COMMENT ON TABLE bandit.prior_signal IS
    'Signals applied to bandit.prior, one per (cluster_hash, aggregation_round): participants, priors updated, SHA-256 of the signal''s jsonb text, when applied, and how often it was replayed (applied again, changing nothing); bandit.cleanup_priors keeps these rows, so an old round is never applied twice';

SELECT pg_catalog.pg_extension_config_dump('bandit.prior', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.prior_signal', '');

-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.prior, bandit.prior_signal TO PUBLIC;
ALTER TABLE bandit.prior ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.prior FOR SELECT USING ('*' IN (SELECT r.name FROM bandit.readable('priors') r));
ALTER TABLE bandit.prior_signal ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.prior_signal FOR SELECT USING ('*' IN (SELECT r.name FROM bandit.readable('priors') r));

-- One number of a signal or of weights checked against [low, high] (and for
-- being whole); problem is NULL when it is fine.  float8 fields also need a
-- magnitude float8 holds: jsonb keeps 1e400 and 1e-400, a cast would fail.
CREATE FUNCTION bandit.prior_number_problem(path text, value jsonb, low numeric, high numeric,
                                            whole boolean, accepted text,
                                            OUT code text, OUT problem text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    x numeric;
    shown text;
BEGIN
    IF value IS NULL THEN
        code := '22023';
        problem := format('%s is missing; it must be %s', path, accepted);
    ELSIF jsonb_typeof(value) <> 'number' THEN
        code := '22023';
        problem := format('%s must be %s, got %s', path, accepted,
                          CASE WHEN jsonb_typeof(value) = 'null' THEN 'null' ELSE jsonb_typeof(value) || ' ' || left(value::text, 40) END);
    ELSE
        x := value::numeric;
        -- 1e400 prints as 401 digits
        shown := CASE WHEN length(value::text) > 30 THEN btrim(to_char(x, '9.999999EEEE')) ELSE value::text END;
        IF whole AND x <> trunc(x) THEN
            code := '22023';
            problem := format('%s must be %s, got %s', path, accepted, shown);
        ELSIF x < low OR x > high THEN
            code := '22003';
            problem := format('%s must be %s, got %s', path, accepted, shown);
        ELSIF NOT whole AND x <> 0 AND abs(x) < 2.2250738585072014e-308 THEN
            code := '22003';
            problem := format('%s is too small for float8 (below 2.2250738585072014e-308), got %s; send 0', path, shown);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION bandit.prior_number_problem(text, jsonb, numeric, numeric, boolean, text) IS
    'Checks one JSON number (type, whole, range, float8 magnitude); returns the SQLSTATE and problem, or NULLs when fine; used by bandit.validate_signal and bandit.prior_adjusted_score';

-- Every problem of a signal, in document order, with the SQLSTATE it raises.
CREATE FUNCTION bandit.prior_signal_problems(signal jsonb)
RETURNS TABLE (code text, problem text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    top_keys constant text[] := '{aggregation_round,cluster_hash,participant_count,reward_signals}';
    entry_keys constant text[] := '{avg_latency,quality_score,success_rate,total_samples}';
    signals jsonb;
    k text;
    entry jsonb;
    path text;
BEGIN
    IF signal IS NULL OR jsonb_typeof(signal) <> 'object' THEN
        RETURN QUERY SELECT '22023', format('signal must be a JSON object, got %s', coalesce(jsonb_typeof(signal), 'NULL'));
        RETURN;
    END IF;
    RETURN QUERY
        SELECT '22023', format('unknown key %s in signal; accepted: %s', to_json(u), array_to_string(top_keys, ', '))
        FROM jsonb_object_keys(signal) u WHERE u <> ALL (top_keys) ORDER BY u;
    IF NOT signal ? 'cluster_hash' THEN
        RETURN QUERY SELECT '22023', 'cluster_hash is missing; it must be a non-empty string';
    ELSIF jsonb_typeof(signal->'cluster_hash') <> 'string' OR btrim(signal->>'cluster_hash') = '' THEN
        RETURN QUERY SELECT '22023', format('cluster_hash must be a non-empty string, got %s', left((signal->'cluster_hash')::text, 40));
    END IF;
    RETURN QUERY
        SELECT p.code, p.problem
        FROM (VALUES ('aggregation_round', 0, 'an integer from 0 to 9223372036854775807'),
                     ('participant_count', 1, 'an integer from 1 to 9223372036854775807')) f(name, low, accepted),
             bandit.prior_number_problem(f.name, signal->f.name, f.low, 9223372036854775807, true, f.accepted) p
        WHERE p.problem IS NOT NULL;
    signals := signal->'reward_signals';
    IF signals IS NULL THEN
        RETURN QUERY SELECT '22023', 'reward_signals is missing; it must be a JSON object {key: {success_rate, avg_latency, quality_score, total_samples}}';
        RETURN;
    ELSIF jsonb_typeof(signals) <> 'object' THEN
        RETURN QUERY SELECT '22023', format('reward_signals must be a JSON object, got %s', jsonb_typeof(signals));
        RETURN;
    ELSIF signals = '{}' THEN
        RETURN QUERY SELECT '22023', 'reward_signals must not be empty';
        RETURN;
    END IF;
    FOR k, entry IN SELECT e.key, e.value FROM jsonb_each(signals) e ORDER BY e.key LOOP
        path := format('reward_signals.%s', to_json(k));
        IF btrim(k) = '' THEN
            RETURN QUERY SELECT '22023', format('%s: a key must not be empty', path);
        END IF;
        IF jsonb_typeof(entry) <> 'object' THEN
            RETURN QUERY SELECT '22023', format('%s must be a JSON object, got %s', path, jsonb_typeof(entry));
            CONTINUE;
        END IF;
        RETURN QUERY
            SELECT '22023', format('unknown key %s in %s; accepted: %s', to_json(u), path, array_to_string(entry_keys, ', '))
            FROM jsonb_object_keys(entry) u WHERE u <> ALL (entry_keys) ORDER BY u;
        RETURN QUERY
            SELECT p.code, p.problem
            FROM (VALUES (1, 'success_rate', 0, 1, false, 'a number from 0 to 1'),
                         (2, 'avg_latency', 0, 1.7976931348623157e308, false, 'a number of milliseconds from 0 to 1.7976931348623157e308'),
                         (3, 'quality_score', 0, 1, false, 'a number from 0 to 1'),
                         (4, 'total_samples', 1, 9007199254740992, true, 'an integer from 1 to 9007199254740992 (2^53)'))
                     f(i, name, low, high, whole, accepted),
                 bandit.prior_number_problem(path || '.' || f.name, entry->f.name, f.low, f.high, f.whole, f.accepted) p
            WHERE p.problem IS NOT NULL
            ORDER BY f.i;
    END LOOP;
END
$$;
COMMENT ON FUNCTION bandit.prior_signal_problems(jsonb) IS
    'Every problem of a signal with the SQLSTATE it raises (22003 out-of-range numbers, 22023 the rest), in document order; used by bandit.validate_signal and bandit.apply_signal';

CREATE FUNCTION bandit.validate_signal(signal jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(p.problem ORDER BY p.n), '{}')
    FROM bandit.prior_signal_problems(signal) WITH ORDINALITY p(code, problem, n)
$$;
COMMENT ON FUNCTION bandit.validate_signal(jsonb) IS
    'Every problem of a signal for bandit.apply_signal, as text (empty array: valid; NULL: one problem): structure, unknown keys (top level and per key), missing keys, types, ranges (success_rate and quality_score 0..1, avg_latency >= 0, total_samples integer 1..2^53, aggregation_round integer >= 0, participant_count integer >= 1, cluster_hash non-empty string), empty reward_signals, numbers float8 cannot hold. Raises nothing, so a rejection can be logged outside the failed transaction. Privilege: none (it runs as the extension''s owner only to call its internal helper).';

CREATE FUNCTION bandit.apply_signal(signal jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[];
    codes text[];
    raised text;
    digest constant bytea := sha256(convert_to(signal::text, 'UTF8'));
    applied_digest bytea;
    k text;
    entry jsonb;
    samples float8;
    successes float8;
    mean_latency float8;
    mean_quality float8;
    updated integer := 0;
BEGIN
    PERFORM bandit.require('priors', '*', 'use');
    IF signal IS NULL THEN
        RAISE EXCEPTION 'signal must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(p.problem ORDER BY p.n), array_agg(p.code ORDER BY p.n) INTO problems, codes
    FROM bandit.prior_signal_problems(signal) WITH ORDINALITY p(code, problem, n);
    IF problems IS NOT NULL THEN
        -- a structural problem outranks a number out of range
        raised := CASE WHEN '22023' = ANY (codes) THEN '22023' ELSE '22003' END;
        RAISE EXCEPTION '%', format('invalid signal: %s%s', problems[array_position(codes, raised)],
                CASE WHEN cardinality(problems) > 1 THEN format(' (and %s more)', cardinality(problems) - 1) ELSE '' END)
            USING ERRCODE = raised, DETAIL = array_to_string(problems, E'\n'),
                  HINT = 'bandit.validate_signal(signal) returns every problem without raising.';
    END IF;

    INSERT INTO bandit.prior_signal (cluster_hash, aggregation_round, participant_count, keys_updated, signal_sha256)
    VALUES (signal->>'cluster_hash', (signal->'aggregation_round')::bigint, (signal->'participant_count')::bigint,
            (SELECT count(*) FROM jsonb_object_keys(signal->'reward_signals')), digest)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        UPDATE bandit.prior_signal a SET replays = a.replays + 1, last_replayed_at = now()
        WHERE a.cluster_hash = signal->>'cluster_hash' AND a.aggregation_round = (signal->'aggregation_round')::bigint
        RETURNING a.signal_sha256 INTO applied_digest;
        IF applied_digest <> digest THEN
            RAISE WARNING 'round % of cluster % was already applied with different content; this signal is ignored',
                signal->'aggregation_round', signal->'cluster_hash';
        END IF;
        RETURN 0;
    END IF;

    FOR k, entry IN SELECT e.key, e.value FROM jsonb_each(signal->'reward_signals') e ORDER BY e.key LOOP
        samples := (entry->'total_samples')::numeric;
        -- exact decimal product, halves away from zero
        successes := round((entry->'success_rate')::numeric * (entry->'total_samples')::numeric);
        mean_latency := (entry->'avg_latency')::numeric;
        mean_quality := (entry->'quality_score')::numeric;
        INSERT INTO bandit.prior AS p (key, success_rate, latency_ms, quality, sample_count, confidence, last_updated)
        VALUES (k, successes / samples, mean_latency, mean_quality, samples, samples / (samples + 100), now())
        ON CONFLICT (key) DO UPDATE SET
            success_rate = (p.success_rate * p.sample_count + successes)
                           / ((p.success_rate * p.sample_count + successes)
                              + ((1 - p.success_rate) * p.sample_count + (samples - successes))),
            -- weights first: a latency near the float8 maximum times a count would overflow
            latency_ms = p.latency_ms * (p.sample_count / (p.sample_count + samples))
                         + mean_latency * (samples / (p.sample_count + samples)),
            -- this form keeps a mean of values in [0, 1] in [0, 1] despite rounding
            quality = (p.quality * p.sample_count + mean_quality * samples) / (p.sample_count + samples),
            sample_count = p.sample_count + samples,
            confidence = (p.sample_count + samples) / (p.sample_count + samples + 100),
            last_updated = now();
        updated := updated + 1;
    END LOOP;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION bandit.apply_signal(jsonb) IS
    'Folds a signal {"aggregation_round", "cluster_hash", "participant_count", "reward_signals": {key: {"success_rate", "avg_latency", "quality_score", "total_samples"}}} into bandit.prior once; returns the priors updated, 0 for a (cluster_hash, aggregation_round) already applied (a replay: counted, WARNING if its content differs). Per key, n = total_samples, s = round(success_rate * n) in exact decimal (halves away from zero); from the prior (rate, count; count 0 for a new key): alpha = rate*count + s, beta = (1 - rate)*count + (n - s), rate = alpha/(alpha + beta); latency_ms and quality are sample-weighted means with avg_latency and quality_score; sample_count += n; confidence = sample_count/(sample_count + 100). An invalid signal (see bandit.validate_signal) applies nothing: 22003 when every problem is a number out of range, else 22023 (NULL: 22004); the message names the first, DETAIL lists all. Privilege: use on the priors.';

CREATE FUNCTION bandit.prior_adjusted_score(key text, cost float8, latency_ms float8, quality float8, carbon float8,
                                            weights jsonb DEFAULT NULL)
RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w jsonb := '{"cost": 0.25, "latency_ms": 0.25, "quality": 0.25, "carbon": 0.25}';
    wk text;
    wv jsonb;
    bad record;
    p bandit.prior;
    c float8;
    blended_latency float8;
    blended_quality float8;
    top float8;
BEGIN
    PERFORM bandit.require('priors', '*', 'use');
    IF key IS NULL OR cost IS NULL OR latency_ms IS NULL OR quality IS NULL OR carbon IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT (cost >= 0 AND cost < 'Infinity') THEN
        RAISE EXCEPTION 'cost must be a finite number >= 0, got %', cost USING ERRCODE = '22003';
    END IF;
    IF NOT (latency_ms >= 0 AND latency_ms < 'Infinity') THEN
        RAISE EXCEPTION 'latency_ms must be a finite number >= 0, got %', latency_ms USING ERRCODE = '22003';
    END IF;
    IF NOT quality BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'quality must be a number from 0 to 1, got %', quality USING ERRCODE = '22003';
    END IF;
    IF NOT (carbon >= 0 AND carbon < 'Infinity') THEN
        RAISE EXCEPTION 'carbon must be a finite number >= 0, got %', carbon USING ERRCODE = '22003';
    END IF;
    IF weights IS NOT NULL THEN
        IF jsonb_typeof(weights) <> 'object' THEN
            RAISE EXCEPTION 'weights must be a JSON object, got %', jsonb_typeof(weights)
                USING ERRCODE = '22023', HINT = 'Known weights: carbon, cost, latency_ms, quality.';
        END IF;
        FOR wk, wv IN SELECT e.key, e.value FROM jsonb_each(weights) e ORDER BY e.key LOOP
            IF NOT w ? wk THEN
                RAISE EXCEPTION 'unknown weight %', to_json(wk)
                    USING ERRCODE = '22023', HINT = 'Known weights: carbon, cost, latency_ms, quality.';
            END IF;
            bad := bandit.prior_number_problem(format('weights.%s', wk), wv, 0, 1.7976931348623157e308, false, 'a number >= 0');
            IF bad.problem IS NOT NULL THEN
                RAISE EXCEPTION '%', bad.problem USING ERRCODE = bad.code;
            END IF;
        END LOOP;
        w := w || weights;
    END IF;
    top := greatest((w->'cost')::float8, (w->'latency_ms')::float8, (w->'quality')::float8, (w->'carbon')::float8);
    IF top = 0 THEN
        RAISE EXCEPTION 'weights must not all be zero' USING ERRCODE = '22003';
    END IF;

    SELECT * INTO p FROM bandit.prior t WHERE t.key = prior_adjusted_score.key;
    IF FOUND AND p.confidence >= 0.1 THEN
        c := p.confidence;
        blended_latency := (1 - c) * latency_ms + c * p.latency_ms;
        -- the caller's figures assume success; the prior's success rate discounts quality
        blended_quality := ((1 - c) * quality + c * p.quality) * ((1 - c) + c * p.success_rate);
    ELSE
        blended_latency := latency_ms;
        blended_quality := quality;
    END IF;
    -- weights scaled by the largest, so that their sum cannot overflow
    RETURN ((w->'cost')::float8 / top * (1 / (1 + cost))
            + (w->'latency_ms')::float8 / top * (1 / (1 + blended_latency / 1000))
            + (w->'quality')::float8 / top * blended_quality
            + (w->'carbon')::float8 / top * (1 / (1 + carbon)))
           / ((w->'cost')::float8 / top + (w->'latency_ms')::float8 / top
              + (w->'quality')::float8 / top + (w->'carbon')::float8 / top);
END
$$;
COMMENT ON FUNCTION bandit.prior_adjusted_score(text, float8, float8, float8, float8, jsonb) IS
    'Multi-objective score in [0, 1], higher is better: sum of w_i*u_i / sum of w_i over cost: 1/(1 + cost), latency: 1/(1 + latency_ms/1000), quality: quality (0..1), carbon: 1/(1 + carbon). Weights {"cost", "latency_ms", "quality", "carbon"} default to 0.25 each; keys given replace those defaults, the rest keep them (0 drops an objective; unknown key 22023, negative 22003, all zero 22003). With a prior for key of confidence c >= 0.1 (else the prior is ignored): latency_ms is blended as (1-c)*latency_ms + c*prior.latency_ms, quality as ((1-c)*quality + c*prior.quality) * ((1-c) + c*prior.success_rate). cost, latency_ms, carbon must be finite and >= 0, quality in [0, 1] (22003); a NULL argument other than weights gives NULL. Privilege: use on the priors.';

CREATE FUNCTION bandit.cleanup_priors(max_age interval DEFAULT '7 days') RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz;
    deleted integer;
BEGIN
    PERFORM bandit.require('priors', '*', 'manage');
    IF max_age IS NULL THEN
        RAISE EXCEPTION 'max_age must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF max_age < interval '0' THEN
        RAISE EXCEPTION 'max_age must not be negative, got %', max_age USING ERRCODE = '22003';
    END IF;
    BEGIN
        cutoff := now() - max_age;
    EXCEPTION WHEN datetime_field_overflow THEN
        cutoff := '-infinity';  -- older than any timestamp: nothing is that old
    END;
    -- lock in key order, as apply_signal does, so the two never deadlock;
    -- a prior updated meanwhile no longer qualifies and stays
    WITH doomed AS MATERIALIZED (
        SELECT t.key FROM bandit.prior t WHERE t.last_updated < cutoff ORDER BY t.key FOR UPDATE)
    DELETE FROM bandit.prior p USING doomed d
    WHERE p.key = d.key AND p.last_updated < cutoff;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION bandit.cleanup_priors(interval) IS
    'Deletes the priors whose last_updated is older than now() - max_age (default 7 days; negative 22003); returns how many. The record of applied signals is kept, so a deleted prior is never rebuilt from an old round. Privilege: manage on the priors.';

CREATE VIEW bandit.prior_metrics WITH (security_invoker = true) AS
SELECT (SELECT count(*) FROM bandit.prior) AS active_priors,
       (SELECT count(*) FROM bandit.prior p WHERE p.confidence >= 0.1) AS confident_priors,
       s.signals_applied,
       s.updates_applied,
       s.signals_replayed,
       (SELECT max(p.last_updated) FROM bandit.prior p) AS last_update,
       s.last_signal_at
FROM (SELECT count(*) AS signals_applied,
             coalesce(sum(a.keys_updated), 0)::bigint AS updates_applied,
             coalesce(sum(a.replays), 0)::bigint AS signals_replayed,
             max(a.applied_at) AS last_signal_at
      FROM bandit.prior_signal a) s;
COMMENT ON VIEW bandit.prior_metrics IS
    'Monitoring of the priors: priors kept (active_priors) and those bandit.prior_adjusted_score uses (confidence >= 0.1), signals applied, prior updates they made (counting priors since cleaned up), replays ignored, time of the last prior update and of the last signal';
GRANT SELECT ON bandit.prior_metrics TO PUBLIC;

-- Internal helpers: only bandit's own functions call them.
REVOKE ALL ON FUNCTION bandit.prior_number_problem(text, jsonb, numeric, numeric, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.prior_signal_problems(jsonb) FROM PUBLIC;
