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

/* == distributions, moments and sums (statistics) */


/* == selection: argmax with random ties, JSON numbers (policies) */


/* == hashing and generators (experiments, Q-learning) */

/*
 * splitmix64 (Steele, Lea and Flood 2014): advances *state by the golden
 * gamma and returns its mix.  One step from a seed is also a good 64-bit
 * mixing function (seeds differing only in high bits give unrelated
 * outputs).
 */
extern uint64 SplitMix64(uint64 *state);


#endif							/* BANDIT_NUMERIC_H */
