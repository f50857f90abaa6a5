/*-------------------------------------------------------------------------
 *
 * item_knn.c
 *	  The aggregate retention.item_knn(user_id, item_id, weight, k): for
 *	  every item, its k most similar items by cosine similarity of their
 *	  user vectors.
 *
 * The transition function only collects (user, item, weight) triples, 24
 * bytes each; parallel workers and partial aggregation append their lists.
 * The final function does the real work in one pass over an inverted index:
 *
 *	1. sort the triples by (user, item, weight) and add up the weights of
 *	   each (user, item) pair (in ascending order, so the sum does not
 *	   depend on the order the rows arrived in);
 *	2. number the distinct items in ascending id order and build, for
 *	   every item, the list of its users (the inverted index);
 *	3. for each item i, walk its users and each of their items j and
 *	   accumulate dot(i, j) in a dense array; only pairs that share a user
 *	   are ever touched, so the cost is the sum over users of the square of
 *	   their item count, not n_items squared;
 *	4. cosine = dot(i, j) / sqrt(|i|^2 |j|^2), keep the k best in a bounded
 *	   heap (similarity descending, then item id ascending) and write them
 *	   into the model.
 *
 * The optional fifth argument chooses the similarity: "cosine" (the
 * default), "pearson" (the correlation of the whole item vectors, a user
 * without the item counting as 0) or "adjusted_cosine" (Sarwar et al.
 * 2001: weights minus the user's mean, over the users both items have);
 * steps 3 and 4 then accumulate the sums those need.  Only positive
 * similarities make neighbours.  Adjusted cosine costs 16 more bytes per
 * pair and per item.
 *
 * Memory: 24 bytes per input row in the state, then, while the final
 * function runs, about 40 bytes per distinct (user, item) pair, 40 bytes
 * per item, 4 bytes per neighbour and the model at its largest possible
 * size, 12 * n_items * min(k, n_items - 1) bytes, before it shrinks to
 * 12 bytes per item and per neighbour actually found.  A model that could
 * exceed 1 GB, the limit of one PostgreSQL value, is refused with an error
 * before the neighbours are computed: 1,000,000 items with k = 20 (252 MB)
 * work, k = 100 does not.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "item_knn_model.h"

typedef struct Interaction
{
	int64		user_id;
	int64		item_id;
	float8		weight;
} Interaction;

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
	int64		n;				/* triples used */
	int64		capacity;		/* triples allocated */
	Interaction *rows;
} ItemKnnState;

/* serialised state: k, n, then n raw triples */
#define STATE_HEADER_SIZE	(sizeof(int32) + sizeof(int64) + sizeof(int32))

/* a neighbour candidate while the top k of one item are selected */
typedef struct Candidate
{
	float8		similarity;
	int32		index;			/* into the sorted item ids, so id order */
} Candidate;

/* true when a ranks below b: lower similarity, or equal and larger id */
static inline bool
CandidateWorse(const Candidate *a, const Candidate *b)
{
	if (a->similarity != b->similarity)
		return a->similarity < b->similarity;
	return a->index > b->index;
}

static ItemKnnState *
NewState(MemoryContext context, int32 k, int64 capacity)
{
	ItemKnnState *state = MemoryContextAlloc(context, sizeof(ItemKnnState));

	state->k = k;
	state->measure = KNN_COSINE;
	state->n = 0;
	state->capacity = Max(capacity, 1024);
	state->rows = MemoryContextAllocHuge(context,
										 sizeof(Interaction) * state->capacity);
	return state;
}

static void
EnsureCapacity(ItemKnnState *state, int64 needed)
{
	if (needed <= state->capacity)
		return;
	if ((Size) needed > MaxAllocHugeSize / sizeof(Interaction) / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("item_knn cannot hold more than %lld interactions",
						(long long) (MaxAllocHugeSize / sizeof(Interaction) / 2))));
	state->capacity = Max(needed, state->capacity * 2);
	state->rows = repalloc_huge(state->rows,
								sizeof(Interaction) * state->capacity);
}

void
CheckItemKnnK(int32 k)
{
	if (k <= 0 || k > ITEM_KNN_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", ITEM_KNN_MAX_K),
				 errdetail("k is %d.", k)));
}

