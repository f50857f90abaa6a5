/*-------------------------------------------------------------------------
 *
 * item_knn_model.h
 *	  The binary layout of retention.item_knn_model.
 *
 * A model is one varlena: a fixed header, then four arrays in compressed
 * sparse row form, 8-byte members first so that every array is aligned
 * (the type is declared with double alignment):
 *
 *	int64	items[n_items]			item ids, strictly ascending
 *	float8	similarities[n_neighbors]
 *	int32	offsets[n_items + 1]	neighbours of items[i] are the entries
 *									offsets[i] .. offsets[i + 1] - 1
 *	int32	neighbors[n_neighbors]	indexes into items[]
 *
 * Each item's neighbours are ordered by similarity, highest first, ties by
 * item id, and are at most k.  Size: 24 + 12 * n_items + 12 * n_neighbors
 * bytes, so about 12 * k bytes per item.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ITEM_KNN_MODEL_H
#define RETENTION_ITEM_KNN_MODEL_H

#include "fmgr.h"
#include "utils/memutils.h"

#include "int8_array.h"

#define ITEM_KNN_FORMAT		1
/* a bound that keeps n_items * k and the model size far from overflow */
#define ITEM_KNN_MAX_K		10000

typedef struct ItemKnnModel
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	int32		format;			/* ITEM_KNN_FORMAT */
	int32		k;				/* neighbours kept per item */
	int32		n_items;
	int32		n_neighbors;	/* total over all items */
	int32		reserved;		/* zero; keeps the arrays 8-byte aligned */
} ItemKnnModel;

#define ItemKnnItems(m)		((int64 *) ((char *) (m) + sizeof(ItemKnnModel)))
#define ItemKnnSims(m)		((float8 *) (ItemKnnItems(m) + (m)->n_items))
#define ItemKnnOffsets(m)	((int32 *) (ItemKnnSims(m) + (m)->n_neighbors))
#define ItemKnnNeighbors(m)	(ItemKnnOffsets(m) + (m)->n_items + 1)

#define DatumGetItemKnnModelP(X)	((ItemKnnModel *) PG_DETOAST_DATUM(X))
#define PG_GETARG_ITEM_KNN_MODEL_P(n) DatumGetItemKnnModelP(PG_GETARG_DATUM(n))

/* total size of a model with these counts, as Size (no int32 overflow) */
static inline Size
ItemKnnModelSize(Size n_items, Size n_neighbors)
{
	return sizeof(ItemKnnModel) + n_items * (sizeof(int64) + sizeof(int32))
		+ sizeof(int32) + n_neighbors * (sizeof(float8) + sizeof(int32));
}

/*
 * Allocate a zeroed model with its header filled in, or fail with a clear
 * error when it would not fit in one PostgreSQL value (1 GB).
 */
extern ItemKnnModel *AllocItemKnnModel(int32 k, Size n_items, Size n_neighbors);

/* Raise an error naming k unless 1 <= k <= ITEM_KNN_MAX_K. */
extern void CheckItemKnnK(int32 k);

/* Detoast a model argument and check that this version can read its format. */
extern ItemKnnModel *GetItemKnnModel(Datum datum);

/*
 * The same for argument argno of a function called once per row: a model
 * read from a table is detoasted once per query and call site, not per call.
 */
extern ItemKnnModel *GetItemKnnModelCached(FunctionCallInfo fcinfo, int argno);

/* Index of item_id in the model's items[], or -1. */
extern int	ItemKnnFindItem(const ItemKnnModel *model, int64 item_id);

/* Comparator for qsort of int64 values. */
#endif							/* RETENTION_ITEM_KNN_MODEL_H */
