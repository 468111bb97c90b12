-- set_seed: the same seed gives the same draws, a different seed different ones.
SELECT bandit.set_seed(42);
CREATE TEMP TABLE draws1 AS SELECT i, bandit.beta_sample(2, 3) AS x FROM generate_series(1, 5) i;
SELECT bandit.set_seed(42);
CREATE TEMP TABLE draws2 AS SELECT i, bandit.beta_sample(2, 3) AS x FROM generate_series(1, 5) i;
SELECT bandit.set_seed(43);
CREATE TEMP TABLE draws3 AS SELECT i, bandit.beta_sample(2, 3) AS x FROM generate_series(1, 5) i;
SELECT count(*) AS same_seed_same_draws FROM draws1 JOIN draws2 USING (i) WHERE draws1.x = draws2.x;
SELECT count(*) AS other_seed_same_draws FROM draws1 JOIN draws3 USING (i) WHERE draws1.x = draws3.x;
-- seeds that differ only in their high bits give different streams
SELECT bandit.set_seed(1);
SELECT bandit.beta_sample(1, 1) AS a \gset
SELECT bandit.set_seed(1 + (1::bigint << 40));
SELECT bandit.beta_sample(1, 1) <> :a AS high_bits_matter;
SELECT bandit.set_seed(NULL);  -- strict: a no-op
