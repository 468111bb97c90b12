/*
 * src/power.c
 *
 * The noncentral t distribution, and power and sample size of the
 * two-sample t-test and of the two-proportion z-test, as statsmodels'
 * TTestIndPower and NormalIndPower (ratio 1) compute them.
 */
#include "bandit.h"
#include "numeric.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_roots.h>
#include <gsl/gsl_sf_gamma.h>

PG_FUNCTION_INFO_V1(bandit_nct_cdf);
PG_FUNCTION_INFO_V1(bandit_nct_sf);
PG_FUNCTION_INFO_V1(bandit_power_t_test);
PG_FUNCTION_INFO_V1(bandit_sample_size_t_test);
PG_FUNCTION_INFO_V1(bandit_power_proportions);
PG_FUNCTION_INFO_V1(bandit_sample_size_proportions);

/*
 * The noncentral t is T = (Z + nc) / S with S = sqrt(chi2_df / df), so
 * P(T <= x) = E[Phi(x S - nc)] and P(T > x) = E[Phi(nc - x S)].  Both are
 * integrals of a positive, smooth, unimodal function of y = log S, computed
 * by adaptive Gauss-Kronrod quadrature around its mode in log space: no
 * cancellation in either tail, and no incomplete beta function (whose
 * continued fraction fails for df in the millions).
 */
typedef struct NormalMixture
{
	double		a;			/* E[Phi(a S + b)] */
	double		b;
	double		nu;			/* degrees of freedom */
	double		logc;	/* log density of Y = log S at y = 0 */
	double		shift;	/* subtracted from the log integrand */
} NormalMixture;

/* Log of the integrand at y = log S. */
static double
MixtureLog(double y, const NormalMixture *m)
{
	return LogNormalCdf(m->a * exp(y) + m->b) + m->logc - m->nu / 2 * Expm1mx(2 * y);
}

/* Its first derivative in y. */
static double
MixtureSlope(double y, const NormalMixture *m)
{
	double		u = m->a * exp(y) + m->b;
	double		mills = NormalMillsRatio(u);

	return m->a * exp(y) * mills - m->nu * expm1(2 * y);
}

/* Its second derivative in y. */
static double
MixtureCurvature(double y, const NormalMixture *m)
{
	double		ae = m->a * exp(y);
	double		u = ae + m->b;
	double		mills = NormalMillsRatio(u);

	return ae * mills - ae * ae * mills * (u + mills) - 2 * m->nu * exp(2 * y);
}

/* The integrand, scaled by its peak, for GSL. */
static double
MixtureIntegrand(double y, void *params)
{
	NormalMixture *m = (NormalMixture *) params;

	return exp(MixtureLog(y, m) - m->shift);
}

/*
 * E[Phi(a S + b)] for S = sqrt(chi2_nu / nu).  The integrand is log-concave
 * in s for nu >= 1 and in y for a <= 0, so its mode is bracketed by the sign
 * of the slope; the range extends until it falls below e^-50 of the peak.
 */
