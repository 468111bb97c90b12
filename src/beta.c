/*
 * src/beta.c
 *
 * The Beta distribution: draws, quantiles, credible intervals, posteriors,
 * and the Bayesian comparison of arms (probability to be best, expected loss).
 *
 * Quantiles and comparisons integrate Beta densities in logit space,
 * t = log(x / (1 - x)), where every Beta density is smooth, unimodal and has
 * exponential tails, whatever its parameters.  The line is cut into panels
 * that resolve each arm's core and tails; on each panel, Chebyshev points
 * carry both the densities and, through a spectral integration matrix,
 * their cumulative distribution functions.  So every arm's CDF comes from
 * the same quadrature as the integrals that use it.  GSL's incomplete beta
 * function cannot serve here: its continued fraction loses accuracy and
 * stops converging for parameters near 1e7.
 *
 * The quadrature's CDF carries ~1e-10 relative error, which a quantile where
 * the CDF grows like x^a with a small parameter a amplifies by 1/a.  There,
 * near 0 (or 1), a power series gives the CDF to rounding, and a few Newton
 * steps on it polish the quantile.
 */
#include "bandit.h"
#include "numeric.h"

#include "miscadmin.h"
#include "lib/binaryheap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "catalog/pg_type.h"

#include <float.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_sf_gamma.h>

#define CHEB_DEGREE 16
#define CHEB_POINTS (CHEB_DEGREE + 1)

/*
 * Chebyshev points of degree 16 on [-1, 1] in ascending order, the matrix
 * that maps values at them to the integral from -1 up to each of them, and
 * the Clenshaw-Curtis weights of the nested degree-8 rule (every other
 * point), whose disagreement with degree 16 estimates the error.
 */
static double cheb_node[CHEB_POINTS];
static double cheb_coarse_weight[CHEB_DEGREE / 2 + 1];

/*
 * What a panel's values give, per point l: cheb_outputs[l][m] is its weight
 * in the integral from -1 up to point m, and in outputs CHEB_POINTS and
 * CHEB_POINTS + 1 in Chebyshev coefficients 15 and 16.  Point-major and
 * padded to a multiple of 4 outputs, so that the loop over the outputs
 * vectorizes.
 */
#define PANEL_OUTPUTS 20
#define OUTPUT_LAST_COEFFICIENTS CHEB_POINTS
static double cheb_outputs[CHEB_POINTS][PANEL_OUTPUTS];
static bool cheb_ready = false;

/* Tail mass left outside the integration domain, per arm. */
#define LOG_TAIL_MASS (-41.0)

/* Tolerance on each arm's total mass before we trust the panels. */
/*
 * Quadrature error allowed per panel: absolute (masses are 1), or relative
 * to the CDF for tail quantiles.  Densities with parameters near 1e7 carry
 * ~1e-11 relative rounding, which sets the floor.
 */
#define PANEL_TOLERANCE 1e-10
#define PANEL_RELATIVE_TOLERANCE 1e-10
#define MAX_HALVINGS 24

/*
 * Fills matrix[m][l] with the weight of the value at point l in the integral
 * from -1 to point m of the degree-n interpolant: values to Chebyshev
 * coefficients (DCT-I), coefficients to their antiderivatives at the points.
 */
static void
ChebyshevIntegrationMatrix(int n, double *matrix)
{
	for (int m = 0; m <= n; m++)
	{
		double		x = -cos(M_PI * m / n);
		double		theta_m = M_PI * (n - m) / n;

		for (int l = 0; l <= n; l++)
		{
			double		theta_l = M_PI * (n - l) / n;
			double		sum = 0;

			for (int k = 0; k <= n; k++)
			{
				double		coef = (2.0 / n) * cos(k * theta_l);
				double		antiderivative;

				if (l == 0 || l == n)
					coef /= 2;
				if (k == 0 || k == n)
					coef /= 2;
				if (k == 0)
					antiderivative = x + 1;
				else if (k == 1)
					antiderivative = (x * x - 1) / 2;
				else
				{
					/* T_j(-1) = (-1)^j, the same for j = k + 1 and k - 1 */
					double		at_minus1 = (k + 1) % 2 == 0 ? 1 : -1;

					antiderivative = (cos((k + 1) * theta_m) - at_minus1) / (2.0 * (k + 1))
						- (cos((k - 1) * theta_m) - at_minus1) / (2.0 * (k - 1));
				}
				sum += coef * antiderivative;
			}
			matrix[m * (n + 1) + l] = sum;
		}
	}
}

static void
ChebyshevSetup(void)
{
	double		coarse[(CHEB_DEGREE / 2 + 1) * (CHEB_DEGREE / 2 + 1)];
	double		cumulative[CHEB_POINTS][CHEB_POINTS];

	if (cheb_ready)
		return;
	for (int m = 0; m <= CHEB_DEGREE; m++)
		cheb_node[m] = -cos(M_PI * m / CHEB_DEGREE);
	ChebyshevIntegrationMatrix(CHEB_DEGREE, &cumulative[0][0]);
	for (int m = 0; m < CHEB_POINTS; m++)
		for (int l = 0; l < CHEB_POINTS; l++)
			cheb_outputs[l][m] = cumulative[m][l];
	ChebyshevIntegrationMatrix(CHEB_DEGREE / 2, coarse);
	for (int l = 0; l <= CHEB_DEGREE / 2; l++)
		cheb_coarse_weight[l] = coarse[(CHEB_DEGREE / 2) * (CHEB_DEGREE / 2 + 1) + l];
	for (int k = 0; k < 2; k++)
		for (int l = 0; l <= CHEB_DEGREE; l++)
		{
			int			degree = CHEB_DEGREE - 1 + k;

			/* c_k = (2 / n) sum'' f_l T_k(x_l), x_l = -cos(pi l / n); the last one halved again */
			cheb_outputs[l][OUTPUT_LAST_COEFFICIENTS + k] = (2.0 / CHEB_DEGREE) * ((l == 0 || l == CHEB_DEGREE) ? 0.5 : 1.0) *
				((degree % 2) ? -1.0 : 1.0) * cos(degree * M_PI * l / CHEB_DEGREE) * (k == 1 ? 0.5 : 1.0);
		}
	cheb_ready = true;
}

/* One Beta distribution, prepared for evaluation in logit space. */
typedef struct Arm
{
	double		a,
				b;
	double		mode;			/* of the logit density: log(a / b) */
	double		scale;			/* its standard deviation */
	double		log_m,			/* log of the mean a / (a + b) */
				log_1m;			/* log of 1 - mean */
	double		m;
	double		log_peak;		/* log density at the mode */
	double		lo,				/* NAN until ArmLowerEnd: a comparison seldom needs it */
				hi;				/* where the tails hold less than the tail mass */
	double		log_tail;
	double		log_shift;		/* densities are scaled by e^log_shift */
	bool		direct;			/* small enough for log f = a log x + b log(1-x) - log B */
	double		log_beta;
	double		mass;			/* total integrated (scaled) mass, normalized away */
} Arm;

/* 1 / (1 + e^-t), accurately at both ends. */
static inline double
Logistic(double t)
{
	return t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t));
}

/*
 * Log density of logit(theta), theta ~ Beta(a, b), at d = t - mode, written
 * around the mode so that a and b near 1e7 lose no precision:
 * log f = log_peak - a log((1-m) e^-d + m) - b log(m e^d + 1 - m).
 */
static inline double
ArmLogDensity(const Arm *arm, double d)
{
	double		up,
				down;

	if (fabs(d) <= 1)
	{
		up = log1p(arm->m * expm1(d));
		down = log1p((1 - arm->m) * expm1(-d));
	}
	else
	{
		up = LogAddExp(arm->log_m + d, arm->log_1m);
		down = LogAddExp(arm->log_1m - d, arm->log_m);
	}
	return arm->log_peak - arm->a * down - arm->b * up;
}

/*
 * How far from the mode (direction -1: below, +1: above) the tail holds less
 * than exp(log_tail).  The logit density is log-concave, so the mass beyond
 * a point is at most the density there over the absolute slope of the log
 * density, a - (a + b) x with x = 1 / (1 + e^-t).  Newton steps on the log
 * of that bound, from the normal approximation's answer, take its slope to
 * be the log density's: concavity keeps them on the safe side of the
 * answer, and they stop within 1 of it in log mass.  No step crosses the
 * mode.
 */
