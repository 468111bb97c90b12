/*
 * src/bandit.h
 *
 * Shared vocabulary of the bandit extension: argument checks that raise
 * errors with a specific SQLSTATE, the per-backend random generator, and
 * helpers for composite results.  Version differences live here too.
 */
#ifndef BANDIT_H
#define BANDIT_H

#include "postgres.h"

#include <math.h>

#include "access/htup.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"

#include <gsl/gsl_rng.h>

/*
 * Version differences, all of them here.  Built and tested on PostgreSQL 15
 * only; the guards below are for versions the code has been read against,
 * not run on.
 */
#if PG_VERSION_NUM < 130000
#error "bandit requires PostgreSQL 13 or later"
#endif

#include "catalog/namespace.h"
#include "utils/guc.h"

/*
 * pg_catalog as the only schema searched until PopCatalogSearchPath (or the
 * abort of the (sub)transaction).  Before PostgreSQL 17 an override search
 * path does it without the GUC machinery, which recomputes the path twice
 * per call; from 17, where overrides are gone, search_path is set as a SET
 * clause would.  Returns what PopCatalogSearchPath needs.
 */
static inline int
PushCatalogSearchPath(void)
{
#if PG_VERSION_NUM < 170000
	OverrideSearchPath path = {.schemas = NIL, .addCatalog = true, .addTemp = false};

	PushOverrideSearchPath(&path);
	return 0;
#else
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
#endif
}

static inline void
PopCatalogSearchPath(int nest)
{
#if PG_VERSION_NUM < 170000
	PopOverrideSearchPath();
#else
	AtEOXact_GUC(true, nest);
#endif
}

/* The local id of this backend's top transaction (MyProc->vxid.lxid from 17 on). */
#if PG_VERSION_NUM < 170000
#define BanditLocalTransactionId() (MyProc->lxid)
#else
#define BanditLocalTransactionId() (MyProc->vxid.lxid)
#endif

/* The three alternatives of scipy.stats, by their scipy names. */
typedef enum Alternative
{
	ALT_TWO_SIDED,
	ALT_LESS,
	ALT_GREATER
} Alternative;

/*
 * A number as the user would type it back: the shortest decimal that reads
 * back as the same double ("1.0000001", "1e-320", "Infinity"), never %g's
 * six digits, which can make a rejected value look acceptable.
 */
extern char *ShowDouble(double value);

/* Non-finite numbers are rejected with 22003, naming the argument. */
static inline double
CheckFinite(double value, const char *name)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite number, got %s", name, ShowDouble(value))));
	return value;
}

/* A strictly positive finite number (Beta parameters, sizes). */
static inline double
CheckPositive(double value, const char *name)
{
	if (!isfinite(value) || value <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a positive finite number, got %s", name, ShowDouble(value))));
	return value;
}

/* A number in the closed interval [lower, upper]. */
static inline double
CheckRange(double value, double lower, double upper, const char *name)
{
	if (!(value >= lower && value <= upper))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be between %s and %s, got %s", name,
						ShowDouble(lower), ShowDouble(upper), ShowDouble(value))));
	return value;
}

/* A number strictly inside (lower, upper): levels, powers, alphas. */
static inline double
CheckOpenRange(double value, double lower, double upper, const char *name)
{
	if (!(value > lower && value < upper))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be strictly between %s and %s, got %s", name,
						ShowDouble(lower), ShowDouble(upper), ShowDouble(value))));
	return value;
}

/* A count of observations: zero or more. */
static inline int64
CheckCount(int64 value, const char *name)
{
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must not be negative, got " INT64_FORMAT, name, value)));
	return value;
}

/*
 * Aggregate states kept as float8 arrays of a fixed length (no serialization
 * needed for parallel plans).  Slots holding per-row constants start at
 * STATE_UNSET and take the first row's value.
 */
#define STATE_UNSET (-1.0)

extern ArrayType *WritableFloat8State(FunctionCallInfo fcinfo);
extern double *Float8State(ArrayType *array, int length, const char *aggregate);
extern void CorruptState(const char *aggregate) pg_attribute_noreturn();
extern void SetRowConstant(double *state, int slot, double value,
						   const char *aggregate, const char *argument);

/*
 * node.c: bandit.node_id (0 to NODE_ID_MAX), the top bits of every id the
 * extension generates; below them NODE_LOCAL_BITS of the node's sequence.
 */
#define NODE_ID_MAX 1023
#define NODE_LOCAL_BITS 53
#define NODE_LOCAL_MAX ((INT64CONST(1) << NODE_LOCAL_BITS) - 1)
extern int	BanditNodeId;

extern int	SpiBegin(void);
extern void SpiEnd(int nest);
extern SPIPlanPtr PrepareSafely(const char *sql, int nargs, Oid *types);

/* access.c: the caller and the privilege check of every function touching an object */
extern Oid	BanditCaller(void);
extern bool CheckPrivilege(const char *kind, const char *name, const char *privilege, bool create);
extern void RequirePrivilege(const char *kind, const char *name, const char *privilege, bool create);

extern Alternative ParseAlternative(text *alternative);
extern void BetaProbBest(const double *alpha, const double *beta, int n, double *prob);
extern double BetaPropensity(const char *policy, const double *alpha, const double *beta, int n, int chosen);
extern double *CheckFloat8Array(ArrayType *array, const char *name, int *length);
extern Datum Float8ArrayDatum(const double *values, int n);
extern void CheckGsl(int status, const char *what);
extern gsl_rng *BanditRng(void);
extern Datum MakeResultTuple(FunctionCallInfo fcinfo, Datum *values, bool *nulls);

#endif							/* BANDIT_H */