static void
CheckSameK(int32 k, int32 other)
{
	if (k != other)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be the same in every row"),
				 errdetail("Rows have k = %d and k = %d.", k, other)));
}

static void
CheckSameMeasure(int32 measure, int32 other)
{
	if (measure != other)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("similarity must be the same in every row")));
}

/* the similarity named by the optional sixth argument; cosine without it */
static int32
MeasureArg(FunctionCallInfo fcinfo)
{
	char	   *name;

	if (PG_NARGS() < 6)
		return KNN_COSINE;
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("similarity must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (strcmp(name, "cosine") == 0)
		return KNN_COSINE;
	if (strcmp(name, "pearson") == 0)
		return KNN_PEARSON;
	if (strcmp(name, "adjusted_cosine") == 0)
		return KNN_ADJUSTED_COSINE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown similarity \"%s\"", name),
			 errhint("The similarities are cosine, pearson and adjusted_cosine.")));
	return KNN_COSINE;			/* keep the compiler quiet */
}

int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

static int
CompareInteraction(const void *a, const void *b)
{
	const Interaction *x = a;
	const Interaction *y = b;

	if (x->user_id != y->user_id)
		return (x->user_id > y->user_id) - (x->user_id < y->user_id);
	if (x->item_id != y->item_id)
		return (x->item_id > y->item_id) - (x->item_id < y->item_id);
	return (x->weight > y->weight) - (x->weight < y->weight);
}

/* Collects one (user, item, weight) triple; rows with a NULL among them are skipped. */
PG_FUNCTION_INFO_V1(item_knn_transfn);
Datum
item_knn_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ItemKnnState *state = PG_ARGISNULL(0) ? NULL : (ItemKnnState *) PG_GETARG_POINTER(0);
	int32		k;
	int32		measure;
	float8		weight;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "item_knn_transfn called in non-aggregate context");

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(4);
	CheckItemKnnK(k);
	measure = MeasureArg(fcinfo);
	if (state == NULL)
	{
		state = NewState(aggcontext, k, 0);
		state->measure = measure;
	}
	else
	{
		CheckSameK(state->k, k);
		CheckSameMeasure(state->measure, measure);
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(state);

	weight = PG_GETARG_FLOAT8(3);
	/* written so that NaN fails the test */
	if (!(weight >= 0.0 && isfinite(weight)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight must be a finite number greater than or equal to zero"),
				 errdetail("User %lld has weight %g for item %lld.",
						   (long long) PG_GETARG_INT64(1), weight,
						   (long long) PG_GETARG_INT64(2))));

	EnsureCapacity(state, state->n + 1);
	state->rows[state->n].user_id = PG_GETARG_INT64(1);
	state->rows[state->n].item_id = PG_GETARG_INT64(2);
	state->rows[state->n].weight = weight;
	state->n++;
	PG_RETURN_POINTER(state);
}

/* Returns the union of two partial states (parallel and partial aggregation). */
PG_FUNCTION_INFO_V1(item_knn_combinefn);
Datum
item_knn_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ItemKnnState *a = PG_ARGISNULL(0) ? NULL : (ItemKnnState *) PG_GETARG_POINTER(0);
	ItemKnnState *b = PG_ARGISNULL(1) ? NULL : (ItemKnnState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "item_knn_combinefn called in non-aggregate context");

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* copy, never alias: b belongs to the caller */
		a = NewState(aggcontext, b->k, b->n);
		a->measure = b->measure;
	}
	else
	{
		CheckSameK(a->k, b->k);
		CheckSameMeasure(a->measure, b->measure);
	}

	EnsureCapacity(a, a->n + b->n);
	memcpy(a->rows + a->n, b->rows, sizeof(Interaction) * b->n);
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

