-- Always-valid sequential inference: the mixture SPRT (src/sequential.c).

CREATE FUNCTION bandit.msprt(n1 float8, mean1 float8, sd1 float8, n2 float8, mean2 float8, sd2 float8,
                             mixing_sd float8, alpha float8 DEFAULT 0.05,
                             OUT p_value float8, OUT ci_lower float8, OUT ci_upper float8)
    AS 'MODULE_PATHNAME', 'bandit_msprt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.msprt(float8, float8, float8, float8, float8, float8, float8, float8) IS
    'Always-valid p-value and 1 - alpha confidence sequence of mean1 - mean2 by the two-sample normal-mixture SPRT (Johari, Pekelis, Walsh 2017) with mixing sd tau = mixing_sd: V = sd1^2/n1 + sd2^2/n2, p = min(1, sqrt((V + tau^2)/V) exp(-tau^2 d^2 / (2 V (V + tau^2)))), CS = d +- sqrt(V (V + tau^2)/tau^2 (log((V + tau^2)/V) - 2 log alpha)). With V = 0 the difference is known: p = 1 and CS [0, 0] when d = 0, else p = 0 and CS [d, d]';


-- The mSPRT from two summaries.
CREATE FUNCTION bandit.msprt(s1 bandit.summary, s2 bandit.summary, mixing_sd float8, alpha float8 DEFAULT 0.05,
                             OUT p_value float8, OUT ci_lower float8, OUT ci_upper float8)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF bandit.n(s1) < 2 OR bandit.n(s2) < 2 THEN
        RAISE EXCEPTION 'msprt: each summary needs at least 2 values, got % and %', bandit.n(s1), bandit.n(s2)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT m.p_value, m.ci_lower, m.ci_upper INTO p_value, ci_lower, ci_upper
      FROM bandit.msprt(bandit.n(s1)::float8, bandit.mean(s1), bandit.stddev(s1),
                        bandit.n(s2)::float8, bandit.mean(s2), bandit.stddev(s2), mixing_sd, alpha) m;
END
$$;
COMMENT ON FUNCTION bandit.msprt(bandit.summary, bandit.summary, float8, float8) IS
    'bandit.msprt of s1 minus s2 from two summaries (sample sd, n - 1); each needs at least 2 values';
