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

uint64
SplitMix64(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
