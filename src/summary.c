/*
 * src/summary.c
 *
 * The mergeable summary (count, mean, sum of squared deviations) and the
 * t-tests built on it: from numbers, from summaries, and from raw rows.
 * Moments are updated with Welford's recurrence and merged with Chan's
 * formula, never as a naive sum of squares.
 */
#include "bandit.h"
#include "numeric.h"
#include "summary.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include <float.h>

/* The count after adding k values, or 22003 (as int8 arithmetic). */
static inline int64
AddCount(int64 n, int64 k)
{
	int64		result;

	if (unlikely(pg_add_s64_overflow(n, k, &result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range"),
				 errdetail("A summary counts at most " INT64_FORMAT " values.", PG_INT64_MAX)));
	return result;
}

/*
 * Adds one finite value (Welford); a mean or m2 that overflows is 22003, so
 * that no state the type's input would reject is ever produced.
 */
void
SummaryAdd(Summary *s, double x)
{
	s->n = AddCount(s->n, 1);
	MomentsAdd(&s->mean, &s->mean_low, &s->m2, x, 1, (double) s->n);
	CheckMoments(s->mean, s->m2, "The summary's mean or sum of squared deviations");
}

/* Merges b into a (Chan et al.), with the same checks. */
static inline void
SummaryMerge(Summary *a, const Summary *b)
{
	int64		n;

	if (b->n == 0)
		return;
	if (a->n == 0)
	{
		*a = *b;
		return;
	}
	n = AddCount(a->n, b->n);
	MomentsMerge(&a->mean, &a->mean_low, &a->m2, (double) a->n, b->mean, b->mean_low, b->m2, (double) b->n);
	CheckMoments(a->mean, a->m2, "The merged summary's mean or sum of squared deviations");
	a->n = n;
}

/* Whether some sample could have produced the summary. */
static bool
SummaryIsValid(const Summary *s)
{
	return s->n >= 0 && isfinite(s->mean) && isfinite(s->m2) && s->m2 >= 0 &&
		isfinite(s->mean_low) && fabs(s->mean_low) <= fabs(s->mean) * DBL_EPSILON &&
		!(s->n == 0 && (s->mean != 0 || s->m2 != 0 || s->mean_low != 0)) && !(s->n == 1 && s->m2 != 0);
}

/* Rejects a summary given as input that no sample could have produced. */
static void
CheckSummary(const Summary *s)
{
	if (!SummaryIsValid(s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid summary (" INT64_FORMAT ",%s,%s,%s): the count must be >= 0, mean and m2 finite, m2 >= 0 (0 for a count of 0 or 1, with mean 0 for 0), and mean_low at most an ulp of the mean",
						s->n, ShowDouble(s->mean), ShowDouble(s->m2), ShowDouble(s->mean_low))));
}

static inline double
SummaryVariance(const Summary *s)
{
	return s->m2 / (double) (s->n - 1);
}

/* Past any white space: the numbers may have it on either side, as in float8in. */
static inline char *
SkipSpaces(char *p)
{
	while (isspace((unsigned char) *p))
		p++;
	return p;
}

PG_FUNCTION_INFO_V1(bandit_summary_in);

/*
 * Text form: (count,mean,m2), or (count,mean,m2,mean_low) when the mean has
 * a low part, so that text carries a state bit for bit (postgres_fdw, COPY)
 * as the binary form does.
 */
Datum
bandit_summary_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Summary    *s = palloc(sizeof(Summary));
	char	   *p = str;
	char	   *end;
	long long	n;

	p = SkipSpaces(p);
	if (*p++ != '(')
		goto bad;
	errno = 0;
	n = strtoll(p, &end, 10);
	if (end == p || errno != 0 || *(end = SkipSpaces(end)) != ',')
		goto bad;
	s->n = (int64) n;
	p = end + 1;
	s->mean = strtod(p, &end);
	if (end == p || *(end = SkipSpaces(end)) != ',')
		goto bad;
	p = end + 1;
	s->m2 = strtod(p, &end);
	if (end == p || (*(end = SkipSpaces(end)) != ')' && *end != ','))
		goto bad;
	s->mean_low = 0;
	if (*end == ',')
	{
		p = end + 1;
		s->mean_low = strtod(p, &end);
		if (end == p || *(end = SkipSpaces(end)) != ')')
			goto bad;
	}
	if (*SkipSpaces(end + 1) != '\0')
		goto bad;
	CheckSummary(s);
	PG_RETURN_POINTER(s);

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type bandit.summary: \"%s\"", str),
			 errhint("A summary is written (count,mean,m2) or (count,mean,m2,mean_low), e.g. (3,2,2).")));
	pg_unreachable();
}

