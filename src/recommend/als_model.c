/*-------------------------------------------------------------------------
 *
 * als_model.c
 *	  Input, output, validation and caching of retention.als_model; its
 *	  use (recommend_als, fold-in, the factors as rows) is in als_score.c.
 *
 * The text form is JSON, so that models can be kept in the registry table
 * (retention.models.model jsonb) and survive dumps and format changes:
 *
 *	{"kind": "als", "format": 1, "factors": 2, "regularization": 0.1,
 *	 "alpha": 20, "iterations": 15, "cg_steps": 3, "seed": 0,
 *	 "users": [[17, [0.25, -0.5]], ...], "items": [[101, [0.125, 1]], ...]}
 *
 * Factors are written in the shortest form that reads back as the same
 * float4, so text and binary models score identically.  Every binary value
 * is validated when read (magic, format, counts against the size, ids
 * strictly ascending, factors finite), so a hostile value is refused with
 * an error rather than read out of bounds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "als.h"
#include "model_json.h"
#include "model_key.h"

Size
AlsModelSize(int64 factors, int64 n_users, int64 n_items)
{
	int64		rows;
	int64		per_row;
	int64		body;

	if (factors < 1 || n_users < 0 || n_items < 0 ||
		pg_add_s64_overflow(n_users, n_items, &rows) ||
		pg_mul_s64_overflow(factors, (int64) sizeof(float4), &per_row) ||
		pg_add_s64_overflow(per_row, (int64) sizeof(int64), &per_row) ||
		pg_mul_s64_overflow(rows, per_row, &body) ||
		pg_add_s64_overflow(body, (int64) sizeof(AlsModel), &body) ||
		(uint64) body > MaxAllocSize)
		return 0;
	return (Size) body;
}

AlsModel *
AllocAlsModel(const AlsOptions *o, int64 n_users, int64 n_items)
{
	Size		size = AlsModelSize(o->factors, n_users, n_items);
	AlsModel   *model;

	if (size == 0 || n_users > PG_INT32_MAX || n_items > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("als model of %lld users and %lld items with %d factors would exceed the 1 GB limit of a value",
						(long long) n_users, (long long) n_items, o->factors),
				 errdetail("A model takes 8 + 4 * factors bytes per user and per item."),
				 errhint("Use fewer factors, or train one model per segment of users.")));
	model = palloc0(size);
	SET_VARSIZE(model, size);
	model->magic = ALS_MAGIC;
	model->format = ALS_FORMAT;
	model->factors = o->factors;
	model->n_users = (int32) n_users;
	model->n_items = (int32) n_items;
	model->iterations = o->iterations;
	model->cg_steps = o->cg_steps;
	model->regularization = o->regularization;
	model->alpha = o->alpha;
	model->seed = o->seed;
	return model;
}

/*
 * The digest of the whole value (ModelDigest): with the size, the key of a
 * model held in memory (GetAlsModelCached), so it covers the header's
 * counts and the fold-in's alpha and regularization as well as the ids and
 * factors.  Never 0, which marks a value from before the digest.
 */
void
AlsModelSeal(AlsModel *model)
{
	model->hash = ModelDigest(model, VARSIZE(model), offsetof(AlsModel, hash));
}

int
AlsFindId(const int64 *ids, int n, int64 id)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else if (ids[mid] > id)
			hi = mid - 1;
		else
			return mid;
	}
	return -1;
}

static void pg_attribute_noreturn()
CorruptModel(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid als model"),
			 errdetail("%s", detail)));
}