/* Returns the state as bytea: k, the number of triples, the triples. */
PG_FUNCTION_INFO_V1(item_knn_serialfn);
Datum
item_knn_serialfn(PG_FUNCTION_ARGS)
{
	ItemKnnState *state = (ItemKnnState *) PG_GETARG_POINTER(0);
	Size		payload = sizeof(Interaction) * state->n;
	Size		size = VARHDRSZ + STATE_HEADER_SIZE + payload;
	bytea	   *result;
	char	   *p;

	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("item_knn state of %lld interactions is too large to pass between processes",
						(long long) state->n),
				 errhint("Disable parallel aggregation with SET max_parallel_workers_per_gather = 0.")));

	result = palloc(size);
	SET_VARSIZE(result, size);
	p = VARDATA(result);
	memcpy(p, &state->k, sizeof(int32));
	memcpy(p + sizeof(int32), &state->n, sizeof(int64));
	memcpy(p + sizeof(int32) + sizeof(int64), &state->measure, sizeof(int32));
	memcpy(p + STATE_HEADER_SIZE, state->rows, payload);
	PG_RETURN_BYTEA_P(result);
}

/* Returns the state read back from item_knn_serialfn's bytea, after checking its length. */
PG_FUNCTION_INFO_V1(item_knn_deserialfn);
Datum
item_knn_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcontext;
	const char *p = VARDATA_ANY(data);
	Size		len = VARSIZE_ANY_EXHDR(data);
	int32		k;
	int64		n;
	int32		measure;
	ItemKnnState *state;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "item_knn_deserialfn called in non-aggregate context");

	if (len < STATE_HEADER_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid item_knn state: %zu bytes is too short", len)));
	memcpy(&k, p, sizeof(int32));
	memcpy(&n, p + sizeof(int32), sizeof(int64));
	memcpy(&measure, p + sizeof(int32) + sizeof(int64), sizeof(int32));
	if (n < 0 || (Size) n != (len - STATE_HEADER_SIZE) / sizeof(Interaction) ||
		(len - STATE_HEADER_SIZE) % sizeof(Interaction) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid item_knn state: %zu bytes cannot hold %lld interactions",
						len, (long long) n)));
	CheckItemKnnK(k);
	if (measure < KNN_COSINE || measure > KNN_ADJUSTED_COSINE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid item_knn state: unknown similarity %d", measure)));

	state = NewState(aggcontext, k, n);
	state->measure = measure;
	memcpy(state->rows, p + STATE_HEADER_SIZE, sizeof(Interaction) * n);
	state->n = n;
	PG_RETURN_POINTER(state);
}

/* Sift the root of a min-heap (worst candidate at the top) down into place. */
static void
HeapSiftDown(Candidate *heap, int n, int i)
{
	for (;;)
	{
		int			worst = i;
		int			l = 2 * i + 1;
		int			r = l + 1;
		Candidate	tmp;

		if (l < n && CandidateWorse(&heap[l], &heap[worst]))
			worst = l;
		if (r < n && CandidateWorse(&heap[r], &heap[worst]))
			worst = r;
		if (worst == i)
			return;
		tmp = heap[i];
		heap[i] = heap[worst];
		heap[worst] = tmp;
		i = worst;
	}
}

static void
HeapSiftUp(Candidate *heap, int i)
{
	while (i > 0)
	{
		int			parent = (i - 1) / 2;
		Candidate	tmp;

		if (!CandidateWorse(&heap[i], &heap[parent]))
			return;
		tmp = heap[i];
		heap[i] = heap[parent];
		heap[parent] = tmp;
		i = parent;
	}
}

/* Offer a candidate to a heap holding the best "limit" so far. */
static inline void
HeapOffer(Candidate *heap, int *n, int limit, Candidate c)
{
	if (*n < limit)
	{
		heap[*n] = c;
		HeapSiftUp(heap, (*n)++);
	}
	else if (CandidateWorse(&heap[0], &c))
	{
		heap[0] = c;
		HeapSiftDown(heap, *n, 0);
	}
}

static int
CompareCandidateBestFirst(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (CandidateWorse(x, y))
		return 1;
	if (CandidateWorse(y, x))
		return -1;
	return 0;
}

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

/*
 * Sort the triples, add up duplicate pairs in place, and return the number
 * of distinct (user, item) pairs left at the front of rows[].
 */
static int64
MergeDuplicatePairs(Interaction *rows, int64 n)
{
	int64		out = 0;

	qsort(rows, n, sizeof(Interaction), CompareInteraction);
	for (int64 i = 0; i < n; i++)
	{
		if (out > 0 && rows[out - 1].user_id == rows[i].user_id &&
			rows[out - 1].item_id == rows[i].item_id)
			rows[out - 1].weight += rows[i].weight;
		else
			rows[out++] = rows[i];
	}
	return out;
}

