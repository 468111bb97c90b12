/*
 * src/normal.c
 *
 * Bayesian comparison of normal posteriors, theta_i ~ N(mean_i, sd_i^2)
 * independent, sd_i = 0 meaning a point mass: the probability that each is
 * the largest and the expected loss of choosing it.
 *
 * Both come from one pass over the density of the maximum of the arms with
 * sd > 0, g(x) = sum_i phi_i(x) prod_{j != i} Phi_j(x): arm i's part of it
 * integrates to P_i, and x g(x) to E[max].  The pass covers only where the
 * maximum lives (above every arm's far lower tail and above the largest
 * point mass M), on panels laid at each arm's own scale, so that sds 1e16
 * apart are resolved together.  Each panel is integrated by Gauss-Kronrod
 * 10-21 and halved while its Gauss and Kronrod answers disagree.  Products
 * of Phi are summed as logs.  The point masses at M share the chance that
 * every other arm stays below M.
 *
 * Within a panel [a, b], each arm's z = (x - mean) / sd is formed from
 * a - mean and the offset from a, never from x itself: an arm of sd 1e-8
 * at mean 1000 spans only ~1e5 doubles, and rounding x would misplace the
 * nodes by 1e-5 of its sd.
 */
#include "bandit.h"
#include "numeric.h"

#include "miscadmin.h"
#include "catalog/pg_type.h"


/*
 * Tail left out per arm: Phi(-9.5) = 1e-21.  Below the domain the maximum
 * falls with at most that chance; an arm that cannot reach the domain
 * within that many sds is given 0.
 */
#define TAIL_Z 9.5

/* Gauss-Kronrod disagreement allowed per panel, in probability. */
#define PANEL_TOLERANCE 1e-12
#define MAX_DEPTH 60

#define INV_SQRT_2PI 0.398942280401432677939946059934

/* Gauss-Kronrod 10-21 on [-1, 1] (QUADPACK qk21): the positive nodes, 0 last. */
#define GK_NODES 11
static const double gk_node[GK_NODES] = {
	0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
	0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
	0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
	0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
	0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
	0.0
};
static const double gk_weight[GK_NODES] = {
	0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
	0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
	0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
	0.123491976262065851077208292818960, 0.134709217311473325928054001771707,
	0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
	0.149445554002916905664936468389821
};

/* The 10-point Gauss weights, of the odd-numbered Kronrod nodes. */
static const double gauss_weight[GK_NODES / 2] = {
	0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
	0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
	0.295524224714752870173892994651338
};

/* The arms with sd > 0 that can be the maximum, and the pass's workspace. */
typedef struct MaxPass
{
	int			n;
	const double *mean;
	const double *sd;
	double		origin;			/* the first moment is of x - origin */
	int		   *near;			/* arms whose Phi is not 1 on the panel */
	double	   *from_a;			/* per arm: (a - mean) / sd of the panel */
	double	   *log_scale;		/* per arm: log(half width / (sd sqrt(2 pi))) */
	double	   *z;				/* per arm, at the node */
	double	   *log_cdf;
	double	   *kronrod;		/* per arm, then the first moment; times half width */
	double	   *gauss;
} MaxPass;

/*
 * Adds the integrand at a + offset to the sums: arm i's density times the
 * others' CDFs, and x - origin times their sum.  Densities are taken times
 * the half width in log space, so that a subnormal sd cannot overflow them.
 */
static void
PassNode(MaxPass *pass, int nnear, double a, double offset, double kw, double gw)
{
	double		log_all = 0;
	double		density = 0;

	for (int k = 0; k < nnear; k++)
	{
		int			i = pass->near[k];

		pass->z[i] = pass->from_a[i] + offset / pass->sd[i];
		pass->log_cdf[i] = LogNormalCdf(pass->z[i]);
		log_all += pass->log_cdf[i];
	}
	for (int k = 0; k < nnear; k++)
	{
		int			i = pass->near[k];
		double		z = pass->z[i];
		double		f = exp(log_all - pass->log_cdf[i] - z * z / 2 + pass->log_scale[i]);

		density += f;
		pass->kronrod[i] += kw * f;
		pass->gauss[i] += gw * f;
	}
	density *= (a - pass->origin) + offset;
	pass->kronrod[pass->n] += kw * density;
	pass->gauss[pass->n] += gw * density;
}

/*
 * Integrates panel [a, b] into prob[] and *moment; returns false, adding
 * nothing, when Gauss and Kronrod disagree by more than the tolerance and
 * the panel can still be halved (60 halvings: never seen in practice).
 */