PG_FUNCTION_INFO_V1(bandit_summary_out);

/*
 * Shortest exact decimal forms and the mean's low part when it has one (a
 * -0 included), so text output round-trips bit for bit.
 */
Datum
bandit_summary_out(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	char		mean[DOUBLE_SHORTEST_DECIMAL_LEN];
	char		m2[DOUBLE_SHORTEST_DECIMAL_LEN];
	char		low[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(s->mean, mean);
	double_to_shortest_decimal_buf(s->m2, m2);
	if (s->mean_low == 0 && !signbit(s->mean_low))
		PG_RETURN_CSTRING(psprintf("(" INT64_FORMAT ",%s,%s)", s->n, mean, m2));
	double_to_shortest_decimal_buf(s->mean_low, low);
	PG_RETURN_CSTRING(psprintf("(" INT64_FORMAT ",%s,%s,%s)", s->n, mean, m2, low));
}

PG_FUNCTION_INFO_V1(bandit_summary_send);

Datum
bandit_summary_send(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, s->n);
	pq_sendfloat8(&buf, s->mean);
	pq_sendfloat8(&buf, s->m2);
	pq_sendfloat8(&buf, s->mean_low);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(bandit_summary_recv);

/* Binary input is checked like text input: it may come from anywhere. */
Datum
bandit_summary_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	Summary    *s = palloc(sizeof(Summary));

	s->n = pq_getmsgint64(buf);
	s->mean = pq_getmsgfloat8(buf);
	s->m2 = pq_getmsgfloat8(buf);
	s->mean_low = pq_getmsgfloat8(buf);
	CheckSummary(s);
	PG_RETURN_POINTER(s);
}

/*
 * The state to update: inside an aggregate the transition value is ours to
 * modify in place (as float8_accum does), elsewhere a copy.
 */
Summary *
WritableSummary(FunctionCallInfo fcinfo)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	Summary    *copy;

	if (AggCheckCallContext(fcinfo, NULL))
		return s;
	copy = palloc(sizeof(Summary));
	*copy = *s;
	return copy;
}

PG_FUNCTION_INFO_V1(bandit_summary_accum);

/* Transition of summarize(value): one Welford step. */
Datum
bandit_summary_accum(PG_FUNCTION_ARGS)
{
	Summary    *s = WritableSummary(fcinfo);

	SummaryAdd(s, CheckFinite(PG_GETARG_FLOAT8(1), "value"));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_summary_combine);

/* Combine of summarize and transition of merge: Chan's merge. */
Datum
bandit_summary_combine(PG_FUNCTION_ARGS)
{
	Summary    *s = WritableSummary(fcinfo);

	SummaryMerge(s, PG_GETARG_SUMMARY_P(1));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_summary_diff_accum);

/* Transition of t_test_paired(x, y): summarizes the differences x - y. */
Datum
bandit_summary_diff_accum(PG_FUNCTION_ARGS)
{
	Summary    *s = WritableSummary(fcinfo);
	double		x = CheckFinite(PG_GETARG_FLOAT8(1), "x");
	double		y = CheckFinite(PG_GETARG_FLOAT8(2), "y");

	SummaryAdd(s, CheckFinite(x - y, "x - y"));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_make_summary);

