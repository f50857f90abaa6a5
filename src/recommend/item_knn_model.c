/*-------------------------------------------------------------------------
 *
 * item_knn_model.c
 *	  Input, output and inspection of retention.item_knn_model.
 *
 * The text form is JSON, so that models can be kept in the registry table
 * (retention.models.model jsonb) and survive dumps and format changes:
 *
 *	{"kind": "item_knn", "format": 1, "k": 2,
 *	 "items": [[101, [[102, 0.5], [103, 0.25]]], [102, [[101, 0.5]]], [103, []]]}
 *
 * "items" lists every item with its neighbours as [neighbor_id, similarity]
 * pairs.  Similarities are written in the shortest form that reads back as
 * the same double, so text and binary models give identical results.
 * Input accepts items and neighbours in any order and checks everything the
 * binary form relies on: unique items, at most k neighbours, known and
 * distinct neighbours, similarities in (0, 1].
 *
 * Parsing is done once through jsonb; it costs about a microsecond per
 * neighbour, which is why applications keep the binary value (a table
 * column of this type, or one load per query) rather than a JSON text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "item_knn_model.h"
#include "model_io.h"
#include "model_json.h"

ItemKnnModel *
AllocItemKnnModel(int32 k, Size n_items, Size n_neighbors)
{
	Size		size = ItemKnnModelSize(n_items, n_neighbors);
	ItemKnnModel *model;

	if (size > MaxAllocSize || n_items > PG_INT32_MAX / 2 ||
		n_neighbors > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("item_knn model of %zu items and %zu neighbours would exceed the 1 GB limit of a value",
						n_items, n_neighbors),
				 errhint("Use a smaller k, or build one model per category or country.")));

	model = palloc0(size);
	SET_VARSIZE(model, size);
	model->format = ITEM_KNN_FORMAT;
	model->k = k;
	model->n_items = (int32) n_items;
	model->n_neighbors = (int32) n_neighbors;
	return model;
}

int
ItemKnnFindItem(const ItemKnnModel *model, int64 item_id)
{
	const int64 *items = ItemKnnItems(model);
	int			lo = 0;
	int			hi = model->n_items - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (items[mid] < item_id)
			lo = mid + 1;
		else if (items[mid] > item_id)
			hi = mid - 1;
		else
			return mid;
	}
	return -1;
}

/*
 * Raise an error for a model of an unknown format, e.g. a value written by a
 * later version of the extension and read by this one.
 */
static void
CheckFormat(const ItemKnnModel *model)
{
	if (model->format != ITEM_KNN_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("item_knn model has format %d, expected %d",
						model->format, ITEM_KNN_FORMAT)));
}

ItemKnnModel *
GetItemKnnModel(Datum datum)
{
	ItemKnnModel *model = DatumGetItemKnnModelP(datum);

	CheckFormat(model);
	return model;
}

/*
 * The detoasted copy of the last model read from disk by one call site, kept
 * for the rest of the query.  A toast pointer names an immutable value, so
 * equal pointers within one query mean equal models: a query that calls
 * recommend() once per user with the model from a table pays for reading
 * the model once, not once per user.
 */
typedef struct ModelCache
{
	struct varatt_external pointer;
	ItemKnnModel *model;
} ModelCache;

