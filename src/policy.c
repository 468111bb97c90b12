/*
 * src/policy.c
 *
 * The hot path of table-backed policies: choose an arm and log the decision,
 * credit rewards, rank arms, and LinUCB's linear algebra.  Everything else
 * about policies (creation, arms, modes, snapshots) is SQL in policy.sql.
 *
 * Statements run through SPI with plans prepared once per backend, under
 * SpiBegin's search path (pg_catalog only): the plan cache re-analyzes a
 * saved plan under the current search path, so a caller's must never be in
 * force.
 */
#include "bandit.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include <gsl/gsl_randist.h>

typedef enum Algorithm
{
	ALG_THOMPSON, ALG_UCB1, ALG_EPSILON_GREEDY, ALG_SOFTMAX, ALG_LINUCB
} Algorithm;

typedef enum Mode
{
	MODE_ACTIVE, MODE_SHADOW, MODE_OFF
} PolicyMode;

/* A policy's row, with its parameters parsed. */
typedef struct Policy
{
	char	   *name;
	Algorithm	algorithm;
	PolicyMode	mode;
	char	   *default_arm;
	double		prior_alpha,
				prior_beta,
				epsilon,
				epsilon_decay,
				min_epsilon,
				c,
				temperature,
				discount,
				alpha;
	int			dim;
	int64		decisions;		/* made before this one (epsilon decay) */
} Policy;

/* An arm as choose and recommend see it. */
typedef struct Arm
{
	char	   *name;
	double		alpha,
				beta;
	int64		pulls;
	double		weight,
				mean;
	double	   *a_inv,			/* LinUCB: dim x dim, row-major */
			   *b;
} Arm;

/* What a choice needs from the context: budget and features. */
typedef struct Context
{
	bool		has_max_cost,
				has_max_latency;
	double		max_cost,
				max_latency;
	double	   *features;		/* LinUCB only */
} Context;

static SPIPlanPtr plan_policy,
			plan_arms,
			plan_insert_decision,
			plan_reward_decision,
			plan_decision_state,
			plan_update_arm,
			plan_decision_order,
			plan_count_decision,
			plan_lock_linucb_arm,
			plan_update_linucb_arm;

/* Prepares this module's plans once per backend (inside SPI). */
static void
PreparePlans(void)
{
	Oid			text1[] = {TEXTOID};
	Oid			insert_types[] = {TEXTOID, TEXTOID, FLOAT8OID, TEXTOID, FLOAT8OID, TEXTOID, JSONBOID};
	Oid			reward_types[] = {INT8OID, FLOAT8OID};
	Oid			int8_1[] = {INT8OID};
	Oid			int8_array[] = {INT8ARRAYOID};
	Oid			update_types[] = {TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID};
	Oid			text2[] = {TEXTOID, TEXTOID};
	Oid			linucb_types[] = {TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8ARRAYOID, FLOAT8ARRAYOID};

	if (plan_policy != NULL)
		return;
	plan_policy = PrepareSafely(
		"SELECT algorithm, params, mode, default_arm FROM bandit.policy WHERE name = $1", 1, text1);
	plan_arms = PrepareSafely(
		"SELECT arm, alpha, beta, pulls, weight, mean_reward, cost, latency_ms, a_inv, b, tableoid, xmin, ctid"
		"  FROM bandit.arm WHERE policy = $1 AND NOT retired ORDER BY arm", 1, text1);
	plan_insert_decision = PrepareSafely(
		"INSERT INTO bandit.decision (policy, arm, propensity, policy_arm, policy_propensity, mode, context)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", 7, insert_types);
	plan_reward_decision = PrepareSafely(
		"UPDATE bandit.decision SET reward = $2, rewarded_at = now()"
		" WHERE id = $1 AND reward IS NULL RETURNING policy, arm, context", 2, reward_types);
	plan_decision_order = PrepareSafely(
		"SELECT id FROM bandit.decision WHERE id = ANY ($1) ORDER BY policy, arm, id", 1, int8_array);
	plan_count_decision = PrepareSafely(
		"UPDATE bandit.policy SET decisions = decisions + 1 WHERE name = $1 RETURNING decisions - 1", 1, text1);
	plan_decision_state = PrepareSafely(
		"SELECT reward FROM bandit.decision WHERE id = $1", 1, int8_1);

	/*
	 * One statement, arithmetic in the server: the arm's row lock is taken
	 * here and held only until commit.  $6 is the discount; alpha and beta
	 * follow rewards in [0, 1] ($7).  Weighted Welford for mean and m2.
	 */
	plan_update_arm = PrepareSafely(
		"UPDATE bandit.arm SET"
		"  alpha = CASE WHEN $7 THEN $4 + $6 * (alpha - $4) + $3 ELSE alpha END,"
		"  beta = CASE WHEN $7 THEN $5 + $6 * (beta - $5) + (1 - $3) ELSE beta END,"
		"  pulls = pulls + 1,"
		"  weight = $6 * weight + 1,"
		"  mean_reward = mean_reward + ($3 - mean_reward) / ($6 * weight + 1),"
		"  m2 = $6 * m2 + ($3 - mean_reward) * ($3 - mean_reward - ($3 - mean_reward) / ($6 * weight + 1)),"
		"  last_update = now()"
		" WHERE policy = $1 AND arm = $2", 7, update_types);
	plan_lock_linucb_arm = PrepareSafely(
		"SELECT a_inv, b, tableoid, xmin, ctid FROM bandit.arm WHERE policy = $1 AND arm = $2 FOR UPDATE",
		2, text2);
	plan_update_linucb_arm = PrepareSafely(
		"UPDATE bandit.arm SET a_inv = $5, b = $6, pulls = pulls + 1,"
		"  weight = $3 * weight + 1,"
		"  mean_reward = mean_reward + ($4 - mean_reward) / ($3 * weight + 1),"
		"  m2 = $3 * m2 + ($4 - mean_reward) * ($4 - mean_reward - ($4 - mean_reward) / ($3 * weight + 1)),"
		"  last_update = now()"
		" WHERE policy = $1 AND arm = $2 RETURNING tableoid, xmin, ctid", 6, linucb_types);
}

