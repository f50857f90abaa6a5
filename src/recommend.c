/*-------------------------------------------------------------------------
 *
 * recommend.c
 *	  retention.recommend(model, seen, k): the k best items a user has not
 *	  seen, by the sum of the similarities between each seen item and its
 *	  neighbours in an item_knn model.
 *
 * The cost is independent of the catalogue size: each seen item is found by
 * binary search and contributes at most k_model neighbours, so a user with
 * s seen items touches at most s * k_model candidates, which are sorted once
 * to add up their scores and once more to rank them.  No per-item array is
 * allocated, so a model of a million items answers as fast as a small one.
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

#include "item_knn_model.h"
#include "recommend.h"

typedef struct Contribution
{
	int32		index;			/* candidate item, index into the model */
	int32		order;			/* position of the seen item it comes from */
	float8		similarity;
} Contribution;

typedef struct Scored
{
	int32		index;
	float8		score;
} Scored;

static int
CompareContribution(const void *a, const void *b)
{
	const Contribution *x = a;
	const Contribution *y = b;

	if (x->index != y->index)
		return (x->index > y->index) - (x->index < y->index);
	return (x->order > y->order) - (x->order < y->order);
}

/* highest score first; item indexes ascend with item ids, so ties go by id */
static int
CompareScoredBestFirst(const void *a, const void *b)
{
	const Scored *x = a;
	const Scored *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->index > y->index) - (x->index < y->index);
}

int64 *
DistinctInt64Array(ArrayType *array, const char *argname, int *count)
{
	int			ndim = ARR_NDIM(array);
	int			n;
	const int64 *data = (const int64 *) ARR_DATA_PTR(array);
	const bits8 *nulls = ARR_NULLBITMAP(array);
	int64	   *result;
	int			m = 0;

	if (ARR_ELEMTYPE(array) != INT8OID)
		elog(ERROR, "argument \"%s\" has element type %u, expected bigint",
			 argname, ARR_ELEMTYPE(array));
	if (ndim > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array \"%s\" must be one-dimensional", argname),
				 errdetail("The array has %d dimensions.", ndim)));
	n = ndim == 0 ? 0 : ARR_DIMS(array)[0];

	result = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0, j = 0; i < n; i++)
	{
		/* data holds only the non-null elements, packed */
		if (nulls && !(nulls[i / 8] & (1 << (i % 8))))
			continue;
		result[m++] = data[j++];
	}
	qsort(result, m, sizeof(int64), CompareInt64);
	{
		int			d = 0;

		for (int i = 0; i < m; i++)
			if (d == 0 || result[d - 1] != result[i])
				result[d++] = result[i];
		m = d;
	}
	*count = m;
	return result;
}

void
CheckResultK(int32 k)
{
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be greater than zero"),
				 errdetail("k is %d.", k)));
}

/* Returns the k best unseen items for a user, highest score first, ties by item id. */
PG_FUNCTION_INFO_V1(recommend_item_knn);
Datum
recommend_item_knn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ItemKnnModel *model = GetItemKnnModel(PG_GETARG_DATUM(0));
	ArrayType  *seen_array = PG_GETARG_ARRAYTYPE_P(1);
	int32		k = PG_GETARG_INT32(2);
	const int64 *items = ItemKnnItems(model);
	const float8 *sims = ItemKnnSims(model);
	const int32 *offsets = ItemKnnOffsets(model);
	const int32 *neighbors = ItemKnnNeighbors(model);
	int64	   *seen;
	int			n_seen;
	Contribution *contrib;
	int64		n_contrib = 0;
	Scored	   *scored;
	int64		n_scored = 0;

	CheckResultK(k);
	InitMaterializedSRF(fcinfo, 0);

	seen = DistinctInt64Array(seen_array, "seen", &n_seen);

	/* at most k_model neighbours per seen item */
	contrib = palloc_extended(sizeof(Contribution) * Max((Size) n_seen * model->k, 1),
							  MCXT_ALLOC_HUGE);
	for (int s = 0; s < n_seen; s++)
	{
		int			i = ItemKnnFindItem(model, seen[s]);

		if (i < 0)
			continue;			/* not in the model: contributes nothing */
		for (int32 t = offsets[i]; t < offsets[i + 1]; t++)
		{
			contrib[n_contrib].index = neighbors[t];
			contrib[n_contrib].order = s;
			contrib[n_contrib].similarity = sims[t];
			n_contrib++;
		}
	}

	/* add up per candidate, always in ascending order of the seen item ids */
	qsort(contrib, n_contrib, sizeof(Contribution), CompareContribution);
	scored = palloc_extended(sizeof(Scored) * Max(n_contrib, 1), MCXT_ALLOC_HUGE);
	for (int64 c = 0; c < n_contrib;)
	{
		int32		index = contrib[c].index;
		float8		score = 0.0;

		for (; c < n_contrib && contrib[c].index == index; c++)
			score += contrib[c].similarity;
		if (bsearch(&items[index], seen, n_seen, sizeof(int64), CompareInt64) == NULL)
		{
			scored[n_scored].index = index;
			scored[n_scored].score = score;
			n_scored++;
		}
	}

	qsort(scored, n_scored, sizeof(Scored), CompareScoredBestFirst);
	for (int64 r = 0; r < n_scored && r < k; r++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(items[scored[r].index]);
		values[1] = Float8GetDatum(scored[r].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
