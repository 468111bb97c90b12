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

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>

/* == distributions, moments and sums (statistics) */

/* Array lengths of posterior comparisons: 54000 beyond MAX_COMPARED_ARMS. */
void
CheckComparedArms(int n, const char *what)
{
	if (n > MAX_COMPARED_ARMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s compares at most %d arms, got %d", what, MAX_COMPARED_ARMS, n)));
}

void
StatisticOverflow(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("value out of range: overflow"),
			 errdetail("%s is out of the range of float8.", what)));
}

/* n + k for counts in a float8 state; past 2^53 they would stop counting: 22003. */
double
StateCountAdd(double n, double k, const char *aggregate)
{
	if (n + k > MAX_STATE_COUNT)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: more than 2^53 rows", aggregate)));
	return n + k;
}

/* expm1(x) - x without cancellation for small x. */
double
Expm1mx(double x)
{
	double		term,
				sum;

	if (fabs(x) > 0.5)
		return expm1(x) - x;
	term = x * x / 2;
	sum = term;
	for (int k = 3; k < 40 && fabs(term) > 1e-17 * fabs(sum); k++)
	{
		term *= x / k;
		sum += term;
	}
	return sum;
}

/*
 * 1 - 1/z^2 + 3/z^4 - 15/z^6 ... = Phi(z) (-z) / phi(z), asymptotically for
 * z <= -30, where 20 terms leave less than 1e-35.
 */
static double
NormalTailSeries(double z)
{
	double		w = 1 / (z * z),
				term = 1,
				sum = 1;

	for (int k = 1; k < 20 && fabs(term) > 1e-17; k++)
	{
		term *= -(2 * k - 1) * w;
		sum += term;
	}
	return sum;
}

/*
 * log Phi(z), to full relative precision everywhere: log1p of the upper
 * tail above 0, GSL's Phi (Cody's rational approximations, relative
 * accuracy ~1e-15 down to its underflow) to -30, and the asymptotic series
 * below, finite until -z^2/2 itself leaves the doubles (|z| > 1.3e154).
 */
double
LogNormalCdf(double z)
{
	if (z >= 0)
		return log1p(-gsl_cdf_ugaussian_Q(z));
	if (z > -30)
		return log(gsl_cdf_ugaussian_P(z));
	return -0.5 * z * z - log(-z) - 0.5 * log(2 * M_PI) + log(NormalTailSeries(z));
}

/* phi(z) / Phi(z), without overflow in the lower tail (where it is about -z). */
double
NormalMillsRatio(double z)
{
	if (z > -30)
		return exp(-0.5 * z * z - 0.5 * log(2 * M_PI) - LogNormalCdf(z));
	return -z / NormalTailSeries(z);
}

/*
 * P(T > t) for Student's t with df degrees of freedom.  GSL's tdist uses a
 * Cornish-Fisher expansion for moderate df that is off by ~1e-7 in the
 * tails (df 44, p 1e-20); below df = 1e4 the incomplete beta is good to
 * ~1e-14, and above, GSL's expansion is (the incomplete beta drifts to
 * 1e-9 at df 1e8).  With y = t^2 / (df + t^2):
 * P(T > t) = I_{1-y}(df/2, 1/2) / 2 in the tail, and 1/2 - I_y(1/2, df/2) / 2
 * for t < 1 (where P > 0.15, so the subtraction is harmless and y, unlike
 * 1 - y, keeps its digits).
 */
double
StudentTUpper(double t, double df)
{
	gsl_sf_result result;
	int			status;
	double		t2 = t * t;

	if (t == 0)
		return 0.5;
	if (t < 0)
		return 1 - StudentTUpper(-t, df);
	if (isinf(t))
		return 0;
	if (df >= 1e4)
		return gsl_cdf_tdist_Q(t, df);
	if (t < 1)
	{
		CheckGsl(gsl_sf_beta_inc_e(0.5, df / 2, t2 / (df + t2), &result), "the t distribution");
		return 0.5 - result.val / 2;
	}
	/* df / (df + t^2), without overflow of t^2 */
	status = gsl_sf_beta_inc_e(df / 2, 0.5, isfinite(t2) ? df / (df + t2) : df / t / t, &result);
	if (status == GSL_EUNDRFLW)
		return 0;
	CheckGsl(status, "the t distribution");
	return result.val / 2;
}

/* log of the density of Student's t (it steers Newton's steps). */
double
StudentTLogPdf(double t, double df)
{
	double		q = t * t / df;

	/* log1p(q) for q beyond the range of doubles */
	double		logq1 = isfinite(q) ? log1p(q) : 2 * log(fabs(t)) - log(df);

	/* log Gamma(a + 1/2) / Gamma(a), asymptotically for large a */
	double		a = df / 2;
	double		lnratio = a < 100 ? gsl_sf_lngamma(a + 0.5) - gsl_sf_lngamma(a)
		: 0.5 * log(a) + log1p(-1 / (8 * a) + 1 / (128 * a * a));

	return lnratio - 0.5 * log(df * M_PI) - (df + 1) / 2 * logq1;
}

