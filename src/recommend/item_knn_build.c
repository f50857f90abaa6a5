/*-------------------------------------------------------------------------
 *
 * item_knn_build.c
 *	  The final function of retention.item_knn: the neighbour lists built
 *	  from the collected triples, in the phases listed in item_knn.c
 *	  (weights scaled and merged, items numbered, the user and inverted
 *	  indexes, the sums a similarity needs, then one item at a time its
 *	  dot products and its k best neighbours).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "item_knn_model.h"
#include "item_knn_state.h"
#include "topk.h"

/* the indexes over the distinct (user, item) pairs, built once per model */
typedef struct KnnIndex
{
	const Interaction *rows;	/* the pairs, sorted by user then item */
	int64		n_pairs;
	int32		measure;		/* KnnMeasure */
	int64	   *items;			/* distinct item ids, ascending */
	int32		n_items;
	int32	   *pair_item;		/* item index of each pair */
	int64	   *user_start;		/* pairs of user u: user_start[u] .. [u + 1] - 1 */
	int64		n_users;
	int64	   *item_start;		/* inverted index: users of each item */
	int64	   *item_user;		/* user index */
	float8	   *item_weight;
	float8	   *norm2;
	float8	   *item_sum;		/* Pearson: sum of each item's weights */
	float8	   *centred;		/* adjusted cosine: pair weights minus user mean */
	float8	   *item_centred;	/* the same, inverted-index order */
} KnnIndex;

/* the sums of one item against the items it shares a user with */
typedef struct KnnSums
{
	float8	   *dot;
	float8	   *sq_i;			/* adjusted cosine: sums of squares over common users */
	float8	   *sq_j;
	int32	   *touched;		/* the items met, n_touched of them */
	int32		n_touched;
	int32	   *stamp;			/* stamp[j] == i + 1: j met while summing item i */
} KnnSums;

#define HUGE_ARRAY(type, n) \
	((type *) palloc_extended(sizeof(type) * Max((n), 1), MCXT_ALLOC_HUGE))
#define HUGE_ZEROS(type, n) \
	((type *) palloc_extended(sizeof(type) * Max((n), 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO))

static void pg_attribute_noreturn()
WeightsTooWide(const Interaction *row, float8 weight, float8 max)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("weights span too wide a range"),
			 errdetail("User %lld has weight %g for item %lld, but the largest weight is %g.",
					   (long long) row->user_id, weight, (long long) row->item_id, max),
			 errhint("A weight below about 1e-154 times the largest cannot be squared in double precision.")));
}

/*
 * Scale all weights by the power of two that brings the largest into
 * [0.5, 1), and return the factor.  Cosines do not change, not even in the
 * last bit (multiplying by a power of two is exact, and so every sum,
 * product and square root scales exactly), but sums of weights, squares
 * and products can no longer overflow, however large the weights.  Doing
 * it again is a no-op, so the state stays valid.
 */
static float8
ScaleWeights(Interaction *rows, int64 n, float8 *max_weight)
{
	float8		max = 0.0;
	int			exponent;

	for (int64 i = 0; i < n; i++)
		max = Max(max, rows[i].weight);
	*max_weight = max;
	if (max == 0.0)
		return 1.0;
	(void) frexp(max, &exponent);
	for (int64 i = 0; i < n; i++)
	{
		float8		w = rows[i].weight;

		rows[i].weight = ldexp(w, -exponent);
		if (w > 0.0 && rows[i].weight == 0.0)
			WeightsTooWide(&rows[i], w, max);
	}
	return ldexp(1.0, exponent);
}

/* Number the distinct item ids in ascending order. */
static void
NumberItems(KnnIndex *x)
{
	int64		m = 0;

	x->items = HUGE_ARRAY(int64, x->n_pairs);
	for (int64 i = 0; i < x->n_pairs; i++)
		x->items[i] = x->rows[i].item_id;
	qsort(x->items, x->n_pairs, sizeof(int64), CompareInt64);
	for (int64 i = 0; i < x->n_pairs; i++)
		if (m == 0 || x->items[m - 1] != x->items[i])
			x->items[m++] = x->items[i];
	if (m > PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("item_knn cannot handle %lld distinct items", (long long) m)));
	x->n_items = (int32) m;
}

/*
 * Refuse early a model that cannot fit in one value, before the costly
 * part; the bound assumes every item gets min(k, n_items - 1) neighbours.
 * Returns that bound, and the neighbours per item in *limit.
 */
