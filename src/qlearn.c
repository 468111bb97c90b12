/*
 * src/qlearn.c
 *
 * Q-learning over bandit.q_table: epsilon-greedy selection, the Bellman
 * update as one statement under the row lock, batch learning and
 * experience replay; and the pure helpers that turn a task's context into a
 * state key and its outcome into a reward.  Management (replay buffer,
 * export, import) is SQL in qlearn.sql.
 *
 * Statements run through SPI with plans prepared once per backend, under
 * search_path = pg_catalog, pg_temp (SpiBegin).  The Bellman update's
 * max Q(s', .) is read by a direct scan of q_table's primary key: as a
 * subquery its plan is chosen once per backend, and on a small table that
 * is a sequential scan whose cost grows with every dead row version.
 */
#include "bandit.h"
#include "numeric.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

/* Transitions replayed per round trip: bounds the memory of a long replay. */
#define REPLAY_CHUNK 10000

static SPIPlanPtr plan_values,
			plan_max,
			plan_learn,
			plan_learn_loop,
			plan_lock,
			plan_transition_ids,
			plan_transitions;

/* Prepares this module's plans once per backend (inside SPI). */
static void
PreparePlans(void)
{
	Oid			values_types[] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Oid			learn_types[] = {TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};
	Oid			lock_types[] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
	Oid			text1[] = {TEXTOID};
	Oid			max_types[] = {TEXTOID, TEXTOID, TEXTOID};
	Oid			int8_array[] = {INT8ARRAYOID};

	if (plan_transitions != NULL)
		return;
	plan_values = PrepareSafely(
		"SELECT action, q_value FROM bandit.q_table WHERE agent = $1 AND state = $2 AND action = ANY ($3)",
		3, values_types);

	/* the same max as MaxQValueByIndex's scan, for when it cannot run */
	plan_max = PrepareSafely(
		"SELECT max(q_value) FROM bandit.q_table WHERE agent = $1 AND state = $2 AND action IS DISTINCT FROM $3",
		3, max_types);

	/*
	 * $1 agent, $2 state, $3 action, $4 reward, $5 max Q(s', .) (NULL: none
	 * learned, or terminal), $6 alpha, $7 gamma; excluded.q_value carries
	 * alpha (r + gamma max Q(s', .)).
	 */
	plan_learn = PrepareSafely(
		"INSERT INTO bandit.q_table AS q (agent, state, action, q_value, update_count, last_updated)"
		" VALUES ($1, $2, $3, $6 * ($4 + $7 * coalesce($5, 0)), 1, now())"
		" ON CONFLICT (agent, state, action) DO UPDATE SET"
		"  q_value = (1 - $6) * q.q_value + excluded.q_value,"
		"  update_count = q.update_count + 1,"
		"  last_updated = excluded.last_updated"
		" RETURNING q.q_value", 7, learn_types);

	/*
	 * A self-loop (s' = s), $5 the max over s's other actions: the row
	 * being updated takes part in the max with its locked, current value,
	 * so an update that waited for another's commit bootstraps from the
	 * value that commit left, as the sequential updates would.
	 */
	plan_learn_loop = PrepareSafely(
		"INSERT INTO bandit.q_table AS q (agent, state, action, q_value, update_count, last_updated)"
		" VALUES ($1, $2, $3, $6 * ($4 + $7 * coalesce($5, 0)), 1, now())"
		" ON CONFLICT (agent, state, action) DO UPDATE SET"
		"  q_value = (1 - $6) * q.q_value + $6 * ($4 + $7 * greatest(q.q_value, $5)),"
		"  update_count = q.update_count + 1,"
		"  last_updated = excluded.last_updated"
		" RETURNING q.q_value", 7, learn_types);

	/* LockRows runs above the sort: rows are locked in (state, action) order */
	plan_lock = PrepareSafely(
		"SELECT 1 FROM bandit.q_table t"
		" WHERE t.agent = $1 AND (t.state, t.action) IN (SELECT * FROM unnest($2, $3))"
		" ORDER BY t.state, t.action FOR UPDATE OF t", 3, lock_types);
	plan_transition_ids = PrepareSafely(
		"SELECT id FROM bandit.transition WHERE agent = $1 ORDER BY id", 1, text1);
	plan_transitions = PrepareSafely(
		"SELECT t.state, t.action, t.reward, t.next_state"
		"  FROM unnest($1) WITH ORDINALITY d(id, i) JOIN bandit.transition t ON t.id = d.id"
		" ORDER BY d.i", 1, int8_array);
}