/*
 * The t with P(T > t) = q for Student's t: GSL's estimate (good to about
 * 1e-9 only) polished by Newton steps on log P(T > t), which keep their
 * precision in the far tail.  Infinite when the quantile is beyond the
 * doubles; the caller decides what that means.
 */
double
StudentTUpperQuantile(double q, double df)
{
	double		t;

	if (q > 0.5)
		return -StudentTUpperQuantile(1 - q, df);
	/* GSL's inverse fails for df in the quadrillions, where t is normal */
	t = df > 1e10 ? gsl_cdf_ugaussian_Qinv(q) : gsl_cdf_tdist_Qinv(q, df);

	/*
	 * and in the far tail (1e-300 on 5 df); there P(T > t) ~ pdf(t) t / df,
	 * so log t ~ (log pdf(0) + (df - 1) / 2 log df - log q) / df
	 */
	if (!isfinite(t))
		t = exp((StudentTLogPdf(0, df) + (df - 1) / 2 * log(df) - log(q)) / df);
	for (int i = 0; i < 50 && isfinite(t); i++)
	{
		double		tail = StudentTUpper(t, df);

		/* tail / pdf in logs: the density underflows long before the tail */
		double		dt = (log(tail) - log(q)) * exp(log(tail) - StudentTLogPdf(t, df));

		if (!isfinite(dt))
			break;
		t = (t + dt < 0) ? t / 2 : t + dt;
		if (fabs(dt) <= 1e-15 * fabs(t))
			break;
	}
	return t;
}

/* a * b exactly, as hi + lo. */
void
TwoProduct(double a, double b, double *hi, double *lo)
{
	*hi = a * b;
#ifdef FP_FAST_FMA
	*lo = fma(a, b, -*hi);
#else
	{
		/* Dekker's product; without a fused multiply-add nothing is contracted */
		const double split = 134217729.0;	/* 2^27 + 1 */
		double		c,
					ah,
					al,
					bh,
					bl;

		c = split * a;
		ah = c - (c - a);
		al = a - ah;
		c = split * b;
		bh = c - (c - b);
		bl = b - bh;
		*lo = ((ah * bh - *hi) + ah * bl + al * bh) + al * bl;
	}
#endif
}

/* x * b in double-double arithmetic. */
void
DdMultiply(DoubleDouble *x, double b)
{
	double		hi,
				lo;

	TwoProduct(x->hi, b, &hi, &lo);
	lo += x->lo * b;
	x->hi = hi + lo;
	x->lo = lo - (x->hi - hi);
}

/* x / b in double-double arithmetic. */
void
DdDivide(DoubleDouble *x, double b)
{
	double		q1 = x->hi / b;
	double		hi,
				lo,
				q2;

	TwoProduct(q1, b, &hi, &lo);
	q2 = (((x->hi - hi) - lo) + x->lo) / b;
	x->hi = q1 + q2;
	x->lo = q2 - (x->hi - q1);
}

/* Moves the binary exponent of x into x->exponent. */
void
DdNormalize(DoubleDouble *x)
{
	int			e;

	x->hi = frexp(x->hi, &e);
	x->lo = ldexp(x->lo, -e);
	x->exponent += e;
}


/*
 * The scalar functions above by name, for sql/numeric.sql, which creates
 * it as a temporary function: it is not part of the extension's SQL.
 */
PG_FUNCTION_INFO_V1(bandit_numeric_probe);

Datum
bandit_numeric_probe(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	double		x = PG_GETARG_FLOAT8(1);
	double		y = PG_GETARG_FLOAT8(2);

	if (strcmp(name, "log_normal_cdf") == 0)
		PG_RETURN_FLOAT8(LogNormalCdf(x));
	if (strcmp(name, "normal_mills_ratio") == 0)
		PG_RETURN_FLOAT8(NormalMillsRatio(x));
	if (strcmp(name, "student_t_upper") == 0)
		PG_RETURN_FLOAT8(StudentTUpper(x, y));
	if (strcmp(name, "student_t_upper_quantile") == 0)
		PG_RETURN_FLOAT8(StudentTUpperQuantile(x, y));
	if (strcmp(name, "log1pexp") == 0)
		PG_RETURN_FLOAT8(Log1pExp(x));
	if (strcmp(name, "logaddexp") == 0)
		PG_RETURN_FLOAT8(LogAddExp(x, y));
	if (strcmp(name, "expm1mx") == 0)
		PG_RETURN_FLOAT8(Expm1mx(x));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("no numeric probe named \"%s\"", name)));
	PG_RETURN_NULL();
}

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

uint64
SplitMix64(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
