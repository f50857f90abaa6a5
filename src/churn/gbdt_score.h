/*-------------------------------------------------------------------------
 *
 * gbdt_score.h
 *	  Fast scoring of one row with a validated tree ensemble.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_GBDT_SCORE_H
#define RETENTION_GBDT_SCORE_H

#include "gbdt.h"

typedef struct GbdtScorer GbdtScorer;

/*
 * A scorer of the trees nodes[tree_start[t] .. tree_start[t + 1]), which
 * must have passed the model reader's checks; it keeps pointers to nodes
 * and tree_start, which must outlive it.  Allocated in the current memory
 * context.
 */
extern GbdtScorer *GbdtScorerBuild(const GbdtNode *nodes, const int32 *tree_start,
								   int n_trees, int k, double base_score);

/*
 * The raw score of x (k values, NaN = missing): the base score plus each
 * tree's leaf value, added in tree order.
 */
extern double GbdtScorerRaw(GbdtScorer *s, const double *x);

#endif							/* RETENTION_GBDT_SCORE_H */
