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


#endif							/* BANDIT_NUMERIC_H */