static double
TailDistance(const Arm *arm, double log_tail, int direction)
{
	double		d = direction * arm->scale * sqrt(-2 * log_tail);

	for (int i = 0; i < 100; i++)
	{
		double		t = arm->mode + d;
		double		slope = arm->a * Logistic(-t) - arm->b * Logistic(t);
		double		excess = ArmLogDensity(arm, d) - log(fabs(slope)) - log_tail;
		double		next = d - excess / slope;

		if (excess <= 0 && excess > -1)
			return d;
		d = direction * next > 0 ? next : d / 2;
		if (!isfinite(d))
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("Beta(%s, %s) is outside the range that can be computed",
					ShowDouble(arm->a), ShowDouble(arm->b)),
			 errdetail("No bound on its tail was found.")));
	return 0;
}

/*
 * trigamma(x) within 1.3 %: all a scale needs (panel widths, first guesses),
 * at a fraction of gsl_sf_psi_1's cost.  The asymptotic series' first
 * three terms, after one step of the recurrence below 1.
 */
static double
TrigammaEstimate(double x)
{
	double		shift = x < 1 ? 1 / (x * x) : 0;

	x += x < 1;
	return shift + 1 / x + 1 / (2 * x * x) + 1 / (6 * x * x * x);
}

static void
ArmInit(Arm *arm, double a, double b, double log_tail, double log_shift)
{
	double		lbeta,
				psi_a,
				psi_b;

	arm->a = a;
	arm->b = b;
	arm->mode = log(a) - log(b);
	arm->m = a / (a + b);
	arm->log_m = log(a) - log(a + b);
	arm->log_1m = log(b) - log(a + b);
	lbeta = gsl_sf_lnbeta(a, b);
	psi_a = TrigammaEstimate(a);
	psi_b = TrigammaEstimate(b);
	if (!isfinite(lbeta) || !isfinite(psi_a) || !isfinite(psi_b))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("Beta(%s, %s) is outside the range that can be computed",
						ShowDouble(a), ShowDouble(b))));
	arm->log_peak = a * arm->log_m + b * arm->log_1m - lbeta;
	arm->log_beta = lbeta;

	/*
	 * Below a + b = 1e5 the direct form loses at most ~1e-11 to cancellation
	 * and shares log x and log(1 - x) across arms; above, the form centered
	 * at the mode keeps full precision.
	 */
	arm->direct = a + b <= 1e5;
	arm->scale = sqrt(psi_a + psi_b);

	arm->log_tail = log_tail;
	arm->lo = NAN;
	arm->hi = arm->mode + TailDistance(arm, log_tail, 1);
	arm->log_shift = log_shift;
	arm->mass = 1;
}

/* Where the lower tail holds less than the tail mass. */
static double
ArmLowerEnd(Arm *arm)
{
	if (isnan(arm->lo))
		arm->lo = arm->mode + TailDistance(arm, arm->log_tail, -1);
	return arm->lo;
}

/* Whether the arm's support lies above t: only if t is below its mode. */
static inline bool
ArmAbove(Arm *arm, double t)
{
	return t <= arm->mode && t <= ArmLowerEnd(arm);
}

static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* sort_doubles(): qsort of doubles with the comparison inlined (panel edges) */
#define ST_SORT sort_doubles
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* Max-heap order of arms by smaller scale first (binaryheap keeps the largest on top). */
static int
CompareScales(Datum left, Datum right, void *arg)
{
	const Arm  *arms = (const Arm *) arg;
	double		x = arms[DatumGetInt32(left)].scale,
				y = arms[DatumGetInt32(right)].scale;

	return (x < y) - (x > y);
}

static int
CompareLowerEnds(const void *left, const void *right, void *arg)
{
	const Arm  *arms = (const Arm *) arg;

	return CompareDoubles(&arms[*(const int *) left].lo, &arms[*(const int *) right].lo);
}

/*
 * Sorted, deduplicated panel edges covering every arm's [lo, hi], about
 * spacing times the local scale apart, for a Sweep.
 */
static double *
PanelEdges(const Arm *arms, int narms, double spacing, int *npanels)
{
	static const double core[] = {0, 1.5, 3.5, 6, 10, 16, 28};
	/* Where (1 + e^t) bends: the structure of densities with small parameters. */
	static const double fixed[] = {0, 0.5, 1, 2, 3, 5, 8, 12, 20, 35, 60};
	int			ncore = lengthof(core),
				nfixed = lengthof(fixed);
	int			capacity = narms * (4 * ncore + 2) + 2 * nfixed + 1;
	double	   *edges = palloc(sizeof(double) * capacity);
	int		   *by_lo = palloc(sizeof(int) * narms);
	binaryheap *covering;
	int			n = 0,
				kept,
				next = 0;
	double		lo = INFINITY,
				hi = -INFINITY;

	for (int j = 0; j < narms; j++)
	{
		lo = Min(lo, arms[j].lo);
		hi = Max(hi, arms[j].hi);
		by_lo[j] = j;
	}
	for (int j = 0; j < narms; j++)
	{
		edges[n++] = arms[j].lo;
		edges[n++] = arms[j].hi;
		for (int k = 0; k < ncore; k++)
			for (int sign = -1; sign <= 1; sign += 2)
			{
				double		t = arms[j].mode + sign * core[k] * arms[j].scale;

				if (t > arms[j].lo && t < arms[j].hi)
					edges[n++] = t;
			}
	}
	for (int k = 0; k < nfixed; k++)
		for (int sign = -1; sign <= 1; sign += 2)
			if (sign * fixed[k] > lo && sign * fixed[k] < hi)
				edges[n++] = sign * fixed[k];
	sort_doubles(edges, n);
	qsort_arg(by_lo, narms, sizeof(int), CompareLowerEnds, (void *) arms);

	/*
	 * Similar arms interleave their edges into panels far narrower than any
	 * of them needs: keep an edge only if it is spacing times the smallest
	 * scale of the arms that matter there (their tail bounds included: a
	 * heap of the arms begun, by scale, whose ended ones are dropped from
	 * its top) away from the last one kept; the pass halves whatever turns
	 * out too wide.  The domain's ends always stay.
	 */
	covering = binaryheap_allocate(Max(narms, 1), CompareScales, (void *) arms);
	kept = 1;
	for (int i = 1; i < n; i++)
	{
		double		local_scale = INFINITY;

		while (next < narms && arms[by_lo[next]].lo <= edges[i])
			binaryheap_add(covering, Int32GetDatum(by_lo[next++]));
		while (!binaryheap_empty(covering) &&
			   arms[DatumGetInt32(binaryheap_first(covering))].hi < edges[i])
			binaryheap_remove_first(covering);
		if (!binaryheap_empty(covering))
			local_scale = arms[DatumGetInt32(binaryheap_first(covering))].scale;
		if (edges[i] - edges[kept - 1] > Max(spacing * local_scale, 1e-13 * Max(1.0, fabs(edges[i]))) ||
			(i == n - 1 && edges[i] > edges[kept - 1]))
			edges[kept++] = edges[i];
	}
	edges[kept - 1] = edges[n - 1];
	binaryheap_free(covering);
	pfree(by_lo);

	*npanels = kept - 1;
	return edges;
}

/* A panel's Chebyshev points in logit space, with log x and log(1 - x) there. */
typedef struct PanelPoints
{
	double		t0,
				t1,
				half;
	double		t[CHEB_POINTS];
	double		log_x[CHEB_POINTS];
	double		log_1mx[CHEB_POINTS];
} PanelPoints;

static void
PanelPointsInit(PanelPoints *points, double t0, double t1)
{
	double		mid = (t0 + t1) / 2;

	points->t0 = t0;
	points->t1 = t1;
	points->half = (t1 - t0) / 2;
	for (int m = 0; m < CHEB_POINTS; m++)
	{
		double		t = mid + points->half * cheb_node[m];

		points->t[m] = t;
		points->log_x[m] = -Log1pExp(-t);
		points->log_1mx[m] = points->log_x[m] - t;
	}
}


/*
 * One arm on one panel: its densities at the points (scaled by e^log_shift,
 * over its mass), their integrals from the panel's left end up to each
 * point, and (if last is not NULL) the interpolant's last two Chebyshev
 * coefficients, times the panel's half width.
 */