/* A numeric member of a JSON object; false when absent or null. */
static bool
JsonbGetNumber(Jsonb *object, const char *key, const char *what, double *value)
{
	JsonbValue	k;
	JsonbValue *v;

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
	*value = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	return true;
}

static double
ParamOrDefault(Jsonb *params, const char *key, double fallback)
{
	double		value;

	return JsonbGetNumber(params, key, "parameter", &value) ? value : fallback;
}

static char *
TupleText(HeapTuple tuple, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static double
TupleFloat8(HeapTuple tuple, TupleDesc desc, int column, double fallback)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	return isnull ? fallback : DatumGetFloat8(d);
}

/* Reads a policy (inside SPI); an unknown policy is 42704. */
static void
LoadPolicy(const char *name, Policy *policy)
{
	Datum		arg = CStringGetTextDatum(name);
	HeapTuple	tuple;
	TupleDesc	desc;
	char	   *algorithm,
			   *mode;
	Jsonb	   *params;
	bool		isnull;

	if (SPI_execute_plan(plan_policy, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading policy \"%s\" failed", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("policy \"%s\" does not exist", name)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	policy->name = pstrdup(name);
	algorithm = TupleText(tuple, desc, 1);
	params = DatumGetJsonbP(SPI_getbinval(tuple, desc, 2, &isnull));
	mode = TupleText(tuple, desc, 3);
	policy->default_arm = TupleText(tuple, desc, 4);

	if (strcmp(algorithm, "thompson") == 0)
		policy->algorithm = ALG_THOMPSON;
	else if (strcmp(algorithm, "ucb1") == 0)
		policy->algorithm = ALG_UCB1;
	else if (strcmp(algorithm, "epsilon_greedy") == 0)
		policy->algorithm = ALG_EPSILON_GREEDY;
	else if (strcmp(algorithm, "softmax") == 0)
		policy->algorithm = ALG_SOFTMAX;
	else
		policy->algorithm = ALG_LINUCB;
	policy->mode = strcmp(mode, "active") == 0 ? MODE_ACTIVE :
		strcmp(mode, "shadow") == 0 ? MODE_SHADOW : MODE_OFF;
	policy->prior_alpha = ParamOrDefault(params, "prior_alpha", 1);
	policy->prior_beta = ParamOrDefault(params, "prior_beta", 1);
	policy->epsilon = ParamOrDefault(params, "epsilon", 0.1);
	policy->epsilon_decay = ParamOrDefault(params, "epsilon_decay", 1);
	policy->min_epsilon = ParamOrDefault(params, "min_epsilon", 0);
	policy->c = ParamOrDefault(params, "c", 1);
	policy->temperature = ParamOrDefault(params, "temperature", 0.1);
	policy->discount = ParamOrDefault(params, "discount", 1);
	policy->alpha = ParamOrDefault(params, "alpha", 1);
	policy->dim = (int) ParamOrDefault(params, "dim", 0);
	policy->decisions = 0;
}

/*
 * Counts a decision of an epsilon-greedy policy whose epsilon decays, and
 * returns how many came before.  Only such policies pay for this update of
 * their policy row, which serializes their concurrent chooses at commit.
 */
static void
CountDecision(Policy *policy)
{
	Datum		arg = CStringGetTextDatum(policy->name);
	bool		isnull;

	if (SPI_execute_plan(plan_count_decision, &arg, NULL, false, 1) != SPI_OK_UPDATE_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "counting a decision of policy \"%s\" failed", policy->name);
	policy->decisions = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* A float8[] column of exactly `length` elements, copied out of SPI. */
static double *
TupleVector(HeapTuple tuple, TupleDesc desc, int column, int length, const char *what)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);
	ArrayType  *array;
	int			n;
	double	   *values;
	double	   *copy;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("LinUCB state %s is missing from bandit.arm", what)));
	array = DatumGetArrayTypeP(d);
	values = CheckFloat8Array(array, what, &n);
	if (n != length)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("LinUCB state %s in bandit.arm has %d elements, expected %d", what, n, length)));
	copy = palloc(sizeof(double) * length);
	memcpy(copy, values, sizeof(double) * length);
	return copy;
}

