/*
 * src/numeric.h
 *
 * The numerics core: each piece of mathematics the capabilities share lives
 * here once, with its overflow checks and precision tricks, so that a fix or
 * a tighter bound reaches every caller.  Regression test: sql/numeric.sql.
 */
#ifndef BANDIT_NUMERIC_H
#define BANDIT_NUMERIC_H

#include "bandit.h"

#include "utils/jsonb.h"

/* == distributions, moments and sums (statistics) */

/*
 * (hi, lo) += (qhi, qlo), a double-double sum renormalized so that |lo| <=
 * ulp(hi) / 2: TwoSum, then a fast two-sum.  Sums of many terms stay exact
 * to about 2^-106 relative, whatever their order.
 */
static inline void
DoubleDoubleAdd(double *hi, double *lo, double qhi, double qlo)
{
	double		sum = *hi + qhi;
	double		virtual_q = sum - *hi;
	double		error = (*hi - (sum - virtual_q)) + (qhi - virtual_q);
	double		low = (*lo + qlo) + error;

	*hi = sum + low;
	*lo = low - (*hi - sum);
}

/*
 * The most arms (array elements) a comparison of posteriors takes:
 * prob_best, expected_loss, normal_prob_best, normal_expected_loss.
 * Beyond it, 54000; below it, long comparisons can be cancelled.
 */
#define MAX_COMPARED_ARMS 100000

extern void CheckComparedArms(int n, const char *what);

/* A statistic that overflowed float8 (22003, as float8's own aggregates). */
extern void StatisticOverflow(const char *what) pg_attribute_noreturn();

/* log(1 + e^x), without overflow or underflow. */
static inline double
Log1pExp(double x)
{
	return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* log(e^u + e^v) */
static inline double
LogAddExp(double u, double v)
{
	double		hi = Max(u, v);

	return hi + Log1pExp(Min(u, v) - hi);
}

extern double Expm1mx(double x);

/* The standard normal distribution in log space, and Student's t. */
extern double LogNormalCdf(double z);
extern void NormalProbBest(const double *mean, const double *sd, int n, double *prob);
extern double NormalMillsRatio(double z);
extern double StudentTUpper(double t, double df);
extern double StudentTLogPdf(double t, double df);
extern double StudentTUpperQuantile(double q, double df);

/*
 * Moments of a weighted sample: total weight, mean, sum of squared
 * deviations from the mean (m2).  The mean may carry a low part
 * (double-double, mean_low non-NULL): near 1e9 a double's rounding of the
 * running mean (1e-7) would otherwise leak into m2 at 1e-8 relative.  m2 may
 * be NULL where only the mean is wanted.  The caller keeps the weights and
 * checks the result with CheckMoments.
 *
 * MomentsAdd adds x with weight w > 0, total being the weight after it
 * (Welford; West for weights).  With w = 1 it folds to Welford's update.
 */
static inline void
MomentsAdd(double *mean, double *mean_low, double *m2, double x, double w, double total)
{
	double		delta = (x - *mean) - (mean_low ? *mean_low : 0);
	double		step = delta / (total / w);

	if (mean_low)
		DoubleDoubleAdd(mean, mean_low, step, 0);
	else
		*mean += step;
	if (m2)
		*m2 += w * delta * ((x - *mean) - (mean_low ? *mean_low : 0));
}

/*
 * Merges moments b (weight w_b > 0) into a (weight w_a > 0, not yet
 * updated), Chan et al.
 */
static inline void
MomentsMerge(double *mean, double *mean_low, double *m2, double w_a,
			 double mean_b, double low_b, double m2_b, double w_b)
{
	double		total = w_a + w_b;
	double		delta = (mean_b - *mean) + (mean_low ? low_b - *mean_low : 0);

	if (mean_low)
		DoubleDoubleAdd(mean, mean_low, delta * (w_b / total), 0);
	else
		*mean += delta * (w_b / total);
	if (m2)
		*m2 += m2_b + delta * delta * (w_a / total * w_b);
}

/* 22003 unless the mean and m2 after an update are finite: one cheap test per row. */
static inline void
CheckMoments(double mean, double m2, const char *what)
{
	if (unlikely(!isfinite(mean) || !isfinite(m2)))
		StatisticOverflow(what);
}

/*
 * Counts kept in float8 aggregate states: exact integers up to 2^53.  A
 * state is checked before use (its support functions can be called with
 * any array): CorruptState (bandit.h) is XX001, as for a state of the
 * wrong shape.
 */
#define MAX_STATE_COUNT 9007199254740992.0

static inline bool
IsStateCount(double n)
{
	return n >= 0 && n <= MAX_STATE_COUNT && n == floor(n);
}

extern double StateCountAdd(double n, double k, const char *aggregate);

/*
 * Double-double arithmetic: a value hi + lo with |lo| <= ulp(hi) / 2.
 * Sums use DoubleDoubleAdd above; products and quotients by a double
 * follow, with an exponent kept apart so long products neither overflow
 * nor underflow.
 */
typedef struct DoubleDouble
{
	double		hi;
	double		lo;
	int			exponent;		/* the value is (hi + lo) 2^exponent */
} DoubleDouble;

extern void TwoProduct(double a, double b, double *hi, double *lo);
extern void DdMultiply(DoubleDouble *x, double b);
extern void DdDivide(DoubleDouble *x, double b);
extern void DdNormalize(DoubleDouble *x);


/* == selection: argmax with random ties, JSON numbers (policies) */

/*
 * A running argmax that breaks ties uniformly at random: offer scores one
 * by one; each of k tied maxima ends up the pick with probability 1/k.
 * "No pick yet" is has_pick, never a NULL name, so '' is a name like any.
 */
typedef struct ArgMaxRun
{
	bool		has_pick;
	double		best;			/* the pick's score */
	uint64		ties;			/* offers whose score equals best */
} ArgMaxRun;

extern bool ArgMaxOffer(ArgMaxRun *run, double score);
extern int	ArgMaxRandomTies(const double *score, int n, int *ties);
extern bool OneIn(gsl_rng *rng, uint64 n);

/* JSON numbers as doubles: out of float8 range is 22003, naming what. */
extern bool JsonbObjectNumber(Jsonb *object, const char *key, const char *what, double *value);
extern double JsonbNumberValue(const JsonbValue *v, const char *what);


/* == hashing and generators (experiments, Q-learning) */

/*
 * splitmix64 (Steele, Lea and Flood 2014): advances *state by the golden
 * gamma and returns its mix.  One step from a seed is also a good 64-bit
 * mixing function (seeds differing only in high bits give unrelated
 * outputs).
 */
extern uint64 SplitMix64(uint64 *state);


#endif							/* BANDIT_NUMERIC_H */