static int
NormalMixtureProb(double a, double b, double nu, double *result)
{
	NormalMixture m;
	gsl_function f;
	gsl_integration_workspace *ws;
	double		lo,
				hi,
				mode,
				lmax,
				width,
				step,
				left,
				right,
				err,
				epsrel,
				i1 = 0,
				i2 = 0;
	gsl_sf_result gammastar;
	int			status,
				i;

	if (a == 0)
	{
		*result = gsl_cdf_ugaussian_P(b);
		return GSL_SUCCESS;
	}
	m.a = a;
	m.b = b;
	m.nu = nu;
	/* log c - nu/2 via Gamma*(nu/2), exact even for nu = 1e7 */
	status = gsl_sf_gammastar_e(nu / 2, &gammastar);
	if (status != GSL_SUCCESS)
		return status;
	m.logc = 0.5 * log(nu / M_PI) - log(gammastar.val);
	m.shift = 0;

	/* bracket the mode: the slope is positive left of it, negative right */
	step = fmin(1.0, 1.0 / sqrt(nu));
	lo = hi = 0;
	if (MixtureSlope(0, &m) > 0)
	{
		for (i = 0; MixtureSlope(hi = step, &m) > 0; i++, step *= 2)
		{
			lo = hi;
			if (i > 64)
				return GSL_EMAXITER;
		}
	}
	else
	{
		for (i = 0; MixtureSlope(lo = -step, &m) < 0; i++, step *= 2)
		{
			hi = lo;
			if (i > 64)
				return GSL_EMAXITER;
		}
	}
	for (i = 0; i < 200; i++)
	{
		double		mid = (lo + hi) / 2;

		if (mid <= lo || mid >= hi)
			break;
		if (MixtureSlope(mid, &m) > 0)
			lo = mid;
		else
			hi = mid;
	}
	mode = (lo + hi) / 2;
	lmax = MixtureLog(mode, &m);
	if (!isfinite(lmax))
	{
		*result = 0;
		return isinf(lmax) && lmax < 0 ? GSL_SUCCESS : GSL_EDOM;
	}
	m.shift = lmax;
	width = -MixtureCurvature(mode, &m);
	width = (isfinite(width) && width > 0) ? 1 / sqrt(width) : step;

	/* reach out until the integrand is below e^-50 of its peak */
	for (i = 0, right = width; MixtureLog(mode + right, &m) > lmax - 50; i++, right *= 2)
		if (i > 64)
			return GSL_EMAXITER;
	for (i = 0, left = width; MixtureLog(mode - left, &m) > lmax - 50; i++, left *= 2)
		if (i > 64)
			return GSL_EMAXITER;

	/* beyond the smallest double; the integral is at most left + right */
	if (lmax + log(left + right) < -750)
	{
		*result = 0;
		return GSL_SUCCESS;
	}
	/* log-space rounding limits the precision to about eps |lmax| */
	epsrel = fmax(2e-14, 1e-15 * fabs(lmax));

	ws = gsl_integration_workspace_alloc(1000);
	if (ws == NULL)
		return GSL_ENOMEM;
	f.function = MixtureIntegrand;
	f.params = &m;
	status = gsl_integration_qag(&f, mode - left, mode, 0, epsrel, 1000,
								 GSL_INTEG_GAUSS61, ws, &i1, &err);
	if (status == GSL_SUCCESS)
		status = gsl_integration_qag(&f, mode, mode + right, 0, epsrel, 1000,
									 GSL_INTEG_GAUSS61, ws, &i2, &err);
	if (status == GSL_SUCCESS)
		*result = fmin(1.0, exp(lmax + log(i1 + i2)));
	gsl_integration_workspace_free(ws);
	return status;
}


/* P(T <= x) (upper = false) or P(T > x) for T ~ noncentral t(df, nc). */
static double
NctTail(double x, double df, double nc, bool upper)
{
	double		result;

	if (isinf(x))
		return (x > 0) == upper ? 0.0 : 1.0;
	CheckGsl(upper ? NormalMixtureProb(-x, nc, df, &result)
			 : NormalMixtureProb(x, -nc, df, &result),
			 "the noncentral t distribution");
	return result;
}

/*
 * The critical value of the t-test: the t with P(T > t) = p on df degrees
 * of freedom, which must be a double.
 */
static double
TCritical(double p, double df)
{
	double		x = StudentTUpperQuantile(p, df);

	if (!isfinite(x))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the critical value of the t-test with %s degrees of freedom is not representable",
						ShowDouble(df)),
				 df < 1 ? errhint("Use a larger n_per_group.") : 0));
	return x;
}

/* statsmodels' ttest_power with nobs = n/2 and df = 2n - 2 (ratio 1). */
static double
TTestPower(double effect_size, double n, double alpha, Alternative alt)
{
	double		df = 2 * n - 2;
	double		nc = effect_size * sqrt(n / 2);
	double		crit = TCritical(alt == ALT_TWO_SIDED ? alpha / 2 : alpha, df);
	double		power = 0;

	if (alt != ALT_LESS)
		power += NctTail(crit, df, nc, true);
	if (alt != ALT_GREATER)
		power += NctTail(-crit, df, nc, false);
	return power;
}

/* statsmodels' normal_power, two-sided, as a function of x = |h| sqrt(n/2). */
static double
NormalPower(double x, double alpha)
{
	double		z = gsl_cdf_ugaussian_Qinv(alpha / 2);

	return gsl_cdf_ugaussian_Q(z - x) + gsl_cdf_ugaussian_P(-z - x);
}

