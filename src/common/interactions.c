/*-------------------------------------------------------------------------
 *
 * interactions.c
 *	  The (user, item, weight) triples of the recommendation aggregates
 *	  (interactions.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "interactions.h"

/* the largest list: doubling it must stay a valid huge allocation */
#define MAX_INTERACTIONS	((int64) (MaxAllocHugeSize / sizeof(Interaction) / 2))

void
InteractionsInit(Interactions *list, MemoryContext context, const char *aggregate,
				 int64 capacity)
{
	list->aggregate = aggregate;
	list->context = context;
	list->n = 0;
	list->capacity = Max(capacity, 1024);
	list->rows = MemoryContextAllocHuge(context, sizeof(Interaction) * list->capacity);
}

void
InteractionsReserve(Interactions *list, int64 needed)
{
	if (needed <= list->capacity)
		return;
	if (needed > MAX_INTERACTIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s cannot hold more than %lld interactions",
						list->aggregate, (long long) MAX_INTERACTIONS)));
	list->capacity = Max(needed, list->capacity * 2);
	list->rows = repalloc_huge(list->rows, sizeof(Interaction) * list->capacity);
}

void
InteractionsAppend(Interactions *into, const Interactions *from)
{
	InteractionsReserve(into, into->n + from->n);
	memcpy(into->rows + into->n, from->rows, sizeof(Interaction) * from->n);
	into->n += from->n;
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

int64
InteractionsMergePairs(Interactions *list)
{
	Interaction *rows = list->rows;
	int64		out = 0;

	qsort(rows, list->n, sizeof(Interaction), CompareInteraction);
	for (int64 i = 0; i < list->n; i++)
	{
		if (out > 0 && rows[out - 1].user_id == rows[i].user_id &&
			rows[out - 1].item_id == rows[i].item_id)
			rows[out - 1].weight += rows[i].weight;
		else
			rows[out++] = rows[i];
	}
	list->n = out;
	return out;
}

bytea *
InteractionsSerialize(const Interactions *list, const void *header, Size header_size)
{
	Size		payload = sizeof(Interaction) * list->n;
	Size		size = add_size(VARHDRSZ + header_size, payload);
	bytea	   *result;

	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s state of %lld interactions is too large to pass between processes",
						list->aggregate, (long long) list->n),
				 errhint("Disable parallel aggregation with SET max_parallel_workers_per_gather = 0.")));
	result = palloc(size);
	SET_VARSIZE(result, size);
	memcpy(VARDATA(result), header, header_size);
	memcpy(VARDATA(result) + header_size, list->rows, payload);
	return result;
}

const char *
InteractionsStateHeader(bytea *data, const char *aggregate, Size header_size)
{
	Size		len = VARSIZE_ANY_EXHDR(data);

	if (len < header_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid %s state: %zu bytes is too short", aggregate, len)));
	return VARDATA_ANY(data);
}

void
InteractionsCheckCount(bytea *data, const char *aggregate, Size header_size, int64 n)
{
	Size		len = VARSIZE_ANY_EXHDR(data);

	Assert(len >= header_size);
	if (n < 0 || (len - header_size) % sizeof(Interaction) != 0 ||
		(Size) n != (len - header_size) / sizeof(Interaction))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid %s state: %zu bytes cannot hold %lld interactions",
						aggregate, len, (long long) n)));
}

void
InteractionsFromState(Interactions *list, MemoryContext context, const char *aggregate,
					  bytea *data, Size header_size, int64 n, double max_weight)
{
	InteractionsCheckCount(data, aggregate, header_size, n);
	InteractionsInit(list, context, aggregate, n);
	memcpy(list->rows, VARDATA_ANY(data) + header_size, sizeof(Interaction) * n);
	list->n = n;
	/* written so that NaN fails the test */
	for (int64 i = 0; i < n; i++)
		if (!(list->rows[i].weight >= 0.0 && list->rows[i].weight <= max_weight))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid %s state: weight out of range", aggregate)));
}