static bool
PassPanel(MaxPass *pass, double a, double b, bool last_chance, double *prob, double *moment)
{
	double		half = (b - a) / 2;
	int			nnear = 0;
	double		error = 0;

	for (int i = 0; i < pass->n; i++)
	{
		/* beyond TAIL_Z sds above its mean an arm's Phi is 1 and its density 0 */
		pass->from_a[i] = (a - pass->mean[i]) / pass->sd[i];
		if (pass->from_a[i] <= TAIL_Z)
		{
			pass->near[nnear++] = i;
			pass->log_scale[i] = log(half) - log(pass->sd[i]) + log(INV_SQRT_2PI);
		}
	}
	for (int k = 0; k <= nnear; k++)
	{
		int			i = k < nnear ? pass->near[k] : pass->n;

		pass->kronrod[i] = pass->gauss[i] = 0;
	}
	for (int m = 0; m < GK_NODES; m++)
	{
		double		gw = m % 2 == 1 ? gauss_weight[m / 2] : 0;

		PassNode(pass, nnear, a, half * (1 - gk_node[m]), gk_weight[m], gw);
		if (m < GK_NODES - 1)
			PassNode(pass, nnear, a, half * (1 + gk_node[m]), gk_weight[m], gw);
	}
	for (int k = 0; k < nnear; k++)
	{
		int			i = pass->near[k];

		error = Max(error, fabs(pass->kronrod[i] - pass->gauss[i]));
	}
	/* the moment's tolerance scales with the distance from the origin */
	error = Max(error, fabs(pass->kronrod[pass->n] - pass->gauss[pass->n]) /
				Max(fabs(a - pass->origin), fabs(b - pass->origin)));
	if (error > PANEL_TOLERANCE && !last_chance)
		return false;
	for (int k = 0; k < nnear; k++)
		prob[pass->near[k]] += pass->kronrod[pass->near[k]];
	*moment += pass->kronrod[pass->n];
	return true;
}

/*
 * Panel edges over [lo, hi]: every arm's core and tails at its own scale,
 * taken in ascending order by merging the arms' ascending lists, dropping
 * those closer to the last one kept than 1.25 times the smallest sd of the
 * arms alive there (similar arms would interleave needlessly narrow
 * panels).  So no panel spans more than ~4 sds of an arm alive in it: no
 * arm's core or rise can hide between the 21 nodes, where the Gauss-Kronrod
 * disagreement could not see it.  An arm counts as alive a little beyond
 * its last edges, at TAIL_Z sds, so that they stay: a wide panel starting
 * at 6.5 sds would miss the 4e-11 of its tail.
 */
static double *
PanelEdges(const MaxPass *pass, double lo, double hi, int *nedges)
{
	static const double steps[] = {-TAIL_Z, -6.5, -4.5, -3, -1.5, 0, 1.5, 3, 4.5, 6.5, TAIL_Z};
	int			nsteps = lengthof(steps);
	int		   *next = palloc0(sizeof(int) * pass->n);	/* per arm, its next step */
	double	   *edges = palloc(sizeof(double) * (pass->n * nsteps + 2));
	int			kept = 1;

	edges[0] = lo;
	for (;;)
	{
		double		x = hi;
		double		scale = INFINITY;
		int			from = -1;

		/* O(arms) per edge, ~10 edges per arm */
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < pass->n; i++)
			if (next[i] < nsteps && pass->mean[i] + steps[next[i]] * pass->sd[i] < x)
			{
				x = pass->mean[i] + steps[next[i]] * pass->sd[i];
				from = i;
			}
		if (from < 0)
			break;
		next[from]++;
		for (int i = 0; i < pass->n; i++)
			if (fabs(x - pass->mean[i]) <= (TAIL_Z + 1) * pass->sd[i])
				scale = Min(scale, pass->sd[i]);
		if (x > lo && x - edges[kept - 1] > 1.25 * scale)
			edges[kept++] = x;
	}
	edges[kept++] = hi;
	pfree(next);
	*nedges = kept;
	return edges;
}

/*
 * Integrates the maximum's density over [lo, hi] panel by panel, halving
 * panels depth first: adds each arm's chance to be the maximum there to
 * prob[] and the maximum's first moment about pass->origin to *moment.
 */
