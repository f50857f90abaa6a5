/*-------------------------------------------------------------------------
 *
 * gbdt_train.c
 *	  The gbdt_train(label, features [, options]) aggregates and their
 *	  options.
 *
 * The transition function keeps every usable row (8 bytes per feature and
 * a label byte, capped by max_memory_mb); parallel workers each keep their
 * share, which the combine function concatenates.  The final function bins
 * the combined rows and boosts (gbdt_boost.c), which puts the rows in a
 * canonical order first: the model is the same whatever the row order and
 * however many workers read the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "gbdt.h"
#include "gbdt_model.h"
#include "train_options.h"

/* ---------- options ---------- */

static void
BadOption(const char *key, const char *detail)
{
	TrainBadOption("gbdt_train", key, detail);
}

static double
OptionNumber(JsonbValue *v, const char *key)
{
	return TrainOptionNumber("gbdt_train", v, key);
}

static int
OptionInt(JsonbValue *v, const char *key, int lo, int hi)
{
	return TrainOptionInt("gbdt_train", v, key, lo, hi);
}

static double
OptionFraction(JsonbValue *v, const char *key, bool zero_ok, bool one_ok)
{
	double		d = OptionNumber(v, key);

	if (!((zero_ok ? d >= 0.0 : d > 0.0) && (one_ok ? d <= 1.0 : d < 1.0)))
		BadOption(key, psprintf("The value must be in %s0, 1%s.", zero_ok ? "[" : "(", one_ok ? "]" : ")"));
	return d;
}

static bool
OptionBool(JsonbValue *v, const char *key)
{
	if (v->type != jbvBool)
		BadOption(key, "The value must be true or false.");
	return v->val.boolean;
}

static void
ParseClassWeight(JsonbValue *v, GbdtOptions *opts)
{
	if (v->type == jbvString && v->val.string.len == 8 &&
		strncmp(v->val.string.val, "balanced", 8) == 0)
	{
		opts->class_weight_mode = 2;
		return;
	}
	if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	key;
		JsonbValue	val;
		JsonbIteratorToken tok;

		opts->class_weight_mode = 1;
		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			char	   *name;
			double		w;

			if (tok != WJB_KEY)
				continue;
			name = pnstrdup(key.val.string.val, key.val.string.len);
			(void) JsonbIteratorNext(&it, &val, true);
			w = OptionNumber(&val, "class_weight");
			if (!(w > 0.0) || !isfinite(w))
				BadOption("class_weight", "Class weights must be positive and finite.");
			if (strcmp(name, "1") == 0 || strcmp(name, "true") == 0)
				opts->weight_pos = w;
			else if (strcmp(name, "0") == 0 || strcmp(name, "false") == 0)
				opts->weight_neg = w;
			else
				BadOption("class_weight", psprintf("The key \"%s\" is not a class; use \"0\" and \"1\" (or \"false\" and \"true\").", name));
		}
		return;
	}
	BadOption("class_weight", "The value must be \"balanced\" or an object such as {\"0\": 1, \"1\": 3}.");
}