/* An argument that must not be NULL (22004). */
static Datum
RequiredArg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return PG_GETARG_DATUM(n);
}

/* alpha in (0, 1], gamma in [0, 1]. */
static void
CheckLearningRates(double alpha, double gamma)
{
	if (!(alpha > 0 && alpha <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("alpha must be in (0, 1], got %s", ShowDouble(alpha))));
	CheckRange(gamma, 0, 1, "gamma");
}

/*
 * The elements of a one-dimensional text array; NULL elements are 22004
 * unless nulls is given to receive them.
 */
static Datum *
TextElements(ArrayType *array, const char *name, int *length, bool **nulls)
{
	Datum	   *elements;
	bool	   *element_nulls;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elements, &element_nulls, length);
	if (nulls != NULL)
		*nulls = element_nulls;
	else
		for (int i = 0; i < *length; i++)
			if (element_nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s must not contain NULL elements", name)));
	return elements;
}

static void
CheckSameLength(int n, int m, const char *name)
{
	if (n != m)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("states and %s must have the same length, got %d and %d", name, n, m)));
}

/* Byte equality of two texts, as = under a deterministic collation. */
static bool
TextEqual(Datum a, Datum b)
{
	text	   *x = DatumGetTextPP(a);
	text	   *y = DatumGetTextPP(b);

	return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
		memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
}

/*
 * MaxQValue's scan of q_table's primary key, into *max (*found: whether any
 * row counted); false, having read nothing, when the key is not (agent,
 * state, ...).
 */
static bool
MaxQValueByIndex(Oid relid, Datum agent, Datum state, Datum skip, Snapshot snapshot,
				 double *max, bool *found)
{
	Relation	rel = table_open(relid, NoLock);
	AttrNumber	agent_column = attnameAttNum(rel, "agent", false),
				state_column = attnameAttNum(rel, "state", false),
				action_column = attnameAttNum(rel, "action", false),
				q_column = attnameAttNum(rel, "q_value", false);
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];

	list_free(RelationGetIndexList(rel));	/* sets rd_pkindex */
	if (!OidIsValid(rel->rd_pkindex))
	{
		table_close(rel, NoLock);
		return false;
	}
	index = index_open(rel->rd_pkindex, RowExclusiveLock);
	if (index->rd_index->indnkeyatts < 2 || index->rd_index->indkey.values[0] != agent_column ||
		index->rd_index->indkey.values[1] != state_column)
	{
		index_close(index, NoLock);
		table_close(rel, NoLock);
		return false;
	}

	/* the index's collations, which order its keys */
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ, agent);
	keys[0].sk_collation = index->rd_indcollation[0];
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, state);
	keys[1].sk_collation = index->rd_indcollation[1];
	scan = index_beginscan(rel, index, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	slot = table_slot_create(rel, NULL);
	*found = false;
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		double		q;

		if (skip != (Datum) 0 && TextEqual(slot_getattr(slot, action_column, &isnull), skip))
			continue;
		q = DatumGetFloat8(slot_getattr(slot, q_column, &isnull));
		if (!*found || q > *max)
			*max = q;
		*found = true;
		CHECK_FOR_INTERRUPTS();
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return true;
}

/*
 * The largest Q-value learned for agent in state, leaving out action skip
 * unless it is 0, as snapshot sees the table; false when there is none.
 * The direct scan bypasses the executor's checks, so under row-level
 * security, without the table-wide SELECT privilege, or with a permission
 * hook loaded (sepgsql), the same max is read by a query.
 */
