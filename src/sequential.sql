-- Always-valid sequential inference: the mixture SPRT (src/sequential.c).

CREATE FUNCTION bandit.msprt(n1 float8, mean1 float8, sd1 float8, n2 float8, mean2 float8, sd2 float8,
                             mixing_sd float8, alpha float8 DEFAULT 0.05,
                             OUT p_value float8, OUT ci_lower float8, OUT ci_upper float8)
    AS 'MODULE_PATHNAME', 'bandit_msprt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.msprt(float8, float8, float8, float8, float8, float8, float8, float8) IS
    'Always-valid p-value and 1 - alpha confidence sequence of mean1 - mean2 by the two-sample normal-mixture SPRT (Johari, Pekelis, Walsh 2017) with mixing sd tau = mixing_sd: V = sd1^2/n1 + sd2^2/n2, p = min(1, sqrt((V + tau^2)/V) exp(-tau^2 d^2 / (2 V (V + tau^2)))), CS = d +- sqrt(V (V + tau^2)/tau^2 (log((V + tau^2)/V) - 2 log alpha)). With V = 0 the difference is known: p = 1 and CS [0, 0] when d = 0, else p = 0 and CS [d, d]';
