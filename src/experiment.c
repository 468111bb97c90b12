/*
 * src/experiment.c
 *
 * The hot path of experiments, assignment of units to variants, and the
 * small statistics analyze needs beside the tests of summary.c and
 * contingency.c: Wilson intervals, normal quantiles, Holm's adjustment.
 * Everything else (lifecycle, metrics, analyze, decide) is SQL in
 * experiment.sql.
 *
 * A unit's variant is a function of the experiment's salt and the unit id
 * alone, so any program can recompute it:
 *   u = fmix64(fnv1a64(salt || 0x1f || unit_id)) / 2^64 (top 53 bits),
 * and the variant is the first whose cumulative allocation exceeds u.
 * Stratified assignment instead deals each stratum's units, in arrival
 * order, from blocks holding every variant in proportion to its
 * allocation, each block shuffled by a generator seeded the same way from
 * (salt, stratum, block number).
 */
#include "bandit.h"
#include "numeric.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include <gsl/gsl_cdf.h>

#define FNV_OFFSET UINT64CONST(14695981039346656037)
#define FNV_PRIME UINT64CONST(1099511628211)
#define SEPARATOR 0x1f

/* Largest block a stratified allocation is dealt from. */
#define MAX_BLOCK 1000

static SPIPlanPtr plan_experiment,
			plan_variants,
			plan_insert_assignment,
			plan_find_assignment,
			plan_count_stratum,
			plan_uncount_stratum;

/* Prepares this module's plans once per backend (inside SPI). */
static void
PreparePlans(void)
{
	Oid			text1[] = {TEXTOID};
	Oid			text2[] = {TEXTOID, TEXTOID};
	Oid			text4[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	if (plan_uncount_stratum != NULL)
		return;
	plan_experiment = PrepareSafely(
		"SELECT status, salt FROM bandit.experiment WHERE name = $1", 1, text1);
	plan_variants = PrepareSafely(
		"SELECT variant, allocation FROM bandit.variant WHERE experiment = $1 ORDER BY position", 1, text1);
	plan_insert_assignment = PrepareSafely(
		"INSERT INTO bandit.assignment (experiment, unit_id, variant, stratum) VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (experiment, unit_id) DO NOTHING RETURNING variant", 4, text4);
	plan_find_assignment = PrepareSafely(
		"SELECT variant FROM bandit.assignment WHERE experiment = $1 AND unit_id = $2", 2, text2);
	plan_count_stratum = PrepareSafely(
		"INSERT INTO bandit.stratum (experiment, stratum, assigned) VALUES ($1, $2, 1)"
		" ON CONFLICT (experiment, stratum) DO UPDATE SET assigned = bandit.stratum.assigned + 1"
		" RETURNING assigned - 1", 2, text2);
	plan_uncount_stratum = PrepareSafely(
		"UPDATE bandit.stratum SET assigned = assigned - 1 WHERE experiment = $1 AND stratum = $2", 2, text2);
}

/* FNV-1a over the pieces, joined by SEPARATOR, then murmur3's finalizer. */
static uint64
MixedHash(const char *const *pieces, int npieces)
{
	uint64		h = FNV_OFFSET;

	for (int i = 0; i < npieces; i++)
	{
		if (i > 0)
			h = (h ^ SEPARATOR) * FNV_PRIME;
		for (const unsigned char *c = (const unsigned char *) pieces[i]; *c; c++)
			h = (h ^ *c) * FNV_PRIME;
	}
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/* The top 53 bits of h as a number in [0, 1). */
static inline double
UnitInterval(uint64 h)
{
	return (double) (h >> 11) * 0x1.0p-53;
}

/* An experiment as assignment needs it (inside SPI). */
typedef struct Design
{
	const char *name;
	char	   *salt;
	int			nvariants;
	char	  **variants;
	double	   *allocation;
} Design;

/*
 * Reads a running experiment's design for assignment: unknown is 42704, a
 * caller without use on it 42501, not running 55000.
 */
static void
LoadDesign(const char *name, Design *design)
{
	Datum		arg = CStringGetTextDatum(name);
	char	   *status;
	bool		isnull;

	RequirePrivilege("experiment", name, "use", false);
	if (SPI_execute_plan(plan_experiment, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading experiment \"%s\" failed", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("experiment \"%s\" does not exist", name)));
	status = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (strcmp(status, "running") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("experiment \"%s\" is %s: units are assigned only while it is running", name, status),
				 strcmp(status, "draft") == 0 ? errhint("Start it with bandit.start_experiment.") : 0));
	design->name = name;
	design->salt = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	if (SPI_execute_plan(plan_variants, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the variants of experiment \"%s\" failed", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("experiment \"%s\" has no variants", name)));
	design->nvariants = SPI_processed;
	design->variants = palloc(sizeof(char *) * design->nvariants);
	design->allocation = palloc(sizeof(double) * design->nvariants);
	for (int i = 0; i < design->nvariants; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];

		design->variants[i] = TextDatumGetCString(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull));
		design->allocation[i] = DatumGetFloat8(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
	}
}