static Size
CheckModelFits(int32 n_items, int32 k, int32 *limit)
{
	Size		max_neighbors;

	*limit = Min(k, Max(n_items - 1, 0));
	max_neighbors = (Size) n_items * *limit;
	if (ItemKnnModelSize(n_items, max_neighbors) > MaxAllocSize)
	{
		Size		per_item = ItemKnnModelSize(1, *limit) - ItemKnnModelSize(0, 0);

		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("item_knn model of %d items with k = %d would exceed the 1 GB limit of a value",
						n_items, k),
				 errdetail("The model takes up to %zu bytes per item.", per_item),
				 errhint("Use a smaller k, or build one model per category or country.")));
	}
	return max_neighbors;
}

/* users, and the item index of each pair (rows are sorted by user, item) */
static void
IndexUsers(KnnIndex *x)
{
	x->pair_item = HUGE_ARRAY(int32, x->n_pairs);
	x->user_start = palloc_extended(sizeof(int64) * (x->n_pairs + 1), MCXT_ALLOC_HUGE);
	x->n_users = 0;
	for (int64 i = 0; i < x->n_pairs; i++)
	{
		int64	   *found = bsearch(&x->rows[i].item_id, x->items, x->n_items,
									sizeof(int64), CompareInt64);

		x->pair_item[i] = (int32) (found - x->items);
		if (i == 0 || x->rows[i].user_id != x->rows[i - 1].user_id)
			x->user_start[x->n_users++] = i;
	}
	x->user_start[x->n_users] = x->n_pairs;
}

/*
 * The inverted index, by counting sort (users stay ascending per item), and
 * each item's squared norm.  scale and max_weight undo ScaleWeights in the
 * error message.
 */