/* Returns the model built from all collected triples, NULL when there were no rows. */
PG_FUNCTION_INFO_V1(item_knn_finalfn);
Datum
item_knn_finalfn(PG_FUNCTION_ARGS)
{
	ItemKnnState *state = PG_ARGISNULL(0) ? NULL : (ItemKnnState *) PG_GETARG_POINTER(0);
	int64		n_pairs;
	int64	   *items;
	int32		n_items;
	int32	   *pair_item;		/* item index of each pair */
	int64	   *user_start;		/* pairs of user u: user_start[u] .. [u + 1] - 1 */
	int64		n_users;
	int64	   *item_start;		/* inverted index: users of each item */
	int64	   *item_user;		/* user index */
	float8	   *item_weight;
	float8	   *norm2;
	float8	   *item_sum = NULL;	/* Pearson: sum of each item's weights */
	float8	   *centred = NULL;	/* adjusted cosine: pair weights minus user mean */
	float8	   *item_centred = NULL;	/* the same, inverted-index order */
	float8	   *sq_i = NULL;	/* adjusted cosine: sums of squares over common users */
	float8	   *sq_j = NULL;
	float8		var_i = 0.0;
	float8	   *dot;
	int32	   *touched;
	int32	   *stamp;
	Candidate  *heap;
	int32		k;
	int32		limit;
	Size		max_neighbors;
	int32	   *offsets;
	int32	   *nbr_index;
	float8	   *m_sims;
	Size		n_all = 0;
	ItemKnnModel *model;
	float8		scale;
	float8		max_weight;

	if (state == NULL)
		PG_RETURN_NULL();
	k = state->k;

	/*
	 * Work on the state in place: the final function may be called more than
	 * once on the same state (window use), and sorting and merging leave a
	 * valid, equivalent state behind.
	 */
	scale = ScaleWeights(state->rows, state->n, &max_weight);
	n_pairs = MergeDuplicatePairs(state->rows, state->n);
	state->n = n_pairs;

	/* distinct item ids, ascending */
	items = palloc_extended(sizeof(int64) * Max(n_pairs, 1), MCXT_ALLOC_HUGE);
	{
		int64		m = 0;

		for (int64 i = 0; i < n_pairs; i++)
			items[i] = state->rows[i].item_id;
		qsort(items, n_pairs, sizeof(int64), CompareInt64);
		for (int64 i = 0; i < n_pairs; i++)
			if (m == 0 || items[m - 1] != items[i])
				items[m++] = items[i];
		if (m > PG_INT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("item_knn cannot handle %lld distinct items", (long long) m)));
		n_items = (int32) m;
	}

	/*
	 * Refuse early a model that cannot fit in one value, before the costly
	 * part; the bound assumes every item gets min(k, n_items - 1) neighbours.
	 */
	limit = Min(k, Max(n_items - 1, 0));
	max_neighbors = (Size) n_items * limit;
	if (ItemKnnModelSize(n_items, max_neighbors) > MaxAllocSize)
	{
		Size		per_item = ItemKnnModelSize(1, limit) - ItemKnnModelSize(0, 0);

		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("item_knn model of %d items with k = %d would exceed the 1 GB limit of a value",
						n_items, k),
				 errdetail("The model takes up to %zu bytes per item.", per_item),
				 errhint("Use a smaller k, or build one model per category or country.")));
	}

	/* users, and the item index of each pair (rows are sorted by user, item) */
	pair_item = palloc_extended(sizeof(int32) * Max(n_pairs, 1), MCXT_ALLOC_HUGE);
	user_start = palloc_extended(sizeof(int64) * (n_pairs + 1), MCXT_ALLOC_HUGE);
	n_users = 0;
	for (int64 i = 0; i < n_pairs; i++)
	{
		int64	   *found = bsearch(&state->rows[i].item_id, items, n_items,
									sizeof(int64), CompareInt64);

		pair_item[i] = (int32) (found - items);
		if (i == 0 || state->rows[i].user_id != state->rows[i - 1].user_id)
			user_start[n_users++] = i;
	}
	user_start[n_users] = n_pairs;

	/* the inverted index, by counting sort; users stay ascending per item */
	item_start = palloc_extended(sizeof(int64) * (n_items + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	item_user = palloc_extended(sizeof(int64) * Max(n_pairs, 1), MCXT_ALLOC_HUGE);
	item_weight = palloc_extended(sizeof(float8) * Max(n_pairs, 1), MCXT_ALLOC_HUGE);
	norm2 = palloc_extended(sizeof(float8) * Max(n_items, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int64 i = 0; i < n_pairs; i++)
		item_start[pair_item[i] + 1]++;
	for (int32 i = 0; i < n_items; i++)
		item_start[i + 1] += item_start[i];
	{
		int64	   *fill = palloc_extended(sizeof(int64) * Max(n_items, 1), MCXT_ALLOC_HUGE);

		memcpy(fill, item_start, sizeof(int64) * n_items);
		for (int64 u = 0; u < n_users; u++)
			for (int64 i = user_start[u]; i < user_start[u + 1]; i++)
			{
				int64		at = fill[pair_item[i]]++;
				float8		w = state->rows[i].weight;

				item_user[at] = u;
				item_weight[at] = w;
				norm2[pair_item[i]] += w * w;
			}
		pfree(fill);
	}

	/*
	 * A positive weight whose square vanished next to the largest weight
	 * (a ratio below about 1e-154) would make its item look like a zero
	 * vector: refuse rather than give that item no neighbours.
	 */
	for (int64 i = 0; i < n_pairs; i++)
		if (state->rows[i].weight > 0.0 && norm2[pair_item[i]] == 0.0)
			WeightsTooWide(&state->rows[i], state->rows[i].weight * scale, max_weight);

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
	if (state->measure == KNN_PEARSON)
	{
		item_sum = palloc_extended(sizeof(float8) * Max(n_items, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		for (int64 i = 0; i < n_pairs; i++)
			item_sum[pair_item[i]] += state->rows[i].weight;
	}
	else if (state->measure == KNN_ADJUSTED_COSINE)
	{
		centred = palloc_extended(sizeof(float8) * Max(n_pairs, 1), MCXT_ALLOC_HUGE);
		item_centred = palloc_extended(sizeof(float8) * Max(n_pairs, 1), MCXT_ALLOC_HUGE);
		sq_i = palloc_extended(sizeof(float8) * Max(n_items, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		sq_j = palloc_extended(sizeof(float8) * Max(n_items, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		for (int64 u = 0; u < n_users; u++)
		{
			float8		mean = 0.0;

			for (int64 q = user_start[u]; q < user_start[u + 1]; q++)
				mean += state->rows[q].weight;
			mean /= (float8) (user_start[u + 1] - user_start[u]);
			for (int64 q = user_start[u]; q < user_start[u + 1]; q++)
				centred[q] = state->rows[q].weight - mean;
		}
		/* the same values in inverted-index order (users ascending per item) */
		{
			int64	   *fill = palloc_extended(sizeof(int64) * Max(n_items, 1), MCXT_ALLOC_HUGE);

			memcpy(fill, item_start, sizeof(int64) * n_items);
			for (int64 q = 0; q < n_pairs; q++)
				item_centred[fill[pair_item[q]]++] = centred[q];
			pfree(fill);
		}
	}

	/* the neighbour lists, one item at a time */
	dot = palloc_extended(sizeof(float8) * Max(n_items, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	touched = palloc_extended(sizeof(int32) * Max(n_items, 1), MCXT_ALLOC_HUGE);
	stamp = palloc_extended(sizeof(int32) * Max(n_items, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	heap = palloc(sizeof(Candidate) * Max(limit, 1));
	/*
	 * The model at its largest (at most 1 GB, checked above); similarities
	 * go straight to their final place, which depends only on n_items, and
	 * the neighbour indexes wait in a side array until their place, after
	 * the similarities, is known.  The model shrinks to its size at the end.
	 */
	model = AllocItemKnnModel(k, n_items, max_neighbors);
	m_sims = ItemKnnSims(model);
	offsets = palloc_extended(sizeof(int32) * (n_items + 1), MCXT_ALLOC_HUGE);
	nbr_index = palloc_extended(sizeof(int32) * Max(max_neighbors, 1), MCXT_ALLOC_HUGE);
	offsets[0] = 0;

	for (int32 i = 0; i < n_items; i++)
	{
		int32		n_touched = 0;
		int			n_heap = 0;

		CHECK_FOR_INTERRUPTS();
		offsets[i + 1] = (int32) n_all;
		if (limit == 0)
			continue;				/* a single item */
		/* all weights zero: no direction, no neighbours (adjusted cosine aside) */
		if (norm2[i] == 0.0 && state->measure != KNN_ADJUSTED_COSINE)
			continue;
		if (state->measure == KNN_PEARSON)
		{
			var_i = norm2[i] - item_sum[i] * item_sum[i] / (float8) n_users;
			/* a constant vector (up to rounding) has no correlation */
			if (!(var_i > norm2[i] * 1e-12))
				continue;
		}

		for (int64 p = item_start[i]; p < item_start[i + 1]; p++)
		{
			int64		u = item_user[p];
			float8		w = item_weight[p];

			for (int64 q = user_start[u]; q < user_start[u + 1]; q++)
			{
				int32		j = pair_item[q];

				if (stamp[j] != i + 1)
				{
					stamp[j] = i + 1;
					dot[j] = 0.0;
					if (sq_i != NULL)
						sq_i[j] = sq_j[j] = 0.0;
					touched[n_touched++] = j;
				}
				if (sq_i != NULL)
				{
					float8		a = item_centred[p];
					float8		b = centred[q];

					dot[j] += a * b;
					sq_i[j] += a * a;
					sq_j[j] += b * b;
				}
				else
					dot[j] += w * state->rows[q].weight;
			}
		}

		for (int32 t = 0; t < n_touched; t++)
		{
			int32		j = touched[t];
			Candidate	c;

			if (j == i)
				continue;
			if (state->measure == KNN_PEARSON)
			{
				float8		cov = dot[j] - item_sum[i] * item_sum[j] / (float8) n_users;
				float8		var_j = norm2[j] - item_sum[j] * item_sum[j] / (float8) n_users;

				if (!(cov > 0.0 && var_j > norm2[j] * 1e-12))
					continue;
				c.similarity = cov / sqrt(var_i * var_j);
			}
			else if (state->measure == KNN_ADJUSTED_COSINE)
			{
				if (!(dot[j] > 0.0))
					continue;
				c.similarity = dot[j] / sqrt(sq_i[j] * sq_j[j]);
			}
			else
			{
				if (dot[j] <= 0.0)
					continue;
				/* one sqrt of the product, as cosine_sim does */
				c.similarity = dot[j] / sqrt(norm2[i] * norm2[j]);
			}
			/* rounding may pass 1 */
			c.similarity = Min(1.0, c.similarity);
			c.index = j;
			HeapOffer(heap, &n_heap, limit, c);
		}

		qsort(heap, n_heap, sizeof(Candidate), CompareCandidateBestFirst);
		for (int t = 0; t < n_heap; t++)
		{
			m_sims[n_all + t] = heap[t].similarity;
			nbr_index[n_all + t] = heap[t].index;
		}
		n_all += n_heap;
		offsets[i + 1] = (int32) n_all;
	}

	model->n_neighbors = (int32) n_all;
	memcpy(ItemKnnItems(model), items, sizeof(int64) * n_items);
	memcpy(ItemKnnOffsets(model), offsets, sizeof(int32) * (n_items + 1));
	memcpy(ItemKnnNeighbors(model), nbr_index, sizeof(int32) * n_all);
	SET_VARSIZE(model, ItemKnnModelSize(n_items, n_all));
	model = repalloc_huge(model, ItemKnnModelSize(n_items, n_all));

	/* the big work arrays go now rather than with the aggregate's context */
	pfree(nbr_index);
	pfree(offsets);
	pfree(dot);
	pfree(touched);
	pfree(stamp);
	pfree(item_user);
	pfree(item_weight);
	pfree(pair_item);
	pfree(user_start);
	pfree(items);

	PG_RETURN_POINTER(model);
}