/* The variant whose share of the cumulative allocation holds u. */
static int
VariantAt(const Design *design, double u)
{
	double		cumulative = 0;

	for (int i = 0; i < design->nvariants - 1; i++)
	{
		cumulative += design->allocation[i];
		if (u < cumulative)
			return i;
	}
	return design->nvariants - 1;
}

/*
 * How many of each variant a block of a stratified assignment holds: the
 * smallest block in which every allocation is a whole count, else
 * MAX_BLOCK / 10 slots shared by largest remainders.  Returns the size.
 */
static int
BlockCounts(const Design *design, int *counts)
{
	int			size;
	int			dealt = 0;

	for (size = 1; size <= MAX_BLOCK; size++)
	{
		bool		whole = true;

		CHECK_FOR_INTERRUPTS();

		for (int i = 0; i < design->nvariants && whole; i++)
			whole = fabs(design->allocation[i] * size - rint(design->allocation[i] * size)) < 1e-9;
		if (whole)
			break;
	}
	if (size > MAX_BLOCK)
		size = MAX_BLOCK / 10;
	for (int i = 0; i < design->nvariants; i++)
	{
		counts[i] = (int) floor(design->allocation[i] * size + 1e-9);
		dealt += counts[i];
	}
	while (dealt < size)
	{
		int			best = 0;
		double		best_remainder = -1;

		for (int i = 0; i < design->nvariants; i++)
		{
			double		remainder = design->allocation[i] * size - counts[i];

			if (remainder > best_remainder)
			{
				best = i;
				best_remainder = remainder;
			}
		}
		counts[best]++;
		dealt++;
	}
	return size;
}

/* The variant of the k-th unit (from 0) of a stratum: its slot in a shuffled block. */
static int
StratifiedVariant(const Design *design, const char *stratum, int64 k)
{
	int		   *counts = palloc(sizeof(int) * design->nvariants);
	int			size = BlockCounts(design, counts);
	int		   *block = palloc(sizeof(int) * size);
	char		number[32];
	const char *pieces[3] = {design->salt, stratum, number};
	uint64		state;
	int			filled = 0;

	snprintf(number, sizeof(number), INT64_FORMAT, k / size);
	state = MixedHash(pieces, 3);
	for (int i = 0; i < design->nvariants; i++)
		for (int c = 0; c < counts[i]; c++)
			block[filled++] = i;
	/* Fisher-Yates, from the top */
	for (int i = size - 1; i > 0; i--)
	{
		int			j = (int) (UnitInterval(SplitMix64(&state)) * (i + 1));
		int			swap = block[i];

		block[i] = block[j];
		block[j] = swap;
	}
	return block[k % size];
}

/* A text argument that must not be NULL (22004). */
static char *
TextArgument(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return TextDatumGetCString(PG_GETARG_DATUM(n));
}

/* The first column of SPI's first row, a text, copied into context (it outlives SPI). */
static text *
ResultText(MemoryContext context)
{
	bool		isnull;
	Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	MemoryContext spi = MemoryContextSwitchTo(context);
	text	   *copy = DatumGetTextPCopy(value);

	MemoryContextSwitchTo(spi);
	return copy;
}

/*
 * Assigns a unit (stratum NULL: by its hash; else dealt from the stratum's
 * blocks) unless it already is, and returns its variant, allocated in the
 * caller's memory context.
 *
 * A stratified unit takes the stratum's next slot under the stratum row's
 * lock (the counter's update), then is inserted; if another transaction
 * assigned it meanwhile (in any stratum), the insert does nothing and the
 * slot is given back under the same lock, so the counter always equals the
 * stratum's assignments.
 */