static bool
MaxQValue(Datum agent, Datum state, Datum skip, Snapshot snapshot, double *max)
{
	Oid			relid = RangeVarGetRelid(makeRangeVar("bandit", "q_table", -1), RowExclusiveLock, false);
	Datum		args[3] = {agent, state, skip};
	char		nulls[3] = {' ', ' ', skip == (Datum) 0 ? 'n' : ' '};
	bool		found,
				isnull;

	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED &&
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
		ExecutorCheckPerms_hook == NULL &&
		MaxQValueByIndex(relid, agent, state, skip, snapshot, max, &found))
		return found;
	if (SPI_execute_snapshot(plan_max, args, nulls, snapshot, InvalidSnapshot, true, false, 0) != SPI_OK_SELECT
		|| SPI_processed != 1)
		elog(ERROR, "reading Q-values failed");
	*max = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return !isnull;
}

/*
 * One Bellman update (inside SPI); the new Q.  The max is read and the
 * update run in one snapshot, taken as SPI would take it for the update
 * alone: after a command counter increment, so that a batch sees its own
 * earlier updates.
 */
static double
LearnOne(Datum agent, Datum state, Datum action, double reward, Datum next_state, bool terminal,
		 double alpha, double gamma)
{
	bool		loop = !terminal && TextEqual(state, next_state);
	Datum		args[7];
	char		nulls[7];
	bool		isnull;
	double		max = 0;
	Snapshot	snapshot;

	PushActiveSnapshot(GetTransactionSnapshot());
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
	snapshot = GetActiveSnapshot();
	memset(nulls, ' ', sizeof(nulls));
	if (terminal || !MaxQValue(agent, next_state, loop ? action : (Datum) 0, snapshot, &max))
		nulls[4] = 'n';
	args[0] = agent;
	args[1] = state;
	args[2] = action;
	args[3] = Float8GetDatum(reward);
	args[4] = Float8GetDatum(max);
	args[5] = Float8GetDatum(alpha);
	args[6] = Float8GetDatum(gamma);
	if (SPI_execute_snapshot(loop ? plan_learn_loop : plan_learn, args, nulls, snapshot, InvalidSnapshot,
							 false, true, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "Q-learning update failed");
	PopActiveSnapshot();
	return DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * A copy of n datums: construct_array replaces the short-header texts of a
 * tuple among its inputs by expanded copies, which must not end up in the
 * caller's array.
 */
static Datum *
CopyDatums(const Datum *datums, int n)
{
	Datum	   *copy = palloc(sizeof(Datum) * n);

	memcpy(copy, datums, sizeof(Datum) * n);
	return copy;
}

/*
 * Applies updates in order (inside SPI), after locking the rows among them
 * already learned in (state, action) order, so that concurrent batches over
 * learned rows wait for each other instead of deadlocking.  The lock and each
 * update run in an SPI connection of their own, whose memory goes with it, so
 * that a batch or replay of millions runs in constant memory.
 */
static void
LearnInOrder(Datum agent, int n, Datum *states, Datum *actions, double *rewards,
			 Datum *next_states, bool *terminal, double alpha, double gamma)
{
	Datum		lock_args[3];

	if (n == 0)
		return;
	SPI_connect();
	lock_args[0] = agent;
	lock_args[1] = PointerGetDatum(construct_array(CopyDatums(states, n), n, TEXTOID, -1, false, TYPALIGN_INT));
	lock_args[2] = PointerGetDatum(construct_array(CopyDatums(actions, n), n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(plan_lock, lock_args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "locking Q-values failed");
	SPI_finish();
	for (int i = 0; i < n; i++)
	{
		SPI_connect();
		LearnOne(agent, states[i], actions[i], rewards[i], next_states[i], terminal[i], alpha, gamma);
		SPI_finish();
		CHECK_FOR_INTERRUPTS();
	}
}

/* An action of q_select and its position in the caller's array. */
typedef struct NamedAction
{
	char	   *name;
	int			index;
} NamedAction;

static int
CompareNamedActions(const void *a, const void *b)
{
	return strcmp(((const NamedAction *) a)->name, ((const NamedAction *) b)->name);
}

PG_FUNCTION_INFO_V1(bandit_q_select);

/* q_select(agent, state, actions, epsilon): epsilon-greedy, random ties. */
Datum
bandit_q_select(PG_FUNCTION_ARGS)
{
	Datum		agent = RequiredArg(fcinfo, 0, "agent");
	Datum		state = RequiredArg(fcinfo, 1, "state");
	ArrayType  *array = DatumGetArrayTypeP(RequiredArg(fcinfo, 2, "actions"));
	double		epsilon = CheckRange(DatumGetFloat8(RequiredArg(fcinfo, 3, "epsilon")), 0, 1, "epsilon");
	gsl_rng    *rng = BanditRng();
	int			n;
	Datum	   *actions = TextElements(array, "actions", &n, NULL);
	NamedAction *sorted;
	double	   *q;
	int			chosen,
				ties,
				nest;
	Datum		args[3] = {agent, state, PointerGetDatum(array)};

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("actions must not be empty")));
	sorted = palloc(sizeof(NamedAction) * n);
	for (int i = 0; i < n; i++)
	{
		sorted[i].name = TextDatumGetCString(actions[i]);
		sorted[i].index = i;
	}
	qsort(sorted, n, sizeof(NamedAction), CompareNamedActions);
	for (int i = 1; i < n; i++)
		if (strcmp(sorted[i - 1].name, sorted[i].name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("actions must be distinct, \"%s\" appears more than once", sorted[i].name)));

	/* one SPI connection: the caller's privilege, then (unless exploring) the Q-values */
	nest = SpiBegin();
	RequirePrivilege("agent", TextDatumGetCString(agent), "use", false);
	/* exploring needs no Q-values */
	if (gsl_rng_uniform(rng) < epsilon)
	{
		SpiEnd(nest);
		PG_RETURN_TEXT_P(DatumGetTextPCopy(actions[gsl_rng_uniform_int(rng, n)]));
	}
	q = palloc0(sizeof(double) * n);
	PreparePlans();
	if (SPI_execute_plan(plan_values, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading Q-values failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		NamedAction key = {SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1), 0};
		NamedAction *match = bsearch(&key, sorted, n, sizeof(NamedAction), CompareNamedActions);

		if (match == NULL)
			elog(ERROR, "Q-value of an action not asked for");
		q[match->index] = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SpiEnd(nest);

	chosen = ArgMaxRandomTies(q, n, &ties);
	PG_RETURN_TEXT_P(DatumGetTextPCopy(actions[chosen]));
}

PG_FUNCTION_INFO_V1(bandit_q_learn);

/* q_learn(agent, state, action, reward, next_state, alpha, gamma): the new Q. */
Datum
bandit_q_learn(PG_FUNCTION_ARGS)
{
	Datum		agent = RequiredArg(fcinfo, 0, "agent");
	Datum		state = RequiredArg(fcinfo, 1, "state");
	Datum		action = RequiredArg(fcinfo, 2, "action");
	double		reward = CheckFinite(DatumGetFloat8(RequiredArg(fcinfo, 3, "reward")), "reward");
	double		alpha = DatumGetFloat8(RequiredArg(fcinfo, 5, "alpha"));
	double		gamma = DatumGetFloat8(RequiredArg(fcinfo, 6, "gamma"));
	int			nest;
	double		q;

	CheckLearningRates(alpha, gamma);
	nest = SpiBegin();
	PreparePlans();
	RequirePrivilege("agent", TextDatumGetCString(agent), "use", true);
	q = LearnOne(agent, state, action, reward, PG_GETARG_DATUM(4), PG_ARGISNULL(4), alpha, gamma);
	SpiEnd(nest);
	PG_RETURN_FLOAT8(q);
}

PG_FUNCTION_INFO_V1(bandit_q_learn_batch);

/*
 * q_learn_batch(agent, states[], actions[], rewards[], next_states[], alpha,
 * gamma): updates in array order, each seeing the ones before.
 */
Datum
bandit_q_learn_batch(PG_FUNCTION_ARGS)
{
	Datum		agent = RequiredArg(fcinfo, 0, "agent");
	ArrayType  *states_array = DatumGetArrayTypeP(RequiredArg(fcinfo, 1, "states"));
	ArrayType  *actions_array = DatumGetArrayTypeP(RequiredArg(fcinfo, 2, "actions"));
	ArrayType  *rewards_array = DatumGetArrayTypeP(RequiredArg(fcinfo, 3, "rewards"));
	ArrayType  *next_array = DatumGetArrayTypeP(RequiredArg(fcinfo, 4, "next_states"));
	double		alpha = DatumGetFloat8(RequiredArg(fcinfo, 5, "alpha"));
	double		gamma = DatumGetFloat8(RequiredArg(fcinfo, 6, "gamma"));
	int			n,
				m;
	Datum	   *states = TextElements(states_array, "states", &n, NULL);
	Datum	   *actions = TextElements(actions_array, "actions", &m, NULL);
	Datum	   *next_states;
	bool	   *terminal;
	double	   *rewards;
	int			nest;

	CheckSameLength(n, m, "actions");
	rewards = CheckFloat8Array(rewards_array, "rewards", &m);
	CheckSameLength(n, m, "rewards");
	for (int i = 0; i < n; i++)
		CheckFinite(rewards[i], "rewards");
	next_states = TextElements(next_array, "next_states", &m, &terminal);
	CheckSameLength(n, m, "next_states");
	CheckLearningRates(alpha, gamma);

	nest = SpiBegin();
	PreparePlans();
	RequirePrivilege("agent", TextDatumGetCString(agent), "use", true);
	LearnInOrder(agent, n, states, actions, rewards, next_states, terminal, alpha, gamma);
	SpiEnd(nest);
	PG_RETURN_INT32(n);
}

PG_FUNCTION_INFO_V1(bandit_q_replay);

/*
 * q_replay(agent, n, alpha, gamma): n stored transitions drawn uniformly
 * with replacement, learned in the order drawn.
 */
Datum
bandit_q_replay(PG_FUNCTION_ARGS)
{
	Datum		agent = RequiredArg(fcinfo, 0, "agent");
	int32		n = DatumGetInt32(RequiredArg(fcinfo, 1, "n"));
	double		alpha = DatumGetFloat8(RequiredArg(fcinfo, 2, "alpha"));
	double		gamma = DatumGetFloat8(RequiredArg(fcinfo, 3, "gamma"));
	gsl_rng    *rng = BanditRng();
	int			nest;
	uint64		stored;
	int64	   *ids;
	Datum	   *drawn;
	int			applied = 0;

	CheckCount(n, "n");
	CheckLearningRates(alpha, gamma);
	nest = SpiBegin();
	PreparePlans();
	RequirePrivilege("agent", TextDatumGetCString(agent), "use", false);
	if (SPI_execute_plan(plan_transition_ids, &agent, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading transitions failed");
	stored = SPI_processed;
	if (stored > gsl_rng_max(rng))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("agent has " UINT64_FORMAT " stored transitions, more than replay can draw from", stored),
				 errhint("Keep the buffer bounded with the capacity argument of bandit.q_remember.")));
	ids = palloc(sizeof(int64) * Max(stored, 1));
	for (uint64 r = 0; r < stored; r++)
	{
		bool		isnull;

		ids[r] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	if (stored == 0)
		n = 0;
	drawn = palloc(sizeof(Datum) * Min(Max(n, 1), REPLAY_CHUNK));
	for (int start = 0; start < n; start += REPLAY_CHUNK)
	{
		int			k = Min(n - start, REPLAY_CHUNK);
		Datum		arg;
		SPITupleTable *rows;
		Datum	   *states,
				   *actions,
				   *next_states;
		double	   *rewards;
		bool	   *terminal;

		for (int i = 0; i < k; i++)
			drawn[i] = Int64GetDatum(ids[gsl_rng_uniform_int(rng, stored)]);
		/* a connection per chunk: its transitions and arrays go with it */
		SPI_connect();
		arg = PointerGetDatum(construct_array(drawn, k, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (SPI_execute_plan(plan_transitions, &arg, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading transitions failed");
		/* transitions deleted meanwhile (capacity) are skipped */
		rows = SPI_tuptable;
		k = (int) SPI_processed;
		states = palloc(sizeof(Datum) * Max(k, 1));
		actions = palloc(sizeof(Datum) * Max(k, 1));
		next_states = palloc(sizeof(Datum) * Max(k, 1));
		rewards = palloc(sizeof(double) * Max(k, 1));
		terminal = palloc(sizeof(bool) * Max(k, 1));
		for (int i = 0; i < k; i++)
		{
			bool		isnull;

			states[i] = SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull);
			actions[i] = SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull);
			rewards[i] = DatumGetFloat8(SPI_getbinval(rows->vals[i], rows->tupdesc, 3, &isnull));
			next_states[i] = SPI_getbinval(rows->vals[i], rows->tupdesc, 4, &terminal[i]);
		}
		LearnInOrder(agent, k, states, actions, rewards, next_states, terminal, alpha, gamma);
		SPI_finish();
		applied += k;
	}
	SpiEnd(nest);
	PG_RETURN_INT32(applied);
}

/* A double in the shortest form that reads back exactly; -0 as 0. */
static void
AppendNumber(StringInfo buf, double x)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (isinf(x))
	{
		appendStringInfoString(buf, x > 0 ? "+inf" : "-inf");
		return;
	}
	double_to_shortest_decimal_buf(x == 0 ? 0.0 : x, digits);
	appendStringInfoString(buf, digits);
}

/* A half-open interval [lower,upper), or (lower,upper] when mirrored; open at infinities. */
static void
AppendInterval(StringInfo buf, double lower, double upper, bool mirrored)
{
	appendStringInfoChar(buf, mirrored || isinf(lower) ? '(' : '[');
	AppendNumber(buf, lower);
	appendStringInfoChar(buf, ',');
	AppendNumber(buf, upper);
	appendStringInfoChar(buf, mirrored && !isinf(upper) ? ']' : ')');
}

/* Text with the key's separators (\, |, =) escaped by a backslash. */
static void
AppendEscaped(StringInfo buf, const char *s, int len)
{
	for (int i = 0; i < len; i++)
	{
		if (s[i] == '\\' || s[i] == '|' || s[i] == '=')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, s[i]);
	}
}

/* A member of a JSON object container, or NULL. */
static JsonbValue *
JsonbMember(JsonbContainer *object, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(object, JB_FOBJECT, &k);
}

static void
CheckJsonObject(Jsonb *json, const char *name)
{
	if (!JB_ROOT_IS_OBJECT(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", name)));
}

/*
 * The label of x's bucket under spec (NULL: log2).  With buf NULL it only
 * checks the spec; with buf, the spec must have been checked (state_key
 * checks every spec first), so that edges are bisected: O(log edges) per
 * value, not O(edges).
 */
static void
AppendBucket(StringInfo buf, double x, const JsonbValue *spec, const char *key)
{
	if (spec == NULL || (spec->type == jbvString && spec->val.string.len == 4 &&
						 memcmp(spec->val.string.val, "log2", 4) == 0))
	{
		int			e;

		if (buf == NULL)
			return;
		if (x == 0)
		{
			appendStringInfoChar(buf, '0');
			return;
		}
		/* |x| = m 2^e with m in [0.5, 1): |x| lies in [2^(e-1), 2^e) */
		(void) frexp(fabs(x), &e);
		if (x > 0)
			AppendInterval(buf, ldexp(1.0, e - 1), ldexp(1.0, e), false);
		else
			AppendInterval(buf, -ldexp(1.0, e), -ldexp(1.0, e - 1), true);
	}
	else if (spec->type == jbvString && spec->val.string.len == 5 &&
			 memcmp(spec->val.string.val, "exact", 5) == 0)
	{
		if (buf != NULL)
			AppendNumber(buf, x);
	}
	else if (spec->type == jbvNumeric)
	{
		double		width = JsonbNumberValue(spec, key);
		double		k;

		if (!(width > 0 && isfinite(width)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("bucket width of \"%s\" must be a positive number, got %s", key, ShowDouble(width))));
		if (buf == NULL)
			return;
		k = floor(x / width);
		if (!isfinite(k * width) || !isfinite((k + 1) * width))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" = %s is too large for bucket width %s", key, ShowDouble(x), ShowDouble(width))));
		AppendInterval(buf, k * width, (k + 1) * width, false);
	}
	else if (spec->type == jbvBinary && JsonContainerIsArray(spec->val.binary.data) &&
			 JsonContainerSize(spec->val.binary.data) > 0)
	{
		JsonbContainer *edges = spec->val.binary.data;
		int			n = JsonContainerSize(edges);
		double		previous = -INFINITY;

		if (buf != NULL)
		{
			/* checked already: bisect for the first edge above x */
			int			low = 0,
						high = n;

			while (low < high)
			{
				int			mid = low + (high - low) / 2;

				if (x < JsonbNumberValue(getIthJsonbValueFromContainer(edges, mid), key))
					high = mid;
				else
					low = mid + 1;
			}
			AppendInterval(buf, low == 0 ? -INFINITY : JsonbNumberValue(getIthJsonbValueFromContainer(edges, low - 1), key),
						   low == n ? INFINITY : JsonbNumberValue(getIthJsonbValueFromContainer(edges, low), key), false);
			return;
		}
		for (int i = 0; i < n; i++)
		{
			JsonbValue *edge = getIthJsonbValueFromContainer(edges, i);
			double		e;

			if (edge == NULL || edge->type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("bucket edges of \"%s\" must be numbers", key)));
			CHECK_FOR_INTERRUPTS();
			e = JsonbNumberValue(edge, key);
			if (!(e > previous))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("bucket edges of \"%s\" must be strictly increasing", key)));
			previous = e;
		}
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets of \"%s\" must be \"log2\", \"exact\", a positive width or a non-empty array of increasing edges", key)));
}

