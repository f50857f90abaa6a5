/*-------------------------------------------------------------------------
 *
 * als_model.c
 *	  Input, output, validation and use of retention.als_model: scoring
 *	  (recommend, with fold-in for users the model has not seen) and the
 *	  factors as float4[] rows.
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

#include <errno.h>
#include <math.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "als.h"
#include "recommend.h"
#include "topk.h"

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
		!(m->alpha >= 0.0 && m->alpha < 1e12) || m->reserved != 0)
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
 * The detoasted, validated copy of the last model read from disk by one
 * call site, kept for the rest of the query: a toast pointer names an
 * immutable value, so recommend() called once per user with the model from
 * a table reads and checks the model once.
 */
typedef struct AlsCache
{
	struct varatt_external pointer;
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
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	struct varatt_external pointer;
	AlsCache   *cache = GetCache(fcinfo);
	MemoryContext old;
	AlsModel   *model;

	if (!VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		/* not cacheable by pointer: forget the Gram matrix of another model */
		if (cache->gram != NULL)
			pfree(cache->gram);
		cache->gram = NULL;
		if (cache->model != NULL)
			pfree(cache->model);
		cache->model = NULL;
		return GetAlsModel(PointerGetDatum(raw));
	}

	VARATT_EXTERNAL_GET_POINTER(pointer, raw);
	if (cache->model != NULL && memcmp(&cache->pointer, &pointer, sizeof(pointer)) == 0)
		return cache->model;

	if (cache->model != NULL)
		pfree(cache->model);
	if (cache->gram != NULL)
		pfree(cache->gram);
	cache->model = NULL;
	cache->gram = NULL;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	model = (AlsModel *) detoast_attr(raw);
	MemoryContextSwitchTo(old);
	ValidateModel(model, VARSIZE(model));
	cache->model = model;
	cache->pointer = pointer;
	return model;
}

/* ---------------------------------------------------------------------
 * Text form
 * ---------------------------------------------------------------------
 */

static void
AppendFloat4(StringInfo buf, float4 value)
{
	char		digits[FLOAT_SHORTEST_DECIMAL_LEN];

	float_to_shortest_decimal_buf(value, digits);
	appendStringInfoString(buf, digits);
}

static void
AppendDouble(StringInfo buf, float8 value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(value, digits);
	appendStringInfoString(buf, digits);
}

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
			AppendFloat4(buf, fac[(Size) i * f + j]);
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
	AppendDouble(&buf, m->regularization);
	appendStringInfoString(&buf, ", \"alpha\": ");
	AppendDouble(&buf, m->alpha);
	appendStringInfo(&buf, ", \"iterations\": %d, \"cg_steps\": %d, \"seed\": " INT64_FORMAT,
					 m->iterations, m->cg_steps, m->seed);
	AppendRows(&buf, "users", AlsUsers(m), AlsUserFactors(m), m->n_users, m->factors);
	AppendRows(&buf, "items", AlsItems(m), AlsItemFactors(m), m->n_items, m->factors);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

static void pg_attribute_noreturn()
InvalidModel(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid als model"),
			 errdetail("%s", detail)));
}

static JsonbValue *
GetKey(JsonbContainer *object, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(object, key, strlen(key), NULL);

	if (v == NULL)
		InvalidModel(psprintf("The key \"%s\" is missing.", key));
	return v;
}

static JsonbContainer *
GetArray(JsonbValue *v, const char *what)
{
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		InvalidModel(psprintf("%s must be a JSON array.", what));
	return v->val.binary.data;
}

static char *
NumberText(JsonbValue *v, const char *what)
{
	if (v->type != jbvNumeric)
		InvalidModel(psprintf("%s must be a number.", what));
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(v->val.numeric)));
}

static int64
GetInt64(JsonbValue *v, const char *what)
{
	char	   *text = NumberText(v, what);
	char	   *end;
	long long	value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		InvalidModel(psprintf("%s must be an integer in the range of bigint, not %s.",
							  what, text));
	return (int64) value;
}

static float8
GetFloat8(JsonbValue *v, const char *what)
{
	char	   *text = NumberText(v, what);
	char	   *end;
	float8		value;

	errno = 0;
	value = strtod(text, &end);
	if (end == text || *end != '\0' || !isfinite(value))
		InvalidModel(psprintf("%s must be a finite number, not %s.", what, text));
	return value;
}

