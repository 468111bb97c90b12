-- Q-learning over tables (src/qlearn.c holds the hot path: q_select,
-- q_learn and its batch and replay forms, and the pure helpers state_key,
-- reward_score and the reward tiers; the management functions are here).
--
-- Concurrency design: q_learn is one INSERT ... ON CONFLICT DO UPDATE whose
-- arithmetic runs in the server under the row lock, so concurrent sessions
-- never lose an update: the second waits for the first's commit and updates
-- the value it left.  The bootstrap max over Q(s', .) is read in the
-- statement's snapshot, as asynchronous Q-learning reads whatever its peers
-- had committed; when s' = s the row being updated takes part in that max
-- with its locked, current value, so two concurrent self-loop updates give
-- exactly the two sequential ones in commit order.  The table has fillfactor
-- 70 and no index on the columns that change, so updates are HOT.

CREATE TABLE bandit.q_table (
    agent text NOT NULL,
    state text NOT NULL,
    action text NOT NULL,
    q_value float8 NOT NULL CHECK (q_value > '-Infinity' AND q_value < 'Infinity'),
    update_count bigint NOT NULL DEFAULT 0 CHECK (update_count >= 0),
    last_updated timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (agent, state, action)
) WITH (fillfactor = 70);
COMMENT ON TABLE bandit.q_table IS
    'Q-learning: the learned value of taking action in state for each agent, how many updates made it, and when the last one was; an action without a row has Q = 0';

-- ids unique across nodes (src/node.sql)
CREATE SEQUENCE bandit.transition_id_seq AS bigint MAXVALUE 9007199254740991;
CREATE TABLE bandit.transition (
    agent text NOT NULL,
    state text NOT NULL,
    action text NOT NULL,
    reward float8 NOT NULL CHECK (reward > '-Infinity' AND reward < 'Infinity'),
    next_state text,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    id bigint PRIMARY KEY DEFAULT bandit.new_id('bandit.transition_id_seq')
);
ALTER SEQUENCE bandit.transition_id_seq OWNED BY bandit.transition.id;
CREATE INDEX transition_agent_id ON bandit.transition (agent, id);
COMMENT ON TABLE bandit.transition IS
    'Experience replay buffer: transitions (state, action, reward, next_state; next_state NULL = terminal) stored by bandit.q_remember and re-learned by bandit.q_replay';
COMMENT ON SEQUENCE bandit.transition_id_seq IS 'The local part of the ids of bandit.transition: bandit.new_id adds bandit.node_id * 2^53';

SELECT pg_catalog.pg_extension_config_dump('bandit.q_table', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.transition', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.transition_id_seq', '');

-- Readable by every role, filtered to the objects it may read; written only
-- through the functions (SECURITY DEFINER), so no other grant.
GRANT SELECT ON bandit.q_table, bandit.transition TO PUBLIC;
-- ids come from the functions alone (the default ACL, made explicit)
REVOKE ALL ON SEQUENCE bandit.transition_id_seq FROM PUBLIC;
ALTER TABLE bandit.q_table ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.q_table FOR SELECT USING (agent IN (SELECT r.name FROM bandit.readable('agent') r));
ALTER TABLE bandit.transition ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.transition FOR SELECT USING (agent IN (SELECT r.name FROM bandit.readable('agent') r));

CREATE FUNCTION bandit.q_select(agent text, state text, actions text[], epsilon float8 DEFAULT 0.1)
RETURNS text
AS 'MODULE_PATHNAME', 'bandit_q_select' LANGUAGE C VOLATILE PARALLEL RESTRICTED
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.q_select(text, text, text[], float8) IS
    'Epsilon-greedy choice among actions (distinct, non-empty, no NULLs) in state: with probability epsilon one uniformly at random, otherwise one with the largest Q, ties broken uniformly at random; an action never learned has Q = 0. Reproducible after bandit.set_seed. Privilege: use on the agent.';

CREATE FUNCTION bandit.q_learn(agent text, state text, action text, reward float8, next_state text,
                               alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_q_learn' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.q_learn(text, text, text, float8, text, float8, float8) IS
    'One Q-learning update, Q(s,a) <- (1 - alpha) Q(s,a) + alpha (reward + gamma max_a'' Q(next_state, a'')), the max over actions learned in next_state (0 if none, or next_state NULL = terminal); alpha in (0, 1], gamma in [0, 1]; returns the new Q. One statement under the row lock: concurrent updates are never lost. Privilege: use on the agent.';

-- Not an overload of q_learn: with string literals for every argument the
-- two would be ambiguous (42725).
CREATE FUNCTION bandit.q_learn_batch(agent text, states text[], actions text[], rewards float8[], next_states text[],
                                     alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_q_learn_batch' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.q_learn_batch(text, text[], text[], float8[], text[], float8, float8) IS
    'Many Q-learning updates in one call, applied in array order, each seeing the ones before (as many q_learn calls would); NULL next_states elements are terminal; all or nothing; returns the number applied. Rows already learned are locked first in (state, action) order, so concurrent batches over learned rows cannot deadlock. Privilege: use on the agent.';

CREATE FUNCTION bandit.q_remember(agent text, state text, action text, reward float8, next_state text,
                                  capacity integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM bandit.require('agent', agent, 'use', true);
    IF agent IS NULL OR state IS NULL OR action IS NULL OR reward IS NULL THEN
        RAISE EXCEPTION 'agent, state, action and reward must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF reward = 'NaN' OR reward IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'reward must be a finite number, got %', reward USING ERRCODE = '22003';
    END IF;
    IF capacity < 1 THEN
        RAISE EXCEPTION 'capacity must be at least 1, got %', capacity USING ERRCODE = '22003';
    END IF;
    INSERT INTO bandit.transition (agent, state, action, reward, next_state)
    VALUES (q_remember.agent, q_remember.state, q_remember.action, q_remember.reward, q_remember.next_state)
    RETURNING id INTO new_id;
    IF capacity IS NOT NULL THEN
        DELETE FROM bandit.transition t
        WHERE t.agent = q_remember.agent
          AND t.id <= (SELECT o.id FROM bandit.transition o WHERE o.agent = q_remember.agent
                       ORDER BY o.id DESC OFFSET capacity LIMIT 1);
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION bandit.q_remember(text, text, text, float8, text, integer) IS
    'Stores a transition in the replay buffer bandit.transition (next_state NULL = terminal) and returns its id; with capacity, keeps only the agent''s newest capacity transitions. Learning is separate: call bandit.q_learn as well, and bandit.q_replay later. Privilege: use on the agent.';

CREATE FUNCTION bandit.q_replay(agent text, n integer, alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9)
RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_q_replay' LANGUAGE C VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.q_replay(text, integer, float8, float8) IS
    'Experience replay: re-learns n transitions of the agent drawn uniformly at random, with replacement, from bandit.transition, applied in the order drawn as by bandit.q_learn_batch; returns the number applied (0 when the buffer is empty). Reproducible after bandit.set_seed. Privilege: use on the agent.';

CREATE FUNCTION bandit.q_greedy(agent text)
RETURNS TABLE (state text, action text, q_value float8)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bandit.require('agent', agent, 'use');
    SELECT DISTINCT ON (t.state) t.state, t.action, t.q_value
    FROM bandit.q_table t
    WHERE t.agent = q_greedy.agent
    ORDER BY t.state, t.q_value DESC, t.action
$$;
COMMENT ON FUNCTION bandit.q_greedy(text) IS
    'The greedy policy learned so far: for each state with learned actions, the one with the largest Q (ties: the first action in sort order). Actions never learned (Q = 0) are not considered. Privilege: use on the agent.';

CREATE FUNCTION bandit.q_forget(agent text) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deleted bigint;
BEGIN
    PERFORM bandit.require('agent', agent, 'manage');
    DELETE FROM bandit.q_table t WHERE t.agent = q_forget.agent;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM bandit.transition t WHERE t.agent = q_forget.agent;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION bandit.q_forget(text) IS
    'Deletes everything the agent learned and remembered (its Q-values and stored transitions); returns the number of Q-values deleted. Privilege: manage on the agent.';

-- float8 values go to JSON through float8out, which writes the shortest
-- exact digits only when extra_float_digits > 0: the SET clause makes export
-- lossless whatever the session says.
CREATE FUNCTION bandit.q_export(agent text) RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
    SELECT bandit.require('agent', agent, 'read');
    SELECT jsonb_build_object('agent', q_export.agent, 'q', coalesce(jsonb_object_agg(s.state, s.actions), '{}'))
    FROM (SELECT t.state,
                 jsonb_object_agg(t.action, jsonb_build_object('q_value', t.q_value, 'update_count', t.update_count,
                                                               'last_updated', t.last_updated)) AS actions
          FROM bandit.q_table t
          WHERE t.agent = q_export.agent
          GROUP BY t.state) s
$$;
COMMENT ON FUNCTION bandit.q_export(text) IS
    'The agent''s Q-table as {"agent": agent, "q": {state: {action: {"q_value": q, "update_count": n, "last_updated": t}}}}, float8 values in shortest exact form, so bandit.q_import restores them bit for bit. Privilege: read on the agent.';

CREATE FUNCTION bandit.q_import(agent text, document jsonb, replace boolean DEFAULT true) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text;
    actions jsonb;
    a text;
    v jsonb;
    q float8;
    n bigint;
    stamp timestamptz;
    k text;
    entries integer := 0;
BEGIN
    PERFORM bandit.require('agent', agent, 'manage', true);
    IF agent IS NULL OR document IS NULL OR replace IS NULL THEN
        RAISE EXCEPTION 'agent, document and replace must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(document) <> 'object' OR jsonb_typeof(document->'q') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'document must be a JSON object with an object "q", as bandit.q_export writes'
            USING ERRCODE = '22023';
    END IF;
    FOR k IN SELECT jsonb_object_keys(document) LOOP
        IF k NOT IN ('agent', 'q') THEN
            RAISE EXCEPTION 'unknown key "%" in document', k USING ERRCODE = '22023', HINT = 'Known keys: agent, q.';
        END IF;
    END LOOP;
    IF replace THEN
        DELETE FROM bandit.q_table t WHERE t.agent = q_import.agent;
    END IF;
    -- entries are checked as they are written; an error undoes the whole import
    FOR s, actions IN SELECT * FROM jsonb_each(document->'q') LOOP
        IF jsonb_typeof(actions) <> 'object' THEN
            RAISE EXCEPTION 'state "%" must map to an object of actions', s USING ERRCODE = '22023';
        END IF;
        FOR a, v IN SELECT * FROM jsonb_each(actions) LOOP
            n := 0;
            stamp := now();
            IF jsonb_typeof(v) = 'number' THEN
                q := v::float8;
            ELSIF jsonb_typeof(v) = 'object' AND jsonb_typeof(v->'q_value') = 'number' THEN
                FOR k IN SELECT jsonb_object_keys(v) LOOP
                    IF k NOT IN ('q_value', 'update_count', 'last_updated') THEN
                        RAISE EXCEPTION 'unknown key "%" for state "%", action "%"', k, s, a
                            USING ERRCODE = '22023', HINT = 'Known keys: q_value, update_count, last_updated.';
                    END IF;
                END LOOP;
                q := (v->'q_value')::float8;
                IF v ? 'update_count' THEN
                    IF jsonb_typeof(v->'update_count') <> 'number' OR (v->>'update_count')::numeric < 0
                       OR (v->>'update_count')::numeric <> trunc((v->>'update_count')::numeric) THEN
                        RAISE EXCEPTION 'update_count of state "%", action "%" must be a whole number >= 0, got %',
                            s, a, v->'update_count' USING ERRCODE = '22023';
                    END IF;
                    n := (v->>'update_count')::bigint;
                END IF;
                IF v ? 'last_updated' THEN
                    IF jsonb_typeof(v->'last_updated') <> 'string' THEN
                        RAISE EXCEPTION 'last_updated of state "%", action "%" must be a timestamp string', s, a
                            USING ERRCODE = '22023';
                    END IF;
                    stamp := (v->>'last_updated')::timestamptz;
                END IF;
            ELSE
                RAISE EXCEPTION 'state "%", action "%" must map to a number or an object with a number "q_value", got %', s, a, v
                    USING ERRCODE = '22023';
            END IF;
            INSERT INTO bandit.q_table AS t (agent, state, action, q_value, update_count, last_updated)
            VALUES (q_import.agent, s, a, q, n, stamp)
            ON CONFLICT ON CONSTRAINT q_table_pkey DO UPDATE
                SET q_value = excluded.q_value, update_count = excluded.update_count, last_updated = excluded.last_updated;
            entries := entries + 1;
        END LOOP;
    END LOOP;
    RETURN entries;
END
$$;
COMMENT ON FUNCTION bandit.q_import(text, jsonb, boolean) IS
    'Loads a document written by bandit.q_export into agent (which may differ from the exported one), float8 values exactly; an action may also map to a bare number (update_count 0, last_updated now). replace = true first deletes the agent''s Q-values, false overwrites only the entries given. All or nothing; returns the number of entries. Privilege: manage on the agent.';

CREATE FUNCTION bandit.state_key(context jsonb, buckets jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'bandit_state_key' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.state_key(jsonb, jsonb) IS
    'A stable state key from a flat JSON context: key=value pairs sorted by key (byte order), joined by |, with \, | and = escaped by \; strings and booleans as is, nulls left out, arrays and objects as canonical JSON; numbers bucketed per buckets->key: "log2" (default: 0, or [2^k,2^(k+1)) by magnitude, negatives mirrored as (-2^(k+1),-2^k]), "exact", a positive width w ([k w,(k+1) w)), or increasing edges [e1, ..., en] ((-inf,e1), [ei,ei+1), [en,+inf))';

CREATE FUNCTION bandit.reward_score(metrics jsonb, weights jsonb) RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_reward_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.reward_score(jsonb, jsonb) IS
    'The sum of weight * metric over the keys of weights (a JSON object of numbers); a weighted metric missing from metrics, or not a number, is error 22023; metrics without a weight are ignored';

CREATE FUNCTION bandit.tiered_reward(score float8,
    tiers jsonb DEFAULT '[{"name": "excellent", "min_score": 0.9, "reward": 1.0}, {"name": "good", "min_score": 0.75, "reward": 0.75}, {"name": "success", "min_score": 0.5, "reward": 0.5}, {"name": "fair", "min_score": 0.25, "reward": 0.25}, {"name": "failure", "reward": 0}]')
RETURNS float8
AS 'MODULE_PATHNAME', 'bandit_tiered_reward' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.tiered_reward(float8, jsonb) IS
    'The reward of the first tier whose min_score the score reaches; tiers is an array of {"name", "min_score", "reward"} with min_score strictly decreasing, the last one''s min_score optional (a floor for every score). Default: excellent >= 0.9 -> 1, good >= 0.75 -> 0.75, success >= 0.5 -> 0.5, fair >= 0.25 -> 0.25, failure -> 0';

CREATE FUNCTION bandit.reward_tier(score float8,
    tiers jsonb DEFAULT '[{"name": "excellent", "min_score": 0.9, "reward": 1.0}, {"name": "good", "min_score": 0.75, "reward": 0.75}, {"name": "success", "min_score": 0.5, "reward": 0.5}, {"name": "fair", "min_score": 0.25, "reward": 0.25}, {"name": "failure", "reward": 0}]')
RETURNS text
AS 'MODULE_PATHNAME', 'bandit_reward_tier' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.reward_tier(float8, jsonb) IS
    'The name of the tier bandit.tiered_reward would use for score (same tiers and defaults)';