static void
InvertIndex(KnnIndex *x, float8 scale, float8 max_weight)
{
	int64	   *fill = HUGE_ARRAY(int64, x->n_items);

	x->item_start = palloc_extended(sizeof(int64) * (x->n_items + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	x->item_user = HUGE_ARRAY(int64, x->n_pairs);
	x->item_weight = HUGE_ARRAY(float8, x->n_pairs);
	x->norm2 = HUGE_ZEROS(float8, x->n_items);
	for (int64 i = 0; i < x->n_pairs; i++)
		x->item_start[x->pair_item[i] + 1]++;
	for (int32 i = 0; i < x->n_items; i++)
		x->item_start[i + 1] += x->item_start[i];
	memcpy(fill, x->item_start, sizeof(int64) * x->n_items);
	for (int64 u = 0; u < x->n_users; u++)
		for (int64 i = x->user_start[u]; i < x->user_start[u + 1]; i++)
		{
			int64		at = fill[x->pair_item[i]]++;
			float8		w = x->rows[i].weight;

			x->item_user[at] = u;
			x->item_weight[at] = w;
			x->norm2[x->pair_item[i]] += w * w;
		}
	pfree(fill);

	/*
	 * A positive weight whose square vanished next to the largest weight
	 * (a ratio below about 1e-154) would make its item look like a zero
	 * vector: refuse rather than give that item no neighbours.
	 */
	for (int64 i = 0; i < x->n_pairs; i++)
		if (x->rows[i].weight > 0.0 && x->norm2[x->pair_item[i]] == 0.0)
			WeightsTooWide(&x->rows[i], x->rows[i].weight * scale, max_weight);
}

/*
 * Pearson: the correlation of the whole item vectors over the n_users
 * users of the input (a user who did not buy the item counts as 0),
 * from the sums: cov = dot - s_i s_j / n, var = |i|^2 - s_i^2 / n.
 * Items bought by no pair of users ever correlate negatively, so only
 * items sharing a user can be (positive) neighbours, as with cosine.
 * Adjusted cosine (Sarwar, Karypis, Konstan & Riedl 2001, section
 * 3.1.3): weights minus the user's mean weight over the items the user
 * has, cosine over the users the two items have in common.
 */
static void
PrepareMeasure(KnnIndex *x)
{
	x->item_sum = x->centred = x->item_centred = NULL;
	if (x->measure == KNN_PEARSON)
	{
		x->item_sum = HUGE_ZEROS(float8, x->n_items);
		for (int64 i = 0; i < x->n_pairs; i++)
			x->item_sum[x->pair_item[i]] += x->rows[i].weight;
	}
	else if (x->measure == KNN_ADJUSTED_COSINE)
	{
		int64	   *fill = HUGE_ARRAY(int64, x->n_items);

		x->centred = HUGE_ARRAY(float8, x->n_pairs);
		x->item_centred = HUGE_ARRAY(float8, x->n_pairs);
		for (int64 u = 0; u < x->n_users; u++)
		{
			float8		mean = 0.0;

			for (int64 q = x->user_start[u]; q < x->user_start[u + 1]; q++)
				mean += x->rows[q].weight;
			mean /= (float8) (x->user_start[u + 1] - x->user_start[u]);
			for (int64 q = x->user_start[u]; q < x->user_start[u + 1]; q++)
				x->centred[q] = x->rows[q].weight - mean;
		}
		/* the same values in inverted-index order (users ascending per item) */
		memcpy(fill, x->item_start, sizeof(int64) * x->n_items);
		for (int64 q = 0; q < x->n_pairs; q++)
			x->item_centred[fill[x->pair_item[q]]++] = x->centred[q];
		pfree(fill);
	}
}

static void
AllocSums(KnnSums *s, const KnnIndex *x)
{
	s->dot = HUGE_ZEROS(float8, x->n_items);
	s->touched = HUGE_ARRAY(int32, x->n_items);
	s->stamp = HUGE_ZEROS(int32, x->n_items);
	s->sq_i = s->sq_j = NULL;
	if (x->measure == KNN_ADJUSTED_COSINE)
	{
		s->sq_i = HUGE_ZEROS(float8, x->n_items);
		s->sq_j = HUGE_ZEROS(float8, x->n_items);
	}
}

/*
 * Walk item i's users and each of their items j, adding up dot(i, j) (and
 * the sums of squares adjusted cosine needs) for every j met.
 */
static void
SumItem(KnnSums *s, const KnnIndex *x, int32 i)
{
	s->n_touched = 0;
	for (int64 p = x->item_start[i]; p < x->item_start[i + 1]; p++)
	{
		int64		u = x->item_user[p];
		float8		w = x->item_weight[p];

		for (int64 q = x->user_start[u]; q < x->user_start[u + 1]; q++)
		{
			int32		j = x->pair_item[q];

			if (s->stamp[j] != i + 1)
			{
				s->stamp[j] = i + 1;
				s->dot[j] = 0.0;
				if (s->sq_i != NULL)
					s->sq_i[j] = s->sq_j[j] = 0.0;
				s->touched[s->n_touched++] = j;
			}
			if (s->sq_i != NULL)
			{
				float8		a = x->item_centred[p];
				float8		b = x->centred[q];

				s->dot[j] += a * b;
				s->sq_i[j] += a * a;
				s->sq_j[j] += b * b;
			}
			else
				s->dot[j] += w * x->rows[q].weight;
		}
	}
}

/*
 * The variance Pearson needs of item i, or -1 when i can have no
 * neighbours: all weights zero (no direction, adjusted cosine aside), or a
 * constant vector (up to rounding) under Pearson.
 */
static float8
ItemVariance(const KnnIndex *x, int32 i)
{
	float8		var_i;

	if (x->norm2[i] == 0.0 && x->measure != KNN_ADJUSTED_COSINE)
		return -1.0;
	if (x->measure != KNN_PEARSON)
		return 0.0;
	var_i = x->norm2[i] - x->item_sum[i] * x->item_sum[i] / (float8) x->n_users;
	if (!(var_i > x->norm2[i] * 1e-12))
		return -1.0;
	return var_i;
}

/* Offer every item met while summing item i, by its similarity, to the heap. */
static void
OfferNeighbours(TopK *best, const KnnSums *s, const KnnIndex *x, int32 i, float8 var_i)
{
	for (int32 t = 0; t < s->n_touched; t++)
	{
		int32		j = s->touched[t];
		float8		similarity;

		if (j == i)
			continue;
		if (x->measure == KNN_PEARSON)
		{
			float8		n = (float8) x->n_users;
			float8		cov = s->dot[j] - x->item_sum[i] * x->item_sum[j] / n;
			float8		var_j = x->norm2[j] - x->item_sum[j] * x->item_sum[j] / n;

			if (!(cov > 0.0 && var_j > x->norm2[j] * 1e-12))
				continue;
			similarity = cov / sqrt(var_i * var_j);
		}
		else if (x->measure == KNN_ADJUSTED_COSINE)
		{
			if (!(s->dot[j] > 0.0))
				continue;
			similarity = s->dot[j] / sqrt(s->sq_i[j] * s->sq_j[j]);
		}
		else
		{
			if (s->dot[j] <= 0.0)
				continue;
			/* one sqrt of the product, as cosine_sim does */
			similarity = s->dot[j] / sqrt(x->norm2[i] * x->norm2[j]);
		}
		/* rounding may pass 1 */
		TopKOffer(best, Min(1.0, similarity), j);
	}
}

/*
 * The model of the indexed pairs: the neighbour lists, one item at a time.
 * The model is allocated at its largest (at most 1 GB, checked before);
 * similarities go straight to their final place, which depends only on
 * n_items, and the neighbour indexes wait in a side array until their
 * place, after the similarities, is known.  The model shrinks at the end.
 */
static ItemKnnModel *
BuildModel(const KnnIndex *x, int32 k, int32 limit, Size max_neighbors)
{
	ItemKnnModel *model = AllocItemKnnModel(k, x->n_items, max_neighbors);
	float8	   *m_sims = ItemKnnSims(model);
	int32	   *offsets = palloc_extended(sizeof(int32) * (x->n_items + 1), MCXT_ALLOC_HUGE);
	int32	   *nbr_index = HUGE_ARRAY(int32, max_neighbors);
	Size		n_all = 0;
	KnnSums		sums;
	TopK		best;

	AllocSums(&sums, x);
	TopKInit(&best, limit);
	offsets[0] = 0;
	for (int32 i = 0; i < x->n_items; i++)
	{
		float8		var_i;

		CHECK_FOR_INTERRUPTS();
		offsets[i + 1] = (int32) n_all;
		if (limit == 0)
			continue;			/* a single item */
		var_i = ItemVariance(x, i);
		if (var_i < 0.0)
			continue;
		SumItem(&sums, x, i);
		TopKReset(&best);
		OfferNeighbours(&best, &sums, x, i, var_i);
		TopKSort(&best);
		for (int t = 0; t < best.n; t++)
		{
			m_sims[n_all + t] = best.entries[t].score;
			nbr_index[n_all + t] = best.entries[t].index;
		}
		n_all += best.n;
		offsets[i + 1] = (int32) n_all;
	}

	model->n_neighbors = (int32) n_all;
	memcpy(ItemKnnItems(model), x->items, sizeof(int64) * x->n_items);
	memcpy(ItemKnnOffsets(model), offsets, sizeof(int32) * (x->n_items + 1));
	memcpy(ItemKnnNeighbors(model), nbr_index, sizeof(int32) * n_all);
	SET_VARSIZE(model, ItemKnnModelSize(x->n_items, n_all));
	model = repalloc_huge(model, ItemKnnModelSize(x->n_items, n_all));

	/* the big work arrays go now rather than with the aggregate's context */
	pfree(nbr_index);
	pfree(offsets);
	pfree(sums.dot);
	pfree(sums.touched);
	pfree(sums.stamp);
	return model;
}

/* Returns the model built from all collected triples, NULL when there were no rows. */
PG_FUNCTION_INFO_V1(item_knn_finalfn);
Datum
item_knn_finalfn(PG_FUNCTION_ARGS)
{
	ItemKnnState *state = PG_ARGISNULL(0) ? NULL : (ItemKnnState *) PG_GETARG_POINTER(0);
	KnnIndex	x;
	int32		limit;
	Size		max_neighbors;
	ItemKnnModel *model;
	float8		scale;
	float8		max_weight;

	if (state == NULL)
		PG_RETURN_NULL();

	/*
	 * Work on the state in place: the final function may be called more than
	 * once on the same state (window use), and sorting and merging leave a
	 * valid, equivalent state behind.
	 */
	scale = ScaleWeights(state->list.rows, state->list.n, &max_weight);
	x.n_pairs = InteractionsMergePairs(&state->list);
	x.rows = state->list.rows;
	x.measure = state->measure;

	NumberItems(&x);
	max_neighbors = CheckModelFits(x.n_items, state->k, &limit);
	IndexUsers(&x);
	InvertIndex(&x, scale, max_weight);
	PrepareMeasure(&x);
	model = BuildModel(&x, state->k, limit, max_neighbors);

	pfree(x.item_user);
	pfree(x.item_weight);
	pfree(x.pair_item);
	pfree(x.user_start);
	pfree(x.items);
	PG_RETURN_POINTER(model);
}
