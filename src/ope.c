/*
 * src/ope.c
 *
 * Off-policy evaluation: the value of a target policy estimated from logs
 * of another (IPS, self-normalized IPS, doubly robust), with a standard
 * error and a normal 95% confidence interval.  States are float8 arrays of
 * mergeable moments (Welford updates, Chan merges), so the aggregates run
 * in parallel and the states can be shipped.
 */
#include "bandit.h"
#include "numeric.h"
#include "summary.h"

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"

#include "utils/array.h"

#define Z_95 1.959963984540054	/* scipy.stats.norm.ppf(0.975) */

/* IPS and DR: count, mean and sum of squared deviations of the per-row term. */
#define MOMENTS_N 0
#define MOMENTS_MEAN 1
#define MOMENTS_M2 2
#define MOMENTS_LENGTH 3

/*
 * SNIPS: count; sum of w and the w-weighted mean of r (V = that mean); sum
 * of w^2, the w^2-weighted mean of r and the w^2-weighted squared deviations
 * from it.  Then sum w^2 (r - V)^2 = m2 + (sum w^2) (mean_w2 - V)^2, a sum
 * of non-negative terms: no cancellation, unlike expanding the square into
 * sum w^2 r^2 - 2 V sum w^2 r + V^2 sum w^2.
 */
#define SNIPS_N 0
#define SNIPS_W 1
#define SNIPS_V 2
#define SNIPS_W2 3
#define SNIPS_MEAN_W2 4
#define SNIPS_M2_W2 5
#define SNIPS_LENGTH 6

/* The importance weight target / logging, checked. */
static double
ImportanceWeight(double target, double logging)
{
	double		w;

	CheckRange(target, 0, 1, "target_propensity");
	if (!(logging > 0 && logging <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("logging_propensity must be greater than 0 and at most 1, got %s", ShowDouble(logging))));
	w = target / logging;
	if (!isfinite(w))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("importance weight target_propensity / logging_propensity overflows: %s / %s",
						ShowDouble(target), ShowDouble(logging))));
	return w;
}

/* A per-row term that overflowed is an error, not an infinite estimate. */
static double
CheckTerm(double x, const char *what)
{
	if (!isfinite(x))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s overflows", what)));
	return x;
}

/* Adds x to count, mean and squared deviations (Welford). */
static void
OpeMomentsAdd(double *state, double x, const char *aggregate)
{
	state[MOMENTS_N] = StateCountAdd(state[MOMENTS_N], 1, aggregate);
	MomentsAdd(&state[MOMENTS_MEAN], NULL, &state[MOMENTS_M2], x, 1, state[MOMENTS_N]);
	CheckMoments(state[MOMENTS_MEAN], state[MOMENTS_M2], "The mean or sum of squared deviations of the terms");
}

/* Adds r with weight u to a weighted mean and squared deviations (West). */
static void
WeightedAdd(double *sum, double *mean, double *m2, double r, double u)
{
	if (u == 0)
		return;
	*sum += u;
	MomentsAdd(mean, NULL, m2, r, u, *sum);
	if (!isfinite(*sum))
		StatisticOverflow("A sum of importance weights");
	CheckMoments(*mean, m2 ? *m2 : 0, "A weighted moment of the rewards");
}

/* Merges one weighted mean and squared deviations into another (Chan). */
static void
WeightedMerge(double *sum, double *mean, double *m2, double sum_b, double mean_b, double m2_b)
{
	if (sum_b == 0)
		return;
	if (*sum == 0)
	{
		*sum = sum_b;
		*mean = mean_b;
		if (m2 != NULL)
			*m2 = m2_b;
		return;
	}
	MomentsMerge(mean, NULL, m2, *sum, mean_b, 0, m2_b, sum_b);
	*sum += sum_b;
	if (!isfinite(*sum))
		StatisticOverflow("A sum of importance weights");
	CheckMoments(*mean, m2 ? *m2 : 0, "A merged weighted moment of the rewards");
}

/*
 * The state of ips and dr, checked (XX001): an exact count, finite moments,
 * none for no rows and no spread for one.
 */
static double *
MomentsState(ArrayType *array)
{
	double	   *s = Float8State(array, MOMENTS_LENGTH, "ope");

	if (!IsStateCount(s[MOMENTS_N]) || !isfinite(s[MOMENTS_MEAN]) ||
		!isfinite(s[MOMENTS_M2]) || s[MOMENTS_M2] < 0 ||
		(s[MOMENTS_N] == 0 && (s[MOMENTS_MEAN] != 0 || s[MOMENTS_M2] != 0)) ||
		(s[MOMENTS_N] == 1 && s[MOMENTS_M2] != 0))
		CorruptState("ope");
	return s;
}

