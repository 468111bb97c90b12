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


#endif							/* BANDIT_NUMERIC_H */