/* A summary from published statistics: n, mean and sample standard deviation. */
Datum
bandit_make_summary(PG_FUNCTION_ARGS)
{
	Summary    *s = palloc(sizeof(Summary));
	double		sd;

	s->n = CheckCount(PG_GETARG_INT64(0), "n");
	s->mean = CheckFinite(PG_GETARG_FLOAT8(1), "mean");
	sd = CheckFinite(PG_GETARG_FLOAT8(2), "stddev");
	if (sd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("stddev must not be negative, got %s", ShowDouble(sd))));
	if (s->n == 0 && s->mean != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an empty summary (n = 0) must have mean 0")));
	if (s->n <= 1 && sd != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a summary of fewer than 2 values must have stddev 0")));
	s->m2 = s->n > 1 ? sd * sd * (double) (s->n - 1) : 0;
	s->mean_low = 0;
	if (!isfinite(s->m2))
		StatisticOverflow("The sum of squared deviations stddev^2 (n - 1)");
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(bandit_summary_n);

Datum
bandit_summary_n(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_SUMMARY_P(0)->n);
}

PG_FUNCTION_INFO_V1(bandit_summary_mean);

/* NULL for an empty summary, as avg() of no rows. */
Datum
bandit_summary_mean(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);

	if (s->n == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s->mean);
}

PG_FUNCTION_INFO_V1(bandit_summary_variance);

/* Sample variance (n - 1); NULL below two values, as var_samp(). */
Datum
bandit_summary_variance(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);

	if (s->n < 2)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(SummaryVariance(s));
}

PG_FUNCTION_INFO_V1(bandit_summary_stddev);

Datum
bandit_summary_stddev(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);

	if (s->n < 2)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sqrt(SummaryVariance(s)));
}

/* What a t-test reports; the columns of bandit.t_test_result. */
typedef struct TTest
{
	double		statistic;
	double		df;
	double		p_value;
	double		mean_diff;
	double		ci_lower;
	double		ci_upper;
	double		cohens_d;
} TTest;

/*
 * The test of mean_diff against 0 with standard error se on df degrees of
 * freedom, its confidence interval at level (one-sided bounds for one-sided
 * alternatives, as R's t.test), and the given standardizer for Cohen's d.
 */
static TTest
TTestFromMoments(double mean_diff, double se, double df, double d_scale,
				 Alternative alternative, double level)
{
	TTest		r;
	double		t = mean_diff / se;

	r.statistic = t;
	r.df = df;
	r.mean_diff = mean_diff;
	r.cohens_d = mean_diff / d_scale;
	switch (alternative)
	{
		case ALT_TWO_SIDED:
			{
				double		q = StudentTUpper(fabs(t), df);
				double		half_width = StudentTUpperQuantile((1 - level) / 2, df) * se;

				r.p_value = Min(1.0, 2 * q);
				r.ci_lower = mean_diff - half_width;
				r.ci_upper = mean_diff + half_width;
				break;
			}
		case ALT_LESS:
			r.p_value = StudentTUpper(-t, df);
			r.ci_lower = -INFINITY;
			r.ci_upper = mean_diff + StudentTUpperQuantile(1 - level, df) * se;
			break;
		case ALT_GREATER:
			r.p_value = StudentTUpper(t, df);
			r.ci_lower = mean_diff - StudentTUpperQuantile(1 - level, df) * se;
			r.ci_upper = INFINITY;
			break;
	}
	/* only the far bound of a one-sided interval is infinite by design */
	if (!isfinite(r.statistic) || !isfinite(r.mean_diff) || !isfinite(r.cohens_d) ||
		(alternative != ALT_LESS && !isfinite(r.ci_lower)) ||
		(alternative != ALT_GREATER && !isfinite(r.ci_upper)))
		StatisticOverflow("A statistic of the t-test (the difference of the means, t, the interval or Cohen's d)");
	return r;
}

/*
 * Two-sample test of group 1 minus group 2 from counts, means and variances
 * (Welch-Satterthwaite unless equal_var).  Returns false when the test is
 * undefined: fewer than two values in a group, or no variance at all; a
 * standard error beyond the doubles is 22003.
 */