void
GbdtParseOptions(Jsonb *options, GbdtOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	v;
	JsonbIteratorToken tok;
	GbdtKind	kind = GBDT_BOOSTING;
	bool		fraction_given = false;

	if (options != NULL && !JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gbdt_train options must be a JSON object"),
				 errhint("For example '{\"max_iter\": 200, \"learning_rate\": 0.05}'.")));
	/* the kind first: the defaults of the other options depend on it */
	if (options != NULL &&
		getKeyJsonValueFromContainer(&options->root, "model", 5, &v) != NULL &&
		v.type != jbvNull)
	{
		if (v.type == jbvString && v.val.string.len == 13 &&
			strncmp(v.val.string.val, "random_forest", 13) == 0)
			kind = GBDT_FOREST;
		else if (!(v.type == jbvString && v.val.string.len == 4 &&
				   strncmp(v.val.string.val, "gbdt", 4) == 0))
			BadOption("model", "The value must be \"gbdt\" or \"random_forest\".");
	}
	GbdtDefaultOptions(opts, kind);
	if (options == NULL)
	{
		if (kind == GBDT_FOREST)
			opts->feature_fraction = 0.0;	/* sqrt(k) / k */
		return;
	}

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(key.val.string.val, key.val.string.len);
		(void) JsonbIteratorNext(&it, &v, true);
		if (v.type == jbvNull)
			continue;			/* null means the default */

		if (strcmp(name, "model") == 0)
			continue;
		else if (strcmp(name, "max_iter") == 0)
			opts->max_iter = OptionInt(&v, name, 1, GBDT_MAX_TREES);
		else if (strcmp(name, "learning_rate") == 0)
		{
			opts->learning_rate = OptionNumber(&v, name);
			if (!(opts->learning_rate > 0.0) || !isfinite(opts->learning_rate))
				BadOption(name, "The learning rate must be positive.");
		}
		else if (strcmp(name, "max_leaf_nodes") == 0)
		{
			opts->max_leaf_nodes = OptionInt(&v, name, 0, 1 << 24);
			if (opts->max_leaf_nodes == 1)
				BadOption(name, "The value must be at least 2, or 0 for no limit.");
		}
		else if (strcmp(name, "max_depth") == 0)
			opts->max_depth = OptionInt(&v, name, 0, GBDT_MAX_DEPTH);
		else if (strcmp(name, "min_samples_leaf") == 0)
			opts->min_samples_leaf = OptionInt(&v, name, 1, INT_MAX);
		else if (strcmp(name, "l2_regularization") == 0)
		{
			opts->l2_regularization = OptionNumber(&v, name);
			if (!(opts->l2_regularization >= 0.0) || !isfinite(opts->l2_regularization))
				BadOption(name, "The L2 strength must be zero or positive.");
		}
		else if (strcmp(name, "min_hessian_to_split") == 0)
		{
			opts->min_hessian_to_split = OptionNumber(&v, name);
			if (!(opts->min_hessian_to_split >= 0.0) || !isfinite(opts->min_hessian_to_split))
				BadOption(name, "The value must be zero or positive.");
		}
		else if (strcmp(name, "min_gain_to_split") == 0)
		{
			opts->min_gain_to_split = OptionNumber(&v, name);
			if (!(opts->min_gain_to_split >= 0.0) || !isfinite(opts->min_gain_to_split))
				BadOption(name, "The value must be zero or positive.");
		}
		else if (strcmp(name, "max_bins") == 0)
			opts->max_bins = OptionInt(&v, name, 2, GBDT_MAX_BINS);
		else if (strcmp(name, "subsample") == 0)
			opts->subsample = OptionFraction(&v, name, false, true);
		else if (strcmp(name, "bootstrap") == 0)
			opts->bootstrap = OptionBool(&v, name);
		else if (strcmp(name, "feature_fraction") == 0)
		{
			fraction_given = true;
			if (v.type == jbvString && v.val.string.len == 4 &&
				strncmp(v.val.string.val, "sqrt", 4) == 0)
				opts->feature_fraction = 0.0;
			else
				opts->feature_fraction = OptionFraction(&v, name, false, true);
		}
		else if (strcmp(name, "seed") == 0)
		{
			double		s = OptionNumber(&v, name);

			if (!(s >= 0 && s <= 9007199254740992.0) || s != floor(s))
				BadOption(name, "The seed must be an integer between 0 and 2^53.");
			opts->seed = (uint64_t) s;
		}
		else if (strcmp(name, "class_weight") == 0)
			ParseClassWeight(&v, opts);
		else if (strcmp(name, "early_stopping") == 0)
			opts->early_stopping = OptionBool(&v, name);
		else if (strcmp(name, "validation_fraction") == 0)
			opts->validation_fraction = OptionFraction(&v, name, false, false);
		else if (strcmp(name, "n_iter_no_change") == 0)
			opts->n_iter_no_change = OptionInt(&v, name, 1, GBDT_MAX_TREES);
		else if (strcmp(name, "tol") == 0)
		{
			opts->tol = OptionNumber(&v, name);
			if (!(opts->tol >= 0.0) || !isfinite(opts->tol))
				BadOption(name, "The tolerance must be zero or positive.");
		}
		else if (strcmp(name, "max_memory_mb") == 0)
		{
			opts->max_memory_mb = OptionNumber(&v, name);
			if (!(opts->max_memory_mb > 0.0) || !isfinite(opts->max_memory_mb))
				BadOption(name, "The value must be a positive number of megabytes.");
		}
		else if (strcmp(name, "feature_names") == 0)
			opts->names = TrainOptionStrings("gbdt_train", &v, name, &opts->n_names);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized gbdt_train option \"%s\"", name),
					 errhint("Valid options are model, max_iter, learning_rate, max_leaf_nodes, max_depth, min_samples_leaf, l2_regularization, min_hessian_to_split, min_gain_to_split, max_bins, subsample, bootstrap, feature_fraction, seed, class_weight, early_stopping, validation_fraction, n_iter_no_change, tol, feature_names and max_memory_mb.")));
	}
	if (kind == GBDT_FOREST && !fraction_given)
		opts->feature_fraction = 0.0;	/* sqrt(k) / k */
	if (kind == GBDT_FOREST && opts->early_stopping)
		BadOption("early_stopping", "A random forest does not stop early; leave early_stopping false.");
}