/*
 * Whether a snips state is one rows could give: an exact count, weights >= 0
 * and finite moments, and nothing but zeros where no weight was seen.
 */
static bool
SnipsValid(const double *s)
{
	for (int i = 0; i < SNIPS_LENGTH; i++)
		if (!isfinite(s[i]))
			return false;
	return !(!IsStateCount(s[SNIPS_N]) || s[SNIPS_W] < 0 || s[SNIPS_W2] < 0 || s[SNIPS_M2_W2] < 0 ||
			 (s[SNIPS_N] == 0 && (s[SNIPS_W] != 0 || s[SNIPS_W2] != 0)) ||
			 (s[SNIPS_W] == 0 && (s[SNIPS_V] != 0 || s[SNIPS_W2] != 0)) ||
			 (s[SNIPS_W2] == 0 && (s[SNIPS_MEAN_W2] != 0 || s[SNIPS_M2_W2] != 0)) ||
			 (s[SNIPS_N] == 1 && s[SNIPS_M2_W2] != 0));
}

/* The state of snips as an array, checked (XX001). */
static double *
SnipsState(ArrayType *array)
{
	double	   *s = Float8State(array, SNIPS_LENGTH, "snips");

	if (!SnipsValid(s))
		CorruptState("snips");
	return s;
}

/* The composite result; a NULL standard error leaves the interval NULL too. */
static Datum
EstimateTuple(FunctionCallInfo fcinfo, double estimate, double se, bool has_se, int64 n)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (has_se && !isfinite(estimate + Z_95 * se))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the estimate or its standard error overflows")));
	values[0] = Float8GetDatum(estimate);
	values[1] = Float8GetDatum(se);
	values[2] = Float8GetDatum(estimate - Z_95 * se);
	values[3] = Float8GetDatum(estimate + Z_95 * se);
	nulls[1] = nulls[2] = nulls[3] = !has_se;
	values[4] = Int64GetDatum(n);
	return MakeResultTuple(fcinfo, values, nulls);
}

PG_FUNCTION_INFO_V1(bandit_ips_accum);

/* Transition of ips: the term w r. */
Datum
bandit_ips_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *state = MomentsState(array);
	double		reward = CheckFinite(PG_GETARG_FLOAT8(1), "reward");
	double		w = ImportanceWeight(PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));

	OpeMomentsAdd(state, CheckTerm(w * reward, "ips: the term w * reward"), "ips");
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_dr_accum);

/* Transition of dr: the term r_hat_target + w (r - r_hat_logged). */
Datum
bandit_dr_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *state = MomentsState(array);
	double		reward = CheckFinite(PG_GETARG_FLOAT8(1), "reward");
	double		w = ImportanceWeight(PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));
	double		hat_logged = CheckFinite(PG_GETARG_FLOAT8(4), "reward_hat_logged");
	double		hat_target = CheckFinite(PG_GETARG_FLOAT8(5), "reward_hat_target");

	OpeMomentsAdd(state, CheckTerm(hat_target + w * (reward - hat_logged),
								   "dr: the term reward_hat_target + w * (reward - reward_hat_logged)"), "dr");
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_ope_moments_combine);

/* Combine of ips and dr: merges counts, means and squared deviations. */
Datum
bandit_ope_moments_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *a = MomentsState(array);
	double	   *b = MomentsState(PG_GETARG_ARRAYTYPE_P(1));

	StateCountAdd(a[MOMENTS_N], b[MOMENTS_N], "ope");
	WeightedMerge(&a[MOMENTS_N], &a[MOMENTS_MEAN], &a[MOMENTS_M2],
				  b[MOMENTS_N], b[MOMENTS_MEAN], b[MOMENTS_M2]);
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_ope_moments_final);

/* Final of ips and dr: the mean of the terms, se = sd / sqrt(n); NULL over no rows. */
Datum
bandit_ope_moments_final(PG_FUNCTION_ARGS)
{
	double	   *state = MomentsState(PG_GETARG_ARRAYTYPE_P(0));
	double		n = state[MOMENTS_N];

	if (n == 0)
		PG_RETURN_NULL();
	return EstimateTuple(fcinfo, state[MOMENTS_MEAN],
						 sqrt(state[MOMENTS_M2] / (n - 1) / n), n >= 2, (int64) n);
}

/* Adds a row to a snips state. */
static void
SnipsAdd(double *state, double reward, double w)
{
	if (!isfinite(w * w))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snips: the square of the importance weight %s overflows", ShowDouble(w))));
	state[SNIPS_N] = StateCountAdd(state[SNIPS_N], 1, "snips");
	WeightedAdd(&state[SNIPS_W], &state[SNIPS_V], NULL, reward, w);
	WeightedAdd(&state[SNIPS_W2], &state[SNIPS_MEAN_W2], &state[SNIPS_M2_W2], reward, w * w);
}