static void
ArmPanelIntegrals(const Arm *arm, const PanelPoints *points, double *density, double *partial, double *last)
{
	double		outputs[PANEL_OUTPUTS] = {0};
	double		per_mass = 1 / arm->mass;

	if (arm->direct)
		for (int m = 0; m < CHEB_POINTS; m++)
			density[m] = exp(arm->a * points->log_x[m] + arm->b * points->log_1mx[m] - arm->log_beta
							 + arm->log_shift) * per_mass;
	else
		for (int m = 0; m < CHEB_POINTS; m++)
			density[m] = exp(ArmLogDensity(arm, points->t[m] - arm->mode) + arm->log_shift) * per_mass;
	for (int l = 0; l < CHEB_POINTS; l++)
#pragma GCC unroll 20
		for (int o = 0; o < PANEL_OUTPUTS; o++)
			outputs[o] += cheb_outputs[l][o] * density[l];
	for (int m = 0; m < CHEB_POINTS; m++)
		partial[m] = points->half * outputs[m];
	if (last != NULL)
	{
		last[0] = points->half * outputs[OUTPUT_LAST_COEFFICIENTS];
		last[1] = points->half * outputs[OUTPUT_LAST_COEFFICIENTS + 1];
	}
}

/* A left-to-right pass over the panels, carrying every arm's CDF. */
typedef struct Sweep
{
	Arm		   *arms;
	int			narms;
	double	   *edges;
	int		   *depth;			/* per panel: how many halvings made it */
	int			npanels;
	int			capacity;		/* of edges and depth */
	double	   *cdf_start;		/* per arm, at the current panel's left edge */
	double	   *density;		/* narms x CHEB_POINTS, normalized, per unit t */
	double	   *cdf;			/* narms x CHEB_POINTS */
	PanelPoints points;			/* the current panel's */
	bool		relative;		/* error relative to the CDF so far (tail quantiles) */
} Sweep;

static void
SweepInit(Sweep *sweep, Arm *arms, int narms, bool relative)
{
	sweep->relative = relative;
	ChebyshevSetup();
	sweep->arms = arms;
	sweep->narms = narms;
	for (int j = 0; j < narms; j++)
		ArmLowerEnd(&arms[j]);
	sweep->edges = PanelEdges(arms, narms, 0.75, &sweep->npanels);
	sweep->capacity = sweep->npanels + 1;
	sweep->depth = palloc0(sizeof(int) * sweep->capacity);
	sweep->cdf_start = palloc0(sizeof(double) * narms);
	sweep->density = palloc(sizeof(double) * narms * CHEB_POINTS);
	sweep->cdf = palloc(sizeof(double) * narms * CHEB_POINTS);
}

static void
SweepRestart(Sweep *sweep)
{
	memset(sweep->cdf_start, 0, sizeof(double) * sweep->narms);
}

/*
 * Evaluates panel p: densities at its points, CDFs there, and the estimated
 * error of the panel's integral (largest over the arms; relative to the
 * CDF at the panel's end when the sweep asks for relative accuracy).
 */
static double
SweepPanel(Sweep *sweep, int p)
{
	double		t0 = sweep->edges[p],
				t1 = sweep->edges[p + 1];
	double		error = 0;

	PanelPointsInit(&sweep->points, t0, t1);
	for (int j = 0; j < sweep->narms; j++)
	{
		Arm		   *arm = &sweep->arms[j];
		double	   *cdf = &sweep->cdf[j * CHEB_POINTS];
		double		arm_error;

		if (t1 <= arm->lo || t0 >= arm->hi)
		{
			for (int m = 0; m < CHEB_POINTS; m++)
			{
				sweep->density[j * CHEB_POINTS + m] = 0;
				cdf[m] = sweep->cdf_start[j];
			}
			continue;
		}
		ArmPanelIntegrals(arm, &sweep->points, &sweep->density[j * CHEB_POINTS], cdf, NULL);
		/* the nested degree-8 rule's disagreement: conservative, as tail quantiles need */
		arm_error = 0;
		for (int l = 0; l <= CHEB_DEGREE / 2; l++)
			arm_error += cheb_coarse_weight[l] * sweep->density[j * CHEB_POINTS + 2 * l];
		arm_error = fabs(cdf[CHEB_DEGREE] - sweep->points.half * arm_error);
		for (int m = 0; m < CHEB_POINTS; m++)
			cdf[m] += sweep->cdf_start[j];
		if (sweep->relative)
			arm_error *= PANEL_TOLERANCE / PANEL_RELATIVE_TOLERANCE /
				(cdf[CHEB_DEGREE] > 0 ? cdf[CHEB_DEGREE] : 1);
		error = Max(error, arm_error);
		sweep->cdf_start[j] = cdf[CHEB_DEGREE];
	}
	return error;
}

/* Halves panel p in place: the panels after it move up one. */
static void
SweepSplit(Sweep *sweep, int p)
{
	int			moved = sweep->npanels - p;

	if (sweep->depth[p] >= MAX_HALVINGS)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("Beta quadrature did not converge for these parameters")));
	if (sweep->npanels + 2 > sweep->capacity)
	{
		sweep->capacity *= 2;
		sweep->edges = repalloc(sweep->edges, sizeof(double) * sweep->capacity);
		sweep->depth = repalloc(sweep->depth, sizeof(int) * sweep->capacity);
	}
	memmove(&sweep->edges[p + 2], &sweep->edges[p + 1], sizeof(double) * moved);
	memmove(&sweep->depth[p + 1], &sweep->depth[p], sizeof(int) * moved);
	sweep->edges[p + 1] = (sweep->edges[p] + sweep->edges[p + 2]) / 2;
	sweep->depth[p]++;
	sweep->depth[p + 1]++;
	sweep->npanels++;
}

/*
 * One pass over the panels.  A panel that
 * misses the tolerance is halved on the spot and its left half evaluated
 * from the same starting CDFs, so one pass meets the tolerance everywhere
 * and evaluates each accepted panel once.
 */
static void
SweepPass(Sweep *sweep)
{
	double	   *start = palloc(sizeof(double) * sweep->narms);

	SweepRestart(sweep);
	for (int p = 0; p < sweep->npanels; p++)
	{
		CHECK_FOR_INTERRUPTS();
		memcpy(start, sweep->cdf_start, sizeof(double) * sweep->narms);
		while (SweepPanel(sweep, p) > PANEL_TOLERANCE)
		{
			memcpy(sweep->cdf_start, start, sizeof(double) * sweep->narms);
			SweepSplit(sweep, p);
			CHECK_FOR_INTERRUPTS();
		}
	}
	pfree(start);
}

/*
 * Checks an arm's mass after a pass over its whole support: the tails cut
 * off hold ~1e-18, so a mass far from 1 means the densities lost their
 * precision (parameters far beyond 1e7), not rounding.
 */
static void
CheckArmMass(const Arm *arm, double mass)
{
	if (!(fabs(mass - 1) < 1e-6))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("Beta(%s, %s) is outside the range that can be computed",
						ShowDouble(arm->a), ShowDouble(arm->b)),
				 errdetail("Its density integrates to %s in double precision.", ShowDouble(mass))));
}

/* An arm's mass after a complete pass, checked. */
static double
SweepMass(const Sweep *sweep, int j)
{
	const Arm  *arm = &sweep->arms[j];
	double		mass = sweep->cdf_start[j] * exp(-arm->log_shift);

	CheckArmMass(arm, mass);
	return mass;
}

/*
 * Refines the panels to the tolerance, then normalizes each arm's mass to
 * 1, which removes the rounding in its normalizing constant.
 */
static void
SweepSettle(Sweep *sweep)
{
	SweepPass(sweep);
	for (int j = 0; j < sweep->narms; j++)
		sweep->arms[j].mass = SweepMass(sweep, j);
	SweepRestart(sweep);
}

/*
 * An arm for a comparison, whose CDFs are 1 less the mass above: above
 * a + b = 1e5 (where the density is not the direct form) the rounding of
 * its normalizing constant reaches 1e-8, so its mass is measured by a pass
 * over its own panels and divided out.
 */
