-- bandit 0.1.0 -> 0.2.0.  Every change to installed SQL since 0.1.0, so that
-- ALTER EXTENSION bandit UPDATE gives the catalog a fresh 0.2.0 install has
-- (test/upgrade_test.py compares the two).
\echo Use "ALTER EXTENSION bandit UPDATE TO '0.2.0'" to load this file. \quit

-- == hardening: policies (src/policy.sql, src/choice.sql)

-- == hardening: experiments, Q-learning, priors, adjustment (src/experiment.sql, src/qlearn.sql, src/prior.sql, src/adjust.sql)

-- == hardening: statistics and aggregate support functions (src/summary.sql, src/beta.sql, src/normal.sql, src/power.sql, src/ope.sql, src/contingency.sql, src/sequential.sql, src/random.sql)

-- == hardening: other