ItemKnnModel *
GetItemKnnModelCached(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	struct varatt_external pointer;
	ModelCache *cache = (ModelCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;

	if (!VARATT_IS_EXTERNAL_ONDISK(raw))
		return GetItemKnnModel(PointerGetDatum(raw));

	VARATT_EXTERNAL_GET_POINTER(pointer, raw);
	if (cache != NULL && cache->model != NULL &&
		memcmp(&cache->pointer, &pointer, sizeof(pointer)) == 0)
		return cache->model;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	else if (cache->model != NULL)
	{
		pfree(cache->model);
		cache->model = NULL;
	}
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cache->model = (ItemKnnModel *) detoast_attr(raw);
	MemoryContextSwitchTo(old);
	CheckFormat(cache->model);
	cache->pointer = pointer;
	return cache->model;
}

/* Returns the JSON text form of a model. */
PG_FUNCTION_INFO_V1(item_knn_model_out);
Datum
item_knn_model_out(PG_FUNCTION_ARGS)
{
	ItemKnnModel *model = GetItemKnnModel(PG_GETARG_DATUM(0));
	const int64 *items = ItemKnnItems(model);
	const float8 *sims = ItemKnnSims(model);
	const int32 *offsets = ItemKnnOffsets(model);
	const int32 *neighbors = ItemKnnNeighbors(model);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"item_knn\", \"format\": %d, \"k\": %d, \"items\": [",
					 model->format, model->k);
	for (int32 i = 0; i < model->n_items; i++)
	{
		CHECK_FOR_INTERRUPTS();
		appendStringInfo(&buf, "%s[" INT64_FORMAT ", [", i > 0 ? ", " : "", items[i]);
		for (int32 t = offsets[i]; t < offsets[i + 1]; t++)
		{
			appendStringInfo(&buf, "%s[" INT64_FORMAT ", ",
							 t > offsets[i] ? ", " : "", items[neighbors[t]]);
			ModelJsonAppendFloat8(&buf, sims[t]);
			appendStringInfoChar(&buf, ']');
		}
		appendStringInfoString(&buf, "]]");
	}
	appendStringInfoString(&buf, "]}");
	PG_RETURN_CSTRING(buf.data);
}

static const ModelJsonReader item_knn_reader = {"invalid item_knn model", NULL};

typedef struct ParsedItem
{
	int64		item_id;
	int32		position;		/* in the JSON array */
} ParsedItem;

typedef struct ParsedNeighbor
{
	float8		similarity;
	int32		index;			/* into the sorted items */
} ParsedNeighbor;

static int
CompareParsedItem(const void *a, const void *b)
{
	const ParsedItem *x = a;
	const ParsedItem *y = b;

	return (x->item_id > y->item_id) - (x->item_id < y->item_id);
}

static int
CompareNeighborBestFirst(const void *a, const void *b)
{
	const ParsedNeighbor *x = a;
	const ParsedNeighbor *y = b;

	if (x->similarity != y->similarity)
		return x->similarity < y->similarity ? 1 : -1;
	return (x->index > y->index) - (x->index < y->index);
}

/* the [item_id, neighbours] pair at position i of the items array */
static JsonbContainer *
GetItemEntry(JsonbContainer *items, int32 i)
{
	JsonbValue *entry = getIthJsonbValueFromContainer(items, i);
	JsonbContainer *pair = ModelJsonArray(&item_knn_reader, entry, "Each element of \"items\"");

	if (JsonContainerSize(pair) != 2)
		ModelJsonInvalid(&item_knn_reader, "Each element of \"items\" must be an array [item_id, neighbors].");
	return pair;
}

/* every key the text form holds; any other is rejected by name */
static const char *const item_knn_model_keys[] = {"kind", "format", "k", "items", NULL};