static void
IntegrateMax(MaxPass *pass, double lo, double hi, double *prob, double *moment)
{
	int			nedges;
	double	   *edges = PanelEdges(pass, lo, hi, &nedges);
	double		stack[MAX_DEPTH + 2];
	int			depth[MAX_DEPTH + 2];

	for (int p = 0; p + 1 < nedges; p++)
	{
		int			top = 0;
		double		a = edges[p];

		/* the stack holds the right ends of the pending panels, rightmost first */
		stack[0] = edges[p + 1];
		depth[0] = 0;
		while (top >= 0)
		{
			double		b = stack[top];
			double		mid = a + (b - a) / 2;
			bool		last_chance = depth[top] >= MAX_DEPTH || mid <= a || mid >= b;

			CHECK_FOR_INTERRUPTS();
			if (PassPanel(pass, a, b, last_chance, prob, moment))
			{
				a = b;
				top--;
			}
			else
			{
				stack[top + 1] = mid;
				depth[top + 1] = ++depth[top];
				top++;
			}
		}
	}
	pfree(edges);
}

/*
 * P(theta_i is the largest) and E[max_j theta_j - theta_i] for n >= 1 arms
 * with finite means and finite sds >= 0.  Ties between equal point masses
 * are split equally.
 */
static void CompareNormals(const double *mean_in, const double *sd_in, int n, double *prob, double *loss);

/* P(theta_i is the largest) for finite means and sds >= 0 (LinTS's propensity). */
void
NormalProbBest(const double *mean, const double *sd, int n, double *prob)
{
	double	   *loss = palloc(sizeof(double) * n);

	CompareNormals(mean, sd, n, prob, loss);
	pfree(loss);
}

static void
CompareNormals(const double *mean_in, const double *sd_in, int n, double *prob, double *loss)
{
	double		largest = 0,
				top = -INFINITY;
	int			scale_exp,
				shift_exp = INT_MIN;
	bool		exact = true;
	double	   *mean = palloc(sizeof(double) * n);
	double	   *sd = palloc(sizeof(double) * n);
	double	   *pass_mean = palloc(sizeof(double) * n);
	double	   *pass_sd = palloc(sizeof(double) * n);
	int		   *pass_arm = palloc(sizeof(int) * n);	/* which arm each of the pass is */
	double		origin = -INFINITY;
	double		point = -INFINITY;	/* the largest point mass */
	double		lo = -INFINITY,
				hi = -INFINITY;
	double		moment = 0,
				total = 0;
	int			ties = 0;
	MaxPass		pass = {0};

	/*
	 * Powers of 2 bring every input into [-1, 1]: first the means, exactly;
	 * then, if every mean less the largest one, top, is exact, the
	 * differences and the sds together, so that sds far below the means'
	 * spacing (1e-300 at mean 1) are still resolved against each other.  A
	 * rounded difference would misplace a narrow arm, so then the means stay
	 * as they are, and an arm whose tails do not move its mean in double
	 * precision is a point mass there.  No overflow; an sd under 2^-1074 of
	 * the largest input becomes a point mass.
	 */
	for (int i = 0; i < n; i++)
		largest = Max(largest, fabs(mean_in[i]));
	if (largest == 0)
		largest = 1;
	frexp(largest, &scale_exp);
	for (int i = 0; i < n; i++)
		top = Max(top, ldexp(mean_in[i], -scale_exp));
	for (int i = 0; i < n; i++)
	{
		double		m = ldexp(mean_in[i], -scale_exp);

		mean[i] = m - top;
		exact = exact && mean[i] + top == m;
	}
	for (int i = 0; i < n; i++)
	{
		int			e;

		if (!exact)
			mean[i] = ldexp(mean_in[i], -scale_exp);
		if (mean[i] != 0)
		{
			frexp(mean[i], &e);
			shift_exp = Max(shift_exp, e);
		}
		if (sd_in[i] > 0)
		{
			frexp(sd_in[i], &e);
			shift_exp = Max(shift_exp, e - scale_exp);
		}
	}
	if (shift_exp == INT_MIN)
		shift_exp = 0;			/* equal point masses */
	for (int i = 0; i < n; i++)
	{
		mean[i] = ldexp(mean[i], -shift_exp);
		sd[i] = ldexp(sd_in[i], -(scale_exp + shift_exp));
		/* where the means stay apart, an arm too narrow to widen its mean is a point mass */
		if (!exact && fabs(mean[i]) + TAIL_Z * sd[i] == fabs(mean[i]))
			sd[i] = 0;
		prob[i] = 0;
		origin = Max(origin, mean[i]);
		if (sd[i] == 0)
			point = Max(point, mean[i]);
		else
			lo = Max(lo, mean[i] - TAIL_Z * sd[i]);
	}
	lo = Max(lo, point);
	for (int i = 0; i < n; i++)
		if (sd[i] > 0)
		{
			hi = Max(hi, mean[i] + TAIL_Z * sd[i]);
			if (mean[i] + TAIL_Z * sd[i] > lo)
			{
				pass_arm[pass.n] = i;
				pass_mean[pass.n] = mean[i];
				pass_sd[pass.n++] = sd[i];
			}
		}

	/* the point masses at the top share P(every other arm is below them) */
	if (point > -INFINITY)
	{
		double		log_below = 0;

		for (int i = 0; i < n; i++)
		{
			if (sd[i] > 0)
				log_below += LogNormalCdf((point - mean[i]) / sd[i]);
			else if (mean[i] == point)
				ties++;
		}
		total = exp(log_below);
		moment = (point - origin) * total;
		for (int i = 0; i < n; i++)
			if (sd[i] == 0 && mean[i] == point)
				prob[i] = total / ties;
	}

	if (pass.n > 0)
	{
		double	   *pass_prob = palloc0(sizeof(double) * pass.n);

		pass.mean = pass_mean;
		pass.sd = pass_sd;
		pass.origin = origin;
		pass.near = palloc(sizeof(int) * pass.n);
		pass.from_a = palloc(sizeof(double) * pass.n);
		pass.log_scale = palloc(sizeof(double) * pass.n);
		pass.z = palloc(sizeof(double) * pass.n);
		pass.log_cdf = palloc(sizeof(double) * pass.n);
		pass.kronrod = palloc(sizeof(double) * (pass.n + 1));
		pass.gauss = palloc(sizeof(double) * (pass.n + 1));
		IntegrateMax(&pass, lo, hi, pass_prob, &moment);
		for (int k = 0; k < pass.n; k++)
		{
			prob[pass_arm[k]] = pass_prob[k];
			total += pass_prob[k];
		}
	}

	/* the neglected tails (< 1e-20) are normalized away */
	for (int i = 0; i < n; i++)
	{
		prob[i] = Min(1.0, prob[i] / total);
		loss[i] = ldexp(Max(0.0, moment / total - (mean[i] - origin)), scale_exp + shift_exp);
	}
}