static text *
Assign(const char *experiment, const char *unit_id, const char *stratum)
{
	MemoryContext caller = CurrentMemoryContext;
	int			nest = SpiBegin();
	Design		design;
	Datum		args[4];
	Datum		stratum_args[2];
	char		nulls[4] = {' ', ' ', ' ', stratum ? ' ' : 'n'};
	bool		isnull;
	int			chosen;
	text	   *variant;

	PreparePlans();
	LoadDesign(experiment, &design);
	args[0] = CStringGetTextDatum(experiment);
	args[1] = CStringGetTextDatum(unit_id);
	args[3] = (Datum) 0;
	if (stratum == NULL)
	{
		const char *pieces[2] = {design.salt, unit_id};

		chosen = VariantAt(&design, UnitInterval(MixedHash(pieces, 2)));
	}
	else
	{
		/* an assigned unit takes no new slot of its stratum */
		if (SPI_execute_plan(plan_find_assignment, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading an assignment failed");
		if (SPI_processed == 1)
		{
			variant = ResultText(caller);
			SpiEnd(nest);
			return variant;
		}
		args[3] = stratum_args[1] = CStringGetTextDatum(stratum);
		stratum_args[0] = args[0];
		if (SPI_execute_plan(plan_count_stratum, stratum_args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "counting the stratum's units failed");
		chosen = StratifiedVariant(&design, stratum,
								   DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	args[2] = CStringGetTextDatum(design.variants[chosen]);
	if (SPI_execute_plan(plan_insert_assignment, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "storing an assignment failed");
	if (SPI_processed == 0)
	{
		/* assigned before: its stored variant stands, and it took no slot */
		if (stratum != NULL &&
			SPI_execute_plan(plan_uncount_stratum, stratum_args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "counting the stratum's units failed");
		if (SPI_execute_plan(plan_find_assignment, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading an assignment failed");
		/* deleted since the insert met it (drop_experiment) */
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("the assignment of unit \"%s\" changed concurrently", unit_id),
					 errhint("Retry the transaction.")));
	}
	variant = ResultText(caller);
	SpiEnd(nest);
	return variant;
}

PG_FUNCTION_INFO_V1(bandit_assign);

/* assign(experiment, unit_id): the unit's variant, hashed and stored. */
Datum
bandit_assign(PG_FUNCTION_ARGS)
{
	char	   *experiment = TextArgument(fcinfo, 0, "experiment");
	char	   *unit_id = TextArgument(fcinfo, 1, "unit_id");

	PG_RETURN_TEXT_P(Assign(experiment, unit_id, NULL));
}

PG_FUNCTION_INFO_V1(bandit_assign_stratified);

/* assign(experiment, unit_id, stratum): balanced within each stratum. */
Datum
bandit_assign_stratified(PG_FUNCTION_ARGS)
{
	char	   *experiment = TextArgument(fcinfo, 0, "experiment");
	char	   *unit_id = TextArgument(fcinfo, 1, "unit_id");
	char	   *stratum = TextArgument(fcinfo, 2, "stratum");

	PG_RETURN_TEXT_P(Assign(experiment, unit_id, stratum));
}

PG_FUNCTION_INFO_V1(bandit_assignment_point);

/* The point in [0, 1) that a unit id hashes to under a salt. */
Datum
bandit_assignment_point(PG_FUNCTION_ARGS)
{
	const char *pieces[2] = {text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1))};

	PG_RETURN_FLOAT8(UnitInterval(MixedHash(pieces, 2)));
}

PG_FUNCTION_INFO_V1(bandit_normal_quantile);

/* The standard normal quantile, = scipy.stats.norm.ppf. */
Datum
bandit_normal_quantile(PG_FUNCTION_ARGS)
{
	double		p = CheckRange(PG_GETARG_FLOAT8(0), 0, 1, "p");

	PG_RETURN_FLOAT8(p == 0 ? -INFINITY : p == 1 ? INFINITY : gsl_cdf_ugaussian_Pinv(p));
}

PG_FUNCTION_INFO_V1(bandit_proportion_interval);

/*
 * Wilson's score interval for a proportion, = statsmodels
 * proportion_confint(successes, n, 1 - level, method='wilson').
 */
Datum
bandit_proportion_interval(PG_FUNCTION_ARGS)
{
	double		successes = CheckFinite(PG_GETARG_FLOAT8(0), "successes");
	double		n = CheckPositive(PG_GETARG_FLOAT8(1), "n");
	double		level = CheckOpenRange(PG_GETARG_FLOAT8(2), 0, 1, "level");
	double		z = gsl_cdf_ugaussian_Qinv((1 - level) / 2);
	double		p = CheckRange(successes, 0, n, "successes") / n;
	double		z2n = z * z / n;
	double		center = (p + z2n / 2) / (1 + z2n);
	double		half = z * sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n);
	Datum		values[2];
	bool		nulls[2] = {false, false};

	/* z^2 / n overflows for a subnormal n */
	if (!isfinite(center - half) || !isfinite(center + half))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("n is too small for a proportion interval, got %s", ShowDouble(n))));
	values[0] = Float8GetDatum(center - half);
	values[1] = Float8GetDatum(center + half);

	return MakeResultTuple(fcinfo, values, nulls);
}

/* Sorts indices by their p-value, ties in input order. */
static const double *holm_p;

static int
CompareByP(const void *a, const void *b)
{
	int			i = *(const int *) a,
				j = *(const int *) b;

	if (holm_p[i] != holm_p[j])
		return holm_p[i] < holm_p[j] ? -1 : 1;
	return i - j;
}

PG_FUNCTION_INFO_V1(bandit_holm);

/*
 * Holm's step-down adjustment, = statsmodels multipletests(p,
 * method='holm')[1]: the k-th smallest of m p-values becomes the running
 * maximum of (m - j + 1) p_(j), j <= k, capped at 1.
 */
Datum
bandit_holm(PG_FUNCTION_ARGS)
{
	int			m;
	double	   *p = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(0), "p", &m);
	int		   *order = palloc(sizeof(int) * Max(m, 1));
	Datum	   *adjusted = palloc(sizeof(Datum) * Max(m, 1));
	double		running = 0;

	for (int i = 0; i < m; i++)
	{
		CheckRange(p[i], 0, 1, "p-value");
		order[i] = i;
	}
	holm_p = p;
	qsort(order, m, sizeof(int), CompareByP);
	for (int k = 0; k < m; k++)
	{
		running = Max(running, Min(1.0, (m - k) * p[order[k]]));
		adjusted[order[k]] = Float8GetDatum(running);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(adjusted, m, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
