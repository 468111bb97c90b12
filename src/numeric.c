/*
 * src/numeric.c
 *
 * The numerics core (see numeric.h): one implementation of each piece of
 * mathematics that more than one capability needs.
 */
#include "numeric.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* == distributions, moments and sums (statistics) */


/* == selection: argmax with random ties, JSON numbers (policies) */

/* True with probability exactly 1 / n (n >= 1). */
bool
OneIn(gsl_rng *rng, uint64 n)
{
	if (n == 1)
		return true;
	if (n <= gsl_rng_max(rng) - gsl_rng_min(rng))
		return gsl_rng_uniform_int(rng, n) == 0;
	/* more ties than the generator has values: 2^-32 resolution is plenty */
	return gsl_rng_uniform(rng) * (double) n < 1;
}

/*
 * Offers a score; true when its offer becomes the pick: a larger score
 * always, the j-th of tied scores with probability 1/j (reservoir sampling).
 * NaN never wins.
 */
bool
ArgMaxOffer(ArgMaxRun *run, double score)
{
	if (!run->has_pick || score > run->best)
	{
		if (isnan(score))
			return false;
		run->has_pick = true;
		run->best = score;
		run->ties = 1;
		return true;
	}
	if (score == run->best)
		return OneIn(BanditRng(), ++run->ties);
	return false;
}

/* The index of a largest score (ties at random), and how many tie; -1 if none. */
int
ArgMaxRandomTies(const double *score, int n, int *ties)
{
	ArgMaxRun	run = {0};
	int			best = -1;

	for (int i = 0; i < n; i++)
	{
		if (ArgMaxOffer(&run, score[i]))
			best = i;
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
	}
	*ties = (int) run.ties;
	return best;
}

/*
 * A numeric member of a JSON object as a double: false when absent or JSON
 * null; a non-number is 22023, a number beyond float8 22003 (what names the
 * object in messages: "parameter", "context key").
 */
bool
JsonbObjectNumber(Jsonb *object, const char *key, const char *what, double *value)
{
	JsonbValue	k;
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(object))
		return false;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&object->root, JB_FOBJECT, &k);
	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" must be a number", what, key)));
	*value = JsonbNumberValue(v, key);
	return true;
}

/*
 * A JSON number (jbvNumeric) as a double; beyond float8's range it is
 * 22003 naming what (a key, "a feature"), not a message about the
 * hundreds of digits the user may never have typed.
 */
double
JsonbNumberValue(const JsonbValue *v, const char *what)
{
	double		value;

	Assert(v->type == jbvNumeric);
	value = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(v->val.numeric)));
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range for double precision", what)));
	return value;
}


/* == hashing and generators (experiments, Q-learning) */