/* mean[] and sd[] of normal_prob_best and normal_expected_loss, checked. */
static int
NormalArrays(FunctionCallInfo fcinfo, double **mean, double **sd, const char *what)
{
	int			n_mean,
				n_sd;

	*mean = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(0), "mean", &n_mean);
	*sd = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(1), "sd", &n_sd);
	if (n_mean != n_sd)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("mean and sd must have the same length, got %d and %d", n_mean, n_sd)));
	CheckComparedArms(n_mean, what);
	if (n_mean == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("mean and sd must have at least one element")));
	for (int i = 0; i < n_mean; i++)
	{
		CheckFinite((*mean)[i], "every mean");
		CheckRange(CheckFinite((*sd)[i], "every sd"), 0, INFINITY, "every sd");
	}
	return n_mean;
}

/* normal_prob_best and normal_expected_loss: one comparison, either half of its answer. */
static Datum
CompareNormalsDatum(FunctionCallInfo fcinfo, bool want_loss)
{
	double	   *mean,
			   *sd;
	int			n = NormalArrays(fcinfo, &mean, &sd, want_loss ? "normal_expected_loss" : "normal_prob_best");
	double	   *prob = palloc(sizeof(double) * n);
	double	   *loss = palloc(sizeof(double) * n);

	CompareNormals(mean, sd, n, prob, loss);
	/* means 1e308 apart */
	for (int i = 0; i < n && want_loss; i++)
		if (!isfinite(loss[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("expected loss is out of the range of float8")));
	PG_RETURN_DATUM(Float8ArrayDatum(want_loss ? loss : prob, n));
}

PG_FUNCTION_INFO_V1(bandit_normal_prob_best);

/* normal_prob_best(mean[], sd[]): P(theta_i is the largest), by quadrature. */
Datum
bandit_normal_prob_best(PG_FUNCTION_ARGS)
{
	return CompareNormalsDatum(fcinfo, false);
}

PG_FUNCTION_INFO_V1(bandit_normal_expected_loss);

/* normal_expected_loss(mean[], sd[]): E[max_j theta_j - theta_i], by quadrature. */
Datum
bandit_normal_expected_loss(PG_FUNCTION_ARGS)
{
	return CompareNormalsDatum(fcinfo, true);
}