/* Build a model from its JSON form, validating everything. */
static ItemKnnModel *
ModelFromJsonb(Jsonb *jb)
{
	JsonbContainer *root = &jb->root;
	JsonbContainer *items_json;
	int64		format;
	int64		k;
	int32		n_items;
	ParsedItem *parsed;
	int32	   *sorted_position;	/* JSON position -> sorted index */
	int64		n_neighbors = 0;
	ItemKnnModel *model;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ModelJsonInvalid(&item_knn_reader, "The model must be a JSON object.");
	CheckModelKeys(root, item_knn_model_keys, "retention.item_knn_model");

	ModelJsonCheckKind(&item_knn_reader, root, "item_knn");
	format = ModelJsonInt64(&item_knn_reader, ModelJsonKey(&item_knn_reader, root, "format"), "\"format\"");
	if (format != ITEM_KNN_FORMAT)
		ModelJsonInvalid(&item_knn_reader, psprintf("Format %lld is not supported; this version reads format %d.",
							  (long long) format, ITEM_KNN_FORMAT));
	k = ModelJsonInt64(&item_knn_reader, ModelJsonKey(&item_knn_reader, root, "k"), "\"k\"");
	if (k <= 0 || k > ITEM_KNN_MAX_K)
		ModelJsonInvalid(&item_knn_reader, psprintf("\"k\" must be between 1 and %d, not %lld.",
							  ITEM_KNN_MAX_K, (long long) k));
	items_json = ModelJsonArray(&item_knn_reader, ModelJsonKey(&item_knn_reader, root, "items"), "\"items\"");
	if (JsonContainerSize(items_json) > PG_INT32_MAX / 2)
		ModelJsonInvalid(&item_knn_reader, "There are too many items.");
	n_items = (int32) JsonContainerSize(items_json);

	/* pass 1: item ids, their order, and the neighbour count */
	parsed = palloc_extended(sizeof(ParsedItem) * Max(n_items, 1), MCXT_ALLOC_HUGE);
	for (int32 i = 0; i < n_items; i++)
	{
		JsonbContainer *pair = GetItemEntry(items_json, i);
		JsonbContainer *nbrs;
		int32		count;

		CHECK_FOR_INTERRUPTS();
		parsed[i].item_id = ModelJsonInt64(&item_knn_reader, getIthJsonbValueFromContainer(pair, 0), "An item id");
		parsed[i].position = i;
		nbrs = ModelJsonArray(&item_knn_reader, getIthJsonbValueFromContainer(pair, 1), "The neighbours of an item");
		count = JsonContainerSize(nbrs);
		if (count > k)
			ModelJsonInvalid(&item_knn_reader, psprintf("Item %lld has %d neighbours, more than k = %lld.",
								  (long long) parsed[i].item_id, count, (long long) k));
		n_neighbors += count;
	}
	qsort(parsed, n_items, sizeof(ParsedItem), CompareParsedItem);
	sorted_position = palloc_extended(sizeof(int32) * Max(n_items, 1), MCXT_ALLOC_HUGE);
	for (int32 i = 0; i < n_items; i++)
	{
		if (i > 0 && parsed[i].item_id == parsed[i - 1].item_id)
			ModelJsonInvalid(&item_knn_reader, psprintf("Item %lld is listed more than once.",
								  (long long) parsed[i].item_id));
		sorted_position[parsed[i].position] = i;
	}

	model = AllocItemKnnModel((int32) k, n_items, n_neighbors);

	/* pass 2, in item id order: neighbours, checked and sorted */
	{
		int64	   *m_items = ItemKnnItems(model);
		float8	   *m_sims = ItemKnnSims(model);
		int32	   *m_offsets = ItemKnnOffsets(model);
		int32	   *m_neighbors = ItemKnnNeighbors(model);
		ParsedNeighbor *buf = palloc(sizeof(ParsedNeighbor) * k);

		for (int32 i = 0; i < n_items; i++)
			m_items[i] = parsed[i].item_id;

		m_offsets[0] = 0;
		for (int32 i = 0; i < n_items; i++)
		{
			JsonbContainer *pair = GetItemEntry(items_json, parsed[i].position);
			JsonbContainer *nbrs = ModelJsonArray(&item_knn_reader, getIthJsonbValueFromContainer(pair, 1),
											"The neighbours of an item");
			int32		count = JsonContainerSize(nbrs);
			int64		item_id = parsed[i].item_id;

			CHECK_FOR_INTERRUPTS();
			for (int32 t = 0; t < count; t++)
			{
				JsonbContainer *nbr = ModelJsonArray(&item_knn_reader, getIthJsonbValueFromContainer(nbrs, t),
											   "Each neighbour");
				int64		neighbor_id;
				float8		similarity;
				int			index;

				if (JsonContainerSize(nbr) != 2)
					ModelJsonInvalid(&item_knn_reader, "Each neighbour must be an array [neighbor_id, similarity].");
				neighbor_id = ModelJsonInt64(&item_knn_reader, getIthJsonbValueFromContainer(nbr, 0), "A neighbour id");
				similarity = ModelJsonFloat8(&item_knn_reader, getIthJsonbValueFromContainer(nbr, 1), "A similarity");
				index = ItemKnnFindItem(model, neighbor_id);
				if (index < 0)
					ModelJsonInvalid(&item_knn_reader, psprintf("Neighbour %lld of item %lld is not an item of the model.",
										  (long long) neighbor_id, (long long) item_id));
				if (index == i)
					ModelJsonInvalid(&item_knn_reader, psprintf("Item %lld is listed as its own neighbour.",
										  (long long) item_id));
				if (!(similarity > 0.0 && similarity <= 1.0))
					ModelJsonInvalid(&item_knn_reader, psprintf("The similarity of items %lld and %lld must be in (0, 1], not %g.",
										  (long long) item_id, (long long) neighbor_id,
										  similarity));
				buf[t].similarity = similarity;
				buf[t].index = index;
			}
			qsort(buf, count, sizeof(ParsedNeighbor), CompareNeighborBestFirst);
			for (int32 t = 0; t < count; t++)
			{
				int32		at = m_offsets[i] + t;

				/* sorted by similarity first, so look for the duplicate id */
				for (int32 s = 0; s < t; s++)
					if (buf[s].index == buf[t].index)
						ModelJsonInvalid(&item_knn_reader, psprintf("Neighbour %lld of item %lld is listed more than once.",
											  (long long) m_items[buf[t].index],
											  (long long) item_id));
				m_sims[at] = buf[t].similarity;
				m_neighbors[at] = buf[t].index;
			}
			m_offsets[i + 1] = m_offsets[i] + count;
		}
	}
	pfree(parsed);
	pfree(sorted_position);
	return model;
}

