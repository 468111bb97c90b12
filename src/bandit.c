/*
 * src/bandit.c
 *
 * Module initialization and the argument checks shared by every capability.
 */
#include "bandit.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include <gsl/gsl_errno.h>

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * GSL's default error handler calls abort(), which would take the whole
	 * server down; every GSL status is checked by the caller instead.
	 */
	gsl_set_error_handler_off();

	/*
	 * The node of every id generated from now on (src/node.c).  PGC_SUSET,
	 * not PGC_SIGHUP: a server may hold several shards' databases, each
	 * given its own id by ALTER DATABASE ... SET (SIGHUP settings cannot be
	 * per database), while only a superuser can set it anywhere, so no
	 * other role can generate ids in another node's range.
	 */
	DefineCustomIntVariable("bandit.node_id",
							"The node id (0 to 1023) in the top bits of every id bandit generates.",
							"Give each node of a sharded installation its own: ids of distinct nodes never collide, and bandit.node_of(id) names the node. Set it once, before the first id.",
							&BanditNodeId, 0, 0, NODE_ID_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
	/* after the last variable: a misspelt bandit.* setting is reported, not silently ignored */
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("bandit");
#else
	EmitWarningsOnPlaceholders("bandit");
#endif
}

/*
 * Connects to SPI with pg_catalog as the only schema searched (see
 * PushCatalogSearchPath), undone by SpiEnd or by the (sub)transaction's
 * abort on error.  The plan cache re-analyzes a saved plan under the search
 * path in force, so a caller's must never be.
 */
int
SpiBegin(void)
{
	int			nest = PushCatalogSearchPath();

	SPI_connect();
	return nest;
}

void
SpiEnd(int nest)
{
	SPI_finish();
	PopCatalogSearchPath(nest);
}

char *
ShowDouble(double value)
{
	return double_to_shortest_decimal(value);
}

/*
 * The installed SQL is the version this library was built for.  A new
 * library runs beside the old version's tables until ALTER EXTENSION
 * UPDATE; a plan over them would fail on a missing column, so say what to
 * do instead.  Checked once per backend, before the first plan.
 */
static void
CheckInstalledVersion(void)
{
	static bool checked = false;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *installed = NULL;

	if (checked)
		return;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("bandit"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		version = heap_getattr(tuple, Anum_pg_extension_extversion,
										   RelationGetDescr(rel), &isnull);

		if (!isnull)
			installed = TextDatumGetCString(version);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (installed == NULL || strcmp(installed, BANDIT_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the bandit library is version %s but the extension installed in this database is %s",
						BANDIT_VERSION, installed ? installed : "missing"),
				 errhint("Run ALTER EXTENSION bandit UPDATE.")));
	checked = true;
}

/* Prepares a plan and keeps it for the life of the backend. */
SPIPlanPtr
PrepareSafely(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan;

	CheckInstalledVersion();
	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * 'two-sided', 'less' or 'greater', as scipy spells them.  Compares in
 * place, without copying, because aggregates call it once per row.
 */
Alternative
ParseAlternative(text *alternative)
{
	const char *s = VARDATA_ANY(alternative);
	int			len = VARSIZE_ANY_EXHDR(alternative);

	if (len == 9 && memcmp(s, "two-sided", 9) == 0)
		return ALT_TWO_SIDED;
	if (len == 4 && memcmp(s, "less", 4) == 0)
		return ALT_LESS;
	if (len == 7 && memcmp(s, "greater", 7) == 0)
		return ALT_GREATER;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("alternative must be 'two-sided', 'less' or 'greater', got '%s'",
					text_to_cstring(alternative))));
	pg_unreachable();
}

/*
 * The elements of a one-dimensional float8 array without NULLs; NULL
 * elements are 22004, other shapes 2202E.
 */
double *
CheckFloat8Array(ArrayType *array, const char *name, int *length)
{
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	if (ARR_ELEMTYPE(array) != FLOAT8OID)
		elog(ERROR, "%s: expected a float8 array", name);
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", name)));
	*length = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	return (double *) ARR_DATA_PTR(array);
}

/* A float8[] Datum of n numbers. */
Datum
Float8ArrayDatum(const double *values, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		datums[i] = Float8GetDatum(values[i]);
	return PointerGetDatum(construct_array(datums, n, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * The transition value to update: inside an aggregate it is ours to modify
 * in place (as float8_accum does), elsewhere a copy.
 */
ArrayType *
WritableFloat8State(FunctionCallInfo fcinfo)
{
	if (AggCheckCallContext(fcinfo, NULL))
		return PG_GETARG_ARRAYTYPE_P(0);
	return PG_GETARG_ARRAYTYPE_P_COPY(0);
}

/* The elements of an aggregate state, after checking its shape. */
double *
Float8State(ArrayType *array, int length, const char *aggregate)
{
	if (ARR_NDIM(array) != 1 || ARR_DIMS(array)[0] != length ||
		ARR_HASNULL(array) || ARR_ELEMTYPE(array) != FLOAT8OID)
		CorruptState(aggregate);
	return (double *) ARR_DATA_PTR(array);
}

/* A state that the aggregate could not have built: XX001, never an answer. */
void
CorruptState(const char *aggregate)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("%s: corrupt aggregate state", aggregate)));
}

/* Records a per-row constant, or checks that it is the one earlier rows gave. */
void
SetRowConstant(double *state, int slot, double value, const char *aggregate, const char *argument)
{
	if (state[slot] == STATE_UNSET)
		state[slot] = value;
	else if (state[slot] != value)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: %s must be the same on every row", aggregate, argument)));
}

/* Turns a failed GSL computation into an error instead of a wrong number. */
void
CheckGsl(int status, const char *what)
{
	if (status != GSL_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s could not be computed: %s", what, gsl_strerror(status))));
}

/* Builds the composite result a function with OUT parameters returns. */
Datum
MakeResultTuple(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a record called in a context that cannot accept it");
	tupdesc = BlessTupleDesc(tupdesc);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}
