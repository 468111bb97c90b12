-- The two-variable mergeable summary behind CUPED from per-node summaries
-- (bandit.analyze with a covariate and its analyze_summaries form, src/experiment.sql).
-- A composite type: its text form is float8's shortest exact one, so it
-- round-trips bit for bit, and postgres_fdw carries it as any row.

CREATE TYPE bandit.covariance_summary AS (n bigint, mean_x float8, mean_y float8, m2_x float8, m2_y float8, c_xy float8);
COMMENT ON TYPE bandit.covariance_summary IS
    'Mergeable summary of pairs (x, y): count, means, sums of squared deviations and the sum of cross deviations; bandit.merge merges them (Chan et al.); bandit.experiment_summaries(experiment, metric, covariate) gives a node''s';

-- Rejects what no sample of pairs could have produced.
CREATE FUNCTION bandit.covariance_summary_check(pairs bandit.covariance_summary) RETURNS bandit.covariance_summary
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pairs.n IS NULL OR pairs.mean_x IS NULL OR pairs.mean_y IS NULL OR pairs.m2_x IS NULL OR pairs.m2_y IS NULL OR pairs.c_xy IS NULL
       OR pairs.n < 0 OR pairs.m2_x < 0 OR pairs.m2_y < 0
       OR pairs.mean_x IN ('NaN', 'Infinity', '-Infinity') OR pairs.mean_y IN ('NaN', 'Infinity', '-Infinity')
       OR pairs.m2_x IN ('NaN', 'Infinity') OR pairs.m2_y IN ('NaN', 'Infinity') OR pairs.c_xy IN ('NaN', 'Infinity', '-Infinity')
       OR (pairs.n = 0 AND (pairs.mean_x <> 0 OR pairs.mean_y <> 0)) OR (pairs.n <= 1 AND (pairs.m2_x <> 0 OR pairs.m2_y <> 0 OR pairs.c_xy <> 0))
       OR pairs.c_xy ^ 2 > pairs.m2_x * pairs.m2_y * (1 + 1e-9) THEN
        RAISE EXCEPTION 'invalid covariance summary %: n >= 0, means finite, m2_x and m2_y finite and >= 0, c_xy^2 <= m2_x m2_y, and zeros below 2 pairs', pairs
            USING ERRCODE = '22023';
    END IF;
    RETURN pairs;
END
$$;
COMMENT ON FUNCTION bandit.covariance_summary_check(bandit.covariance_summary) IS
    'The covariance summary if some sample of pairs could have produced it, else 22023';

CREATE FUNCTION bandit.covariance_summary_combine(pairs1 bandit.covariance_summary, pairs2 bandit.covariance_summary)
RETURNS bandit.covariance_summary
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a bandit.covariance_summary;
    b bandit.covariance_summary;
    n bigint;
    dx float8;
    dy float8;
    w float8;
BEGIN
    a := bandit.covariance_summary_check(pairs1);
    b := bandit.covariance_summary_check(pairs2);
    IF b.n = 0 THEN
        RETURN a;
    ELSIF a.n = 0 THEN
        RETURN b;
    END IF;
    n := a.n + b.n;
    dx := b.mean_x - a.mean_x;
    dy := b.mean_y - a.mean_y;
    w := a.n::float8 * b.n / n;
    RETURN ROW(n, a.mean_x + dx * b.n / n, a.mean_y + dy * b.n / n,
               a.m2_x + b.m2_x + dx * dx * w, a.m2_y + b.m2_y + dy * dy * w, a.c_xy + b.c_xy + dx * dy * w);
END
$$;
COMMENT ON FUNCTION bandit.covariance_summary_combine(bandit.covariance_summary, bandit.covariance_summary) IS
    'Merges two covariance summaries (Chan et al.); transition and combine function of bandit.merge(bandit.covariance_summary)';

CREATE AGGREGATE bandit.merge(s bandit.covariance_summary) (
    SFUNC = bandit.covariance_summary_combine,
    STYPE = bandit.covariance_summary,
    COMBINEFUNC = bandit.covariance_summary_combine,
    INITCOND = '(0,0,0,0,0,0)',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bandit.merge(bandit.covariance_summary) IS
    'Merges covariance summaries computed elsewhere (nodes, days) into one (Chan et al.); one that no sample could have produced is 22023';

CREATE FUNCTION bandit.covariance_summary_final(n bigint, mean_x float8, mean_y float8, m2_x float8, m2_y float8, c_xy float8)
RETURNS bandit.covariance_summary
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.covariance_summary_check(
        ROW(n, coalesce(mean_x, 0), coalesce(mean_y, 0), CASE WHEN n > 1 THEN m2_x ELSE 0 END,
            CASE WHEN n > 1 THEN m2_y ELSE 0 END, CASE WHEN n > 1 THEN c_xy ELSE 0 END)::bandit.covariance_summary)
$$;
COMMENT ON FUNCTION bandit.covariance_summary_final(bigint, float8, float8, float8, float8, float8) IS
    'A covariance summary from count(*), avg(x), avg(y), regr_sxx(y, x), regr_syy(y, x), regr_sxy(y, x) (PostgreSQL''s Youngs-Cramer sums); checked as bandit.merge checks its input (22023)';

REVOKE ALL ON FUNCTION bandit.covariance_summary_check(bandit.covariance_summary) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.covariance_summary_combine(bandit.covariance_summary, bandit.covariance_summary) FROM PUBLIC;
REVOKE ALL ON FUNCTION bandit.covariance_summary_final(bigint, float8, float8, float8, float8, float8) FROM PUBLIC;