/* ---------- the aggregate state ---------- */

typedef struct GbdtState
{
	int			k;				/* -1 until the first usable row */
	int64		n;
	int64		n_skipped;
	int64		capacity;
	double	   *x;				/* n x k */
	bool	   *y;
	Jsonb	   *options;
	double		max_bytes;
} GbdtState;

/* more rows than this and the uint32 row indices of the trainer overflow */
#define GBDT_MAX_ROWS	((int64) INT32_MAX)

static GbdtState *
NewState(MemoryContext ctx, Jsonb *options)
{
	GbdtState  *state = MemoryContextAllocZero(ctx, sizeof(GbdtState));
	GbdtOptions opts;

	state->k = -1;
	if (options != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);

		state->options = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(options));
		MemoryContextSwitchTo(old);
	}
	/* reject bad options at the first row, not after a long scan */
	GbdtParseOptions(state->options, &opts);
	state->max_bytes = opts.max_memory_mb * 1024.0 * 1024.0;
	return state;
}

static void
Reserve(MemoryContext ctx, GbdtState *state, int64 rows)
{
	int64		cap;
	Size		row_bytes = sizeof(double) * state->k + sizeof(bool);

	if (rows <= state->capacity)
		return;
	if (rows > GBDT_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gbdt_train takes at most %d rows", INT32_MAX)));
	cap = Max(rows, Max(state->capacity * 2, 16));
	cap = Min(cap, GBDT_MAX_ROWS);
	if ((double) cap * row_bytes > state->max_bytes)
	{
		cap = (int64) (state->max_bytes / row_bytes);
		if (rows > cap)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("gbdt_train needs more than its memory limit of %g MB",
							state->max_bytes / (1024.0 * 1024.0)),
					 errdetail("Keeping " INT64_FORMAT " rows of %d features takes %zu bytes per row.",
							   rows, state->k, row_bytes),
					 errhint("Raise the max_memory_mb option, or train on a sample.")));
	}
	if (state->x == NULL)
	{
		state->x = MemoryContextAllocHuge(ctx, sizeof(double) * state->k * cap);
		state->y = MemoryContextAllocHuge(ctx, sizeof(bool) * cap);
	}
	else
	{
		state->x = repalloc_huge(state->x, sizeof(double) * state->k * cap);
		state->y = repalloc_huge(state->y, sizeof(bool) * cap);
	}
	state->capacity = cap;
}

static void
CheckWidth(int have, int got)
{
	if (have >= 0 && have != got)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d", got, have),
				 errhint("Every row must have the same features in the same order.")));
}

/* Returns the training state with one more row (or one more skipped row). */
PG_FUNCTION_INFO_V1(gbdt_train_accum);
Datum
gbdt_train_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	GbdtState  *state;
	ArrayType  *features;
	int			n;
	double	   *row;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "gbdt_train_accum called in non-aggregate context");

	if (PG_ARGISNULL(0))
		state = NewState(aggctx, (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_GETARG_JSONB_P(3) : NULL);
	else
		state = (GbdtState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		state->n_skipped++;
		PG_RETURN_POINTER(state);
	}
	features = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_ELEMTYPE(features) != FLOAT8OID)
		elog(ERROR, "gbdt_train_accum: features must be float8[]");
	if (ARR_NDIM(features) != 1 || ARR_DIMS(features)[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector must be a non-empty one-dimensional array")));
	n = ARR_DIMS(features)[0];
	if (n > GBDT_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature vector has %d elements, more than the limit of %d",
						n, GBDT_MAX_FEATURES)));
	CheckWidth(state->k, n);
	if (state->k < 0)
		state->k = n;
	Reserve(aggctx, state, state->n + 1);
	row = state->x + (Size) state->k * state->n;
	GbdtReadFeatures(features, n, row);
	for (int j = 0; j < n; j++)
		if (isinf(row[j]))
		{
			/* an infinite feature cannot be binned: the row is skipped, as logreg_train does */
			state->n_skipped++;
			PG_RETURN_POINTER(state);
		}
	state->y[state->n] = PG_GETARG_BOOL(1);
	state->n++;
	PG_RETURN_POINTER(state);
}