/* Returns a model read from its JSON text form. */
PG_FUNCTION_INFO_V1(item_knn_model_in);
Datum
item_knn_model_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ModelFromJsonb(ModelJsonParse(PG_GETARG_CSTRING(0))));
}

/* Returns a model read from jsonb, as stored in retention.models. */
PG_FUNCTION_INFO_V1(item_knn_model_from_jsonb);
Datum
item_knn_model_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ModelFromJsonb(PG_GETARG_JSONB_P(0)));
}

/* Returns the model's neighbour lists as rows (item_id, neighbor_id, similarity). */
PG_FUNCTION_INFO_V1(item_knn_neighbors);
Datum
item_knn_neighbors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ItemKnnModel *model = GetItemKnnModelCached(fcinfo, 0);
	const int64 *items = ItemKnnItems(model);
	const float8 *sims = ItemKnnSims(model);
	const int32 *offsets = ItemKnnOffsets(model);
	const int32 *neighbors = ItemKnnNeighbors(model);
	int32		first = 0;
	int32		last = model->n_items - 1;

	/* the two-argument form lists one item's neighbours */
	if (PG_NARGS() > 1)
	{
		first = last = ItemKnnFindItem(model, PG_GETARG_INT64(1));
		if (first < 0)
			last = -2;			/* unknown item: no rows */
	}

	InitMaterializedSRF(fcinfo, 0);
	for (int32 i = first; i <= last; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int32 t = offsets[i]; t < offsets[i + 1]; t++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = Int64GetDatum(items[i]);
			values[1] = Int64GetDatum(items[neighbors[t]]);
			values[2] = Float8GetDatum(sims[t]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/* Returns the model's k, item count, neighbour count and size in bytes. */
PG_FUNCTION_INFO_V1(item_knn_model_info);
Datum
item_knn_model_info(PG_FUNCTION_ARGS)
{
	ItemKnnModel *model = GetItemKnnModel(PG_GETARG_DATUM(0));
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(model->k);
	values[1] = Int32GetDatum(model->n_items);
	values[2] = Int64GetDatum(model->n_neighbors);
	values[3] = Int64GetDatum(VARSIZE(model));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
