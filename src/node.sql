-- Node-unique ids (src/node.c, API.md section 11).  Every generated id is
-- bandit.node_id * 2^53 + the next value of its table's sequence: the
-- default of each id column is bandit.new_id(its sequence), and each
-- sequence stops at 2^53 - 1 (MAXVALUE), below the node's bits.  The
-- sequences are dumped (pg_extension_config_dump), so a restored database
-- goes on from its last id.
CREATE FUNCTION bandit.new_id(seq regclass) RETURNS bigint
AS 'MODULE_PATHNAME', 'bandit_new_id' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.new_id(regclass) IS
    'Internal: the default of every generated id, bandit.node_id * 2^53 + nextval(seq) (on node 0 the sequence''s value itself); a value of seq outside 0 to 2^53 - 1 is 2200H, a NULL seq 22004';
REVOKE ALL ON FUNCTION bandit.new_id(regclass) FROM PUBLIC;

CREATE FUNCTION bandit.node_of(id bigint) RETURNS integer
AS 'MODULE_PATHNAME', 'bandit_node_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.node_of(bigint) IS
    'The bandit.node_id of the node that generated an id (of a decision, snapshot, audit row, observation, transition, tuning snapshot or adjustment): id / 2^53, so that a router sends reward(decision_id, r) to that node; a negative id is 22003. Privilege: none (it touches no object).';