static bool
TwoSampleTest(double n1, double mean1, double var1, double n2, double mean2, double var2,
			  bool equal_var, Alternative alternative, double level, TTest *result)
{
	double		pooled_var,
				se,
				df;

	if (n1 < 2 || n2 < 2)
		return false;
	/* a weighted mean of the variances: finite whenever they are */
	pooled_var = var1 * ((n1 - 1) / (n1 + n2 - 2)) + var2 * ((n2 - 1) / (n1 + n2 - 2));
	if (equal_var)
	{
		se = sqrt(pooled_var * (1 / n1 + 1 / n2));
		df = n1 + n2 - 2;
	}
	else
	{
		double		v1 = var1 / n1;
		double		v2 = var2 / n2;

		/* in shares of v1 + v2, so that squares neither overflow nor underflow */
		double		r1 = v1 / (v1 + v2);
		double		r2 = v2 / (v1 + v2);

		se = sqrt(v1 + v2);
		df = 1 / (r1 * r1 / (n1 - 1) + r2 * r2 / (n2 - 1));
	}
	if (se == 0)
		return false;
	if (!isfinite(se) || !isfinite(df) || !isfinite(pooled_var))
		StatisticOverflow("The t-test's standard error");
	*result = TTestFromMoments(mean1 - mean2, se, df, sqrt(pooled_var), alternative, level);
	return true;
}

/* One-sample test of mean - mu; false when undefined (n < 2 or zero variance). */
static bool
OneSampleTest(const Summary *s, double mu, Alternative alternative, double level, TTest *result)
{
	double		sd;

	if (s->n < 2)
		return false;
	sd = sqrt(SummaryVariance(s));
	if (sd == 0)
		return false;
	*result = TTestFromMoments(s->mean - mu, sd / sqrt((double) s->n), (double) (s->n - 1), sd,
							   alternative, level);
	return true;
}

static Datum
TTestDatum(FunctionCallInfo fcinfo, const TTest *r)
{
	Datum		values[7];
	bool		nulls[7] = {false};

	values[0] = Float8GetDatum(r->statistic);
	values[1] = Float8GetDatum(r->df);
	values[2] = Float8GetDatum(r->p_value);
	values[3] = Float8GetDatum(r->mean_diff);
	values[4] = Float8GetDatum(r->ci_lower);
	values[5] = Float8GetDatum(r->ci_upper);
	values[6] = Float8GetDatum(r->cohens_d);
	return MakeResultTuple(fcinfo, values, nulls);
}

static void
UndefinedTest(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("t-test is undefined: %s", why)));
}

/*
 * The alternative argument, text or bandit.alternative: the enum form is
 * not collatable, so postgres_fdw can push down an expression taking it as a
 * constant (a text constant's collation is not derived from a foreign
 * column, which its foreign_expr_walker refuses).
 */
static Alternative
AlternativeArg(FunctionCallInfo fcinfo, int argno)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, argno);

	if (type == TEXTOID)
		return ParseAlternative(PG_GETARG_TEXT_PP(argno));
	if (!type_is_enum(type))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot tell the type of the alternative argument")));
	return ParseAlternative(cstring_to_text(DatumGetCString(
		DirectFunctionCall1(enum_out, PG_GETARG_DATUM(argno)))));
}

PG_FUNCTION_INFO_V1(bandit_t_test_stats);

/* t_test(n1, mean1, sd1, n2, mean2, sd2, equal_var, alternative, level) */
Datum
bandit_t_test_stats(PG_FUNCTION_ARGS)
{
	double		n1 = CheckFinite(PG_GETARG_FLOAT8(0), "n1");
	double		mean1 = CheckFinite(PG_GETARG_FLOAT8(1), "mean1");
	double		sd1 = CheckFinite(PG_GETARG_FLOAT8(2), "sd1");
	double		n2 = CheckFinite(PG_GETARG_FLOAT8(3), "n2");
	double		mean2 = CheckFinite(PG_GETARG_FLOAT8(4), "mean2");
	double		sd2 = CheckFinite(PG_GETARG_FLOAT8(5), "sd2");
	bool		equal_var = PG_GETARG_BOOL(6);
	Alternative alternative = ParseAlternative(PG_GETARG_TEXT_PP(7));
	double		level = CheckOpenRange(PG_GETARG_FLOAT8(8), 0, 1, "level");
	TTest		r;

	if (n1 < 2)
		CheckRange(n1, 2, INFINITY, "n1");
	if (n2 < 2)
		CheckRange(n2, 2, INFINITY, "n2");
	if (sd1 < 0)
		CheckRange(sd1, 0, INFINITY, "sd1");
	if (sd2 < 0)
		CheckRange(sd2, 0, INFINITY, "sd2");
	if (!TwoSampleTest(n1, mean1, sd1 * sd1, n2, mean2, sd2 * sd2, equal_var, alternative, level, &r))
		UndefinedTest("both standard deviations are 0");
	return TTestDatum(fcinfo, &r);
}

