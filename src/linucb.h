/*
 * src/linucb.h
 *
 * LinUCB's state and learning (linucb.c) as policy.c's choose, recommend
 * and reward use them.
 */
#ifndef BANDIT_LINUCB_H
#define BANDIT_LINUCB_H

#include "bandit.h"

#include "utils/jsonb.h"

/*
 * LinUCB keeps a dim x dim A^-1 per arm: 8 MB at dim 1024, the most it
 * takes (54000 beyond; policy_params and identity_matrix say the same).
 */
#define LINUCB_MAX_DIM 1024

/*
 * Reading the arms of a LinUCB policy (inside SPI): LinUcbArmsPlan() selects
 * an arm's row as policy.c's TupleArm reads it (columns 1 to 9: arm, alpha,
 * beta, pulls, weight, mean_reward, cost, latency_ms, retired), then the
 * stored state and its pending updates from column LINUCB_STATE_COLUMN (see
 * LinUcbLoadRow).  LinUcbBeginLoad, then LinUcbLoadRow for each arm kept,
 * then LinUcbFinishLoad, which fills in each arm's A^-1 and theta = A^-1 b (read-only,
 * valid until the next LinUcbBeginLoad) or returns false when a fold
 * committed since the arms were read took pending updates away: then read
 * the arms again.
 */
#define LINUCB_STATE_COLUMN 10

extern void LinUcbPreparePlans(void);
extern SPIPlanPtr LinUcbArmsPlan(void);
extern void LinUcbBeginLoad(const char *policy, int dim, double discount);
extern void LinUcbLoadRow(HeapTuple tuple, TupleDesc desc, int column, const char *arm,
						  const double **a_inv, const double **theta);
extern bool LinUcbFinishLoad(void);

extern double LinUcbMeanVariance(const double *a_inv, const double *theta, const double *x, int dim,
								 double *variance);
extern double LinUcbScore(const double *a_inv, const double *theta, const double *x, int dim, double alpha);
extern void LinUcbLearn(const char *policy, const char *arm, int dim, double discount, double reward,
						const double *x, int64 decision, const double *cost, const double *latency,
						double smoothing);

/*
 * In policy.c: the feature vector x of a LinUCB context, which reward learns
 * from and linucb.c derives again from the decision a pending update names.
 */
extern double *LinUcbContextFeatures(Jsonb *json, const char *policy, int dim);

#endif							/* BANDIT_LINUCB_H */
