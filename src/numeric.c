/*
 * src/numeric.c
 *
 * The numerics core (see numeric.h): one implementation of each piece of
 * mathematics that more than one capability needs.
 */
#include "numeric.h"

/* == distributions, moments and sums (statistics) */


/* == selection: argmax with random ties, JSON numbers (policies) */


/* == hashing and generators (experiments, Q-learning) */