/* Check everything the readers rely on; the one reader of the layout. */
static void
ValidateModel(const AlsModel *m, Size varsize)
{
	Size		size;
	const int64 *users;
	const int64 *items;
	const float4 *fac;
	Size		n_values;

	if (varsize < sizeof(AlsModel))
		CorruptModel(psprintf("The value has %zu bytes, fewer than the header.", varsize));
	if (m->magic != ALS_MAGIC)
		CorruptModel("The magic number is wrong.");
	if (m->format != ALS_FORMAT)
		CorruptModel(psprintf("Format %d is not supported; this version reads format %d.",
							  m->format, ALS_FORMAT));
	if (m->factors < 1 || m->factors > ALS_MAX_FACTORS || m->n_users < 0 || m->n_items < 0 ||
		m->iterations < 1 || m->iterations > ALS_MAX_ITERATIONS ||
		m->cg_steps < 1 || m->cg_steps > ALS_MAX_CG_STEPS ||
		!(m->regularization > 0.0 && m->regularization < 1e12) ||
		!(m->alpha >= 0.0 && m->alpha < 1e12))
		CorruptModel("A header field is out of range.");
	size = AlsModelSize(m->factors, m->n_users, m->n_items);
	if (size == 0 || size != varsize)
		CorruptModel(psprintf("The value has %zu bytes, but its header describes %zu.",
							  varsize, size));
	users = AlsUsers(m);
	items = AlsItems(m);
	for (int32 i = 1; i < m->n_users; i++)
		if (users[i] <= users[i - 1])
			CorruptModel("User ids are not strictly ascending.");
	for (int32 i = 1; i < m->n_items; i++)
		if (items[i] <= items[i - 1])
			CorruptModel("Item ids are not strictly ascending.");
	fac = AlsUserFactors(m);
	n_values = ((Size) m->n_users + m->n_items) * m->factors;
	for (Size i = 0; i < n_values; i++)
		if (!isfinite(fac[i]))
			CorruptModel("A factor is not finite.");
}

AlsModel *
GetAlsModel(Datum datum)
{
	AlsModel   *model = (AlsModel *) PG_DETOAST_DATUM(datum);

	ValidateModel(model, VARSIZE(model));
	return model;
}

/*
 * The detoasted, validated copy of the last model of one call site, kept
 * for the rest of the query, so that recommend() called once per user reads
 * and checks the model once; the argument is recognised by its ModelKey.
 * The hash is set where models are made (training, the text and jsonb
 * forms); the type has no binary input to forge one with.
 */
typedef struct AlsCache
{
	ModelKey	key;			/* of the model below, when there is one */
	AlsModel   *model;
	float8	   *gram;			/* Y'Y of the item factors, for fold-in */
} AlsCache;

