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
#include "utils/array.h"
#include "utils/builtins.h"
#include "catalog/pg_type.h"

#include <float.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sf_psi.h>

#define CHEB_DEGREE 16
#define CHEB_POINTS (CHEB_DEGREE + 1)

/*
 * Chebyshev points of degree 16 on [-1, 1] in ascending order, the matrix
 * that maps values at them to the integral from -1 up to each of them, and
 * the Clenshaw-Curtis weights of the nested degree-8 rule (every other
 * point), whose disagreement with degree 16 estimates the error.
 */
static double cheb_node[CHEB_POINTS];
static double cheb_cumulative[CHEB_POINTS][CHEB_POINTS];
static double cheb_coarse_weight[CHEB_DEGREE / 2 + 1];
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

	if (cheb_ready)
		return;
	for (int m = 0; m <= CHEB_DEGREE; m++)
		cheb_node[m] = -cos(M_PI * m / CHEB_DEGREE);
	ChebyshevIntegrationMatrix(CHEB_DEGREE, &cheb_cumulative[0][0]);
	ChebyshevIntegrationMatrix(CHEB_DEGREE / 2, coarse);
	for (int l = 0; l <= CHEB_DEGREE / 2; l++)
		cheb_coarse_weight[l] = coarse[(CHEB_DEGREE / 2) * (CHEB_DEGREE / 2 + 1) + l];
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
	double		lo,
				hi;				/* where the tails hold less than the tail mass */
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
 * answer, and they stop within 0.1 of it in log mass.  No step crosses the
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

		if (excess <= 0 && excess > -0.1)
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
	psi_a = gsl_sf_psi_1(a);
	psi_b = gsl_sf_psi_1(b);
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

	arm->lo = arm->mode + TailDistance(arm, log_tail, -1);
	arm->hi = arm->mode + TailDistance(arm, log_tail, 1);
	arm->log_shift = log_shift;
	arm->mass = 1;
}