/* Cohen's h of two proportions, as statsmodels' proportion_effectsize. */
static double
CohensH(double p1, double p2)
{
	CheckRange(p1, 0, 1, "p1");
	CheckRange(p2, 0, 1, "p2");
	return 2 * (asin(sqrt(p1)) - asin(sqrt(p2)));
}

/* Power and alpha strictly inside (0, 1), power above alpha. */
static void
CheckPowerTarget(double power, double alpha)
{
	CheckOpenRange(power, 0, 1, "power");
	CheckOpenRange(alpha, 0, 1, "alpha");
	if (power <= alpha)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("power must exceed alpha, got power %s and alpha %s", ShowDouble(power), ShowDouble(alpha)),
				 errdetail("A test rejects with probability alpha when there is no effect, at any sample size.")));
}

typedef struct PowerGap
{
	double		effect_size;
	double		alpha;
	double		power;
	Alternative alt;
} PowerGap;

/* Power of the t-test at n per group minus the target, for GSL. */
static double
TTestPowerGap(double n, void *params)
{
	PowerGap   *g = (PowerGap *) params;

	return TTestPower(g->effect_size, n, g->alpha, g->alt) - g->power;
}

/* Two-sided z-test power at x = |h| sqrt(n/2) minus the target, for GSL. */
static double
NormalPowerGap(double x, void *params)
{
	PowerGap   *g = (PowerGap *) params;

	return NormalPower(x, g->alpha) - g->power;
}

/*
 * The root of an increasing function on [lo, hi] by Brent's method, to
 * relative precision epsrel.  The solver is freed even if an error (or a
 * cancel) interrupts.
 */