/*
 * LinUCB state (A^-1 and b) as this backend last read or wrote it, so that
 * choose does not detoast dim^2 doubles per arm per call.  An entry belongs
 * to one version of an arm row.  Versions that rewards left behind are
 * dropped all at once when the cache outgrows its budget.
 */
#define LINUCB_CACHE_BYTES (16 * 1024 * 1024)

typedef struct LinUcbState
{
	RowVersion	version;		/* hash key */
	int			dim;
	double	   *a_inv,
			   *b;
} LinUcbState;

static MemoryContext linucb_cache_context = NULL;
static HTAB *linucb_cache = NULL;
static Size linucb_cache_bytes = 0;

/*
 * Empties the cache when it is over budget.  Called only where no pointer
 * into it is held, never between a lookup and the use of its answer.
 */
static void
LinUcbCacheTrim(void)
{
	HASHCTL		ctl;

	if (linucb_cache != NULL && linucb_cache_bytes <= LINUCB_CACHE_BYTES)
		return;
	if (linucb_cache_context == NULL)
		linucb_cache_context = AllocSetContextCreate(TopMemoryContext, "bandit LinUCB state",
													 ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(linucb_cache_context);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RowVersion);
	ctl.entrysize = sizeof(LinUcbState);
	ctl.hcxt = linucb_cache_context;
	linucb_cache = hash_create("bandit LinUCB state", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	linucb_cache_bytes = 0;
}

/* The cached state of a row version, or NULL. */
static const LinUcbState *
LinUcbCacheLookup(const RowVersion *version, int dim)
{
	LinUcbState *state = hash_search(linucb_cache, version, HASH_FIND, NULL);

	return state != NULL && state->dim == dim ? state : NULL;
}

static void
LinUcbCacheRemember(const RowVersion *version, int dim, const double *a_inv, const double *b)
{
	bool		found;
	LinUcbState *state = hash_search(linucb_cache, version, HASH_ENTER, &found);

	if (found)
		return;
	state->dim = dim;
	state->a_inv = MemoryContextAlloc(linucb_cache_context, sizeof(double) * dim * dim);
	state->b = MemoryContextAlloc(linucb_cache_context, sizeof(double) * dim);
	memcpy(state->a_inv, a_inv, sizeof(double) * dim * dim);
	memcpy(state->b, b, sizeof(double) * dim);
	linucb_cache_bytes += sizeof(LinUcbState) + sizeof(double) * (dim * dim + dim);
}

/* The active arms that fit the context's budget (inside SPI). */
static Arm *
LoadArms(const Policy *policy, const Context *context, int *count)
{
	Datum		arg = CStringGetTextDatum(policy->name);
	Arm		   *arms;
	int			n = 0;

	if (policy->algorithm == ALG_LINUCB)
		LinUcbCacheTrim();
	if (SPI_execute_plan(plan_arms, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the arms of policy \"%s\" failed", policy->name);
	arms = palloc(sizeof(Arm) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Arm		   *arm = &arms[n];
		double		cost = TupleFloat8(tuple, desc, 7, NAN);
		double		latency = TupleFloat8(tuple, desc, 8, NAN);
		bool		isnull;

		/* an arm without an estimate is not known to be over budget */
		if (context->has_max_cost && !isnan(cost) && cost > context->max_cost)
			continue;
		if (context->has_max_latency && !isnan(latency) && latency > context->max_latency)
			continue;
		arm->name = TupleText(tuple, desc, 1);
		arm->alpha = TupleFloat8(tuple, desc, 2, 1);
		arm->beta = TupleFloat8(tuple, desc, 3, 1);
		arg = SPI_getbinval(tuple, desc, 4, &isnull);
		arm->pulls = isnull ? 0 : DatumGetInt64(arg);
		arm->weight = TupleFloat8(tuple, desc, 5, 0);
		arm->mean = TupleFloat8(tuple, desc, 6, 0);
		arm->a_inv = arm->b = NULL;
		if (policy->algorithm == ALG_LINUCB)
		{
			RowVersion	version = TupleRowVersion(tuple, desc, 11);
			const LinUcbState *cached = LinUcbCacheLookup(&version, policy->dim);

			if (cached != NULL)
			{
				/* read-only: scores never write to it */
				arm->a_inv = cached->a_inv;
				arm->b = cached->b;
			}
			else
			{
				arm->a_inv = TupleVector(tuple, desc, 9, policy->dim * policy->dim, "a_inv");
				arm->b = TupleVector(tuple, desc, 10, policy->dim, "b");
				LinUcbCacheRemember(&version, policy->dim, arm->a_inv, arm->b);
			}
		}
		n++;
	}
	*count = n;
	return arms;
}

/*
 * The hashing trick: each key (numbers, booleans) or key=value (strings)
 * of a flat JSON object adds its value, with a hashed sign, to a hashed
 * one of dim features.
 */
static double *
HashFeatures(Jsonb *object, int dim, const char *const *skip, int nskip)
{
	double	   *x = palloc0(sizeof(double) * dim);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *key = NULL;

	if (!JB_ROOT_IS_OBJECT(object))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context must be a JSON object")));
	it = JsonbIteratorInit(&object->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		StringInfoData name;
		double		value;
		uint64		h;
		bool		skipped = false;

		if (token == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (token != WJB_VALUE)
			continue;
		for (int i = 0; i < nskip; i++)
			skipped |= strcmp(key, skip[i]) == 0;
		if (skipped || v.type == jbvNull)
			continue;
		initStringInfo(&name);
		appendStringInfoString(&name, key);
		switch (v.type)
		{
			case jbvNumeric:
				value = CheckFinite(DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																	   NumericGetDatum(v.val.numeric))),
									"a context value");
				break;
			case jbvBool:
				value = v.val.boolean ? 1 : 0;
				break;
			case jbvString:
				appendStringInfoChar(&name, '=');
				appendBinaryStringInfo(&name, v.val.string.val, v.val.string.len);
				value = 1;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("context key \"%s\" must hold a number, string or boolean to be hashed", key)));
		}
		h = hash_bytes_extended((const unsigned char *) name.data, name.len, 0x62616e646974);
		x[h % dim] += (h >> 63) ? -value : value;
	}
	return x;
}