/* Merges snips state b into a. */
static void
SnipsMerge(double *a, const double *b)
{
	a[SNIPS_N] = StateCountAdd(a[SNIPS_N], b[SNIPS_N], "snips");
	WeightedMerge(&a[SNIPS_W], &a[SNIPS_V], NULL, b[SNIPS_W], b[SNIPS_V], 0);
	WeightedMerge(&a[SNIPS_W2], &a[SNIPS_MEAN_W2], &a[SNIPS_M2_W2],
				  b[SNIPS_W2], b[SNIPS_MEAN_W2], b[SNIPS_M2_W2]);
}

/*
 * The snips estimate: V = sum w r / sum w, se = sqrt(sum w^2 (r - V)^2) /
 * sum w.  NULL over no rows; estimate and se NULL when every weight is 0.
 */
static Datum
SnipsEstimate(FunctionCallInfo fcinfo, const double *state)
{
	double		n = state[SNIPS_N],
				v = state[SNIPS_V],
				deviation = state[SNIPS_MEAN_W2] - v;

	if (n == 0)
		PG_RETURN_NULL();
	if (state[SNIPS_W] == 0)
	{
		Datum		values[5] = {0, 0, 0, 0, Int64GetDatum((int64) n)};
		bool		nulls[5] = {true, true, true, true, false};

		return MakeResultTuple(fcinfo, values, nulls);
	}
	return EstimateTuple(fcinfo, v,
						 sqrt(state[SNIPS_M2_W2] + state[SNIPS_W2] * deviation * deviation) / state[SNIPS_W],
						 n >= 2, (int64) n);
}

PG_FUNCTION_INFO_V1(bandit_snips_accum);

/* Transition of snips. */
Datum
bandit_snips_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *state = SnipsState(array);
	double		reward = CheckFinite(PG_GETARG_FLOAT8(1), "reward");
	double		w = ImportanceWeight(PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));

	SnipsAdd(state, reward, w);
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_snips_combine);

/* Combine of snips. */
Datum
bandit_snips_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);

	SnipsMerge(SnipsState(array), SnipsState(PG_GETARG_ARRAYTYPE_P(1)));
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_snips_final);

/* Final of snips. */
Datum
bandit_snips_final(PG_FUNCTION_ARGS)
{
	return SnipsEstimate(fcinfo, SnipsState(PG_GETARG_ARRAYTYPE_P(0)));
}

/*
 * Mergeable states for a coordinator (issue 12): a shard ships the state,
 * the coordinator merges the states (bandit.merge) and finishes them
 * (bandit.estimate).  ips and dr summarize their per-row terms as a
 * bandit.summary; snips has a type of its own, its array state as a struct.
 */

/* The term summary of ips or dr, finished: what ips and dr answer. */
static Datum
TermsEstimate(FunctionCallInfo fcinfo, const Summary *s)
{
	double		n = (double) s->n;

	if (s->n == 0)
		PG_RETURN_NULL();
	return EstimateTuple(fcinfo, s->mean, sqrt(s->m2 / (n - 1) / n), s->n >= 2, s->n);
}

PG_FUNCTION_INFO_V1(bandit_ips_terms_accum);

/* Transition of ips_terms: summarizes w r as ips does. */
Datum
bandit_ips_terms_accum(PG_FUNCTION_ARGS)
{
	Summary    *s = WritableSummary(fcinfo);
	double		reward = CheckFinite(PG_GETARG_FLOAT8(1), "reward");
	double		w = ImportanceWeight(PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));

	SummaryAdd(s, CheckTerm(w * reward, "ips: the term w * reward"));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_dr_terms_accum);

/* Transition of dr_terms: summarizes the dr term. */
Datum
bandit_dr_terms_accum(PG_FUNCTION_ARGS)
{
	Summary    *s = WritableSummary(fcinfo);
	double		reward = CheckFinite(PG_GETARG_FLOAT8(1), "reward");
	double		w = ImportanceWeight(PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));
	double		hat_logged = CheckFinite(PG_GETARG_FLOAT8(4), "reward_hat_logged");
	double		hat_target = CheckFinite(PG_GETARG_FLOAT8(5), "reward_hat_target");

	SummaryAdd(s, CheckTerm(hat_target + w * (reward - hat_logged),
							"dr: the term reward_hat_target + w * (reward - reward_hat_logged)"));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_terms_estimate);