static void
ComparedArmInit(Arm *arm, double a, double b)
{
	ArmInit(arm, a, b, LOG_TAIL_MASS, 0);
	if (!arm->direct)
	{
		Sweep		sweep;

		SweepInit(&sweep, arm, 1, false);
		SweepSettle(&sweep);
	}
}

/*
 * Where the product of every arm's CDF is below e^LOG_NEGLIGIBLE, no arm
 * gains more than that to its P(best): integral to t of f_i prod_{j != i}
 * F_j is at most prod_j F_j(t).
 */
#define LOG_NEGLIGIBLE (-69.0)

/*
 * Panels of a comparison span up to 2.5 of the narrowest local scale: its
 * error estimate (ArmPanel) is the CDF's, from the interpolant's own
 * coefficients, not the nested rule's, which would halve them down to 0.75.
 */
#define COMPARISON_SPACING 2.5
#define FLOOR_ARMS 64

/*
 * An upper bound on log F(t) below the arm's logit mode: the density is
 * log-concave, so the mass below t is at most the density there over the
 * slope of its log (TailDistance's bound, on the other side).
 */
static double
LogCdfBound(const Arm *arm, double t)
{
	double		slope = arm->a * Logistic(-t) - arm->b * Logistic(t);

	if (t >= arm->mode || !(slope > 0))
		return 0;
	return Min(0.0, ArmLogDensity(arm, t - arm->mode) - log(slope));
}

/* The bound on the log of the product of the leaders' CDFs at t. */
static double
LeadersLogCdfBound(const Arm *arms, const int *count, const int *leaders, int nleaders, double t)
{
	double		bound = 0;

	for (int k = 0; k < nleaders; k++)
		bound += count[leaders[k]] * LogCdfBound(&arms[leaders[k]], t);
	return bound;
}

/*
 * A point below which the comparison gains nothing (see LOG_NEGLIGIBLE),
 * or -INFINITY: bisection on the bound of the product of the CDFs of the
 * FLOOR_ARMS arms with the highest modes, whose product bounds everyone's,
 * to a twentieth of the leader's scale (the floor need not be tight).
 */
static double
ComparisonFloor(Arm *arms, const int *count, int narms)
{
	int			leaders[FLOOR_ARMS];
	int			nleaders = 0;
	double		below = INFINITY,
				above = -INFINITY;

	/* the leaders by mode, lowest first, by insertion */
	for (int j = 0; j < narms; j++)
	{
		int			k;

		if (nleaders == FLOOR_ARMS && arms[j].mode <= arms[leaders[0]].mode)
			continue;
		if (nleaders == FLOOR_ARMS)
		{
			memmove(&leaders[0], &leaders[1], sizeof(int) * (FLOOR_ARMS - 1));
			nleaders--;
		}
		for (k = nleaders; k > 0 && arms[leaders[k - 1]].mode > arms[j].mode; k--)
			leaders[k] = leaders[k - 1];
		leaders[k] = j;
		nleaders++;
	}
	for (int k = 0; k < nleaders; k++)
	{
		below = Min(below, ArmLowerEnd(&arms[leaders[k]]));
		above = Max(above, arms[leaders[k]].mode);
	}
	for (int iteration = 0; iteration < 60 && above - below > 0.05 * arms[leaders[nleaders - 1]].scale; iteration++)
	{
		double		t = (below + above) / 2;

		if (LeadersLogCdfBound(arms, count, leaders, nleaders, t) <= LOG_NEGLIGIBLE)
			below = t;
		else
			above = t;
	}
	return LeadersLogCdfBound(arms, count, leaders, nleaders, below) <= LOG_NEGLIGIBLE ? below : -INFINITY;
}

/* x^n for n >= 0 by squaring: twins are counted, not measured */
static inline double
IntPower(double x, int n)
{
	double		result = 1;

	for (; n > 0; n >>= 1, x *= x)
		if (n & 1)
			result *= x;
	return result;
}

/* sort_by_upper_end(): arm indices by upper end, highest first */
#define ST_SORT sort_by_upper_end
#define ST_ELEMENT_TYPE int
#define ST_COMPARE_ARG_TYPE const Arm
#define ST_COMPARE(a, b, arms) (((arms)[*(b)].hi > (arms)[*(a)].hi) - ((arms)[*(b)].hi < (arms)[*(a)].hi))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * A comparison's panels, from the top down: each at most COMPARISON_SPACING
 * times the smallest scale of the arms whose support meets it (the top of
 * a heap of the arms begun, by scale, from which those ended are dropped),
 * and none below the floor.
 */
typedef struct PanelWalk
{
	Arm	   *arms;
	const int  *order;			/* by upper end, highest first */
	int			narms;
	int			begun;
	binaryheap *covering;
	double		floor;
} PanelWalk;

static void
PanelWalkInit(PanelWalk *walk, Arm *arms, const int *order, int narms, double floor)
{
	walk->arms = arms;
	walk->order = order;
	walk->narms = narms;
	walk->covering = binaryheap_allocate(Max(narms, 1), CompareScales, (void *) arms);
	walk->floor = floor;
	walk->begun = 0;
}

/* The lower edge of the panel below t1, or -INFINITY if no arm is left there. */
static double
PanelWalkNext(PanelWalk *walk, double t1)
{
	Arm	   *arms = walk->arms;
	double		width = INFINITY;

	while (!binaryheap_empty(walk->covering) &&
		   ArmAbove(&arms[DatumGetInt32(binaryheap_first(walk->covering))], t1))
		binaryheap_remove_first(walk->covering);
	if (!binaryheap_empty(walk->covering))
		width = COMPARISON_SPACING * arms[DatumGetInt32(binaryheap_first(walk->covering))].scale;
	else if (walk->begun == walk->narms)
		return -INFINITY;
	/* an arm that begins inside the panel: at most its width below its upper end */
	while (walk->begun < walk->narms && arms[walk->order[walk->begun]].hi > t1 - width)
	{
		const Arm  *arm = &arms[walk->order[walk->begun]];

		width = Min(width, Max(0.0, t1 - arm->hi) + COMPARISON_SPACING * arm->scale);
		binaryheap_add(walk->covering, Int32GetDatum(walk->order[walk->begun++]));
	}
	return Max(t1 - width, walk->floor);
}

/*
 * One arm on one panel of a top-down comparison, upper its mass above the
 * panel: its densities and its CDF at the points (1 less the mass above
 * each), and the mass in the panel.  Returns the error estimate for that mass.
 */
static double
ArmPanel(const Arm *arm, const PanelPoints *points, double upper, double *density, double *cdf, double *mass)
{
	double		last[2];

	ArmPanelIntegrals(arm, points, density, cdf, last);
	*mass = cdf[CHEB_DEGREE];
	for (int m = 0; m < CHEB_POINTS; m++)
		cdf[m] = Max(0.0, 1 - (upper + *mass - cdf[m]));
	/*
	 * The CDF's error, from the interpolant's last two Chebyshev coefficients:
	 * the integral of T_k from -1 never exceeds 2 k / (k^2 - 1).
	 */
	return fabs(last[0]) * 2 * (CHEB_DEGREE - 1) / ((CHEB_DEGREE - 1) * (CHEB_DEGREE - 1) - 1) +
		fabs(last[1]) * 2 * CHEB_DEGREE / (CHEB_DEGREE * CHEB_DEGREE - 1);
}

/* log F with a floor, so that sums of them can be taken apart again */
static inline double
LogCdf(double cdf)
{
	return log(Max(cdf, DBL_MIN));
}

/*
 * The panels a comparison was computed on, top down, and at their points
 * the sum over every arm of log F: enough to give one arm's P(best) again
 * after a few arms changed (see PropensityCache).
 */
typedef struct ComparisonGrid
{
	MemoryContext context;		/* of the arrays */
	int			npanels;
	int			capacity;
	double	   *t0,
			   *t1;
	double	   *log_product;	/* npanels x CHEB_POINTS */
} ComparisonGrid;