static int32
GetInt32In(JsonbValue *v, const char *what, int64 min, int64 max)
{
	int64		x = GetInt64(v, what);

	if (x < min || x > max)
		InvalidModel(psprintf("%s must be between %lld and %lld, not %lld.", what,
							  (long long) min, (long long) max, (long long) x));
	return (int32) x;
}

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
	JsonbContainer *pair = GetArray(getIthJsonbValueFromContainer(rows, i),
									psprintf("Each element of \"%s\"", key));

	if (JsonContainerSize(pair) != 2)
		InvalidModel(psprintf("Each element of \"%s\" must be an array [id, factors].", key));
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
		order[i].id = GetInt64(getIthJsonbValueFromContainer(GetRowEntry(rows, i, key), 0),
							   "An id");
		order[i].position = i;
	}
	qsort(order, n, sizeof(IdPos), CompareIdPos);
	for (int32 i = 0; i < n; i++)
	{
		JsonbContainer *vec;

		CHECK_FOR_INTERRUPTS();
		if (i > 0 && order[i].id == order[i - 1].id)
			InvalidModel(psprintf("Id %lld is listed more than once in \"%s\".",
								  (long long) order[i].id, key));
		ids[i] = order[i].id;
		vec = GetArray(getIthJsonbValueFromContainer(GetRowEntry(rows, order[i].position, key), 1),
					   "A factor vector");
		if (JsonContainerSize(vec) != (uint32) f)
			InvalidModel(psprintf("The vector of id %lld in \"%s\" has %u elements, not %d.",
								  (long long) order[i].id, key, JsonContainerSize(vec), f));
		for (int32 j = 0; j < f; j++)
		{
			float8		x = GetFloat8(getIthJsonbValueFromContainer(vec, j), "A factor");
			float4		y = (float4) x;

			if (!isfinite(y))
				InvalidModel(psprintf("A factor of id %lld is out of the range of real.",
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
	JsonbValue *v;
	JsonbContainer *users;
	JsonbContainer *items;
	AlsOptions	o;
	int64		format;
	AlsModel   *m;

	if (!JB_ROOT_IS_OBJECT(jb))
		InvalidModel("The model must be a JSON object.");
	v = GetKey(root, "kind");
	if (v->type != jbvString || v->val.string.len != 3 ||
		memcmp(v->val.string.val, "als", 3) != 0)
		InvalidModel("The key \"kind\" must be \"als\".");
	format = GetInt64(GetKey(root, "format"), "\"format\"");
	if (format != ALS_FORMAT)
		InvalidModel(psprintf("Format %lld is not supported; this version reads format %d.",
							  (long long) format, ALS_FORMAT));
	o.factors = GetInt32In(GetKey(root, "factors"), "\"factors\"", 1, ALS_MAX_FACTORS);
	o.iterations = GetInt32In(GetKey(root, "iterations"), "\"iterations\"", 1, ALS_MAX_ITERATIONS);
	o.cg_steps = GetInt32In(GetKey(root, "cg_steps"), "\"cg_steps\"", 1, ALS_MAX_CG_STEPS);
	o.regularization = GetFloat8(GetKey(root, "regularization"), "\"regularization\"");
	o.alpha = GetFloat8(GetKey(root, "alpha"), "\"alpha\"");
	o.seed = GetInt64(GetKey(root, "seed"), "\"seed\"");
	if (!(o.regularization > 0.0 && o.regularization < 1e12) ||
		!(o.alpha >= 0.0 && o.alpha < 1e12))
		InvalidModel("\"regularization\" must be in (0, 1e12) and \"alpha\" in [0, 1e12).");
	users = GetArray(GetKey(root, "users"), "\"users\"");
	items = GetArray(GetKey(root, "items"), "\"items\"");
	if (JsonContainerSize(users) > PG_INT32_MAX / 2 || JsonContainerSize(items) > PG_INT32_MAX / 2)
		InvalidModel("There are too many users or items.");

	m = AllocAlsModel(&o, JsonContainerSize(users), JsonContainerSize(items));
	ReadRows(users, "users", m->n_users, m->factors, AlsUsers(m), AlsUserFactors(m));
	ReadRows(items, "items", m->n_items, m->factors, AlsItems(m), AlsItemFactors(m));
	return m;
}

/* Returns a model read from its JSON text form. */
PG_FUNCTION_INFO_V1(als_model_in);
Datum
als_model_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));

	PG_RETURN_POINTER(ModelFromJsonb(jb));
}