PG_FUNCTION_INFO_V1(bandit_hash_features);

/* hash_features(object, dim): the hashing trick, as LinUCB applies it to contexts. */
Datum
bandit_hash_features(PG_FUNCTION_ARGS)
{
	int32		dim = PG_GETARG_INT32(1);
	double	   *x;
	Datum	   *datums;

	if (dim < 1 || dim > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("dim must be from 1 to 1024, got %d", dim)));
	x = HashFeatures(PG_GETARG_JSONB_P(0), dim, NULL, 0);
	datums = palloc(sizeof(Datum) * dim);
	for (int i = 0; i < dim; i++)
		datums[i] = Float8GetDatum(x[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(datums, dim, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}

/* Context keys that set a budget rather than describe the request. */
static const char *const budget_keys[] = {"max_cost", "max_latency_ms"};

/* Budget and, for LinUCB, the feature vector of a context (NULL: none). */
static void
ParseContext(Jsonb *json, const Policy *policy, Context *context)
{
	memset(context, 0, sizeof(Context));
	if (json == NULL)
	{
		if (policy->algorithm == ALG_LINUCB && policy->mode != MODE_OFF)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("linucb policy \"%s\" needs a context", policy->name)));
		return;
	}
	if (!JB_ROOT_IS_OBJECT(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context must be a JSON object")));
	context->has_max_cost = JsonbGetNumber(json, "max_cost", "context key", &context->max_cost);
	context->has_max_latency = JsonbGetNumber(json, "max_latency_ms", "context key", &context->max_latency);
	if (policy->algorithm != ALG_LINUCB)
		return;
	{
		JsonbValue	k;
		JsonbValue *features;

		k.type = jbvString;
		k.val.string.val = "features";
		k.val.string.len = 8;
		features = findJsonbValueFromContainer(&json->root, JB_FOBJECT, &k);
		if (features == NULL)
		{
			context->features = HashFeatures(json, policy->dim, budget_keys, lengthof(budget_keys));
			return;
		}
		if (features->type != jbvBinary || !JsonContainerIsArray(features->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("context \"features\" must be an array of numbers")));
		if (JsonContainerSize(features->val.binary.data) != policy->dim)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("context \"features\" has %d elements, policy \"%s\" has dim %d",
							JsonContainerSize(features->val.binary.data), policy->name, policy->dim)));
		context->features = palloc(sizeof(double) * policy->dim);
		for (int i = 0; i < policy->dim; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(features->val.binary.data, i);

			if (e == NULL || e->type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("context \"features\" must be an array of numbers")));
			context->features[i] = CheckFinite(DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																				  NumericGetDatum(e->val.numeric))),
											   "a feature");
		}
	}
}

/* LinUCB: theta = A^-1 b; score = theta.x + alpha sqrt(x' A^-1 x). */
static double
LinUcbScore(const Arm *arm, const double *x, int dim, double alpha, double *estimate)
{
	double		mean = 0,
				variance = 0;

	for (int i = 0; i < dim; i++)
	{
		const double *row = &arm->a_inv[i * dim];
		double		ax = 0,
					ab = 0;

		for (int j = 0; j < dim; j++)
		{
			ax += row[j] * x[j];
			ab += row[j] * arm->b[j];
		}
		mean += ab * x[i];
		variance += ax * x[i];
	}
	if (estimate)
		*estimate = mean;
	return mean + alpha * sqrt(Max(variance, 0));
}

