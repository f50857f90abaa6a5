/*-------------------------------------------------------------------------
 *
 * item_knn.c
 *	  The aggregate retention.item_knn(user_id, item_id, weight, k): for
 *	  every item, its k most similar items by cosine similarity of their
 *	  user vectors.
 *
 * The transition function only collects (user, item, weight) triples, 24
 * bytes each; parallel workers and partial aggregation append their lists.
 * The final function (item_knn_build.c) does the real work in one pass over
 * an inverted index:
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

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "agg_context.h"
#include "item_knn_model.h"
#include "item_knn_state.h"

/* serialised state: k, n, then n raw triples */
#define STATE_HEADER_SIZE	(sizeof(int32) + sizeof(int64) + sizeof(int32))

static ItemKnnState *
NewState(MemoryContext context, int32 k, int64 capacity)
{
	ItemKnnState *state = MemoryContextAlloc(context, sizeof(ItemKnnState));

	state->k = k;
	state->measure = KNN_COSINE;
	InteractionsInit(&state->list, context, "item_knn", capacity);
	return state;
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

	aggcontext = AggregateContext(fcinfo, "item_knn_transfn");

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

	InteractionsAdd(&state->list, PG_GETARG_INT64(1), PG_GETARG_INT64(2), weight);
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

	aggcontext = AggregateContext(fcinfo, "item_knn_combinefn");

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* copy, never alias: b belongs to the caller */
		a = NewState(aggcontext, b->k, b->list.n);
		a->measure = b->measure;
	}
	else
	{
		CheckSameK(a->k, b->k);
		CheckSameMeasure(a->measure, b->measure);
	}

	InteractionsAppend(&a->list, &b->list);
	PG_RETURN_POINTER(a);
}

/* Returns the state as bytea: k, the number of triples, the similarity, the triples. */
PG_FUNCTION_INFO_V1(item_knn_serialfn);
Datum
item_knn_serialfn(PG_FUNCTION_ARGS)
{
	ItemKnnState *state = (ItemKnnState *) PG_GETARG_POINTER(0);
	char		header[STATE_HEADER_SIZE];

	memcpy(header, &state->k, sizeof(int32));
	memcpy(header + sizeof(int32), &state->list.n, sizeof(int64));
	memcpy(header + sizeof(int32) + sizeof(int64), &state->measure, sizeof(int32));
	PG_RETURN_BYTEA_P(InteractionsSerialize(&state->list, header, STATE_HEADER_SIZE));
}

/* Returns the state read back from item_knn_serialfn's bytea, after checking its length. */
PG_FUNCTION_INFO_V1(item_knn_deserialfn);
Datum
item_knn_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcontext;
	const char *p;
	int32		k;
	int64		n;
	int32		measure;
	ItemKnnState *state;

	aggcontext = AggregateContext(fcinfo, "item_knn_deserialfn");

	p = InteractionsStateHeader(data, "item_knn", STATE_HEADER_SIZE);
	memcpy(&k, p, sizeof(int32));
	memcpy(&n, p + sizeof(int32), sizeof(int64));
	memcpy(&measure, p + sizeof(int32) + sizeof(int64), sizeof(int32));
	InteractionsCheckCount(data, "item_knn", STATE_HEADER_SIZE, n);
	CheckItemKnnK(k);
	if (measure < KNN_COSINE || measure > KNN_ADJUSTED_COSINE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid item_knn state: unknown similarity %d", measure)));

	state = MemoryContextAlloc(aggcontext, sizeof(ItemKnnState));
	state->k = k;
	state->measure = measure;
	InteractionsFromState(&state->list, aggcontext, "item_knn", data, STATE_HEADER_SIZE, n, DBL_MAX);
	PG_RETURN_POINTER(state);
}