/* One key=value pair of a state key, before sorting. */
typedef struct KeyPart
{
	const char *key;
	int			key_len;
	char	   *text;			/* key=value, escaped */
} KeyPart;

static int
CompareKeyParts(const void *a, const void *b)
{
	const KeyPart *x = a,
			   *y = b;
	int			c = memcmp(x->key, y->key, Min(x->key_len, y->key_len));

	return c != 0 ? c : x->key_len - y->key_len;
}

PG_FUNCTION_INFO_V1(bandit_state_key);

/* state_key(context, buckets): sorted key=value pairs, numbers bucketed. */
Datum
bandit_state_key(PG_FUNCTION_ARGS)
{
	Jsonb	   *context = PG_GETARG_JSONB_P(0);
	Jsonb	   *buckets = PG_GETARG_JSONB_P(1);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	KeyPart    *parts;
	int			n = 0;
	StringInfoData result;

	CheckJsonObject(context, "context");
	CheckJsonObject(buckets, "buckets");

	/* every spec is checked, whether the context has its key or not */
	it = JsonbIteratorInit(&buckets->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (token == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			CHECK_FOR_INTERRUPTS();
			token = JsonbIteratorNext(&it, &v, true);
			AppendBucket(NULL, 0, &v, key);
		}

	parts = palloc(sizeof(KeyPart) * Max(JsonContainerSize(&context->root), 1));
	it = JsonbIteratorInit(&context->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		KeyPart    *part = &parts[n];
		StringInfoData text;

		CHECK_FOR_INTERRUPTS();
		if (token != WJB_KEY)
			continue;
		part->key = v.val.string.val;
		part->key_len = v.val.string.len;
		token = JsonbIteratorNext(&it, &v, true);
		if (v.type == jbvNull)
			continue;
		initStringInfo(&text);
		AppendEscaped(&text, part->key, part->key_len);
		appendStringInfoChar(&text, '=');
		switch (v.type)
		{
			case jbvString:
				AppendEscaped(&text, v.val.string.val, v.val.string.len);
				break;
			case jbvBool:
				appendStringInfoString(&text, v.val.boolean ? "true" : "false");
				break;
			case jbvNumeric:
				{
					char	   *key = pnstrdup(part->key, part->key_len);

					AppendBucket(&text, JsonbNumberValue(&v, key), JsonbMember(&buckets->root, key), key);
					break;
				}
			case jbvBinary:
				{
					char	   *json = JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);

					AppendEscaped(&text, json, strlen(json));
					break;
				}
			default:
				elog(ERROR, "unexpected JSON value type %d", (int) v.type);
		}
		part->text = text.data;
		n++;
	}
	qsort(parts, n, sizeof(KeyPart), CompareKeyParts);
	initStringInfo(&result);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&result, '|');
		appendStringInfoString(&result, parts[i].text);
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(result.data, result.len));
}