static GbdtState *
CopyState(MemoryContext ctx, const GbdtState *src)
{
	GbdtState  *dst = MemoryContextAllocZero(ctx, sizeof(GbdtState));

	dst->k = src->k;
	dst->n_skipped = src->n_skipped;
	dst->max_bytes = src->max_bytes;
	if (src->options != NULL)
	{
		dst->options = MemoryContextAlloc(ctx, VARSIZE(src->options));
		memcpy(dst->options, src->options, VARSIZE(src->options));
	}
	if (src->n > 0)
	{
		Reserve(ctx, dst, src->n);
		memcpy(dst->x, src->x, sizeof(double) * src->k * src->n);
		memcpy(dst->y, src->y, sizeof(bool) * src->n);
		dst->n = src->n;
	}
	return dst;
}

/* Returns the union of two training states (parallel aggregation). */
PG_FUNCTION_INFO_V1(gbdt_train_combine);
Datum
gbdt_train_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	GbdtState  *a = PG_ARGISNULL(0) ? NULL : (GbdtState *) PG_GETARG_POINTER(0);
	GbdtState  *b = PG_ARGISNULL(1) ? NULL : (GbdtState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "gbdt_train_combine called in non-aggregate context");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		PG_RETURN_POINTER(CopyState(aggctx, b));

	a->n_skipped += b->n_skipped;
	if (a->options == NULL && b->options != NULL)
	{
		a->options = MemoryContextAlloc(aggctx, VARSIZE(b->options));
		memcpy(a->options, b->options, VARSIZE(b->options));
	}
	if (b->n == 0)
		PG_RETURN_POINTER(a);
	if (a->k < 0)
		a->k = b->k;
	else
		CheckWidth(a->k, b->k);
	Reserve(aggctx, a, a->n + b->n);
	memcpy(a->x + (Size) a->k * a->n, b->x, sizeof(double) * b->k * b->n);
	memcpy(a->y + a->n, b->y, sizeof(bool) * b->n);
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

typedef struct SerialHeader
{
	uint32		magic;
	int32		k;
	int32		options_len;
	int32		pad;
	int64		n;
	int64		n_skipped;
	double		max_bytes;
} SerialHeader;

#define GBDT_STATE_MAGIC 0x47425354	/* "GBST" */

/* Returns a training state as bytea, for parallel workers. */
PG_FUNCTION_INFO_V1(gbdt_train_serialize);
Datum
gbdt_train_serialize(PG_FUNCTION_ARGS)
{
	GbdtState  *state = (GbdtState *) PG_GETARG_POINTER(0);
	SerialHeader hdr;
	Size		total;
	bytea	   *result;
	char	   *p;

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = GBDT_STATE_MAGIC;
	hdr.k = state->k;
	hdr.options_len = state->options ? VARSIZE(state->options) : 0;
	hdr.n = state->n;
	hdr.n_skipped = state->n_skipped;
	hdr.max_bytes = state->max_bytes;

	total = add_size(VARHDRSZ + sizeof(hdr), hdr.options_len);
	if (state->n > 0)
		total = add_size(total, mul_size(state->n, add_size(sizeof(bool), mul_size(sizeof(double), state->k))));
	if (!AllocSizeIsValid(total))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gbdt_train state of a parallel worker exceeds 1 GB"),
				 errhint("Set max_parallel_workers_per_gather = 0 for this query.")));
	result = palloc(total);
	SET_VARSIZE(result, total);
	p = VARDATA(result);
	memcpy(p, &hdr, sizeof(hdr));
	p += sizeof(hdr);
	if (hdr.options_len > 0)
	{
		memcpy(p, state->options, hdr.options_len);
		p += hdr.options_len;
	}
	if (state->n > 0)
	{
		memcpy(p, state->y, sizeof(bool) * state->n);
		p += sizeof(bool) * state->n;
		memcpy(p, state->x, sizeof(double) * state->k * state->n);
	}
	PG_RETURN_BYTEA_P(result);
}

