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

#if PG_VERSION_NUM < 130000
#error "bandit requires PostgreSQL 13 or later"
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

extern int	SpiBegin(void);
extern void SpiEnd(int nest);
extern SPIPlanPtr PrepareSafely(const char *sql, int nargs, Oid *types);

/* access.c: the caller and the privilege check of every function touching an object */
extern Oid	BanditCaller(void);
extern bool CheckPrivilege(const char *kind, const char *name, const char *privilege, bool create);
extern void RequirePrivilege(const char *kind, const char *name, const char *privilege, bool create);

extern Alternative ParseAlternative(text *alternative);
extern void BetaProbBest(const double *alpha, const double *beta, int n, double *prob);
extern double *CheckFloat8Array(ArrayType *array, const char *name, int *length);
extern void CheckGsl(int status, const char *what);
extern gsl_rng *BanditRng(void);
extern Datum MakeResultTuple(FunctionCallInfo fcinfo, Datum *values, bool *nulls);

#endif							/* BANDIT_H */
