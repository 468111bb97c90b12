/*
 * src/node.c
 *
 * Node-unique ids (scale-out, API.md section 11).  Every id the extension
 * generates is bandit.node_id * 2^53 + the next value of its table's
 * sequence: ids of nodes with distinct node ids never collide, each node's
 * increase, node 0's are the sequence's values themselves (0.1.0's ids keep
 * their meaning), and the node of an id is its top ten bits, so that a
 * router can send reward(decision_id) to the node that logged the decision.
 * 1024 nodes of 2^53 ids each fill the positive bigints exactly.
 */
#include "bandit.h"

#include "catalog/pg_class.h"
#include "commands/sequence.h"
#include "utils/lsyscache.h"

/* bandit.node_id, defined in _PG_init (src/bandit.c) */
int			BanditNodeId = 0;

PG_FUNCTION_INFO_V1(bandit_new_id);

/*
 * new_id(seq regclass): the column default of every generated id.  The
 * sequence's values must stay below 2^53 (its MAXVALUE), or they would run
 * into the node's bits.  Not STRICT: the planner would fold a call with a
 * NULL constant to NULL before the EXECUTE check that keeps it internal.
 */
Datum
bandit_new_id(PG_FUNCTION_ARGS)
{
	Oid			sequence;
	int64		local;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seq must not be NULL")));
	sequence = PG_GETARG_OID(0);
	if (get_rel_relkind(sequence) != RELKIND_SEQUENCE)
	{
		char	   *name = get_rel_name(sequence);

		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("seq must be a sequence, got %s", name ? name : psprintf("OID %u", sequence))));
	}
	local = nextval_internal(sequence, true);

	if (local < 0 || local > NODE_LOCAL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
				 errmsg("sequence %s gave " INT64_FORMAT ", outside the 0 to " INT64_FORMAT " a node's ids can hold",
						get_rel_name(sequence), local, NODE_LOCAL_MAX)));
	PG_RETURN_INT64(((int64) BanditNodeId << NODE_LOCAL_BITS) | local);
}

PG_FUNCTION_INFO_V1(bandit_node_of);

/* node_of(id bigint): the node id in an id's top bits. */
Datum
bandit_node_of(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);

	if (id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("id must not be negative, got " INT64_FORMAT, id)));
	PG_RETURN_INT32((int32) (id >> NODE_LOCAL_BITS));
}