static void
GridAppend(ComparisonGrid *grid, const PanelPoints *points, const double *log_product)
{
	if (grid->npanels == grid->capacity)
	{
		grid->capacity = Max(16, 2 * grid->capacity);
		if (grid->npanels == 0)
		{
			grid->t0 = MemoryContextAlloc(grid->context, sizeof(double) * grid->capacity);
			grid->t1 = MemoryContextAlloc(grid->context, sizeof(double) * grid->capacity);
			grid->log_product = MemoryContextAlloc(grid->context, sizeof(double) * grid->capacity * CHEB_POINTS);
		}
		else
		{
			grid->t0 = repalloc(grid->t0, sizeof(double) * grid->capacity);
			grid->t1 = repalloc(grid->t1, sizeof(double) * grid->capacity);
			grid->log_product = repalloc(grid->log_product, sizeof(double) * grid->capacity * CHEB_POINTS);
		}
	}
	grid->t0[grid->npanels] = points->t0;
	grid->t1[grid->npanels] = points->t1;
	memcpy(&grid->log_product[grid->npanels * CHEB_POINTS], log_product, sizeof(double) * CHEB_POINTS);
	grid->npanels++;
}

/*
 * The comparison's integrals over the panels from the top down to where
 * they gain nothing more: each arm's CDF is 1 less its mass above (its
 * densities normalized by the Beta function), so nothing below the floor is
 * ever evaluated, and an arm whose whole support lies below the floor is
 * never touched.  prob and expected_max are per arm, unnormalized.  With a
 * grid, also records the panels and the sum of the arms' log CDFs.
 */
static void
CompareFromTop(Arm *arms, const int *count, int narms, double floor,
			   double *prob, double *expected_max, ComparisonGrid *grid)
{
	PanelWalk	walk;
	int		   *order = palloc(sizeof(int) * narms);
	int		   *active = palloc(sizeof(int) * narms);
	double	   *upper = palloc0(sizeof(double) * narms);	/* mass above the panel */
	double	   *step = palloc(sizeof(double) * narms);	/* mass in the panel */
	double	   *density = palloc(sizeof(double) * narms * CHEB_POINTS);
	double	   *cdf = palloc(sizeof(double) * narms * CHEB_POINTS);
	double	   *prefix = palloc(sizeof(double) * (narms + 1) * CHEB_POINTS);
	double		suffix[CHEB_POINTS];
	double		pending[MAX_HALVINGS + 1];	/* left halves still to do */
	int			pending_depth[MAX_HALVINGS + 1];
	int			npending = 0,
				nactive = 0,
				next = 0,
				depth = 0;
	double		t0,
				t1;

	ChebyshevSetup();
	for (int j = 0; j < narms; j++)
		order[j] = j;
	sort_by_upper_end(order, narms, arms);
	PanelWalkInit(&walk, arms, order, narms, floor);
	t1 = arms[order[0]].hi;
	t0 = PanelWalkNext(&walk, t1);
	for (;;)
	{
		PanelPoints points;
		double		error = 0,
					weight[CHEB_POINTS],
					x[CHEB_POINTS];
		bool		exhausted = false;

		CHECK_FOR_INTERRUPTS();
		while (next < narms && arms[order[next]].hi > t0)
			active[nactive++] = order[next++];
		PanelPointsInit(&points, t0, t1);
		for (int k = 0; k < nactive; k++)
		{
			int			j = active[k];

			/*
			 * Below an arm's support its CDF is under the tail mass, and so
			 * is every arm's share of P(best) from here down.
			 */
			if (ArmAbove(&arms[j], t1))
			{
				exhausted = true;
				break;
			}
			error = Max(error, ArmPanel(&arms[j], &points, upper[j], &density[j * CHEB_POINTS],
										&cdf[j * CHEB_POINTS], &step[j]));
		}
		if (exhausted)
			break;
		if (error > PANEL_TOLERANCE)
		{
			/* the right half first, the left one after it */
			if (depth >= MAX_HALVINGS)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("Beta quadrature did not converge for these parameters")));
			depth++;
			pending[npending] = t0;
			pending_depth[npending++] = depth;
			t0 = (t0 + t1) / 2;
			continue;
		}

		/*
		 * prod_{j != i} F_j over the active arms (the others' CDFs are 1) as
		 * prefix times suffix (no division by a zero CDF); an arm's twins,
		 * sharing its CDF, raise it to their number less itself.  Arm by arm,
		 * all points at once.
		 */
		for (int m = 0; m < CHEB_POINTS; m++)
		{
			weight[m] = points.half * cheb_outputs[m][CHEB_DEGREE];
			x[m] = Logistic(points.t[m]);
			prefix[m] = 1;
			suffix[m] = 1;
		}
		for (int k = 0; k < nactive; k++)
		{
			int			i = active[k];
			const double *c = &cdf[i * CHEB_POINTS];
			double	   *before = &prefix[k * CHEB_POINTS];

			for (int m = 0; m < CHEB_POINTS; m++)
				before[CHEB_POINTS + m] = before[m] * (count[i] == 1 ? c[m] : IntPower(c[m], count[i]));
		}
		for (int k = nactive - 1; k >= 0; k--)
		{
			int			i = active[k];
			const double *c = &cdf[i * CHEB_POINTS];
			const double *f = &density[i * CHEB_POINTS];
			const double *before = &prefix[k * CHEB_POINTS];
			double		sum = 0,
						sum_x = 0;

			for (int m = 0; m < CHEB_POINTS; m++)
			{
				double		twins = count[i] == 1 ? 1 : IntPower(c[m], count[i] - 1);
				double		part = weight[m] * f[m] * before[m] * suffix[m] * twins;

				sum += part;
				sum_x += part * x[m];
				suffix[m] *= twins * c[m];
			}
			prob[i] += sum;
			expected_max[i] += sum_x;
		}
		/* the product is smallest at the panel's left end: stop below it */
		if (prefix[nactive * CHEB_POINTS] < exp(LOG_NEGLIGIBLE))
			exhausted = true;
		if (grid != NULL)
		{
			double		log_product[CHEB_POINTS] = {0};

			for (int k = 0; k < nactive; k++)
				for (int m = 0; m < CHEB_POINTS; m++)
					log_product[m] += count[active[k]] * LogCdf(cdf[active[k] * CHEB_POINTS + m]);
			GridAppend(grid, &points, log_product);
		}
		for (int k = 0; k < nactive; k++)
			upper[active[k]] += step[active[k]];
		if (exhausted)
			break;
		/* the next interval down: a pending left half, or the next panel */
		if (npending > 0)
		{
			t1 = t0;
			t0 = pending[--npending];
			depth = pending_depth[npending];
		}
		else
		{
			if (t0 <= floor)
				break;
			t1 = t0;
			t0 = PanelWalkNext(&walk, t1);
			depth = 0;
			if (t0 == -INFINITY)
				break;
		}
	}
	/* the sweep ends below some arm's support: check what it saw whole */
	for (int k = 0; k < nactive; k++)
		if (ArmAbove(&arms[active[k]], t1))
			CheckArmMass(&arms[active[k]], upper[active[k]]);
}

/* sort_by_parameters(): arm indices by (alpha, beta) */
typedef struct ArmParameters
{
	const double *alpha;
	const double *beta;
} ArmParameters;

static inline int
CompareParameters(int i, int j, const ArmParameters *parameters)
{
	const double *alpha = parameters->alpha,
			   *beta = parameters->beta;

	if (alpha[i] != alpha[j])
		return alpha[i] < alpha[j] ? -1 : 1;
	return (beta[i] > beta[j]) - (beta[i] < beta[j]);
}

#define ST_SORT sort_by_parameters
#define ST_ELEMENT_TYPE int
#define ST_COMPARE_ARG_TYPE const ArmParameters
#define ST_COMPARE(a, b, parameters) CompareParameters(*(a), *(b), parameters)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * P(theta_i is the largest) and E[max_j theta_j] - E[theta_i] for independent
 * theta_i ~ Beta(alpha_i, beta_i):
 *   P_i = integral of f_i(t) prod_{j != i} F_j(t) dt, and
 *   E[max] = sum_i integral of x(t) f_i(t) prod_{j != i} F_j(t) dt.
 * One pass computes them all, from the top down to where they gain nothing
 * more (CompareFromTop); dividing by sum P_i removes what rounding leaves
 * in the arms' normalizing constants.  Arms with the same parameters (a
 * catalog's fresh arms) are one arm with a count: the same integrals at the
 * cost of the distinct ones.  loss and grid may be NULL.
 */
