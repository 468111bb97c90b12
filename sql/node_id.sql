-- Node-unique ids (API.md section 11): bandit.node_id and bandit.node_of.
-- test/node_id_test.py runs nodes, pg_dump/pg_restore and routing; here the
-- errors, shown as SQLSTATE: message.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;

-- the node is the id's top ten bits: 2^53 = 9007199254740992 ids per node
SELECT x, bandit.node_of(x)
FROM unnest(ARRAY[0, 9007199254740991, 9007199254740992, 18014398509481984, 9223372036854775807]::bigint[]) x;
SELECT bandit.node_of(NULL);

SELECT pg_temp.err('SELECT bandit.node_of(-1)');
SELECT pg_temp.err('SELECT bandit.node_of(-9223372036854775808)');
SELECT pg_temp.err('SELECT bandit.new_id(NULL)');
SELECT pg_temp.err('SELECT bandit.new_id(0)');
SELECT pg_temp.err($$SELECT bandit.new_id('bandit.decision')$$);
CREATE TEMP SEQUENCE past START 9007199254740992;
SELECT pg_temp.err($$SELECT bandit.new_id('past')$$);

-- the setting: 0 to 1023, superuser only; a misspelt bandit.* name is refused
SHOW bandit.node_id;
SELECT pg_temp.err('SET bandit.node_id = 1024');
SELECT pg_temp.err('SET bandit.node_id = -1');
SELECT pg_temp.err('SET bandit.nodeid = 1');
CREATE ROLE bandit_node_id_plain;
SET ROLE bandit_node_id_plain;
SELECT pg_temp.err('SET bandit.node_id = 1');
RESET ROLE;
DROP ROLE bandit_node_id_plain;

-- node 3's next audit id: 3 * 2^53 + the next value of the sequence (rolled back)
BEGIN;
SET LOCAL bandit.node_id = 3;
SELECT coalesce(last_value, 0) + 1 AS next FROM pg_sequences
WHERE schemaname = 'bandit' AND sequencename = 'audit_id_seq' \gset
SELECT bandit.create_policy('node_id_p', 'thompson', ARRAY['a']);
SELECT id = 27021597764222976 + :next AS three_times_2_53_plus_next, bandit.node_of(id)
FROM bandit.audit WHERE policy = 'node_id_p';
ROLLBACK;
SHOW bandit.node_id;
