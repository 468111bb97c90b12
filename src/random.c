/*
 * src/random.c
 *
 * One GSL generator per backend, seeded from the operating system's strong
 * random source on first use, or reproducibly by bandit.set_seed.
 */
#include "numeric.h"

#include "port.h"

static gsl_rng *rng = NULL;

/*
 * A seed mixed by one splitmix64 step, so that seeds differing only in high
 * bits give different streams.  MT19937 takes 32 bits; the high half is
 * folded in.
 */
static unsigned long
MixSeed(uint64 seed)
{
	uint64		x = SplitMix64(&seed);

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