static void
CompareArms(const double *alpha, const double *beta, int narms, double *prob, double *loss,
			ComparisonGrid *grid)
{
	int		   *order = palloc(sizeof(int) * Max(narms, 1));
	int		   *distinct_of = palloc(sizeof(int) * Max(narms, 1));
	int		   *count = palloc(sizeof(int) * Max(narms, 1));
	Arm		   *arms = palloc(sizeof(Arm) * Max(narms, 1));
	ArmParameters parameters = {alpha, beta};
	int			ndistinct = 0;
	double	   *distinct_prob,
			   *distinct_max;
	double		total = 0,
				expected_max = 0;

	for (int i = 0; i < narms; i++)
		order[i] = i;
	sort_by_parameters(order, narms, &parameters);
	for (int k = 0; k < narms; k++)
	{
		int			i = order[k];

		if (k == 0 || CompareParameters(order[k - 1], i, &parameters) != 0)
		{
			CHECK_FOR_INTERRUPTS();
			ComparedArmInit(&arms[ndistinct], alpha[i], beta[i]);
			count[ndistinct++] = 0;
		}
		count[ndistinct - 1]++;
		distinct_of[i] = ndistinct - 1;
	}
	distinct_prob = palloc0(sizeof(double) * ndistinct);
	distinct_max = palloc0(sizeof(double) * ndistinct);
	CompareFromTop(arms, count, ndistinct, ComparisonFloor(arms, count, ndistinct),
				   distinct_prob, distinct_max, grid);
	for (int u = 0; u < ndistinct; u++)
	{
		total += count[u] * distinct_prob[u];
		expected_max += count[u] * distinct_max[u];
	}
	for (int i = 0; i < narms; i++)
	{
		const Arm  *arm = &arms[distinct_of[i]];

		/* interpolation ringing can leave -1e-20 where the answer is 0; n alike arms: 1/n */
		prob[i] = ndistinct == 1 ? 1.0 / narms : Max(0.0, distinct_prob[distinct_of[i]] / total);
		if (loss != NULL)
			loss[i] = Max(0.0, expected_max / total - arm->a / (arm->a + arm->b));
	}
}

/*
 * Whether panel p of a grid can carry the arm: a panel far wider than the
 * arm's core could hold all of it between two points, where no error
 * estimate sees it.  A comparison's own panels are at most
 * COMPARISON_SPACING scales of any arm they meet wide (PanelWalk).
 */
static bool
GridResolves(const ComparisonGrid *grid, int p, const Arm *arm)
{
	bool		core = grid->t1[p] > arm->mode - 3.5 * arm->scale && grid->t0[p] < arm->mode + 3.5 * arm->scale;

	return !core || grid->t1[p] - grid->t0[p] <= 4 * arm->scale;
}

/*
 * Adds sign times the log CDF of Beta(a, b) to a grid's sums: false if the
 * grid cannot carry the arm (its support above the grid's top, or a panel
 * too wide for its density).  The same arithmetic as CompareFromTop's, so
 * that taking an arm out removes what putting it in added.
 */
static bool
GridAddArm(ComparisonGrid *grid, double a, double b, double sign)
{
	Arm			arm;
	double		upper = 0;

	ComparedArmInit(&arm, a, b);
	if (arm.hi > grid->t1[0])
		return false;
	for (int p = 0; p < grid->npanels; p++)
	{
		PanelPoints points;
		double		density[CHEB_POINTS],
					cdf[CHEB_POINTS],
					mass;
		double	   *log_product = &grid->log_product[p * CHEB_POINTS];

		if (!GridResolves(grid, p, &arm))
			return false;
		if (arm.hi <= grid->t0[p])
			continue;
		if (ArmAbove(&arm, grid->t1[p]))
		{
			/* below its support: the arm's CDF is under the tail mass */
			for (int m = 0; m < CHEB_POINTS; m++)
				log_product[m] += sign * LogCdf(Max(0.0, 1 - upper));
			continue;
		}
		PanelPointsInit(&points, grid->t0[p], grid->t1[p]);
		if (ArmPanel(&arm, &points, upper, density, cdf, &mass) > PANEL_TOLERANCE)
			return false;
		for (int m = 0; m < CHEB_POINTS; m++)
			log_product[m] += sign * LogCdf(cdf[m]);
		upper += mass;
	}
	return true;
}

/*
 * P(Beta(a, b) is the largest) from a grid whose sums include it: false in
 * ok if a panel is too wide for its density.
 */
static double
GridProbBest(const ComparisonGrid *grid, double a, double b, bool *ok)
{
	Arm			arm;
	double		upper = 0,
				prob = 0;

	ComparedArmInit(&arm, a, b);
	*ok = true;
	for (int p = 0; p < grid->npanels && !ArmAbove(&arm, grid->t1[p]); p++)
	{
		PanelPoints points;
		double		density[CHEB_POINTS],
					cdf[CHEB_POINTS],
					mass;
		const double *log_product = &grid->log_product[p * CHEB_POINTS];

		if (arm.hi <= grid->t0[p])
			continue;
		PanelPointsInit(&points, grid->t0[p], grid->t1[p]);
		if (!GridResolves(grid, p, &arm) ||
			ArmPanel(&arm, &points, upper, density, cdf, &mass) > PANEL_TOLERANCE)
		{
			*ok = false;
			return 0;
		}
		for (int m = 0; m < CHEB_POINTS; m++)
			prob += points.half * cheb_outputs[m][CHEB_DEGREE] * density[m] *
				exp(log_product[m] - LogCdf(cdf[m]));
		upper += mass;
	}
	return prob;
}

/*
 * Thompson's propensity, per backend and policy: the arms' parameters as
 * last compared and the grid of that comparison.  Between two chooses a
 * policy's arms change by the rewards in between: each arm that changed
 * moves the grid's sums by its new log CDF less its old, so a round costs
 * the arms rewarded, not all of them.  Too many changes, an arm the grid
 * cannot carry, a grid whose bottom no longer bounds the product, or
 * PROPENSITY_REFRESH updates (their rounding adds up): compared afresh.
 */
#define PROPENSITY_POLICIES 8
#define PROPENSITY_REFRESH 1000

typedef struct PropensityCache
{
	char	   *policy;			/* NULL: unused */
	int			narms;			/* -1 while being updated: an error leaves it unusable */
	double	   *alpha,
			   *beta;
	ComparisonGrid grid;
	int			updates;
	uint64		used;			/* for replacing the least recently used */
} PropensityCache;

static PropensityCache propensity_cache[PROPENSITY_POLICIES];
static uint64 propensity_clock = 0;

/* The entry of a policy, or the one to replace for it (emptied). */
static PropensityCache *
PropensityEntry(const char *policy, bool *found)
{
	PropensityCache *victim = &propensity_cache[0];

	for (int k = 0; k < PROPENSITY_POLICIES; k++)
	{
		PropensityCache *entry = &propensity_cache[k];

		if (entry->policy != NULL && strcmp(entry->policy, policy) == 0)
		{
			*found = true;
			return entry;
		}
		if (entry->used < victim->used)
			victim = entry;
	}
	*found = false;
	if (victim->grid.context == NULL)
		victim->grid.context = AllocSetContextCreate(TopMemoryContext, "bandit propensity",
													 ALLOCSET_DEFAULT_SIZES);
	return victim;
}

/* The cached comparison brought to the arms' parameters: false if it cannot be. */
static bool
PropensityUpdate(PropensityCache *entry, const double *alpha, const double *beta, int n)
{
	int			changed = 0,
				narms = entry->narms;

	if (narms != n || entry->updates >= PROPENSITY_REFRESH)
		return false;
	for (int i = 0; i < n; i++)
		changed += alpha[i] != entry->alpha[i] || beta[i] != entry->beta[i];
	if (changed > n / 16 + 4)
		return false;
	entry->narms = -1;
	for (int i = 0; i < n; i++)
	{
		if (alpha[i] == entry->alpha[i] && beta[i] == entry->beta[i])
			continue;
		if (!GridAddArm(&entry->grid, entry->alpha[i], entry->beta[i], -1) ||
			!GridAddArm(&entry->grid, alpha[i], beta[i], 1))
			return false;
		entry->alpha[i] = alpha[i];
		entry->beta[i] = beta[i];
		entry->updates++;
	}
	/* the product at the bottom must stay under the tail mass */
	if (!(entry->grid.log_product[(entry->grid.npanels - 1) * CHEB_POINTS] <= LOG_TAIL_MASS))
		return false;
	entry->narms = narms;
	return true;
}