/* Returns a training state from its bytea form, checking every length. */
PG_FUNCTION_INFO_V1(gbdt_train_deserialize);
Datum
gbdt_train_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(data);
	const char *p = VARDATA_ANY(data);
	SerialHeader hdr;
	GbdtState  *state;
	int64		row_bytes;
	int64		expected;

	if (len < sizeof(hdr))
		elog(ERROR, "invalid gbdt_train state: %zu bytes", len);
	memcpy(&hdr, p, sizeof(hdr));
	p += sizeof(hdr);
	if (hdr.magic != GBDT_STATE_MAGIC || hdr.k < -1 || hdr.k == 0 || hdr.k > GBDT_MAX_FEATURES ||
		hdr.n < 0 || hdr.n > GBDT_MAX_ROWS || hdr.n_skipped < 0 || hdr.options_len < 0 ||
		(hdr.options_len > 0 && hdr.options_len < VARHDRSZ) ||
		(hdr.n > 0 && hdr.k < 1) || !(hdr.max_bytes > 0.0))
		elog(ERROR, "invalid gbdt_train state header");
	row_bytes = sizeof(bool) + (int64) sizeof(double) * Max(hdr.k, 0);
	if (pg_mul_s64_overflow(hdr.n, row_bytes, &expected) ||
		pg_add_s64_overflow(expected, (int64) sizeof(hdr) + hdr.options_len, &expected) ||
		expected != (int64) len)
		elog(ERROR, "invalid gbdt_train state: %zu bytes", len);

	state = palloc0(sizeof(GbdtState));
	state->k = hdr.k;
	state->n_skipped = hdr.n_skipped;
	state->max_bytes = hdr.max_bytes;
	if (hdr.options_len > 0)
	{
		state->options = palloc(hdr.options_len);
		memcpy(state->options, p, hdr.options_len);
		if (VARSIZE(state->options) != hdr.options_len)
			elog(ERROR, "invalid gbdt_train state: bad options length");
		p += hdr.options_len;
	}
	if (hdr.n > 0)
	{
		state->max_bytes = Max(state->max_bytes, (double) hdr.n * row_bytes);
		Reserve(CurrentMemoryContext, state, hdr.n);
		memcpy(state->y, p, sizeof(bool) * hdr.n);
		p += sizeof(bool) * hdr.n;
		memcpy(state->x, p, sizeof(double) * hdr.k * hdr.n);
		state->n = hdr.n;
		/* the trainer relies on labels being 0 or 1 and features not infinite */
		for (int64 i = 0; i < hdr.n; i++)
			state->y[i] = state->y[i] != 0;
		for (int64 i = 0; i < hdr.n * hdr.k; i++)
			if (isinf(state->x[i]))
				elog(ERROR, "invalid gbdt_train state: infinite feature");
	}
	PG_RETURN_POINTER(state);
}