/* Each arm's score under the policy, for argmax choices and for recommend. */
static double
ArmScore(const Policy *policy, const Arm *arm, double total_weight, const Context *context)
{
	switch (policy->algorithm)
	{
		case ALG_UCB1:
			if (arm->weight <= 0)
				return INFINITY;
			return arm->mean + policy->c * sqrt(2 * log(total_weight) / arm->weight);
		case ALG_LINUCB:
			return LinUcbScore(arm, context->features, policy->dim, policy->alpha, NULL);
		default:
			return arm->weight > 0 ? arm->mean : 0;
	}
}

/*
 * The arms with the largest score: their number, and one of them chosen
 * uniformly at random (reservoir sampling over the ties).
 */
static int
ArgMax(const double *score, int n, int *ties)
{
	gsl_rng    *rng = BanditRng();
	int			best = -1;

	*ties = 0;
	for (int i = 0; i < n; i++)
	{
		if (best < 0 || score[i] > score[best])
		{
			best = i;
			*ties = 1;
		}
		else if (score[i] == score[best] && gsl_rng_uniform_int(rng, ++(*ties)) == 0)
			best = i;
	}
	return best;
}

/* P(theta_i is the largest) for the arms' Beta posteriors. */
static double *
ArmsProbBest(const Arm *arms, int n)
{
	double	   *alpha = palloc(sizeof(double) * n);
	double	   *beta = palloc(sizeof(double) * n);
	double	   *prob = palloc(sizeof(double) * n);

	for (int i = 0; i < n; i++)
	{
		alpha[i] = arms[i].alpha;
		beta[i] = arms[i].beta;
	}
	BetaProbBest(alpha, beta, n, prob);
	return prob;
}

/* The policy's choice among the arms, and the probability it had. */
static int
ChooseArm(const Policy *policy, const Arm *arms, int n, const Context *context, double *propensity)
{
	gsl_rng    *rng = BanditRng();
	double	   *score = palloc(sizeof(double) * n);
	double		total_weight = 0;
	int			chosen,
				ties;

	for (int i = 0; i < n; i++)
		total_weight += arms[i].weight;

	switch (policy->algorithm)
	{
		case ALG_THOMPSON:
			for (int i = 0; i < n; i++)
				score[i] = gsl_ran_beta(rng, arms[i].alpha, arms[i].beta);
			chosen = ArgMax(score, n, &ties);
			/* exactly the probability of the draw's winner: P(theta_i is the largest) */
			*propensity = ArmsProbBest(arms, n)[chosen];
			return chosen;
		case ALG_EPSILON_GREEDY:
			{
				double		epsilon = Max(policy->min_epsilon,
										  policy->epsilon * pow(policy->epsilon_decay, (double) policy->decisions));
				int			greedy;

				for (int i = 0; i < n; i++)
					score[i] = ArmScore(policy, &arms[i], total_weight, context);
				greedy = ArgMax(score, n, &ties);
				chosen = gsl_rng_uniform(rng) < epsilon ? (int) gsl_rng_uniform_int(rng, n) : greedy;
				*propensity = epsilon / n + (score[chosen] == score[greedy] ? (1 - epsilon) / ties : 0);
				return chosen;
			}
		case ALG_SOFTMAX:
			{
				double		top = -INFINITY,
							total = 0,
							u;

				for (int i = 0; i < n; i++)
				{
					score[i] = ArmScore(policy, &arms[i], total_weight, context) / policy->temperature;
					top = Max(top, score[i]);
				}
				for (int i = 0; i < n; i++)
				{
					score[i] = exp(score[i] - top);
					total += score[i];
				}
				u = gsl_rng_uniform(rng) * total;
				for (chosen = 0; chosen < n - 1 && u >= score[chosen]; chosen++)
					u -= score[chosen];
				*propensity = score[chosen] / total;
				return chosen;
			}
		default:
			/* UCB1 and LinUCB are deterministic but for ties */
			for (int i = 0; i < n; i++)
				score[i] = ArmScore(policy, &arms[i], total_weight, context);
			chosen = ArgMax(score, n, &ties);
			*propensity = 1.0 / ties;
			return chosen;
	}
}

