-- Calls that took the whole server down in 0.1.0, so they cannot sit in a
-- pg_regress file without failing the tests after it: test/valgrind_test.py
-- runs them last, under valgrind, each case in a session of its own.
-- Setup (committed, so every case sees it):
SELECT bandit.create_policy('wide', 'linucb', '{a,b,c}', '{"dim": 8}');
CREATE TABLE wide_context AS SELECT jsonb_object_agg('key' || i, i) AS context FROM generate_series(1, 500) i;

-- case: LinUCB choose with a context of 500 hashed keys
SELECT arm FROM wide_context, bandit.choose('wide', context);

-- case: LinUCB recommend with a context of 500 hashed keys
SELECT arm, rank FROM wide_context, bandit.recommend('wide', 3, context);

-- case: LinUCB reward of a decision whose context has 500 hashed keys
SELECT bandit.reward(id, 1) FROM bandit.decision WHERE policy = 'wide' AND reward IS NULL;

-- case: recommend of a NULL policy
SELECT * FROM bandit.recommend(NULL, 3, NULL);