PG_FUNCTION_INFO_V1(bandit_t_test_summaries);

/* t_test(s1, s2, equal_var, alternative, level) */
Datum
bandit_t_test_summaries(PG_FUNCTION_ARGS)
{
	Summary    *s1 = PG_GETARG_SUMMARY_P(0);
	Summary    *s2 = PG_GETARG_SUMMARY_P(1);
	bool		equal_var = PG_GETARG_BOOL(2);
	Alternative alternative = AlternativeArg(fcinfo, 3);
	double		level = CheckOpenRange(PG_GETARG_FLOAT8(4), 0, 1, "level");
	TTest		r;

	if (s1->n < 2 || s2->n < 2)
		UndefinedTest("each summary needs at least 2 values");
	if (!TwoSampleTest((double) s1->n, s1->mean, SummaryVariance(s1),
					   (double) s2->n, s2->mean, SummaryVariance(s2),
					   equal_var, alternative, level, &r))
		UndefinedTest("both summaries have zero variance");
	return TTestDatum(fcinfo, &r);
}

PG_FUNCTION_INFO_V1(bandit_t_test_one_sample);

/* t_test_one_sample(s, mu, alternative, level) */
Datum
bandit_t_test_one_sample(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	double		mu = CheckFinite(PG_GETARG_FLOAT8(1), "mu");
	Alternative alternative = AlternativeArg(fcinfo, 2);
	double		level = CheckOpenRange(PG_GETARG_FLOAT8(3), 0, 1, "level");
	TTest		r;

	if (s->n < 2)
		UndefinedTest("the summary needs at least 2 values");
	if (!OneSampleTest(s, mu, alternative, level, &r))
		UndefinedTest("the summary has zero variance");
	return TTestDatum(fcinfo, &r);
}

PG_FUNCTION_INFO_V1(bandit_t_test_paired_final);

/* Final of t_test_paired: NULL when undefined, as var_samp() of too few rows. */
Datum
bandit_t_test_paired_final(PG_FUNCTION_ARGS)
{
	TTest		r;

	if (!OneSampleTest(PG_GETARG_SUMMARY_P(0), 0, ALT_TWO_SIDED, 0.95, &r))
		PG_RETURN_NULL();
	return TTestDatum(fcinfo, &r);
}

/*
 * State of the raw-row t_test aggregate: both groups' moments and the test's
 * options, as a float8 array so that it needs no serialization.  The options
 * are taken from the rows and must be the same on every row.
 */
enum
{
	TS_N1, TS_MEAN1, TS_M2_1, TS_LOW1, TS_N2, TS_MEAN2, TS_M2_2, TS_LOW2,
	TS_EQUAL_VAR, TS_ALTERNATIVE, TS_LEVEL,
	TS_LENGTH
};

/* A group's summary inside the raw-row t_test state, and back. */
static inline Summary
GroupSummary(const double *state, int base)
{
	Summary		s = {(int64) state[base], state[base + 1], state[base + 2], state[base + 3]};

	return s;
}

static inline void
StoreGroup(double *state, int base, const Summary *s)
{
	/* counts stay exact in the float8 state */
	state[base] = StateCountAdd((double) s->n, 0, "t_test");
	state[base + 1] = s->mean;
	state[base + 2] = s->m2;
	state[base + 3] = s->mean_low;
}

/*
 * The raw-row t_test state, checked: each group a valid summary with an
 * exact count, options unset or as a row could give them, and set once a
 * row has been seen.  Else XX001.
 */