/* estimate(terms bandit.summary): the ips or dr estimate of merged term summaries. */
Datum
bandit_terms_estimate(PG_FUNCTION_ARGS)
{
	return TermsEstimate(fcinfo, PG_GETARG_SUMMARY_P(0));
}

/* bandit.snips_state: the snips array state's slots, fixed length. */
typedef struct SnipsStateData
{
	double		slot[SNIPS_LENGTH];
} SnipsStateData;

static void
CheckSnipsInput(const SnipsStateData *s)
{
	if (!SnipsValid(s->slot))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid snips_state: values finite, count an integer in [0, 2^53], weight sums and m2 >= 0, and zeros where no row or weight was seen")));
}

PG_FUNCTION_INFO_V1(bandit_snips_state_in);

/* Text form: (count,sum_w,v,sum_w2,mean_w2,m2_w2). */
Datum
bandit_snips_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	SnipsStateData *s = palloc(sizeof(SnipsStateData));
	char	   *p = str;
	char	   *end;

	while (isspace((unsigned char) *p))
		p++;
	if (*p++ != '(')
		goto bad;
	for (int i = 0; i < SNIPS_LENGTH; i++)
	{
		s->slot[i] = strtod(p, &end);
		if (end == p || *end != (i == SNIPS_LENGTH - 1 ? ')' : ','))
			goto bad;
		p = end + 1;
	}
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '\0')
		goto bad;
	CheckSnipsInput(s);
	PG_RETURN_POINTER(s);

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type bandit.snips_state: \"%s\"", str),
			 errhint("A snips_state is written (count,sum_w,v,sum_w2,mean_w2,m2_w2), e.g. (0,0,0,0,0,0).")));
	pg_unreachable();
}

PG_FUNCTION_INFO_V1(bandit_snips_state_out);

/* Shortest exact decimals: round-trips bit for bit. */
Datum
bandit_snips_state_out(PG_FUNCTION_ARGS)
{
	SnipsStateData *s = (SnipsStateData *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	char		number[DOUBLE_SHORTEST_DECIMAL_LEN];

	initStringInfo(&buf);
	for (int i = 0; i < SNIPS_LENGTH; i++)
	{
		double_to_shortest_decimal_buf(s->slot[i], number);
		appendStringInfo(&buf, "%c%s", i == 0 ? '(' : ',', number);
	}
	appendStringInfoChar(&buf, ')');
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(bandit_snips_state_send);

Datum
bandit_snips_state_send(PG_FUNCTION_ARGS)
{
	SnipsStateData *s = (SnipsStateData *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	for (int i = 0; i < SNIPS_LENGTH; i++)
		pq_sendfloat8(&buf, s->slot[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(bandit_snips_state_recv);

/* Binary input is checked like text input. */
Datum
bandit_snips_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	SnipsStateData *s = palloc(sizeof(SnipsStateData));

	for (int i = 0; i < SNIPS_LENGTH; i++)
		s->slot[i] = pq_getmsgfloat8(buf);
	CheckSnipsInput(s);
	PG_RETURN_POINTER(s);
}

/* The state to update: in place inside an aggregate, else a copy. */
static SnipsStateData *
WritableSnipsState(FunctionCallInfo fcinfo)
{
	SnipsStateData *s = (SnipsStateData *) PG_GETARG_POINTER(0);
	SnipsStateData *copy;

	if (AggCheckCallContext(fcinfo, NULL))
		return s;
	copy = palloc(sizeof(SnipsStateData));
	*copy = *s;
	return copy;
}

PG_FUNCTION_INFO_V1(bandit_snips_state_accum);

/* Transition of the snips_state aggregate: as snips. */
Datum
bandit_snips_state_accum(PG_FUNCTION_ARGS)
{
	SnipsStateData *s = WritableSnipsState(fcinfo);
	double		reward = CheckFinite(PG_GETARG_FLOAT8(1), "reward");
	double		w = ImportanceWeight(PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));

	SnipsAdd(s->slot, reward, w);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_snips_state_combine);

/* Combine of snips_state and transition of merge(bandit.snips_state). */
Datum
bandit_snips_state_combine(PG_FUNCTION_ARGS)
{
	SnipsStateData *s = WritableSnipsState(fcinfo);

	SnipsMerge(s->slot, ((SnipsStateData *) PG_GETARG_POINTER(1))->slot);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_snips_state_estimate);

/* estimate(state bandit.snips_state): what snips answers for the same rows. */
Datum
bandit_snips_state_estimate(PG_FUNCTION_ARGS)
{
	return SnipsEstimate(fcinfo, ((SnipsStateData *) PG_GETARG_POINTER(0))->slot);
}