/* the options and metrics of a trained model, as the JSON text it keeps */
static char *
TrainingMeta(const GbdtOptions *o, const GbdtEnsemble *e, int64 n_rows, int64 n_skipped)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"options\": {");
	appendStringInfo(&buf, "\"model\": \"%s\"", o->kind == GBDT_FOREST ? "random_forest" : "gbdt");
	appendStringInfo(&buf, ", \"max_iter\": %d", o->max_iter);
	if (o->kind == GBDT_BOOSTING)
	{
		appendStringInfoString(&buf, ", \"learning_rate\": ");
		GbdtAppendDouble(&buf, o->learning_rate);
	}
	appendStringInfo(&buf, ", \"max_leaf_nodes\": %d, \"max_depth\": %d, \"min_samples_leaf\": %d",
					 o->max_leaf_nodes, o->max_depth, o->min_samples_leaf);
	appendStringInfoString(&buf, ", \"l2_regularization\": ");
	GbdtAppendDouble(&buf, o->l2_regularization);
	appendStringInfoString(&buf, ", \"min_hessian_to_split\": ");
	GbdtAppendDouble(&buf, o->min_hessian_to_split);
	appendStringInfoString(&buf, ", \"min_gain_to_split\": ");
	GbdtAppendDouble(&buf, o->min_gain_to_split);
	appendStringInfo(&buf, ", \"max_bins\": %d", o->max_bins);
	appendStringInfoString(&buf, ", \"subsample\": ");
	GbdtAppendDouble(&buf, o->subsample);
	appendStringInfo(&buf, ", \"bootstrap\": %s", o->bootstrap ? "true" : "false");
	appendStringInfoString(&buf, ", \"feature_fraction\": ");
	if (o->feature_fraction > 0.0)
		GbdtAppendDouble(&buf, o->feature_fraction);
	else
		appendStringInfoString(&buf, "\"sqrt\"");
	appendStringInfo(&buf, ", \"seed\": " UINT64_FORMAT, o->seed);
	appendStringInfo(&buf, ", \"early_stopping\": %s", o->early_stopping ? "true" : "false");
	if (o->early_stopping)
	{
		appendStringInfoString(&buf, ", \"validation_fraction\": ");
		GbdtAppendDouble(&buf, o->validation_fraction);
		appendStringInfo(&buf, ", \"n_iter_no_change\": %d, \"tol\": ", o->n_iter_no_change);
		GbdtAppendDouble(&buf, o->tol);
	}
	appendStringInfoString(&buf, ", \"class_weight\": {\"0\": ");
	GbdtAppendDouble(&buf, e->weight_neg);
	appendStringInfoString(&buf, ", \"1\": ");
	GbdtAppendDouble(&buf, e->weight_pos);
	appendStringInfoString(&buf, "}}, \"metrics\": {");
	appendStringInfo(&buf, "\"n_rows\": " INT64_FORMAT ", \"n_skipped\": " INT64_FORMAT
					 ", \"n_train\": " INT64_FORMAT ", \"n_validation\": " INT64_FORMAT
					 ", \"n_positive\": " INT64_FORMAT ", \"rounds\": %d, \"stopped_early\": %s",
					 n_rows, n_skipped, (int64) e->n_train, (int64) e->n_validation,
					 (int64) e->n_positive, e->n_rounds, e->stopped_early ? "true" : "false");
	if (e->train_loss)
	{
		appendStringInfoString(&buf, ", \"train_loss\": [");
		for (int r = 0; r <= e->n_rounds; r++)
		{
			if (r > 0)
				appendStringInfoString(&buf, ", ");
			GbdtAppendDouble(&buf, e->train_loss[r]);
		}
		appendStringInfoChar(&buf, ']');
	}
	if (e->validation_loss)
	{
		appendStringInfoString(&buf, ", \"validation_loss\": [");
		for (int r = 0; r <= e->n_rounds; r++)
		{
			if (r > 0)
				appendStringInfoString(&buf, ", ");
			GbdtAppendDouble(&buf, e->validation_loss[r]);
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

/* Returns the trained model, or NULL when no row was usable. */
PG_FUNCTION_INFO_V1(gbdt_train_final);
Datum
gbdt_train_final(PG_FUNCTION_ARGS)
{
	GbdtState  *state = PG_ARGISNULL(0) ? NULL : (GbdtState *) PG_GETARG_POINTER(0);
	GbdtOptions opts;
	GbdtRows	rows;
	GbdtEnsemble *e;
	int64		n_rows;
	double	   *x;

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();
	GbdtParseOptions(state->options, &opts);
	if (opts.n_names >= 0 && opts.n_names != state->k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature_names has %d names but the rows have %d features",
						opts.n_names, state->k)));

	/* the trainer consumes its copy of the features */
	n_rows = state->n;
	x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * state->k * state->n);
	memcpy(x, state->x, sizeof(double) * state->k * state->n);
	rows.n = state->n;
	rows.k = state->k;
	rows.x = x;
	rows.y = state->y;
	e = GbdtTrain(&rows, &opts);
	PG_RETURN_POINTER(GbdtModelBuild(e, opts.n_names >= 0 ? opts.names : NULL,
									 TrainingMeta(&opts, e, n_rows, state->n_skipped)));
}
