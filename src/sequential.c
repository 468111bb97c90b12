/*
 * src/sequential.c
 *
 * Always-valid inference for peeking at an experiment: the two-sample
 * mixture sequential probability ratio test with a normal mixture (Johari,
 * Pekelis and Walsh, "Peeking at A/B tests", 2017).  With V the variance of
 * the difference d of the means and tau the mixing sd,
 *   Lambda = sqrt(V / (V + tau^2)) exp(tau^2 d^2 / (2 V (V + tau^2))),
 * p = min(1, 1 / Lambda), and the confidence sequence is
 *   d +- sqrt(V (V + tau^2) / tau^2 (log((V + tau^2) / V) - 2 log alpha)).
 * Both are written in u = tau / sqrt V and w = d / sqrt V, from their logs,
 * so that no intermediate overflows: a huge Lambda gives p = 0, never NaN.
 */
#include "bandit.h"
#include "numeric.h"

/* A sample size: at least 1 and finite. */
static double
CheckSampleSize(double n, const char *name)
{
	return CheckRange(CheckFinite(n, name), 1, INFINITY, name);
}

/* A standard deviation: finite and >= 0. */
static double
CheckSd(double sd, const char *name)
{
	return CheckRange(CheckFinite(sd, name), 0, INFINITY, name);
}

PG_FUNCTION_INFO_V1(bandit_msprt);

/* msprt(n1, mean1, sd1, n2, mean2, sd2, mixing_sd, alpha): always-valid p and confidence sequence of mean1 - mean2. */
Datum
bandit_msprt(PG_FUNCTION_ARGS)
{
	double		n1 = CheckSampleSize(PG_GETARG_FLOAT8(0), "n1");
	double		mean1 = CheckFinite(PG_GETARG_FLOAT8(1), "mean1");
	double		sd1 = CheckSd(PG_GETARG_FLOAT8(2), "sd1");
	double		n2 = CheckSampleSize(PG_GETARG_FLOAT8(3), "n2");
	double		mean2 = CheckFinite(PG_GETARG_FLOAT8(4), "mean2");
	double		sd2 = CheckSd(PG_GETARG_FLOAT8(5), "sd2");
	double		tau = CheckPositive(PG_GETARG_FLOAT8(6), "mixing_sd");
	double		alpha = CheckOpenRange(PG_GETARG_FLOAT8(7), 0, 1, "alpha");
	double		d = mean1 - mean2;
	double		se = hypot(sd1 / sqrt(n1), sd2 / sqrt(n2));	/* sqrt V */
	double		p,
				half_width;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (!isfinite(d))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("mean1 - mean2 is out of the range of float8")));
	if (se == 0)
	{
		/* no variance: the difference is known exactly */
		p = d == 0 ? 1 : 0;
		half_width = 0;
	}
	else
	{
		double		log_u = log(tau) - log(se);
		double		log_1pu2 = Log1pExp(2 * log_u);	/* log(1 + u^2) = log((V + tau^2) / V) */
		double		log_1pu_2 = Log1pExp(-2 * log_u);	/* log(1 + 1 / u^2) */
		double		log_w = d == 0 ? -INFINITY : log(fabs(d)) - log(se);

		/* log Lambda = -log(1 + u^2) / 2 + w^2 / 2 * u^2 / (1 + u^2) */
		double		log_lambda = -log_1pu2 / 2 + exp(2 * log_w - log_1pu_2 - M_LN2);

		p = log_lambda <= 0 ? 1 : exp(-log_lambda);
		/* sqrt(V (1 + 1 / u^2) (log(1 + u^2) - 2 log alpha)) */
		half_width = exp(log(se) + (log_1pu_2 + log(log_1pu2 - 2 * log(alpha))) / 2);
	}
	if (!isfinite(d - half_width) || !isfinite(d + half_width))
		StatisticOverflow("The confidence sequence");
	values[0] = Float8GetDatum(p);
	values[1] = Float8GetDatum(d - half_width);
	values[2] = Float8GetDatum(d + half_width);
	return MakeResultTuple(fcinfo, values, nulls);
}
