-- Q-learning: the Bellman update against values worked out by hand (Python
-- reference in the comments), epsilon-greedy selection by its properties,
-- batch, replay, export / import, state keys and rewards; NULLs and bad
-- input with their SQLSTATEs, each changing nothing.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
SELECT bandit.set_seed(7);

-- Q <- Q + alpha (r + gamma max Q(s', .) - Q); alpha 0.1, gamma 0.9 by default
SELECT bandit.q_learn('g', 's1', 'right', 1, 's2');                 -- nothing learned in s2: 0.1 * 1 = 0.1
SELECT bandit.q_learn('g', 's2', 'right', 10, NULL, 0.5);           -- terminal: 0.5 * 10 = 5
SELECT bandit.q_learn('g', 's1', 'right', 1, 's2');                 -- 0.1 + 0.1 (1 + 0.9 * 5 - 0.1) = 0.64
SELECT round(bandit.q_learn('g', 's1', 'left', -1, 's1', 1, 0.5)::numeric, 12);   -- -1 + 0.5 * 0.64 = -0.68
-- a self-loop: the max over s1 includes the row being updated
SELECT round(bandit.q_learn('g', 's1', 'left', 0, 's1', 0.5, 1)::numeric, 12);    -- -0.68 + 0.5 (0 + 0.64 + 0.68) = -0.02
-- the max is over learned actions only: all negative, it is negative, not 0
SELECT bandit.q_learn('g', 's3', 'a', -2, NULL, 1);                 -- -2
SELECT bandit.q_learn('g', 's4', 'a', 0, 's3', 1, 0.5);             -- 0.5 * -2 = -1
SELECT bandit.q_learn('g', 's2', 'right', 10, 's2', 0.5, 0.5);      -- 5 + 0.5 (10 + 0.5 * 5 - 5) = 8.75
SELECT state, action, round(q_value::numeric, 12) AS q_value, update_count
FROM bandit.q_table WHERE agent = 'g' ORDER BY state, action;

-- bad input: 22004 for NULLs, 22003 for numbers out of range; nothing changes
SELECT pg_temp.err($$SELECT bandit.q_learn(NULL, 's1', 'right', 1, 's2')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', NULL, 'right', 1, 's2')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', NULL, 1, 's2')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', NULL::float8, 's2')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 1, 's2', NULL, 0.9)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 1, 's2', 0.1, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 'NaN'::float8, 's2')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', '-Infinity'::float8, 's2')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 1, 's2', 0)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 1, 's2', 1.5)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 1, 's2', 'NaN')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 1, 's2', 0.1, -0.1)$$);
SELECT pg_temp.err($$SELECT bandit.q_learn('g', 's1', 'right', 1, 's2', 0.1, 1.01)$$);
-- overflow in the server's arithmetic is an error, not an infinity
SELECT bandit.q_learn('big', 'u', 'x', 1e308, NULL, 1);
SELECT pg_temp.err($$SELECT bandit.q_learn('big', 'v', 'x', 1e308, 'u', 1, 1)$$);
SELECT count(*), sum(update_count), round(sum(q_value)::numeric, 12) FROM bandit.q_table WHERE agent = 'g';
SELECT state, q_value, update_count FROM bandit.q_table WHERE agent = 'big';