PG_FUNCTION_INFO_V1(bandit_reward_score);

/* reward_score(metrics, weights): sum of weight * metric over weights' keys. */
Datum
bandit_reward_score(PG_FUNCTION_ARGS)
{
	Jsonb	   *metrics = PG_GETARG_JSONB_P(0);
	Jsonb	   *weights = PG_GETARG_JSONB_P(1);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	double		sum = 0,
				low = 0;

	CheckJsonObject(metrics, "metrics");
	CheckJsonObject(weights, "weights");
	it = JsonbIteratorInit(&weights->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		JsonbValue *metric;
		double		term;

		if (token != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		token = JsonbIteratorNext(&it, &v, true);
		if (v.type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weight \"%s\" must be a number", key)));
		metric = JsonbMember(&metrics->root, key);
		if (metric == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("metric \"%s\" is weighted but missing from metrics", key)));
		if (metric->type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("metric \"%s\" must be a number", key)));
		term = JsonbNumberValue(&v, key) * JsonbNumberValue(metric, key);
		DoubleDoubleAdd(&sum, &low, term, 0);
		CHECK_FOR_INTERRUPTS();
	}
	/* an overflow leaves sum infinite or NaN */
	if (!isfinite(sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("reward score is out of the range of float8")));
	PG_RETURN_FLOAT8(sum);
}