/* Returns a model read from jsonb, as stored in retention.models. */
PG_FUNCTION_INFO_V1(als_model_from_jsonb);
Datum
als_model_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ModelFromJsonb(PG_GETARG_JSONB_P(0)));
}

/* ---------------------------------------------------------------------
 * Scoring
 * ---------------------------------------------------------------------
 */

/* Y'Y of the item factors (f x f, double), computed once per cached model */
static const float8 *
ItemGram(FunctionCallInfo fcinfo, const AlsModel *m)
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

/*
 * Fold-in: the user vector the training would give a user who bought the
 * given known items (weight 1 each, so confidence 1 + alpha), with the item
 * factors fixed: the exact solution of
 * (Y'Y + alpha Y_s'Y_s + regularization I) x = (1 + alpha) Y_s' 1,
 * by Cholesky.  The same least-squares step as training, solved exactly,
 * as the implicit library's recalculate_user does.
 */
static void
FoldIn(FunctionCallInfo fcinfo, const AlsModel *m, const int32 *known, int n_known, float8 *x)
{
	int			f = m->factors;
	const float4 *y = AlsItemFactors(m);
	const float8 *g = ItemGram(fcinfo, m);
	float8	   *a = palloc(sizeof(float8) * f * f);

	memcpy(a, g, sizeof(float8) * f * f);
	memset(x, 0, sizeof(float8) * f);
	for (int r = 0; r < f; r++)
		a[r * f + r] += m->regularization;
	for (int s = 0; s < n_known; s++)
	{
		const float4 *row = y + (Size) known[s] * f;

		for (int r = 0; r < f; r++)
		{
			for (int c = 0; c < f; c++)
				a[r * f + c] += m->alpha * row[r] * row[c];
			x[r] += (1.0 + m->alpha) * row[r];
		}
	}
	/* Cholesky a = L L' in place (lower triangle); a is positive definite */
	for (int j = 0; j < f; j++)
	{
		float8		d = a[j * f + j];

		for (int k = 0; k < j; k++)
			d -= a[j * f + k] * a[j * f + k];
		if (!(d > 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("fold-in failed: the normal equations are not positive definite")));
		d = sqrt(d);
		a[j * f + j] = d;
		for (int i = j + 1; i < f; i++)
		{
			float8		s = a[i * f + j];

			for (int k = 0; k < j; k++)
				s -= a[i * f + k] * a[j * f + k];
			a[i * f + j] = s / d;
		}
	}
	for (int i = 0; i < f; i++)
	{
		for (int k = 0; k < i; k++)
			x[i] -= a[i * f + k] * x[k];
		x[i] /= a[i * f + i];
	}
	for (int i = f - 1; i >= 0; i--)
	{
		for (int k = i + 1; k < f; k++)
			x[i] -= a[k * f + i] * x[k];
		x[i] /= a[i * f + i];
	}
	pfree(a);
}

/*
 * The user's vector: the model's own when the user is in it, else folded
 * in from the known seen items.  Returns false when there is neither.
 * known[] receives the model indexes of the seen items (ascending).
 */
static bool
UserVector(FunctionCallInfo fcinfo, const AlsModel *m, bool has_user, int64 user_id,
		   const int64 *seen, int n_seen, int32 *known, int *n_known, float8 *x)
{
	int			u = has_user ? AlsFindId(AlsUsers(m), m->n_users, user_id) : -1;

	*n_known = 0;
	for (int s = 0; s < n_seen; s++)
	{
		int			i = AlsFindId(AlsItems(m), m->n_items, seen[s]);

		if (i >= 0)
			known[(*n_known)++] = i;
	}
	if (u >= 0)
	{
		const float4 *row = AlsUserFactors(m) + (Size) u * m->factors;

		for (int j = 0; j < m->factors; j++)
			x[j] = row[j];
		return true;
	}
	if (*n_known == 0)
		return false;
	FoldIn(fcinfo, m, known, *n_known, x);
	return true;
}