-- q_select: greedy with epsilon 0; an unlearned action has Q = 0
SELECT bandit.q_select('g', 's1', '{left,right,up}', 0) AS greedy, count(*)
FROM generate_series(1, 20) GROUP BY 1;
SELECT bandit.q_select('g', 's3', '{a,b}', 0) AS unlearned_beats_negative, count(*)
FROM generate_series(1, 20) GROUP BY 1;
-- ties are broken uniformly: 600 draws in a state never seen, 200 expected each
SELECT count(DISTINCT a) AS actions, min(n) BETWEEN 150 AND 250 AND max(n) BETWEEN 150 AND 250 AS uniform
FROM (SELECT a, count(*) n FROM (SELECT bandit.q_select('g', 'new', '{p,q,r}', 0) a FROM generate_series(1, 600)) s GROUP BY a) t;
-- epsilon 0.3 over 3 actions: the greedy one with probability 0.7 + 0.3 / 3 = 0.8 (sd of 1000 draws: 13)
SELECT count(*) FILTER (WHERE a = 'right') BETWEEN 750 AND 850 AS greedy_share
FROM (SELECT bandit.q_select('g', 's1', '{left,right,up}', 0.3) a FROM generate_series(1, 1000)) s;
-- epsilon 1: uniform, whatever was learned
SELECT count(*) FILTER (WHERE a = 'right') BETWEEN 270 AND 400 AS explores
FROM (SELECT bandit.q_select('g', 's1', '{left,right,up}', 1) a FROM generate_series(1, 1000)) s;
-- the default epsilon is 0.1, and one action is always that action
SELECT bandit.q_select('g', 's1', '{up}');
-- reproducible after set_seed
SELECT bandit.set_seed(42);
CREATE TEMP TABLE draws AS SELECT array_agg(bandit.q_select('g', 'new', '{p,q,r}', 0.5)) d FROM generate_series(1, 30);
SELECT bandit.set_seed(42);
SELECT d = (SELECT array_agg(bandit.q_select('g', 'new', '{p,q,r}', 0.5)) FROM generate_series(1, 30)) AS same FROM draws;
-- bad input
SELECT pg_temp.err($$SELECT bandit.q_select(NULL, 's1', '{a}')$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', NULL, '{a}')$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{a,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{}')$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{{a,b},{c,d}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{a,b,a}')$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{a}', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{a}', -0.1)$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{a}', 1.5)$$);
SELECT pg_temp.err($$SELECT bandit.q_select('g', 's1', '{a}', 'NaN')$$);

-- q_learn_batch: in order, each update seeing the ones before = the same singles
SELECT bandit.q_learn_batch('batch', '{s1,s2,s1,s1,s3}', '{a,b,a,c,a}', '{1,2,-1,0.5,3}', '{s2,NULL,s2,s1,s1}', 0.3, 0.8);
SELECT bandit.q_learn('singles', 's1', 'a', 1, 's2', 0.3, 0.8);
SELECT bandit.q_learn('singles', 's2', 'b', 2, NULL, 0.3, 0.8);
SELECT bandit.q_learn('singles', 's1', 'a', -1, 's2', 0.3, 0.8);
SELECT bandit.q_learn('singles', 's1', 'c', 0.5, 's1', 0.3, 0.8);
SELECT bandit.q_learn('singles', 's3', 'a', 3, 's1', 0.3, 0.8);
SELECT b.state, b.action, b.q_value = s.q_value AS same_q, b.update_count = s.update_count AS same_count
FROM bandit.q_table b JOIN bandit.q_table s USING (state, action)
WHERE b.agent = 'batch' AND s.agent = 'singles' ORDER BY 1, 2;
SELECT bandit.q_learn_batch('batch', '{}'::text[], '{}', '{}', '{}');
-- all or nothing: the third update overflows, the first two are undone
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('allornothing', '{u,w,v}', '{x,x,x}', '{1e308,1,1e308}', '{NULL,NULL,u}', 1, 1)$$);
SELECT count(*) FROM bandit.q_table WHERE agent = 'allornothing';
-- bad input
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1,s2}', '{a}', '{1,2}', '{NULL,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1}', '{a}', '{1,2}', '{NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1}', '{a}', '{1}', '{NULL,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1,NULL}', '{a,b}', '{1,2}', '{NULL,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1,s2}', '{a,NULL}', '{1,2}', '{NULL,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1,s2}', '{a,b}', '{1,NULL}', '{NULL,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1,s2}', '{a,b}', '{1,Infinity}', '{NULL,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{{s1,s2}}', '{a,b}', '{1,2}', '{NULL,NULL}')$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1}', '{a}', '{1}', NULL::text[])$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch(NULL, '{s1}', '{a}', '{1}', '{NULL}'::text[])$$);
SELECT pg_temp.err($$SELECT bandit.q_learn_batch('batch', '{s1}', '{a}', '{1}', '{NULL}'::text[], 2)$$);
SELECT sum(update_count) FROM bandit.q_table WHERE agent = 'batch';