/*
 * P(theta_chosen is the largest) for the arms of a policy, as
 * BetaProbBest's, from the policy's cached comparison when it can be.
 */
double
BetaPropensity(const char *policy, const double *alpha, const double *beta, int n, int chosen)
{
	bool		found;
	PropensityCache *entry = PropensityEntry(policy, &found);
	double	   *prob;
	MemoryContext old;

	entry->used = ++propensity_clock;
	if (found && PropensityUpdate(entry, alpha, beta, n))
	{
		bool		ok;
		double		p = GridProbBest(&entry->grid, alpha[chosen], beta[chosen], &ok);

		if (ok)
			return Min(1.0, Max(0.0, p));
	}
	entry->narms = -1;
	entry->policy = NULL;
	MemoryContextReset(entry->grid.context);
	entry->grid.npanels = entry->grid.capacity = 0;
	prob = palloc(sizeof(double) * n);
	CompareArms(alpha, beta, n, prob, NULL, &entry->grid);
	old = MemoryContextSwitchTo(entry->grid.context);
	entry->policy = pstrdup(policy);
	entry->alpha = palloc(sizeof(double) * n);
	entry->beta = palloc(sizeof(double) * n);
	MemoryContextSwitchTo(old);
	memcpy(entry->alpha, alpha, sizeof(double) * n);
	memcpy(entry->beta, beta, sizeof(double) * n);
	entry->updates = 0;
	entry->narms = n;
	return prob[chosen];
}

/* The CDF at t inside the current panel, by barycentric interpolation. */
static double
PanelCdfAt(const Sweep *sweep, double t)
{
	double		numerator = 0,
				denominator = 0;

	for (int m = 0; m < CHEB_POINTS; m++)
	{
		double		w = (m % 2 == 0 ? 1.0 : -1.0) * ((m == 0 || m == CHEB_DEGREE) ? 0.5 : 1.0);
		double		diff = t - sweep->points.t[m];

		if (diff == 0)
			return sweep->cdf[m];
		numerator += w / diff * sweep->cdf[m];
		denominator += w / diff;
	}
	return numerator / denominator;
}

/*
 * The p-quantile of logit(theta), theta ~ Beta(a, b), for 0 < p <= 1/2,
 * and in [*lo, *hi] the panels around it, a bracket for polishing.
 */
static double
LogitBetaLowerQuantile(double a, double b, double p, double *lo, double *hi)
{
	Arm			arm;
	Sweep		sweep;

	/*
	 * Leave far less than p outside, so that the CDF is relative-accurate at
	 * p; below p = 1e-260 scale the densities up, away from subnormals.
	 */
	double		log_shift = Max(0.0, -log(p) - 600);
	double		target = exp(log(p) + log_shift);

	ArmInit(&arm, a, b, Min(LOG_TAIL_MASS, log(p) - 40), log_shift);
	SweepInit(&sweep, &arm, 1, true);
	SweepSettle(&sweep);
	for (int panel = 0; panel < sweep.npanels; panel++)
	{
		double		left,
					right;

		SweepPanel(&sweep, panel);
		if (sweep.cdf[CHEB_DEGREE] < target && panel < sweep.npanels - 1)
			continue;
		/* The CDF is increasing: bisect its interpolant down to rounding. */
		left = sweep.edges[panel];
		right = sweep.edges[panel + 1];
		for (int i = 0; i < 200 && right - left > 4 * DBL_EPSILON * Max(1.0, fabs(left)); i++)
		{
			double		t = (left + right) / 2;

			if (PanelCdfAt(&sweep, t) < target)
				left = t;
			else
				right = t;
		}
		/* the quadrature's error may put the true quantile a panel over */
		*lo = sweep.edges[Max(panel - 1, 0)];
		*hi = sweep.edges[Min(panel + 2, sweep.npanels)];
		return (left + right) / 2;
	}
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the %s-quantile of Beta(%s, %s) could not be computed",
					ShowDouble(p), ShowDouble(a), ShowDouble(b))));
	pg_unreachable();
}

/* Below this x (a + b), the series of BetaLogCdfSeries needs some 100 terms at most. */
#define SERIES_LIMIT 10

/*
 * log I_x(a, b) for x <= 1/2, x (a + b) < SERIES_LIMIT, from
 *   I_x(a, b) = x^a (1-x)^b / (a B(a, b)) sum_k (a+b)_k / (a+1)_k x^k,
 * whose terms shrink by at most max(x, x (a + b) / (a + 1)) each; the sum
 * goes to *series.  gsl_sf_lnbeta keeps log B(a, b) within ~1e-15 of it
 * even for a ~ 0.01, b ~ 1e7 (lgamma(a) - lnpoch(b, a) loses 1e-8 there).
 */
static double
BetaLogCdfSeries(double a, double b, double x, double *series)
{
	gsl_sf_result lbeta;
	double		term = 1,
				sum = 1;

	CheckGsl(gsl_sf_lnbeta_e(a, b, &lbeta), "lnbeta");
	for (int k = 0; k < 200 && term > DBL_EPSILON / 4 * sum; k++)
	{
		term *= (a + b + k) / (a + 1 + k) * x;
		sum += term;
	}
	*series = sum;
	return a * log(x) + b * log1p(-x) - log(a) - lbeta.val + log(sum);
}

/*
 * Polishes x, a quantile of Beta(a, b) whose CDF there is exp(log_p) with
 * 1 - exp(log_p) not tiny, by Newton steps in log x on log I_x(a, b) - log_p,
 * whose slope is a / ((1 - x) series).  Keeps x if the steps leave [lo, hi].
 */
static double
PolishQuantile(double a, double b, double log_p, double x, double lo, double hi)
{
	double		y = x,
				step = INFINITY;

	for (int i = 0; i < 4 && fabs(step) >= 1e-15; i++)
	{
		double		series;
		double		log_cdf;

		if (!(y > 0 && y <= 0.5 && y * (a + b) < SERIES_LIMIT))
			return x;
		log_cdf = BetaLogCdfSeries(a, b, y, &series);
		step = (log_cdf - log_p) * (1 - y) * series / a;
		y *= exp(-step);
	}
	return (fabs(step) < 1e-10 && y >= lo && y <= hi) ? y : x;
}

/*
 * The quantile of Beta(a, b) with probability p below it, or above it when
 * upper.  The quadrature answers in logit space; where the CDF (or, near 1,
 * the mirror image's) has the series, Newton steps polish it, unless the
 * probability on the far side is too small for its log to carry it.
 */
static double
BetaQuantile(double a, double b, double p, bool upper)
{
	double		t,
				lo,
				hi,
				x;
	double		below = upper ? 1 - p : p,
				above = upper ? p : 1 - p;

	if (below == 0)
		return 0;
	if (above == 0)
		return 1;
	if (below <= 0.5)
		t = LogitBetaLowerQuantile(a, b, below, &lo, &hi);
	else
	{
		double		mirror_lo,
					mirror_hi;

		t = -LogitBetaLowerQuantile(b, a, above, &mirror_lo, &mirror_hi);
		lo = -mirror_hi;
		hi = -mirror_lo;
	}
	x = Logistic(t);
	if (x <= 0.5)
	{
		if (x * (a + b) < SERIES_LIMIT && above >= 1e-6)
			x = PolishQuantile(a, b, upper ? log1p(-p) : log(p), x, Logistic(lo), Logistic(hi));
	}
	else
	{
		double		y = Logistic(-t);

		if (y * (a + b) < SERIES_LIMIT && below >= 1e-6)
			x = 1 - PolishQuantile(b, a, upper ? log(p) : log1p(-p), y, Logistic(-hi), Logistic(-lo));
	}
	return x;
}

PG_FUNCTION_INFO_V1(bandit_beta_quantile);

/* beta_quantile(alpha, beta, p) = scipy.stats.beta.ppf(p, alpha, beta) */
Datum
bandit_beta_quantile(PG_FUNCTION_ARGS)
{
	double		a = CheckPositive(PG_GETARG_FLOAT8(0), "alpha");
	double		b = CheckPositive(PG_GETARG_FLOAT8(1), "beta");
	double		p = CheckRange(PG_GETARG_FLOAT8(2), 0, 1, "p");

	PG_RETURN_FLOAT8(BetaQuantile(a, b, p, false));
}