/*
 * Returns the k best items for a user by x_u . y_i, excluding seen items,
 * highest first, ties by item id.  A user the model does not know is folded
 * in from seen; without known seen items there are no rows.
 */
PG_FUNCTION_INFO_V1(recommend_als);
Datum
recommend_als(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AlsModel   *m;
	int32		k;
	int64	   *seen;
	int			n_seen = 0;
	int32	   *known;
	int			n_known;
	float8	   *x;
	TopK		best;
	int			f;
	const float4 *y;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(3);
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be greater than zero"),
				 errdetail("k is %d.", k)));
	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;

	m = GetAlsModelCached(fcinfo, 0);
	f = m->factors;
	seen = PG_ARGISNULL(2) ? palloc(sizeof(int64)) : DistinctInt64Array(PG_GETARG_ARRAYTYPE_P(2), "seen", &n_seen);
	known = palloc(sizeof(int32) * Max(n_seen, 1));
	x = palloc(sizeof(float8) * f);
	if (!UserVector(fcinfo, m, !PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
					seen, n_seen, known, &n_known, x))
		return (Datum) 0;

	TopKInit(&best, Min(k, m->n_items));
	y = AlsItemFactors(m);
	for (int32 i = 0, s = 0; i < m->n_items; i++)
	{
		const float4 *row = y + (Size) i * f;
		float8		score = 0.0;

		/* known[] is ascending: skip seen items in one merge pass */
		if (s < n_known && known[s] == i)
		{
			s++;
			continue;
		}
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < f; j++)
			score += x[j] * row[j];
		TopKOffer(&best, score, i);
	}
	TopKSort(&best);
	for (int r = 0; r < best.n; r++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(AlsItems(m)[best.entries[r].index]);
		values[1] = Float8GetDatum(best.entries[r].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static ArrayType *
Float4Array(const float4 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);
	ArrayType  *a;

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(values[i]);
	a = construct_array(d, n, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
	pfree(d);
	return a;
}

/* Returns one row (id, factors float4[]) per user or item of the model. */
static Datum
FactorRows(FunctionCallInfo fcinfo, bool items)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AlsModel   *m = GetAlsModelCached(fcinfo, 0);
	int32		n = items ? m->n_items : m->n_users;
	const int64 *ids = items ? AlsItems(m) : AlsUsers(m);
	const float4 *fac = items ? AlsItemFactors(m) : AlsUserFactors(m);

	InitMaterializedSRF(fcinfo, 0);
	for (int32 i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum(ids[i]);
		values[1] = PointerGetDatum(Float4Array(fac + (Size) i * m->factors, m->factors));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Returns the item factors as rows (item_id, factors). */
PG_FUNCTION_INFO_V1(als_item_factors);
Datum
als_item_factors(PG_FUNCTION_ARGS)
{
	return FactorRows(fcinfo, true);
}

/* Returns the user factors as rows (user_id, factors). */
PG_FUNCTION_INFO_V1(als_user_factors);
Datum
als_user_factors(PG_FUNCTION_ARGS)
{
	return FactorRows(fcinfo, false);
}

/*
 * Returns one user's vector as float4[]: the model's own, or folded in from
 * seen for a user it does not know; NULL when there is neither.
 */
PG_FUNCTION_INFO_V1(als_user_vector);
Datum
als_user_vector(PG_FUNCTION_ARGS)
{
	AlsModel   *m;
	int64	   *seen;
	int			n_seen = 0;
	int32	   *known;
	int			n_known;
	float8	   *x;
	float4	   *x4;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = GetAlsModelCached(fcinfo, 0);
	seen = PG_ARGISNULL(2) ? palloc(sizeof(int64)) : DistinctInt64Array(PG_GETARG_ARRAYTYPE_P(2), "seen", &n_seen);
	known = palloc(sizeof(int32) * Max(n_seen, 1));
	x = palloc(sizeof(float8) * m->factors);
	if (!UserVector(fcinfo, m, !PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
					seen, n_seen, known, &n_known, x))
		PG_RETURN_NULL();
	x4 = palloc(sizeof(float4) * m->factors);
	for (int j = 0; j < m->factors; j++)
		x4[j] = (float4) x[j];
	PG_RETURN_ARRAYTYPE_P(Float4Array(x4, m->factors));
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