static AlsCache *
GetCache(FunctionCallInfo fcinfo)
{
	AlsCache   *cache = (AlsCache *) fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AlsCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

AlsModel *
GetAlsModelCached(FunctionCallInfo fcinfo, int argno)
{
	Datum		d = PG_GETARG_DATUM(argno);
	AlsCache   *cache = GetCache(fcinfo);
	ModelKey	key = ModelKeyOf(d, offsetof(AlsModel, hash));
	MemoryContext old;
	AlsModel   *model;

	if (cache->model != NULL && ModelKeyMatches(&key, &cache->key))
		return cache->model;

	/* forget the model kept before, and its Gram matrix */
	if (cache->gram != NULL)
		pfree(cache->gram);
	if (cache->model != NULL)
		pfree(cache->model);
	cache->gram = NULL;
	cache->model = NULL;

	/* a value from before the hash is not recognised: read it each time */
	if (!key.ondisk && key.hash == 0)
		return GetAlsModel(d);

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	model = (AlsModel *) PG_DETOAST_DATUM_COPY(d);
	MemoryContextSwitchTo(old);
	ValidateModel(model, VARSIZE(model));
	cache->model = model;
	cache->key = key;
	return model;
}

/* ---------------------------------------------------------------------
 * Text form
 * ---------------------------------------------------------------------
 */

static void
AppendRows(StringInfo buf, const char *key, const int64 *ids, const float4 *fac,
		   int32 n, int32 f)
{
	appendStringInfo(buf, ", \"%s\": [", key);
	for (int32 i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		appendStringInfo(buf, "%s[" INT64_FORMAT ", [", i > 0 ? ", " : "", ids[i]);
		for (int32 j = 0; j < f; j++)
		{
			if (j > 0)
				appendStringInfoString(buf, ", ");
			ModelJsonAppendFloat4(buf, fac[(Size) i * f + j]);
		}
		appendStringInfoString(buf, "]]");
	}
	appendStringInfoChar(buf, ']');
}

/* Returns the JSON text form of a model. */
PG_FUNCTION_INFO_V1(als_model_out);
Datum
als_model_out(PG_FUNCTION_ARGS)
{
	AlsModel   *m = GetAlsModel(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"als\", \"format\": %d, \"factors\": %d, \"regularization\": ",
					 m->format, m->factors);
	ModelJsonAppendFloat8(&buf, m->regularization);
	appendStringInfoString(&buf, ", \"alpha\": ");
	ModelJsonAppendFloat8(&buf, m->alpha);
	appendStringInfo(&buf, ", \"iterations\": %d, \"cg_steps\": %d, \"seed\": " INT64_FORMAT,
					 m->iterations, m->cg_steps, m->seed);
	AppendRows(&buf, "users", AlsUsers(m), AlsUserFactors(m), m->n_users, m->factors);
	AppendRows(&buf, "items", AlsItems(m), AlsItemFactors(m), m->n_items, m->factors);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

static const ModelJsonReader als_reader = {"invalid als model", NULL};

typedef struct IdPos
{
	int64		id;
	int32		position;
} IdPos;

static int
CompareIdPos(const void *a, const void *b)
{
	const IdPos *x = a;
	const IdPos *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* the [id, [factors]] pair at position i of rows */
static JsonbContainer *
GetRowEntry(JsonbContainer *rows, int32 i, const char *key)
{
	JsonbContainer *pair = ModelJsonArray(&als_reader, getIthJsonbValueFromContainer(rows, i),
									psprintf("Each element of \"%s\"", key));

	if (JsonContainerSize(pair) != 2)
		ModelJsonInvalid(&als_reader, psprintf("Each element of \"%s\" must be an array [id, factors].", key));
	return pair;
}

/* Read "users" or "items" into ids[] (sorted) and fac[] (rows in id order). */
static void
ReadRows(JsonbContainer *rows, const char *key, int32 n, int32 f, int64 *ids, float4 *fac)
{
	IdPos	   *order = palloc_extended(sizeof(IdPos) * Max(n, 1), MCXT_ALLOC_HUGE);

	for (int32 i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		order[i].id = ModelJsonInt64(&als_reader, getIthJsonbValueFromContainer(GetRowEntry(rows, i, key), 0),
							   "An id");
		order[i].position = i;
	}
	qsort(order, n, sizeof(IdPos), CompareIdPos);
	for (int32 i = 0; i < n; i++)
	{
		JsonbContainer *vec;

		CHECK_FOR_INTERRUPTS();
		if (i > 0 && order[i].id == order[i - 1].id)
			ModelJsonInvalid(&als_reader, psprintf("Id %lld is listed more than once in \"%s\".",
								  (long long) order[i].id, key));
		ids[i] = order[i].id;
		vec = ModelJsonArray(&als_reader, getIthJsonbValueFromContainer(GetRowEntry(rows, order[i].position, key), 1),
					   "A factor vector");
		if (JsonContainerSize(vec) != (uint32) f)
			ModelJsonInvalid(&als_reader, psprintf("The vector of id %lld in \"%s\" has %u elements, not %d.",
								  (long long) order[i].id, key, JsonContainerSize(vec), f));
		for (int32 j = 0; j < f; j++)
		{
			float8		x = ModelJsonFloat8(&als_reader, getIthJsonbValueFromContainer(vec, j), "A factor");
			float4		y = (float4) x;

			if (!isfinite(y))
				ModelJsonInvalid(&als_reader, psprintf("A factor of id %lld is out of the range of real.",
									  (long long) order[i].id));
			fac[(Size) i * f + j] = y;
		}
	}
	pfree(order);
}

static AlsModel *
ModelFromJsonb(Jsonb *jb)
{
	JsonbContainer *root = &jb->root;
	JsonbContainer *users;
	JsonbContainer *items;
	AlsOptions	o;
	int64		format;
	AlsModel   *m;

	if (!JB_ROOT_IS_OBJECT(jb))
		ModelJsonInvalid(&als_reader, "The model must be a JSON object.");
	ModelJsonCheckKind(&als_reader, root, "als");
	format = ModelJsonInt64(&als_reader, ModelJsonKey(&als_reader, root, "format"), "\"format\"");
	if (format != ALS_FORMAT)
		ModelJsonInvalid(&als_reader, psprintf("Format %lld is not supported; this version reads format %d.",
							  (long long) format, ALS_FORMAT));
	o.factors = ModelJsonInt32In(&als_reader, ModelJsonKey(&als_reader, root, "factors"), "\"factors\"", 1, ALS_MAX_FACTORS);
	o.iterations = ModelJsonInt32In(&als_reader, ModelJsonKey(&als_reader, root, "iterations"), "\"iterations\"", 1, ALS_MAX_ITERATIONS);
	o.cg_steps = ModelJsonInt32In(&als_reader, ModelJsonKey(&als_reader, root, "cg_steps"), "\"cg_steps\"", 1, ALS_MAX_CG_STEPS);
	o.regularization = ModelJsonFloat8(&als_reader, ModelJsonKey(&als_reader, root, "regularization"), "\"regularization\"");
	o.alpha = ModelJsonFloat8(&als_reader, ModelJsonKey(&als_reader, root, "alpha"), "\"alpha\"");
	o.seed = ModelJsonInt64(&als_reader, ModelJsonKey(&als_reader, root, "seed"), "\"seed\"");
	if (!(o.regularization > 0.0 && o.regularization < 1e12) ||
		!(o.alpha >= 0.0 && o.alpha < 1e12))
		ModelJsonInvalid(&als_reader, "\"regularization\" must be in (0, 1e12) and \"alpha\" in [0, 1e12).");
	users = ModelJsonArray(&als_reader, ModelJsonKey(&als_reader, root, "users"), "\"users\"");
	items = ModelJsonArray(&als_reader, ModelJsonKey(&als_reader, root, "items"), "\"items\"");
	if (JsonContainerSize(users) > PG_INT32_MAX / 2 || JsonContainerSize(items) > PG_INT32_MAX / 2)
		ModelJsonInvalid(&als_reader, "There are too many users or items.");

	m = AllocAlsModel(&o, JsonContainerSize(users), JsonContainerSize(items));
	ReadRows(users, "users", m->n_users, m->factors, AlsUsers(m), AlsUserFactors(m));
	ReadRows(items, "items", m->n_items, m->factors, AlsItems(m), AlsItemFactors(m));
	AlsModelSeal(m);
	return m;
}

/* Returns a model read from its JSON text form. */
PG_FUNCTION_INFO_V1(als_model_in);
Datum
als_model_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ModelFromJsonb(ModelJsonParse(PG_GETARG_CSTRING(0))));
}

/* Returns a model read from jsonb, as stored in retention.models. */
PG_FUNCTION_INFO_V1(als_model_from_jsonb);
Datum
als_model_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ModelFromJsonb(PG_GETARG_JSONB_P(0)));
}