-- replay buffer: remember, keep the newest `capacity`, replay
SELECT bandit.q_remember('r', 'old', 'a', 5, NULL);
SELECT bandit.q_remember('r', 's', 'a', 1, NULL, 1) > 0 AS stored;   -- the older one is dropped
SELECT agent, state, action, reward, next_state FROM bandit.transition;
-- one transition replayed 3 times, alpha 0.5: 0.5, 0.75, 0.875
SELECT bandit.q_replay('r', 3, 0.5);
SELECT state, action, q_value, update_count FROM bandit.q_table WHERE agent = 'r';
-- many transitions: n updates, each drawn one of the stored ones
SELECT count(bandit.q_remember('r2', 's' || i, 'a', i, CASE WHEN i < 4 THEN 's' || (i + 1) END)) FROM generate_series(1, 4) i;
SELECT bandit.q_replay('r2', 200, 0.5, 0.5);
SELECT sum(update_count) AS updates, count(*) AS learned FROM bandit.q_table WHERE agent = 'r2';
SELECT bandit.q_replay('nobody', 10);
SELECT bandit.q_replay('r2', 0);
SELECT pg_temp.err($$SELECT bandit.q_replay('r2', -1)$$);
SELECT pg_temp.err($$SELECT bandit.q_replay('r2', 1, 0)$$);
SELECT pg_temp.err($$SELECT bandit.q_replay(NULL, 1)$$);
SELECT pg_temp.err($$SELECT bandit.q_remember('r', 's', 'a', 'NaN', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_remember('r', NULL, 'a', 1, NULL)$$);
SELECT pg_temp.err($$SELECT bandit.q_remember('r', 's', 'a', 1, NULL, 0)$$);
SELECT count(*) FROM bandit.transition;

-- the greedy policy; forgetting an agent
SELECT * FROM bandit.q_greedy('g');
SELECT bandit.q_forget('r2');
SELECT count(*) FROM bandit.q_table WHERE agent = 'r2';
SELECT count(*) FROM bandit.transition WHERE agent = 'r2';

-- export / import: exact, whatever extra_float_digits says
SELECT bandit.q_learn('x', 'third', 'a', 1.0 / 3, NULL, 1);
SELECT bandit.q_learn('x', 'tiny', 'a', 5e-324, NULL, 1);
SET extra_float_digits = -15;
SELECT (bandit.q_export('x') #> '{q,third,a}') - 'last_updated'::text AS exported;
SELECT bandit.q_import('x2', bandit.q_export('x'));
RESET extra_float_digits;
SELECT a.state, a.q_value = b.q_value AS same_q, a.update_count = b.update_count AS same_count,
       a.last_updated = b.last_updated AS same_time
FROM bandit.q_table a FULL JOIN bandit.q_table b ON b.agent = 'x2' AND (a.state, a.action) = (b.state, b.action)
WHERE a.agent = 'x' ORDER BY 1;
SELECT bandit.q_export('nobody');
-- hand-written: an action may map to a bare number; replace = false keeps the rest
SELECT bandit.q_import('x2', '{"q": {"third": {"b": -1.5}}}', false);
SELECT state, action, q_value, update_count FROM bandit.q_table WHERE agent = 'x2' ORDER BY 1, 2;
SELECT bandit.q_import('x2', '{"agent": "elsewhere", "q": {"s": {"a": {"q_value": 2, "update_count": 7}}}}');
SELECT state, action, q_value, update_count FROM bandit.q_table WHERE agent = 'x2' ORDER BY 1, 2;
-- bad documents are errors and import nothing
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '[1]')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {}, "extra": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {"s": 1}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {"s": {"a": 1, "b": "high"}}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {"s": {"a": {"q_value": 1, "update_count": -1}}}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {"s": {"a": {"q_value": 1, "update_count": 1.5}}}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {"s": {"a": {"q_value": 1, "count": 1}}}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {"s": {"a": {"q_value": 1, "last_updated": 5}}}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', '{"q": {"s": {"a": 1e400}}}')$$);
SELECT pg_temp.err($$SELECT bandit.q_import('x2', NULL)$$);
SELECT state, action, q_value, update_count FROM bandit.q_table WHERE agent = 'x2' ORDER BY 1, 2;

-- state keys: sorted keys, strings and booleans as is, nulls left out, numbers in log2 buckets
SELECT bandit.state_key('{"tier": "gold", "urgent": true, "files": 12, "note": null}');
SELECT bandit.state_key('{"urgent": true, "note": null, "files": 15, "tier": "gold"}')
     = bandit.state_key('{"files": 8.0, "tier": "gold", "urgent": true}') AS equal_contexts_equal_keys;
SELECT bandit.state_key(jsonb_build_object('x', x)) FROM unnest(ARRAY[0, 1, 1.5, 2, 0.3, -3, -4, 1e-3]) x;
-- separators are escaped, so different contexts never share a key
SELECT bandit.state_key('{"a": "1|b=2"}'), bandit.state_key('{"a": "1", "b": "2"}'), bandit.state_key('{"a\\": "x"}');
SELECT bandit.state_key('{"tags": ["b", "a"], "o": {"k": 1}}');
SELECT bandit.state_key('{}');
-- per-key rules: exact, a width, edges
SELECT bandit.state_key('{"hour": 13, "load": 0.75, "size": 250, "n": 3.0}',
                        '{"hour": 6, "load": [0.5, 0.9], "size": [100, 1000], "n": "exact"}');
SELECT bandit.state_key(jsonb_build_object('v', v), '{"v": [0, 10]}') FROM unnest(ARRAY[-1, 0, 9.5, 10, 11]) v;
SELECT bandit.state_key('{"a": 1}', '{"other": "log2"}');
SELECT bandit.state_key(NULL), bandit.state_key('{"a": 1}', NULL);
SELECT pg_temp.err($$SELECT bandit.state_key('[1, 2]')$$);
SELECT pg_temp.err($$SELECT bandit.state_key('{"a": 1}', '[]')$$);
SELECT pg_temp.err($$SELECT bandit.state_key('{"a": 1}', '{"a": "log10"}')$$);
SELECT pg_temp.err($$SELECT bandit.state_key('{"a": 1}', '{"a": 0}')$$);
SELECT pg_temp.err($$SELECT bandit.state_key('{"a": 1}', '{"a": [1, 1]}')$$);
SELECT pg_temp.err($$SELECT bandit.state_key('{"a": 1}', '{"a": []}')$$);
SELECT pg_temp.err($$SELECT bandit.state_key('{"a": 1}', '{"b": ["x"]}')$$);

-- reward_score: the weighted sum over the keys of weights
SELECT round(bandit.reward_score('{"quality": 0.9, "latency": 120, "cost": 0.02, "extra": "ignored"}',
                                 '{"quality": 1, "latency": -0.001, "cost": -10}')::numeric, 12);   -- 0.9 - 0.12 - 0.2 = 0.58
SELECT bandit.reward_score('{"a": 1}', '{}');
SELECT pg_temp.err($$SELECT bandit.reward_score('{"a": 1e308}', '{"a": 10}')$$);
SELECT pg_temp.err($$SELECT bandit.reward_score('{"a": 1}', '{"a": 1, "b": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.reward_score('{"a": "1"}', '{"a": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.reward_score('{"a": null}', '{"a": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.reward_score('{"a": 1}', '{"a": true}')$$);
SELECT pg_temp.err($$SELECT bandit.reward_score('[1]', '{"a": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.reward_score('{"a": 1}', '2')$$);
SELECT bandit.reward_score(NULL, '{"a": 1}');

-- tiers: default thresholds 0.9 / 0.75 / 0.5 / 0.25 with rewards 1 / 0.75 / 0.5 / 0.25 / 0
SELECT s, bandit.reward_tier(s), bandit.tiered_reward(s)
FROM unnest(ARRAY[1.5, 0.9, 0.8999, 0.75, 0.5, 0.4999, 0.25, 0.2499, 0, -3]::float8[]) s;
SELECT bandit.tiered_reward(0.7, '[{"name": "win", "min_score": 0.6, "reward": 1}, {"name": "loss", "reward": -1}]'),
       bandit.tiered_reward(0.5, '[{"name": "win", "min_score": 0.6, "reward": 1}, {"name": "loss", "reward": -1}]');
SELECT bandit.reward_tier(0.1, '[{"name": "pass", "min_score": 0.5, "reward": 1}, {"name": "low", "min_score": 0, "reward": 0}]');
SELECT pg_temp.err($$SELECT bandit.reward_tier(-0.1, '[{"name": "pass", "min_score": 0.5, "reward": 1}, {"name": "low", "min_score": 0, "reward": 0}]')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward('NaN')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward('Infinity')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward(0.5, '[]')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward(0.5, '{"name": "x", "reward": 1}')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward(0.5, '[{"name": "a", "reward": 1}, {"name": "b", "reward": 0}]')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward(0.5, '[{"name": "a", "min_score": 0.2, "reward": 1}, {"name": "b", "min_score": 0.4, "reward": 0}]')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward(0.5, '[{"name": "a", "min_score": 0.2, "reward": "high"}]')$$);
SELECT pg_temp.err($$SELECT bandit.tiered_reward(0.5, '[{"name": "a", "reward": 1, "bonus": 2}]')$$);
SELECT bandit.tiered_reward(NULL), bandit.reward_tier(0.5, NULL);

-- volatility, strictness, parallel safety as the contract says
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'bandit' AND p.proname IN ('q_select', 'q_learn', 'q_learn_batch', 'q_remember', 'q_replay', 'q_greedy', 'q_forget',
      'q_export', 'q_import', 'state_key', 'reward_score', 'tiered_reward', 'reward_tier')
ORDER BY p.oid::regprocedure::text;
-- every object has a comment; the tables are dumped
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented, c.oid = ANY (e.extconfig) AS dumped,
       c.reloptions
FROM pg_class c, pg_extension e
WHERE e.extname = 'bandit' AND c.relname IN ('q_table', 'transition', 'transition_id_seq') ORDER BY 1;
SELECT count(*) AS uncommented FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'bandit' AND p.proname ~ '^(q_|state_key|reward_score|tiered_reward|reward_tier)'
  AND obj_description(p.oid, 'pg_proc') IS NULL;

-- a hostile search_path changes nothing
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1999-01-01'::timestamptz $$;
CREATE FUNCTION hostile.float8pl(float8, float8) RETURNS float8 LANGUAGE sql AS $$ SELECT 0::float8 $$;
CREATE OPERATOR hostile.+ (LEFTARG = float8, RIGHTARG = float8, FUNCTION = hostile.float8pl);
CREATE FUNCTION hostile.texteq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.texteq);
CREATE FUNCTION hostile.jsonb_each(jsonb, OUT key text, OUT value jsonb) RETURNS SETOF record
    LANGUAGE sql AS $$ SELECT 'bogus', '1'::jsonb $$;
CREATE TABLE hostile.q_table (LIKE bandit.q_table);
SET search_path = hostile, pg_catalog;
SELECT bandit.q_learn('h', 's', 'a', 1, NULL, 0.5);
SELECT bandit.q_learn('h', 's', 'a', 1, 's', 0.5, 0.5);                 -- 0.5 + 0.5 (1 + 0.25 - 0.5) = 0.875
SELECT bandit.q_learn_batch('h', '{t}', '{a}', '{2}', '{s}', 0.5, 0.5);    -- 0.5 (2 + 0.5 * 0.875) = 1.21875
SELECT bandit.q_select('h', 's', '{a,b}', 0);
SELECT bandit.q_import('h2', bandit.q_export('h'));
SELECT bandit.state_key('{"b": 2, "a": "x"}');
SELECT bandit.reward_score('{"a": 2, "b": 3}', '{"a": 1, "b": 1}');
RESET search_path;
SELECT agent, state, action, q_value, update_count, last_updated > '2000-01-01' AS real_time
FROM bandit.q_table WHERE agent IN ('h', 'h2') ORDER BY 1, 2, 3;
SELECT count(*) AS untouched FROM hostile.q_table;

-- privileges: an agent belongs to the role whose q_learn created it; others
-- need use on it (bandit.grant), and read to see its rows
CREATE ROLE regress_bandit_learner;
GRANT USAGE ON SCHEMA bandit TO regress_bandit_learner;
SELECT bandit.q_learn('rls', 'hidden', 'a', 10, NULL, 1);                -- 10
SELECT bandit.q_learn('rls', 'shown', 'a', 4, NULL, 1);                  -- 4
SET ROLE regress_bandit_learner;
SELECT pg_temp.err($$SELECT bandit.q_learn('rls', 's', 'a', 1, 'hidden', 0.5, 1)$$);
RESET ROLE;
SELECT bandit.grant('agent', 'rls', 'regress_bandit_learner', 'use');
SET ROLE regress_bandit_learner;
-- learning reads every Q-value of the agent, whatever its caller may SELECT
SELECT bandit.q_learn('rls', 's', 'a', 1, 'hidden', 0.5, 1);             -- 0.5 (1 + 10) = 5.5
SELECT bandit.q_learn('rls', 's', 'b', 1, 'shown', 0.5, 1);              -- 0.5 (1 + 4) = 2.5
SELECT bandit.q_learn('rls', 's', 'a', 1, 's', 0.5, 1);                  -- self-loop: 5.5 + 0.5 (1 + max(5.5, 2.5) - 5.5) = 6
SELECT count(*) AS rows_seen_without_read FROM bandit.q_table;           -- use does not imply read: 0
-- its own agent, created by its first q_learn
SELECT bandit.q_learn('mine', 's', 'a', 1, NULL, 1);                     -- 1
SELECT agent, count(*) AS rows_seen FROM bandit.q_table GROUP BY 1 ORDER BY 1;   -- mine: 1
RESET ROLE;
SELECT bandit.grant('agent', 'rls', 'regress_bandit_learner', 'read');
SET ROLE regress_bandit_learner;
SELECT agent, count(*) AS rows_seen FROM bandit.q_table GROUP BY 1 ORDER BY 1;   -- mine 1, rls 4
RESET ROLE;
SELECT bandit.revoke('agent', 'rls', 'regress_bandit_learner', 'use');
SET ROLE regress_bandit_learner;
SELECT pg_temp.err($$SELECT bandit.q_learn('rls', 'v', 'a', 1, 'hidden', 0.5, 1)$$);
RESET ROLE;
SELECT state, action, q_value, update_count FROM bandit.q_table WHERE agent = 'rls' ORDER BY 1, 2;
SELECT owner FROM bandit.object WHERE kind = 'agent' AND name = 'mine';
SELECT bandit.q_forget('mine');
DELETE FROM bandit.object WHERE kind = 'agent' AND name IN ('mine', 'rls');
DROP OWNED BY regress_bandit_learner;
DROP ROLE regress_bandit_learner;