/*
 * The tier of score: the first whose min_score it reaches, after checking
 * every tier, so that the errors do not depend on the score.
 */
static JsonbContainer *
FindTier(double score, Jsonb *tiers)
{
	int			n;
	double		previous = INFINITY;
	JsonbContainer *found = NULL;

	CheckFinite(score, "score");
	if (!JB_ROOT_IS_ARRAY(tiers) || JB_ROOT_IS_SCALAR(tiers) || JB_ROOT_COUNT(tiers) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tiers must be a non-empty JSON array of {\"name\", \"min_score\", \"reward\"} objects")));
	n = JB_ROOT_COUNT(tiers);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *tier = getIthJsonbValueFromContainer(&tiers->root, i);
		JsonbContainer *object;
		JsonbValue *name,
				   *min_score,
				   *reward;
		double		threshold;

		CHECK_FOR_INTERRUPTS();
		if (tier->type != jbvBinary || !JsonContainerIsObject(tier->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tier %d must be a JSON object", i + 1)));
		object = tier->val.binary.data;
		name = JsonbMember(object, "name");
		min_score = JsonbMember(object, "min_score");
		reward = JsonbMember(object, "reward");
		if (name == NULL || name->type != jbvString || reward == NULL || reward->type != jbvNumeric ||
			(min_score != NULL && min_score->type != jbvNumeric) ||
			JsonContainerSize(object) != 2 + (min_score != NULL))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tier %d must have a string \"name\", a number \"reward\" and a number \"min_score\", and nothing else", i + 1)));
		JsonbNumberValue(reward, "the reward of a tier");
		if (min_score == NULL && i < n - 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tier %d has no \"min_score\"; only the last tier may omit it", i + 1)));
		threshold = min_score == NULL ? -INFINITY : JsonbNumberValue(min_score, "the min_score of a tier");
		if (!(threshold < previous))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("min_score of the tiers must be strictly decreasing")));
		previous = threshold;
		if (found == NULL && score >= threshold)
			found = object;
	}
	if (found == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("score %s is below the min_score of the lowest tier (%s)", ShowDouble(score), ShowDouble(previous))));
	return found;
}

PG_FUNCTION_INFO_V1(bandit_tiered_reward);

/* tiered_reward(score, tiers): the reward of score's tier. */
Datum
bandit_tiered_reward(PG_FUNCTION_ARGS)
{
	JsonbContainer *tier = FindTier(PG_GETARG_FLOAT8(0), PG_GETARG_JSONB_P(1));

	PG_RETURN_FLOAT8(JsonbNumberValue(JsonbMember(tier, "reward"), "the reward of a tier"));
}

PG_FUNCTION_INFO_V1(bandit_reward_tier);

/* reward_tier(score, tiers): the name of score's tier. */
Datum
bandit_reward_tier(PG_FUNCTION_ARGS)
{
	JsonbValue *name = JsonbMember(FindTier(PG_GETARG_FLOAT8(0), PG_GETARG_JSONB_P(1)), "name");

	PG_RETURN_TEXT_P(cstring_to_text_with_len(name->val.string.val, name->val.string.len));
}