/* Y'Y of the item factors (f x f, double), computed once per cached model */
const float8 *
AlsItemGram(FunctionCallInfo fcinfo, const AlsModel *m)
{
	AlsCache   *cache = GetCache(fcinfo);
	int			f = m->factors;
	const float4 *y = AlsItemFactors(m);
	float8	   *g;

	if (cache->gram != NULL && cache->model == m)
		return cache->gram;
	/* kept for the query only when the model itself is */
	g = MemoryContextAllocZero(cache->model == m ? fcinfo->flinfo->fn_mcxt : CurrentMemoryContext,
							   sizeof(float8) * f * f);
	for (int32 i = 0; i < m->n_items; i++)
	{
		const float4 *row = y + (Size) i * f;

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < f; r++)
			for (int c = 0; c <= r; c++)
				g[r * f + c] += (float8) row[r] * row[c];
	}
	for (int r = 0; r < f; r++)
		for (int c = 0; c < r; c++)
			g[c * f + r] = g[r * f + c];
	if (cache->model == m)
		cache->gram = g;
	return g;
}

/* Returns the model's sizes and training parameters. */
PG_FUNCTION_INFO_V1(als_model_info);
Datum
als_model_info(PG_FUNCTION_ARGS)
{
	AlsModel   *m = GetAlsModel(PG_GETARG_DATUM(0));
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(m->factors);
	values[1] = Int32GetDatum(m->n_users);
	values[2] = Int32GetDatum(m->n_items);
	values[3] = Float8GetDatum(m->regularization);
	values[4] = Float8GetDatum(m->alpha);
	values[5] = Int32GetDatum(m->iterations);
	values[6] = Int32GetDatum(m->cg_steps);
	values[7] = Int64GetDatum(m->seed);
	values[8] = Int64GetDatum(VARSIZE(m));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