static double
BrentRoot(gsl_function *f, double lo, double hi, double epsrel)
{
	gsl_root_fsolver *solver = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
	double		root = 0;
	int			status;

	if (solver == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory allocating the root finder")));
	PG_TRY();
	{
		int			i;

		CheckGsl(gsl_root_fsolver_set(solver, f, lo, hi), "the sample size");
		status = GSL_CONTINUE;
		for (i = 0; i < 200 && status == GSL_CONTINUE; i++)
		{
			CHECK_FOR_INTERRUPTS();
			CheckGsl(gsl_root_fsolver_iterate(solver), "the sample size");
			root = gsl_root_fsolver_root(solver);
			status = gsl_root_test_interval(gsl_root_fsolver_x_lower(solver),
											gsl_root_fsolver_x_upper(solver),
											0, epsrel);
		}
		CheckGsl(status, "the sample size");
	}
	PG_FINALLY();
	{
		gsl_root_fsolver_free(solver);
	}
	PG_END_TRY();
	return root;
}

/* nct_cdf and nct_sf: one tail or the other, each computed directly. */
static Datum
NctTailDatum(FunctionCallInfo fcinfo, bool upper)
{
	double		x = PG_GETARG_FLOAT8(0);
	double		df = CheckPositive(PG_GETARG_FLOAT8(1), "df");
	double		nc = CheckFinite(PG_GETARG_FLOAT8(2), "nc");

	if (isnan(x))
		CheckFinite(x, "x");
	PG_RETURN_FLOAT8(NctTail(x, df, nc, upper));
}

/* bandit.nct_cdf(x, df, nc): P(T <= x), as scipy.stats.nct.cdf. */
Datum
bandit_nct_cdf(PG_FUNCTION_ARGS)
{
	return NctTailDatum(fcinfo, false);
}

/* bandit.nct_sf(x, df, nc): P(T > x), computed directly, not as 1 - cdf. */
Datum
bandit_nct_sf(PG_FUNCTION_ARGS)
{
	return NctTailDatum(fcinfo, true);
}

/* bandit.power_t_test: power of the pooled two-sample t-test. */
Datum
bandit_power_t_test(PG_FUNCTION_ARGS)
{
	double		effect_size = CheckFinite(PG_GETARG_FLOAT8(0), "effect_size");
	double		n = CheckOpenRange(PG_GETARG_FLOAT8(1), 1, HUGE_VAL, "n_per_group");
	double		alpha = CheckOpenRange(PG_GETARG_FLOAT8(2), 0, 1, "alpha");
	Alternative alt = ParseAlternative(PG_GETARG_TEXT_PP(3));

	PG_RETURN_FLOAT8(TTestPower(effect_size, n, alpha, alt));
}

/*
 * bandit.sample_size_t_test: the n per group at which the t-test reaches
 * the target power.  Power grows from alpha (n -> 1) to 1 (n -> infinity)
 * when the effect lies on the tested side, so the root is bracketed by
 * halving n - 1 below 2 or doubling n above it.
 */
Datum
bandit_sample_size_t_test(PG_FUNCTION_ARGS)
{
	PowerGap	g;
	gsl_function f;
	double		lo = 2,
				hi = 2;
	int			i;

	g.effect_size = CheckFinite(PG_GETARG_FLOAT8(0), "effect_size");
	g.power = PG_GETARG_FLOAT8(1);
	g.alpha = PG_GETARG_FLOAT8(2);
	g.alt = ParseAlternative(PG_GETARG_TEXT_PP(3));
	CheckPowerTarget(g.power, g.alpha);
	if (g.effect_size == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("effect_size must not be zero"),
				 errdetail("No finite sample size detects an effect of zero.")));
	if ((g.alt == ALT_GREATER && g.effect_size < 0) ||
		(g.alt == ALT_LESS && g.effect_size > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("effect_size must be %s for alternative '%s', got %s",
						g.alt == ALT_GREATER ? "positive" : "negative",
						g.alt == ALT_GREATER ? "greater" : "less", ShowDouble(g.effect_size)),
				 errdetail("A one-sided test of the other side never reaches a power above alpha.")));

	f.function = TTestPowerGap;
	f.params = &g;
	if (TTestPowerGap(lo, &g) >= 0)
	{
		/* below n - 1 = 1/128 the critical value leaves the doubles */
		i = 0;
		do
		{
			hi = lo;
			lo = 1 + (lo - 1) / 2;
			if (++i > 7)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("power %s is too close to alpha %s to be reached with n_per_group above %s",
								ShowDouble(g.power), ShowDouble(g.alpha), ShowDouble(hi))));
		} while (TTestPowerGap(lo, &g) >= 0);
	}
	else
	{
		do
		{
			CHECK_FOR_INTERRUPTS();
			lo = hi;
			hi *= 2;
			if (hi > 1e300)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("effect_size %s is too small: the sample size exceeds 1e300", ShowDouble(g.effect_size))));
		} while (TTestPowerGap(hi, &g) < 0);
	}
	PG_RETURN_FLOAT8(BrentRoot(&f, lo, hi, 1e-13));
}

/* bandit.power_proportions: power of the two-sided two-proportion z-test. */
Datum
bandit_power_proportions(PG_FUNCTION_ARGS)
{
	double		h = CohensH(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1));
	double		n = CheckPositive(PG_GETARG_FLOAT8(2), "n_per_group");
	double		alpha = CheckOpenRange(PG_GETARG_FLOAT8(3), 0, 1, "alpha");

	PG_RETURN_FLOAT8(NormalPower(fabs(h) * sqrt(n / 2), alpha));
}

/*
 * bandit.sample_size_proportions: solves the two-sided power, both tails,
 * for x = |h| sqrt(n/2) on [0, z_alpha/2 + z_power], where the upper tail
 * alone already reaches the target.
 */
Datum
bandit_sample_size_proportions(PG_FUNCTION_ARGS)
{
	double		h = CohensH(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1));
	PowerGap	g;
	gsl_function f;
	double		x;

	g.power = PG_GETARG_FLOAT8(2);
	g.alpha = PG_GETARG_FLOAT8(3);
	CheckPowerTarget(g.power, g.alpha);
	if (h == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p1 and p2 must differ, got %s for both", ShowDouble(PG_GETARG_FLOAT8(0))),
				 errdetail("No finite sample size detects an effect of zero.")));
	f.function = NormalPowerGap;
	f.params = &g;
	x = BrentRoot(&f, 0, gsl_cdf_ugaussian_Qinv(g.alpha / 2) + gsl_cdf_ugaussian_Qinv(1 - g.power), 1e-14);
	PG_RETURN_FLOAT8(2 * (x / h) * (x / h));
}