PG_FUNCTION_INFO_V1(bandit_beta_interval);

/* Equal-tailed credible interval: the (1-level)/2 and (1+level)/2 quantiles. */
Datum
bandit_beta_interval(PG_FUNCTION_ARGS)
{
	double		a = CheckPositive(PG_GETARG_FLOAT8(0), "alpha");
	double		b = CheckPositive(PG_GETARG_FLOAT8(1), "beta");
	double		level = CheckOpenRange(PG_GETARG_FLOAT8(2), 0, 1, "level");
	double		tail = (1 - level) / 2;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = Float8GetDatum(BetaQuantile(a, b, tail, false));
	values[1] = Float8GetDatum(BetaQuantile(a, b, tail, true));
	return MakeResultTuple(fcinfo, values, nulls);
}

PG_FUNCTION_INFO_V1(bandit_beta_sample);

/* One draw from Beta(alpha, beta) with this session's generator. */
Datum
bandit_beta_sample(PG_FUNCTION_ARGS)
{
	double		a = CheckPositive(PG_GETARG_FLOAT8(0), "alpha");
	double		b = CheckPositive(PG_GETARG_FLOAT8(1), "beta");
	double		x = gsl_ran_beta(BanditRng(), a, b);

	if (!(x >= 0 && x <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("could not draw from Beta(%s, %s)", ShowDouble(a), ShowDouble(b))));
	PG_RETURN_FLOAT8(x);
}

/* The parameter arrays of prob_best and expected_loss, checked. */
static int
ArmArrays(FunctionCallInfo fcinfo, double **alpha, double **beta, const char *what)
{
	int			n_alpha,
				n_beta;

	*alpha = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(0), "alpha", &n_alpha);
	*beta = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(1), "beta", &n_beta);
	if (n_alpha != n_beta)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("alpha and beta must have the same length, got %d and %d", n_alpha, n_beta)));
	CheckComparedArms(n_alpha, what);
	for (int i = 0; i < n_alpha; i++)
	{
		CheckPositive((*alpha)[i], "every alpha");
		CheckPositive((*beta)[i], "every beta");
	}
	return n_alpha;
}

/* P(theta_i is the largest) for other modules (recommend's ranking). */
void
BetaProbBest(const double *alpha, const double *beta, int n, double *prob)
{
	if (n > 0)
		CompareArms(alpha, beta, n, prob, NULL, NULL);
}

/* prob_best and expected_loss: one comparison, either half of its answer. */
static Datum
CompareArmsDatum(FunctionCallInfo fcinfo, bool want_loss)
{
	double	   *alpha,
			   *beta;
	int			n = ArmArrays(fcinfo, &alpha, &beta, want_loss ? "expected_loss" : "prob_best");
	double	   *prob = palloc(sizeof(double) * Max(n, 1));
	double	   *loss = palloc(sizeof(double) * Max(n, 1));

	if (n > 0)
		CompareArms(alpha, beta, n, prob, loss, NULL);
	return Float8ArrayDatum(want_loss ? loss : prob, n);
}

PG_FUNCTION_INFO_V1(bandit_prob_best);

/* prob_best(alpha[], beta[]): P(theta_i is the largest), by quadrature. */
Datum
bandit_prob_best(PG_FUNCTION_ARGS)
{
	return CompareArmsDatum(fcinfo, false);
}

PG_FUNCTION_INFO_V1(bandit_expected_loss);

/* expected_loss(alpha[], beta[]): E[max_j theta_j - theta_i], by quadrature. */
Datum
bandit_expected_loss(PG_FUNCTION_ARGS)
{
	return CompareArmsDatum(fcinfo, true);
}

/*
 * State of beta_posterior: {prior alpha, prior beta, successes, failures}.
 * The prior is kept apart so that combining partial states counts it once.
 */
enum
{
	BP_PRIOR_ALPHA, BP_PRIOR_BETA, BP_SUCCESSES, BP_FAILURES, BP_LENGTH
};

/*
 * The beta_posterior state, checked (XX001): the prior unset (no row yet,
 * no evidence) or positive, the evidence finite and >= 0.
 */
static double *
PosteriorState(ArrayType *array)
{
	double	   *s = Float8State(array, BP_LENGTH, "beta_posterior");
	bool		unset = s[BP_PRIOR_ALPHA] == STATE_UNSET;

	if ((s[BP_PRIOR_BETA] == STATE_UNSET) != unset ||
		(!unset && !(isfinite(s[BP_PRIOR_ALPHA]) && s[BP_PRIOR_ALPHA] > 0 &&
					 isfinite(s[BP_PRIOR_BETA]) && s[BP_PRIOR_BETA] > 0)) ||
		!(isfinite(s[BP_SUCCESSES]) && s[BP_SUCCESSES] >= 0 &&
		  isfinite(s[BP_FAILURES]) && s[BP_FAILURES] >= 0) ||
		(unset && (s[BP_SUCCESSES] != 0 || s[BP_FAILURES] != 0)))
		CorruptState("beta_posterior");
	return s;
}

/* Evidence added to a posterior: a sum beyond the doubles is 22003. */
static inline double
AddEvidence(double total, double more)
{
	total += more;
	if (unlikely(!isfinite(total)))
		StatisticOverflow("The evidence of beta_posterior");
	return total;
}

PG_FUNCTION_INFO_V1(bandit_beta_posterior_bool_accum);

/* Transition of beta_posterior(success boolean). */
Datum
bandit_beta_posterior_bool_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *state = PosteriorState(array);

	state[PG_GETARG_BOOL(1) ? BP_SUCCESSES : BP_FAILURES] += 1;
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_beta_posterior_accum);

/* Transition of beta_posterior(reward, prior_alpha, prior_beta): r counts as r successes and 1 - r failures. */
Datum
bandit_beta_posterior_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *state = PosteriorState(array);
	double		reward = CheckRange(PG_GETARG_FLOAT8(1), 0, 1, "reward");

	SetRowConstant(state, BP_PRIOR_ALPHA, CheckPositive(PG_GETARG_FLOAT8(2), "prior_alpha"), "beta_posterior", "prior_alpha");
	SetRowConstant(state, BP_PRIOR_BETA, CheckPositive(PG_GETARG_FLOAT8(3), "prior_beta"), "beta_posterior", "prior_beta");
	state[BP_SUCCESSES] += reward;
	state[BP_FAILURES] += 1 - reward;
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_beta_posterior_combine);

Datum
bandit_beta_posterior_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *array = WritableFloat8State(fcinfo);
	double	   *a = PosteriorState(array);
	double	   *b = PosteriorState(PG_GETARG_ARRAYTYPE_P(1));

	if (b[BP_PRIOR_ALPHA] != STATE_UNSET)
		SetRowConstant(a, BP_PRIOR_ALPHA, b[BP_PRIOR_ALPHA], "beta_posterior", "prior_alpha");
	if (b[BP_PRIOR_BETA] != STATE_UNSET)
		SetRowConstant(a, BP_PRIOR_BETA, b[BP_PRIOR_BETA], "beta_posterior", "prior_beta");
	a[BP_SUCCESSES] = AddEvidence(a[BP_SUCCESSES], b[BP_SUCCESSES]);
	a[BP_FAILURES] = AddEvidence(a[BP_FAILURES], b[BP_FAILURES]);
	PG_RETURN_ARRAYTYPE_P(array);
}

PG_FUNCTION_INFO_V1(bandit_beta_posterior_final);

/* (alpha, beta) of the posterior; NULL when no row gave the prior. */
Datum
bandit_beta_posterior_final(PG_FUNCTION_ARGS)
{
	double	   *state = PosteriorState(PG_GETARG_ARRAYTYPE_P(0));
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (state[BP_PRIOR_ALPHA] == STATE_UNSET)
		PG_RETURN_NULL();
	values[0] = Float8GetDatum(AddEvidence(state[BP_PRIOR_ALPHA], state[BP_SUCCESSES]));
	values[1] = Float8GetDatum(AddEvidence(state[BP_PRIOR_BETA], state[BP_FAILURES]));
	return MakeResultTuple(fcinfo, values, nulls);
}