/* Returns one row from a function declared RETURNS TABLE. */
static Datum
ReturnRows(FunctionCallInfo fcinfo, int nrows, int ncolumns, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	for (int r = 0; r < nrows; r++)
		tuplestore_putvalues(store, tupdesc, values + r * ncolumns, nulls + r * ncolumns);
	MemoryContextSwitchTo(old);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(bandit_choose);

/*
 * choose(policy, context): the arm to serve, logged as a decision.  Shadow
 * mode serves the default arm and logs the policy's own choice beside it.
 */
Datum
bandit_choose(PG_FUNCTION_ARGS)
{
	int			nest;
	char	   *name;
	Jsonb	   *json = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	Policy		policy;
	Context		context;
	const char *served;
	const char *policy_arm = NULL;
	double		propensity = 1,
				policy_propensity = 0;
	Datum		args[7];
	char		arg_nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	bool		isnull;
	int64		decision_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("policy must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	nest = SpiBegin();
	PreparePlans();
	LoadPolicy(name, &policy);
	ParseContext(json, &policy, &context);
	served = policy.default_arm;
	if (policy.mode != MODE_OFF)
	{
		int			n;
		Arm		   *arms = LoadArms(&policy, &context, &n);

		/* when no arm fits the budget, the default arm is served */
		if (n > 0)
		{
			int			chosen;

			if (policy.algorithm == ALG_EPSILON_GREEDY && policy.epsilon_decay != 1)
				CountDecision(&policy);
			chosen = ChooseArm(&policy, arms, n, &context, &policy_propensity);

			policy_arm = arms[chosen].name;
			if (policy.mode == MODE_ACTIVE)
			{
				served = policy_arm;
				propensity = policy_propensity;
			}
		}
	}

	args[0] = CStringGetTextDatum(policy.name);
	args[1] = CStringGetTextDatum(served);
	args[2] = Float8GetDatum(propensity);
	args[3] = policy_arm ? CStringGetTextDatum(policy_arm) : (Datum) 0;
	arg_nulls[3] = policy_arm ? ' ' : 'n';
	args[4] = Float8GetDatum(policy_propensity);
	arg_nulls[4] = policy_arm ? ' ' : 'n';
	args[5] = CStringGetTextDatum(policy.mode == MODE_ACTIVE ? "active" :
								  policy.mode == MODE_SHADOW ? "shadow" : "off");
	args[6] = json ? JsonbPGetDatum(json) : (Datum) 0;
	arg_nulls[6] = json ? ' ' : 'n';
	if (SPI_execute_plan(plan_insert_decision, args, arg_nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "logging the decision failed");
	decision_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SpiEnd(nest);

	values[0] = Int64GetDatum(decision_id);
	values[1] = CStringGetTextDatum(served);
	values[2] = Float8GetDatum(propensity);
	return ReturnRows(fcinfo, 1, 3, values, nulls);
}

/* A reward must be finite; Thompson sampling learns from rewards in [0, 1]. */
static void
CheckReward(const Policy *policy, double reward)
{
	CheckFinite(reward, "reward");
	if (policy->algorithm == ALG_THOMPSON && (reward < 0 || reward > 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("reward must be between 0 and 1 for thompson policy \"%s\", got %g",
						policy->name, reward)));
}

/*
 * LinUCB learning: A += x x' through Sherman-Morrison on A^-1, kept
 * symmetric; b += r x.  Discounting scales A (so A^-1 by 1/discount) and b.
 */
static void
LinUcbLearn(const Policy *policy, const char *arm, double reward, const double *x)
{
	int			d = policy->dim;
	Datum		key[2] = {CStringGetTextDatum(policy->name), CStringGetTextDatum(arm)};
	Datum		args[6];
	double	   *a_inv,
			   *b,
			   *ax = palloc(sizeof(double) * d);
	double		denominator = 1;
	Datum	   *a_datums = palloc(sizeof(Datum) * d * d);
	Datum	   *b_datums = palloc(sizeof(Datum) * d);
	RowVersion	version;
	const LinUcbState *cached;

	LinUcbCacheTrim();
	if (SPI_execute_plan(plan_lock_linucb_arm, key, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading a LinUCB arm failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("arm \"%s\" does not exist in policy \"%s\"", arm, policy->name)));
	version = TupleRowVersion(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	cached = LinUcbCacheLookup(&version, d);
	if (cached != NULL)
	{
		a_inv = palloc(sizeof(double) * d * d);
		b = palloc(sizeof(double) * d);
		memcpy(a_inv, cached->a_inv, sizeof(double) * d * d);
		memcpy(b, cached->b, sizeof(double) * d);
	}
	else
	{
		a_inv = TupleVector(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, d * d, "a_inv");
		b = TupleVector(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, d, "b");
	}
	for (int i = 0; i < d * d; i++)
		a_inv[i] /= policy->discount;
	for (int i = 0; i < d; i++)
	{
		ax[i] = 0;
		for (int j = 0; j < d; j++)
			ax[i] += a_inv[i * d + j] * x[j];
		denominator += x[i] * ax[i];
	}
	for (int i = 0; i < d; i++)
		for (int j = 0; j <= i; j++)
		{
			double		v = (a_inv[i * d + j] + a_inv[j * d + i]) / 2 - ax[i] * ax[j] / denominator;

			a_inv[i * d + j] = a_inv[j * d + i] = v;
		}
	for (int i = 0; i < d; i++)
		b[i] = policy->discount * b[i] + reward * x[i];
	for (int i = 0; i < d * d; i++)
		a_datums[i] = Float8GetDatum(a_inv[i]);
	for (int i = 0; i < d; i++)
		b_datums[i] = Float8GetDatum(b[i]);
	args[0] = key[0];
	args[1] = key[1];
	args[2] = Float8GetDatum(policy->discount);
	args[3] = Float8GetDatum(reward);
	args[4] = PointerGetDatum(construct_array(a_datums, d * d, FLOAT8OID, sizeof(float8),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[5] = PointerGetDatum(construct_array(b_datums, d, FLOAT8OID, sizeof(float8),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(plan_update_linucb_arm, args, NULL, false, 1) != SPI_OK_UPDATE_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "updating a LinUCB arm failed");
	/* the next choose reads the new version from here */
	version = TupleRowVersion(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	LinUcbCacheRemember(&version, d, a_inv, b);
}

/* Credits one reward to one arm of a loaded policy (inside SPI). */
static void
LearnReward(const Policy *policy, const char *arm, double reward, Jsonb *context_json)
{
	Datum		args[7];

	CheckReward(policy, reward);
	if (policy->algorithm == ALG_LINUCB)
	{
		Context		context;

		if (context_json == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("linucb policy \"%s\" learns from the context of a decision: reward by decision_id",
							policy->name)));
		ParseContext(context_json, policy, &context);
		LinUcbLearn(policy, arm, reward, context.features);
		return;
	}
	args[0] = CStringGetTextDatum(policy->name);
	args[1] = CStringGetTextDatum(arm);
	args[2] = Float8GetDatum(reward);
	args[3] = Float8GetDatum(policy->prior_alpha);
	args[4] = Float8GetDatum(policy->prior_beta);
	args[5] = Float8GetDatum(policy->discount);
	args[6] = BoolGetDatum(reward >= 0 && reward <= 1);
	if (SPI_execute_plan(plan_update_arm, args, NULL, false, 1) != SPI_OK_UPDATE)
		elog(ERROR, "updating an arm failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("arm \"%s\" does not exist in policy \"%s\"", arm, policy->name)));
}

/* Credits a logged decision exactly once (inside SPI). */
static void
RewardDecision(int64 decision_id, double reward)
{
	Datum		args[2] = {Int64GetDatum(decision_id), Float8GetDatum(reward)};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		context;
	Policy		policy;
	char	   *policy_name,
			   *arm;

	CheckFinite(reward, "reward");
	if (SPI_execute_plan(plan_reward_decision, args, NULL, false, 1) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "rewarding decision " INT64_FORMAT " failed", decision_id);
	if (SPI_processed == 0)
	{
		if (SPI_execute_plan(plan_decision_state, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading decision " INT64_FORMAT " failed", decision_id);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("decision " INT64_FORMAT " does not exist", decision_id)));
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("decision " INT64_FORMAT " was already rewarded", decision_id),
				 errhint("A decision takes exactly one reward.")));
	}
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	policy_name = TupleText(tuple, desc, 1);
	arm = TupleText(tuple, desc, 2);
	context = SPI_getbinval(tuple, desc, 3, &isnull);
	LoadPolicy(policy_name, &policy);
	LearnReward(&policy, arm, reward, isnull ? NULL : DatumGetJsonbPCopy(context));
}

PG_FUNCTION_INFO_V1(bandit_reward_decision);

/* reward(decision_id, reward) */
Datum
bandit_reward_decision(PG_FUNCTION_ARGS)
{
	int			nest;
	nest = SpiBegin();
	PreparePlans();
	RewardDecision(PG_GETARG_INT64(0), PG_GETARG_FLOAT8(1));
	SpiEnd(nest);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(bandit_reward_arm);

/* reward(policy, arm, reward): credit an arm without a logged decision. */
Datum
bandit_reward_arm(PG_FUNCTION_ARGS)
{
	int			nest;
	Policy		policy;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *arm = text_to_cstring(PG_GETARG_TEXT_PP(1));

	nest = SpiBegin();
	PreparePlans();
	LoadPolicy(name, &policy);
	LearnReward(&policy, arm, PG_GETARG_FLOAT8(2), NULL);
	SpiEnd(nest);
	PG_RETURN_VOID();
}

typedef struct PendingReward
{
	int64		decision_id;
	double		reward;
	int			order;			/* position in (policy, arm, id) order */
} PendingReward;

static int
CompareDecisionIds(const void *a, const void *b)
{
	int64		x = ((const PendingReward *) a)->decision_id;
	int64		y = ((const PendingReward *) b)->decision_id;

	return (x > y) - (x < y);
}

static int
CompareOrder(const void *a, const void *b)
{
	return ((const PendingReward *) a)->order - ((const PendingReward *) b)->order;
}

PG_FUNCTION_INFO_V1(bandit_reward_batch);

/*
 * reward(decision_ids[], rewards[]): many decisions in one statement, in
 * decision order, so that concurrent batches lock rows in the same order;
 * any bad element fails the whole statement and changes nothing.
 */
Datum
bandit_reward_batch(PG_FUNCTION_ARGS)
{
	int			nest;
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(0);
	int			n_rewards,
				n_ids;
	double	   *rewards = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(1), "rewards", &n_rewards);
	Datum	   *id_datums;
	bool	   *id_nulls;
	PendingReward *pending;

	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("decision_ids must be a one-dimensional array")));
	deconstruct_array(ids, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &id_datums, &id_nulls, &n_ids);
	if (n_ids != n_rewards)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("decision_ids and rewards must have the same length, got %d and %d", n_ids, n_rewards)));
	pending = palloc(sizeof(PendingReward) * Max(n_ids, 1));
	for (int i = 0; i < n_ids; i++)
	{
		if (id_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("decision_ids must not contain NULL elements")));
		pending[i].decision_id = DatumGetInt64(id_datums[i]);
		pending[i].reward = rewards[i];
	}
	qsort(pending, n_ids, sizeof(PendingReward), CompareDecisionIds);
	nest = SpiBegin();
	PreparePlans();

	/*
	 * Credit in (policy, arm) order, so that concurrent batches lock arm rows
	 * in the same order and cannot deadlock.  Unknown ids sort first and fail.
	 */
	for (int i = 0; i < n_ids; i++)
		pending[i].order = -1;
	if (SPI_execute_plan(plan_decision_order, (Datum[]) {PointerGetDatum(ids)}, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading decisions failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		PendingReward key;
		PendingReward *match;

		key.decision_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		match = bsearch(&key, pending, n_ids, sizeof(PendingReward), CompareDecisionIds);
		/* duplicates in the batch: all copies sort together; the second fails */
		while (match > pending && match[-1].decision_id == key.decision_id)
			match--;
		for (; match < pending + n_ids && match->decision_id == key.decision_id; match++)
			match->order = (int) r;
	}
	qsort(pending, n_ids, sizeof(PendingReward), CompareOrder);
	for (int i = 0; i < n_ids; i++)
	{
		RewardDecision(pending[i].decision_id, pending[i].reward);
		CHECK_FOR_INTERRUPTS();
	}
	SpiEnd(nest);
	PG_RETURN_INT32(n_ids);
}

typedef struct Ranked
{
	const char *arm;
	double		score;
} Ranked;

static int
CompareRanked(const void *a, const void *b)
{
	const Ranked *x = a,
			   *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return strcmp(x->arm, y->arm);
}

PG_FUNCTION_INFO_V1(bandit_recommend);

/*
 * recommend(policy, k, context): the top k arms that fit the budget, ranked
 * by what the policy values, without logging a decision.  Thompson ranks by
 * the probability to be best (exact, so the ranking is reproducible), UCB1
 * and LinUCB by their upper confidence bounds, epsilon-greedy by the mean,
 * softmax by its choice probability.
 */
Datum
bandit_recommend(PG_FUNCTION_ARGS)
{
	int			nest;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		k = PG_GETARG_INT32(1);
	Jsonb	   *json = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Policy		policy;
	Context		context;
	Arm		   *arms;
	Ranked	   *ranked;
	int			n;
	double		total_weight = 0;
	Datum	   *values;
	bool	   *nulls;

	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("k must be at least 1, got %d", k)));
	nest = SpiBegin();
	PreparePlans();
	LoadPolicy(name, &policy);
	ParseContext(json, &policy, &context);
	arms = LoadArms(&policy, &context, &n);
	ranked = palloc(sizeof(Ranked) * Max(n, 1));
	for (int i = 0; i < n; i++)
		total_weight += arms[i].weight;
	if (policy.algorithm == ALG_THOMPSON && n > 0)
	{
		double	   *prob = ArmsProbBest(arms, n);

		for (int i = 0; i < n; i++)
			ranked[i].score = prob[i];
	}
	else
	{
		double		top = -INFINITY,
					total = 0;

		for (int i = 0; i < n; i++)
		{
			ranked[i].score = ArmScore(&policy, &arms[i], total_weight, &context);
			top = Max(top, ranked[i].score);
		}
		if (policy.algorithm == ALG_SOFTMAX)
		{
			for (int i = 0; i < n; i++)
				total += (ranked[i].score = exp((ranked[i].score - top) / policy.temperature));
			for (int i = 0; i < n; i++)
				ranked[i].score /= total;
		}
	}
	for (int i = 0; i < n; i++)
		ranked[i].arm = arms[i].name;
	qsort(ranked, n, sizeof(Ranked), CompareRanked);
	n = Min(n, k);
	values = palloc(sizeof(Datum) * 3 * Max(n, 1));
	nulls = palloc0(sizeof(bool) * 3 * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		values[3 * i] = CStringGetTextDatum(ranked[i].arm);
		values[3 * i + 1] = Float8GetDatum(ranked[i].score);
		values[3 * i + 2] = Int32GetDatum(i + 1);
	}
	SpiEnd(nest);
	return ReturnRows(fcinfo, n, 3, values, nulls);
}
