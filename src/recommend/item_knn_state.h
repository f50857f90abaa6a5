/*-------------------------------------------------------------------------
 *
 * item_knn_state.h
 *	  The internal state of the aggregate retention.item_knn: the collected
 *	  (user, item, weight) triples, shared by its support functions
 *	  (item_knn.c) and its final function (item_knn_build.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ITEM_KNN_STATE_H
#define RETENTION_ITEM_KNN_STATE_H

#include "fmgr.h"

#include "interactions.h"

/* the similarity of two item vectors (the "similarity" argument) */
typedef enum KnnMeasure
{
	KNN_COSINE = 0,
	KNN_PEARSON = 1,			/* correlation of the whole vectors */
	KNN_ADJUSTED_COSINE = 2		/* Sarwar et al. 2001, over common users */
} KnnMeasure;

typedef struct ItemKnnState
{
	int32		k;
	int32		measure;		/* KnnMeasure */
	Interactions list;			/* the triples */
} ItemKnnState;

/* Returns the model built from all collected triples (item_knn_build.c). */
extern Datum item_knn_finalfn(PG_FUNCTION_ARGS);

#endif							/* RETENTION_ITEM_KNN_STATE_H */
