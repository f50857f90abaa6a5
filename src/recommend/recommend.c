/*-------------------------------------------------------------------------
 *
 * recommend.c
 *	  retention.recommend(model, seen, k): the k best items a user has not
 *	  seen, by the sum of the similarities between each seen item and its
 *	  neighbours in an item_knn model.
 *
 * The cost is independent of the catalogue size: each seen item is found by
 * binary search and contributes at most k_model neighbours, so a user with
 * s seen items touches at most s * k_model candidates, whose scores add up
 * in a small hash table; a bounded heap then picks the k best.  No per-item
 * array is allocated, so a model of a million items answers as fast as a
 * small one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/tuplestore.h"

#include "id_hash.h"
#include "int8_array.h"
#include "item_knn_model.h"
#include "recommend.h"
#include "topk.h"

/* the fallback's items already offered (id_table.h names its key user_id) */
typedef struct UsedItem
{
	int64		user_id;
	char		status;
} UsedItem;

#define SH_PREFIX		used
#define SH_ELEMENT_TYPE UsedItem
#include "id_table.h"

/* an open-addressing hash table slot: candidate item and its score so far */
typedef struct Slot
{
	int32		index;			/* into the model's items, -1 when empty */
	float8		score;
} Slot;

void
CheckResultK(int32 k)
{
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be greater than zero"),
				 errdetail("k is %d.", k)));
}

/*
 * Score the candidates of a user with the given (distinct, sorted) seen
 * items, and keep the best k in "best", best first.
 */
static void
ScoreCandidates(const ItemKnnModel *model, const int64 *seen, int n_seen,
				int32 k, TopK *best)
{
	const int64 *items = ItemKnnItems(model);
	const float8 *sims = ItemKnnSims(model);
	const int32 *offsets = ItemKnnOffsets(model);
	const int32 *neighbors = ItemKnnNeighbors(model);
	Size		capacity;
	Size		mask;
	Slot	   *table;
	int64		n_found = 0;

	/*
	 * Scores by candidate in a hash table of at least twice the possible
	 * number of candidates (each seen item brings at most k_model, and
	 * there are no more candidates than items).  Seen
	 * items are visited in ascending id order, so every score is summed in
	 * the same order whatever the order of the seen array.
	 */
	capacity = 16;
	while (capacity < 2 * Min((Size) n_seen * model->k, (Size) model->n_items))
		capacity *= 2;
	mask = capacity - 1;
	table = palloc_extended(sizeof(Slot) * capacity, MCXT_ALLOC_HUGE);
	for (Size h = 0; h < capacity; h++)
		table[h].index = -1;

	for (int s = 0; s < n_seen; s++)
	{
		int			i = ItemKnnFindItem(model, seen[s]);

		if (i < 0)
			continue;			/* not in the model: contributes nothing */
		for (int32 t = offsets[i]; t < offsets[i + 1]; t++)
		{
			int32		j = neighbors[t];
			Size		h = HashId(j) & mask;

			while (table[h].index != j && table[h].index != -1)
				h = (h + 1) & mask;
			if (table[h].index == -1)
			{
				table[h].index = j;
				table[h].score = 0.0;
			}
			table[h].score += sims[t];
		}
	}

	/* pack the unseen candidates at the front, then rank them */
	for (Size h = 0; h < capacity; h++)
	{
		if (table[h].index < 0 ||
			bsearch(&items[table[h].index], seen, n_seen, sizeof(int64), CompareInt64) != NULL)
			continue;
		table[n_found++] = table[h];
	}
	TopKInit(best, (int) Min((int64) k, n_found));
	for (int64 i = 0; i < n_found; i++)
		TopKOffer(best, table[i].score, table[i].index);
	TopKSort(best);
	pfree(table);
}

static void
PutRow(ReturnSetInfo *rsinfo, int64 item_id, float8 score)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = Int64GetDatum(item_id);
	values[1] = Float8GetDatum(score);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* Returns the k best unseen items for a user, highest score first, ties by item id. */
PG_FUNCTION_INFO_V1(recommend_item_knn);
Datum
recommend_item_knn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ItemKnnModel *model = GetItemKnnModelCached(fcinfo, 0);
	ArrayType  *seen_array = PG_GETARG_ARRAYTYPE_P(1);
	int32		k = PG_GETARG_INT32(2);
	int64	   *seen;
	int			n_seen;
	TopK		best;

	CheckResultK(k);
	InitMaterializedSRF(fcinfo, 0);

	seen = Int8ArrayDistinct(seen_array, "seen", &n_seen);
	ScoreCandidates(model, seen, n_seen, k, &best);
	for (int r = 0; r < best.n; r++)
		PutRow(rsinfo, ItemKnnItems(model)[best.entries[r].index], best.entries[r].score);
	return (Datum) 0;
}

/*
 * Returns recommend()'s rows, then, while fewer than k, the fallback items
 * in their order (score 0) that are neither seen nor already listed.  A NULL
 * model or seen list is no history: only the fallback (cold start).
 */
PG_FUNCTION_INFO_V1(recommend_item_knn_fallback);
Datum
recommend_item_knn_fallback(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		k;
	int64	   *seen;
	int			n_seen = 0;
	int64	   *listed;
	int			n_listed = 0;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(2);
	CheckResultK(k);
	InitMaterializedSRF(fcinfo, 0);

	if (!PG_ARGISNULL(1))
		seen = Int8ArrayDistinct(PG_GETARG_ARRAYTYPE_P(1), "seen", &n_seen);
	else
		seen = palloc(sizeof(int64));
	listed = palloc(sizeof(int64));

	if (!PG_ARGISNULL(0))
	{
		ItemKnnModel *model = GetItemKnnModelCached(fcinfo, 0);
		TopK		best;

		ScoreCandidates(model, seen, n_seen, k, &best);
		listed = repalloc(listed, sizeof(int64) * Max(best.n, 1));
		for (int r = 0; r < best.n; r++)
		{
			listed[n_listed++] = ItemKnnItems(model)[best.entries[r].index];
			PutRow(rsinfo, listed[n_listed - 1], best.entries[r].score);
		}
		qsort(listed, n_listed, sizeof(int64), CompareInt64);
	}

	if (!PG_ARGISNULL(3) && n_listed < k)
	{
		int			n;
		const int64 *fallback = Int8ArrayNonNull(PG_GETARG_ARRAYTYPE_P(3), "fallback", &n);
		int			n_cf = n_listed;
		used_hash  *used = used_create(CurrentMemoryContext, Min(n, k) + 1, NULL);

		/* in the fallback's own order; "used" catches its repeats */
		for (int i = 0; i < n && n_listed < k; i++)
		{
			int64		item = fallback[i];
			bool		found;

			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			if (bsearch(&item, seen, n_seen, sizeof(int64), CompareInt64) != NULL ||
				bsearch(&item, listed, n_cf, sizeof(int64), CompareInt64) != NULL)
				continue;
			(void) used_insert(used, item, &found);
			if (found)
				continue;
			n_listed++;
			PutRow(rsinfo, item, 0.0);
		}
	}
	return (Datum) 0;
}
