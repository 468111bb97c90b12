/*
 * src/summary.h
 *
 * The mergeable summary (src/summary.c), shared with the aggregates whose
 * per-row terms are summarized the same way (src/ope.c: ips_terms, dr_terms).
 */
#ifndef BANDIT_SUMMARY_H
#define BANDIT_SUMMARY_H

#include "bandit.h"

/*
 * The mean is kept as an unevaluated sum mean + mean_low (double-double):
 * near 1e9 a double's rounding of the running mean (1e-7) would otherwise
 * leak into m2 at 1e-8 relative.  mean alone is the correctly rounded mean.
 */
typedef struct Summary
{
	int64		n;
	double		mean;
	double		m2;				/* sum of squared deviations from the mean */
	double		mean_low;
} Summary;

#define PG_GETARG_SUMMARY_P(n) ((Summary *) PG_GETARG_POINTER(n))

extern void SummaryAdd(Summary *s, double x);
extern Summary *WritableSummary(FunctionCallInfo fcinfo);

#endif							/* BANDIT_SUMMARY_H */
