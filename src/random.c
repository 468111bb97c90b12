/*
 * src/random.c
 *
 * One GSL generator per backend, seeded from the operating system's strong
 * random source on first use, or reproducibly by bandit.set_seed.
 */
#include "bandit.h"

#include "port.h"

static gsl_rng *rng = NULL;

/* 64-bit mixing, so that seeds differing only in high bits give different streams. */
static unsigned long
MixSeed(uint64 x)
{
	x += UINT64CONST(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	x ^= x >> 31;
	/* MT19937 takes 32 bits of seed; fold the high half in. */
	return (unsigned long) ((x ^ (x >> 32)) & 0xFFFFFFFF);
}

gsl_rng *
BanditRng(void)
{
	if (rng == NULL)
	{
		uint64		seed;

		rng = gsl_rng_alloc(gsl_rng_mt19937);
		if (rng == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory allocating the random generator")));
		if (!pg_strong_random(&seed, sizeof(seed)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not read the strong random source to seed the generator")));
		gsl_rng_set(rng, MixSeed(seed));
	}
	return rng;
}

PG_FUNCTION_INFO_V1(bandit_set_seed);

/* Makes every later random choice of this session reproducible. */
Datum
bandit_set_seed(PG_FUNCTION_ARGS)
{
	gsl_rng_set(BanditRng(), MixSeed((uint64) PG_GETARG_INT64(0)));
	PG_RETURN_VOID();
}