static double *
TwoSampleState(ArrayType *array)
{
	double	   *s = Float8State(array, TS_LENGTH, "t_test");
	bool		unset = s[TS_EQUAL_VAR] == STATE_UNSET;

	for (int base = TS_N1; base <= TS_N2; base += TS_N2 - TS_N1)
	{
		Summary		group;

		if (!IsStateCount(s[base]))
			CorruptState("t_test");
		group = GroupSummary(s, base);
		if (!SummaryIsValid(&group))
			CorruptState("t_test");
	}
	if ((s[TS_ALTERNATIVE] == STATE_UNSET) != unset || (s[TS_LEVEL] == STATE_UNSET) != unset ||
		(unset && s[TS_N1] + s[TS_N2] > 0) ||
		(!unset && !(s[TS_EQUAL_VAR] == 0 || s[TS_EQUAL_VAR] == 1)) ||
		(!unset && !(s[TS_ALTERNATIVE] == ALT_TWO_SIDED || s[TS_ALTERNATIVE] == ALT_LESS ||
					 s[TS_ALTERNATIVE] == ALT_GREATER)) ||
		(!unset && !(s[TS_LEVEL] > 0 && s[TS_LEVEL] < 1)))
		CorruptState("t_test");
	return s;
}

PG_FUNCTION_INFO_V1(bandit_t_test_accum);

/* Transition of t_test(value, group2 [, equal_var [, alternative [, level]]]), alternative text or enum. */
Datum
bandit_t_test_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *state = TwoSampleState(array);
	double		x = CheckFinite(PG_GETARG_FLOAT8(1), "value");
	int			base = PG_GETARG_BOOL(2) ? TS_N2 : TS_N1;
	Summary		group = GroupSummary(state, base);

	SetRowConstant(state, TS_EQUAL_VAR, PG_NARGS() > 3 ? (double) PG_GETARG_BOOL(3) : 0, "t_test", "equal_var");
	SetRowConstant(state, TS_ALTERNATIVE,
			  PG_NARGS() > 4 ? (double) AlternativeArg(fcinfo, 4) : ALT_TWO_SIDED,
			  "t_test", "alternative");
	SetRowConstant(state, TS_LEVEL,
			  PG_NARGS() > 5 ? CheckOpenRange(PG_GETARG_FLOAT8(5), 0, 1, "level") : 0.95, "t_test", "level");

	SummaryAdd(&group, x);
	StoreGroup(state, base, &group);
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_t_test_combine);

/* Combine of the raw-row t_test: Chan's merge per group; options must agree. */
Datum
bandit_t_test_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *a = TwoSampleState(array);
	double	   *b = TwoSampleState(PG_GETARG_ARRAYTYPE_P(1));
	static const char *const names[] = {"equal_var", "alternative", "level"};

	for (int slot = TS_EQUAL_VAR; slot < TS_LENGTH; slot++)
		if (b[slot] != STATE_UNSET)
			SetRowConstant(a, slot, b[slot], "t_test", names[slot - TS_EQUAL_VAR]);
	for (int base = TS_N1; base <= TS_N2; base += TS_N2 - TS_N1)
	{
		Summary		sa = GroupSummary(a, base);
		Summary		sb = GroupSummary(b, base);

		SummaryMerge(&sa, &sb);
		StoreGroup(a, base, &sa);
	}
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_t_test_final);

/* Final of the raw-row t_test: NULL when a group has fewer than 2 rows or no variance. */
Datum
bandit_t_test_final(PG_FUNCTION_ARGS)
{
	double	   *s = TwoSampleState(PG_GETARG_ARRAYTYPE_P(0));
	TTest		r;

	if (s[TS_N1] < 2 || s[TS_N2] < 2 ||
		!TwoSampleTest(s[TS_N1], s[TS_MEAN1], s[TS_M2_1] / (s[TS_N1] - 1),
					   s[TS_N2], s[TS_MEAN2], s[TS_M2_2] / (s[TS_N2] - 1),
					   s[TS_EQUAL_VAR] == 1, (Alternative) s[TS_ALTERNATIVE], s[TS_LEVEL], &r))
		PG_RETURN_NULL();
	return TTestDatum(fcinfo, &r);
}