static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Sorted, deduplicated panel edges covering every arm's [lo, hi]. */
static double *
PanelEdges(const Arm *arms, int narms, int *npanels)
{
	static const double core[] = {0, 1.5, 3.5, 6, 10, 16, 28};
	/* Where (1 + e^t) bends: the structure of densities with small parameters. */
	static const double fixed[] = {0, 0.5, 1, 2, 3, 5, 8, 12, 20, 35, 60};
	int			ncore = lengthof(core),
				nfixed = lengthof(fixed);
	int			capacity = narms * (4 * ncore + 2) + 2 * nfixed;
	double	   *edges = palloc(sizeof(double) * capacity);
	int			n = 0,
				kept;
	double		lo = INFINITY,
				hi = -INFINITY;

	for (int j = 0; j < narms; j++)
	{
		lo = Min(lo, arms[j].lo);
		hi = Max(hi, arms[j].hi);
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
	qsort(edges, n, sizeof(double), CompareDoubles);

	/*
	 * Similar arms interleave their edges into panels far narrower than any
	 * of them needs: keep an edge only if it is a good part of the smallest
	 * scale of the arms that matter there away from the last one kept (the
	 * pass halves whatever turns out too wide).  The domain's
	 * ends always stay.
	 */
	kept = 1;
	for (int i = 1; i < n; i++)
	{
		double		local_scale = INFINITY;

		CHECK_FOR_INTERRUPTS();
		/* every arm that has mass there, its tail bounds included */
		for (int j = 0; j < narms; j++)
			if (edges[i] >= arms[j].lo && edges[i] <= arms[j].hi)
				local_scale = Min(local_scale, arms[j].scale);
		if (edges[i] - edges[kept - 1] > Max(0.75 * local_scale, 1e-13 * Max(1.0, fabs(edges[i]))) ||
			(i == n - 1 && edges[i] > edges[kept - 1]))
			edges[kept++] = edges[i];
	}
	edges[kept - 1] = edges[n - 1];

	*npanels = kept - 1;
	return edges;
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
	double		t[CHEB_POINTS];
	double		log_x[CHEB_POINTS];	/* log x(t) and log(1 - x(t)) at the points */
	double		log_1mx[CHEB_POINTS];
	double		half;			/* half the panel's width */
	bool		relative;		/* error relative to the CDF so far (tail quantiles) */
} Sweep;

static void
SweepInit(Sweep *sweep, Arm *arms, int narms, bool relative)
{
	sweep->relative = relative;
	ChebyshevSetup();
	sweep->arms = arms;
	sweep->narms = narms;
	sweep->edges = PanelEdges(arms, narms, &sweep->npanels);
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
	double		mid = (t0 + t1) / 2;
	double		error = 0;

	sweep->half = (t1 - t0) / 2;
	for (int m = 0; m < CHEB_POINTS; m++)
	{
		double		t = mid + sweep->half * cheb_node[m];

		sweep->t[m] = t;
		/* log(1 / (1 + e^-t)) and log(1 / (1 + e^t)), without overflow */
		sweep->log_x[m] = -Log1pExp(-t);
		sweep->log_1mx[m] = sweep->log_x[m] - t;
	}
	for (int j = 0; j < sweep->narms; j++)
	{
		Arm		   *arm = &sweep->arms[j];
		double	   *density = &sweep->density[j * CHEB_POINTS];
		double	   *cdf = &sweep->cdf[j * CHEB_POINTS];
		double		coarse = 0;

		if (t1 <= arm->lo || t0 >= arm->hi)
		{
			for (int m = 0; m < CHEB_POINTS; m++)
			{
				density[m] = 0;
				cdf[m] = sweep->cdf_start[j];
			}
			continue;
		}
		if (arm->direct)
			for (int m = 0; m < CHEB_POINTS; m++)
				density[m] = exp(arm->a * sweep->log_x[m] + arm->b * sweep->log_1mx[m] - arm->log_beta
								 + arm->log_shift) / arm->mass;
		else
			for (int m = 0; m < CHEB_POINTS; m++)
				density[m] = exp(ArmLogDensity(arm, sweep->t[m] - arm->mode) + arm->log_shift) / arm->mass;
		for (int m = 0; m < CHEB_POINTS; m++)
		{
			double		sum = 0;

			for (int l = 0; l < CHEB_POINTS; l++)
				sum += cheb_cumulative[m][l] * density[l];
			cdf[m] = sweep->cdf_start[j] + sweep->half * sum;
		}
		for (int l = 0; l <= CHEB_DEGREE / 2; l++)
			coarse += cheb_coarse_weight[l] * density[2 * l];
		{
			double		increment = cdf[CHEB_DEGREE] - sweep->cdf_start[j];
			double		arm_error = fabs(increment - sweep->half * coarse);

			if (sweep->relative)
				arm_error *= PANEL_TOLERANCE / PANEL_RELATIVE_TOLERANCE /
					(cdf[CHEB_DEGREE] > 0 ? cdf[CHEB_DEGREE] : 1);
			error = Max(error, arm_error);
		}
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
 * One pass over the panels, calling visit (if any) after each.  A panel that
 * misses the tolerance is halved on the spot and its left half evaluated
 * from the same starting CDFs, so one pass meets the tolerance everywhere
 * and evaluates each accepted panel once.
 */
static void
SweepPass(Sweep *sweep, void (*visit) (Sweep *sweep, void *arg), void *arg)
{
	double	   *start = palloc(sizeof(double) * sweep->narms);

	SweepRestart(sweep);
	for (int p = 0; p < sweep->npanels; p++)
	{
		/* each panel costs O(arms): thousands of arms make thousands of panels */
		CHECK_FOR_INTERRUPTS();
		memcpy(start, sweep->cdf_start, sizeof(double) * sweep->narms);
		while (SweepPanel(sweep, p) > PANEL_TOLERANCE)
		{
			memcpy(sweep->cdf_start, start, sizeof(double) * sweep->narms);
			SweepSplit(sweep, p);
			CHECK_FOR_INTERRUPTS();
		}
		if (visit)
			visit(sweep, arg);
	}
	pfree(start);
}

/*
 * Checks each arm's mass after a complete pass: the tails cut off hold
 * ~1e-18, so a mass far from 1 means the densities lost their precision
 * (parameters far beyond 1e7), not rounding.  Returns it.
 */
static double
SweepMass(const Sweep *sweep, int j)
{
	const Arm  *arm = &sweep->arms[j];
	double		mass = sweep->cdf_start[j] * exp(-arm->log_shift);

	if (!(fabs(mass - 1) < 1e-6))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("Beta(%s, %s) is outside the range that can be computed",
						ShowDouble(arm->a), ShowDouble(arm->b)),
				 errdetail("Its density integrates to %s in double precision.", ShowDouble(mass))));
	return mass;
}

/*
 * Refines the panels to the tolerance, then normalizes each arm's mass to
 * 1, which removes the rounding in its normalizing constant.
 */
static void
SweepSettle(Sweep *sweep)
{
	SweepPass(sweep, NULL, NULL);
	for (int j = 0; j < sweep->narms; j++)
		sweep->arms[j].mass = SweepMass(sweep, j);
	SweepRestart(sweep);
}

/* Running sums of the arm comparison over the panels. */
typedef struct Comparison
{
	const int  *count;			/* how many arms share each distinct (alpha, beta) */
	double	   *prob;			/* integral of f_i prod_{j != i} F_j, per distinct arm */
	double	   *expected_max;	/* the same with x(t) inside */
	double	   *prefix;			/* scratch: prod_{j < i} F_j^count_j */
} Comparison;

static void
AccumulateComparison(Sweep *sweep, void *arg)
{
	Comparison *c = (Comparison *) arg;
	int			narms = sweep->narms;

	for (int m = 0; m < CHEB_POINTS; m++)
	{
		double		weight = sweep->half * cheb_cumulative[CHEB_DEGREE][m];
		double		x = Logistic(sweep->t[m]);
		double		suffix = 1;

		/*
		 * prod_{j != i} F_j over every arm as prefix times suffix (no
		 * division by a zero CDF); an arm's twins, sharing its CDF, raise it
		 * to their number less itself
		 */
		c->prefix[0] = 1;
		for (int j = 0; j < narms; j++)
		{
			double		cdf = sweep->cdf[j * CHEB_POINTS + m];

			c->prefix[j + 1] = c->prefix[j] * (c->count[j] == 1 ? cdf : pow(cdf, c->count[j]));
		}
		for (int i = narms - 1; i >= 0; i--)
		{
			double		cdf = sweep->cdf[i * CHEB_POINTS + m];
			double		twins = c->count[i] == 1 ? 1 : pow(cdf, c->count[i] - 1);
			double		part = weight * sweep->density[i * CHEB_POINTS + m] * c->prefix[i] * suffix * twins;

			c->prob[i] += part;
			c->expected_max[i] += part * x;
			suffix *= twins * cdf;
		}
	}
}

static int
CompareParameters(const void *left, const void *right, void *arg)
{
	const double *alpha = ((const double **) arg)[0];
	const double *beta = ((const double **) arg)[1];
	int			i = *(const int *) left,
				j = *(const int *) right;

	if (alpha[i] != alpha[j])
		return alpha[i] < alpha[j] ? -1 : 1;
	if (beta[i] != beta[j])
		return beta[i] < beta[j] ? -1 : 1;
	return 0;
}

/*
 * P(theta_i is the largest) and E[max_j theta_j] - E[theta_i] for independent
 * theta_i ~ Beta(alpha_i, beta_i):
 *   P_i = integral of f_i(t) prod_{j != i} F_j(t) dt, and
 *   E[max] = sum_i integral of x(t) f_i(t) prod_{j != i} F_j(t) dt.
 * One pass computes them all.  The densities are
 * not normalized: each P_i carries the same factor, the product of the
 * arms' masses, which dividing by sum P_i removes.  Arms with the same
 * parameters (a catalog's fresh arms) are one arm with a count: the same
 * integrals at the cost of the distinct ones.
 */
static void
CompareArms(const double *alpha, const double *beta, int narms, double *prob, double *loss)
{
	int		   *order = palloc(sizeof(int) * Max(narms, 1));
	int		   *distinct_of = palloc(sizeof(int) * Max(narms, 1));
	int		   *count = palloc(sizeof(int) * Max(narms, 1));
	Arm		   *arms = palloc(sizeof(Arm) * Max(narms, 1));
	const double *parameters[2] = {alpha, beta};
	int			ndistinct = 0;
	Sweep		sweep;
	Comparison	c;
	double		total = 0,
				expected_max = 0;

	for (int i = 0; i < narms; i++)
		order[i] = i;
	qsort_arg(order, narms, sizeof(int), CompareParameters, parameters);
	for (int k = 0; k < narms; k++)
	{
		int			i = order[k];

		if (k == 0 || CompareParameters(&order[k - 1], &i, parameters) != 0)
		{
			CHECK_FOR_INTERRUPTS();
			ArmInit(&arms[ndistinct], alpha[i], beta[i], LOG_TAIL_MASS, 0);
			count[ndistinct++] = 0;
		}
		count[ndistinct - 1]++;
		distinct_of[i] = ndistinct - 1;
	}
	c.count = count;
	c.prob = palloc0(sizeof(double) * Max(ndistinct, 1));
	c.expected_max = palloc0(sizeof(double) * Max(ndistinct, 1));
	c.prefix = palloc(sizeof(double) * (ndistinct + 1));
	SweepInit(&sweep, arms, ndistinct, false);
	SweepPass(&sweep, AccumulateComparison, &c);
	for (int u = 0; u < ndistinct; u++)
	{
		SweepMass(&sweep, u);
		total += count[u] * c.prob[u];
		expected_max += count[u] * c.expected_max[u];
	}
	for (int i = 0; i < narms; i++)
	{
		const Arm  *arm = &arms[distinct_of[i]];

		/* interpolation ringing can leave -1e-20 where the answer is 0 */
		prob[i] = Max(0.0, c.prob[distinct_of[i]] / total);
		loss[i] = Max(0.0, expected_max / total - arm->a / (arm->a + arm->b));
	}
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
		double		diff = t - sweep->t[m];

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

static Datum
Float8ArrayDatum(const double *values, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		datums[i] = Float8GetDatum(values[i]);
	return PointerGetDatum(construct_array(datums, n, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * The last answer of BetaProbBest, for the next call: a policy's arms change
 * only when rewarded, and between rewards every choose asks again.
 */
#define MEMO_ARMS 64
static int	memo_arms = 0;
static double memo_alpha[MEMO_ARMS],
			memo_beta[MEMO_ARMS],
			memo_prob[MEMO_ARMS];

/* P(theta_i is the largest) for other modules (policies' propensities). */
void
BetaProbBest(const double *alpha, const double *beta, int n, double *prob)
{
	size_t		size = sizeof(double) * n;
	double	   *loss;

	if (n == memo_arms && memcmp(alpha, memo_alpha, size) == 0 && memcmp(beta, memo_beta, size) == 0)
	{
		memcpy(prob, memo_prob, size);
		return;
	}
	if (n == 0)
		return;
	loss = palloc(size);
	CompareArms(alpha, beta, n, prob, loss);
	pfree(loss);
	if (n <= MEMO_ARMS)
	{
		memcpy(memo_alpha, alpha, size);
		memcpy(memo_beta, beta, size);
		memcpy(memo_prob, prob, size);
		memo_arms = n;
	}
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
		CompareArms(alpha, beta, n, prob, loss);
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
