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
#include "model_json.h"
#include "train_options.h"
#include "train_rows.h"

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
OptionPositive(JsonbValue *v, const char *key, const char *detail)
{
	return TrainOptionPositive("gbdt_train", v, key, detail);
}

static double
OptionNonNegative(JsonbValue *v, const char *key, const char *detail)
{
	return TrainOptionNonNegative("gbdt_train", v, key, detail);
}

static double
OptionFraction(JsonbValue *v, const char *key, bool zero_ok, bool one_ok)
{
	double		d = OptionNumber(v, key);

	if (!((zero_ok ? d >= 0.0 : d > 0.0) && (one_ok ? d <= 1.0 : d < 1.0)))
		BadOption(key, psprintf("The value must be in %s0, 1%s.", zero_ok ? "[" : "(", one_ok ? "]" : ")"));
	return d;
}

/* the class_weight_mode of GbdtOptions counts as ClassWeightMode does */
StaticAssertDecl(CLASS_WEIGHT_GIVEN == 1 && CLASS_WEIGHT_BALANCED == 2,
				 "gbdt.h documents class_weight_mode as 0 none, 1 given, 2 balanced");

void
GbdtParseOptions(Jsonb *options, GbdtOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;
	GbdtKind	kind = GBDT_BOOSTING;
	bool		fraction_given = false;

	TrainOptionsCheckObject("gbdt_train", options,
							"For example '{\"max_iter\": 200, \"learning_rate\": 0.05}'.");
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
	while (TrainOptionNext(&it, &name, &v))
	{
		if (strcmp(name, "model") == 0)
			continue;
		else if (strcmp(name, "max_iter") == 0)
			opts->max_iter = OptionInt(&v, name, 1, GBDT_MAX_TREES);
		else if (strcmp(name, "learning_rate") == 0)
			opts->learning_rate = OptionPositive(&v, name, "The learning rate must be positive.");
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
			opts->l2_regularization = OptionNonNegative(&v, name, "The L2 strength must be zero or positive.");
		else if (strcmp(name, "min_hessian_to_split") == 0)
			opts->min_hessian_to_split = OptionNonNegative(&v, name, "The value must be zero or positive.");
		else if (strcmp(name, "min_gain_to_split") == 0)
			opts->min_gain_to_split = OptionNonNegative(&v, name, "The value must be zero or positive.");
		else if (strcmp(name, "max_bins") == 0)
			opts->max_bins = OptionInt(&v, name, 2, GBDT_MAX_BINS);
		else if (strcmp(name, "subsample") == 0)
			opts->subsample = OptionFraction(&v, name, false, true);
		else if (strcmp(name, "bootstrap") == 0)
			opts->bootstrap = TrainOptionBool("gbdt_train", &v, name);
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
			opts->class_weight_mode = TrainOptionClassWeight("gbdt_train", &v, &opts->weight_neg,
															 &opts->weight_pos);
		else if (strcmp(name, "early_stopping") == 0)
			opts->early_stopping = TrainOptionBool("gbdt_train", &v, name);
		else if (strcmp(name, "validation_fraction") == 0)
			opts->validation_fraction = OptionFraction(&v, name, false, false);
		else if (strcmp(name, "n_iter_no_change") == 0)
			opts->n_iter_no_change = OptionInt(&v, name, 1, GBDT_MAX_TREES);
		else if (strcmp(name, "tol") == 0)
			opts->tol = OptionNonNegative(&v, name, "The tolerance must be zero or positive.");
		else if (strcmp(name, "max_memory_mb") == 0)
			opts->max_memory_mb = OptionPositive(&v, name, "The value must be a positive number of megabytes.");
		else if (strcmp(name, "feature_names") == 0)
			opts->names = TrainOptionStrings("gbdt_train", &v, name, &opts->n_names);
		else
			TrainUnknownOption("gbdt_train", name, "Valid options are model, max_iter, learning_rate, max_leaf_nodes, max_depth, min_samples_leaf, l2_regularization, min_hessian_to_split, min_gain_to_split, max_bins, subsample, bootstrap, feature_fraction, seed, class_weight, early_stopping, validation_fraction, n_iter_no_change, tol, feature_names and max_memory_mb.");
	}
	if (kind == GBDT_FOREST && !fraction_given)
		opts->feature_fraction = 0.0;	/* sqrt(k) / k */
	if (kind == GBDT_FOREST && opts->early_stopping)
		BadOption("early_stopping", "A random forest does not stop early; leave early_stopping false.");
}

/* ---------- the aggregate state ---------- */

/* more rows than this and the uint32 row indices of the trainer overflow */
#define GBDT_MAX_ROWS	((int64) INT32_MAX)

static double
MemoryLimitMb(Jsonb *options)
{
	GbdtOptions opts;

	GbdtParseOptions(options, &opts);
	return opts.max_memory_mb;
}

static const TrainRowsSpec gbdt_rows = {
	.name = "gbdt_train",
	.lead = 0,
	.max_rows = GBDT_MAX_ROWS,
	.memory_mb = MemoryLimitMb,
	.memory_hint = "Raise the max_memory_mb option, or train on a sample.",
	.parallel_hint = "Set max_parallel_workers_per_gather = 0 for this query."
};

/* Returns the training state with one more row (or one more skipped row). */
PG_FUNCTION_INFO_V1(gbdt_train_accum);
Datum
gbdt_train_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	TrainRows  *state;
	Datum		value;
	ArrayType  *features;
	int			n;
	double	   *row;

	state = TrainRowsAccumBegin(fcinfo, &gbdt_rows, &aggctx, &value);
	if (value == (Datum) 0)
		PG_RETURN_POINTER(state);
	features = DatumGetArrayTypeP(value);
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
	TrainRowsCheckWidth(state->k, n);
	row = TrainRowsAppend(aggctx, state, n);
	GbdtReadFeatures(features, n, row);
	for (int j = 0; j < n; j++)
		if (isinf(row[j]))
		{
			/* an infinite feature cannot be binned: the row is skipped, as logreg_train does */
			state->n_skipped++;
			PG_RETURN_POINTER(state);
		}
	TrainRowsKeep(state, PG_GETARG_BOOL(1));
	PG_RETURN_POINTER(state);
}

/* Returns the union of two training states (parallel aggregation). */
PG_FUNCTION_INFO_V1(gbdt_train_combine);
Datum
gbdt_train_combine(PG_FUNCTION_ARGS)
{
	return TrainRowsCombine(fcinfo, &gbdt_rows);
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
	TrainRows  *state = (TrainRows *) PG_GETARG_POINTER(0);
	SerialHeader hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = GBDT_STATE_MAGIC;
	hdr.k = state->k;
	hdr.n = state->n;
	hdr.n_skipped = state->n_skipped;
	hdr.max_bytes = state->max_bytes;
	PG_RETURN_BYTEA_P(TrainRowsSerialize(state, &hdr, sizeof(hdr), &hdr.options_len, false));
}

/* the trainer relies on features not being infinite (NaN is missing) */
static void
CheckFeatures(TrainRows *s, int64 first, int64 n)
{
	const double *rows = s->rows + (Size) s->k * first;

	for (int64 i = 0; i < n * s->k; i++)
		if (isinf(rows[i]))
			elog(ERROR, "invalid gbdt_train state: infinite feature");
}

/* Returns a training state from its bytea form, checking every length. */
PG_FUNCTION_INFO_V1(gbdt_train_deserialize);
Datum
gbdt_train_deserialize(PG_FUNCTION_ARGS)
{
	SerialHeader hdr;
	Size		len;
	const char *p = TrainRowsReadHeader(PG_GETARG_BYTEA_PP(0), &gbdt_rows,
										&hdr, sizeof(hdr), &len);
	TrainRows  *state;
	int64		row_bytes;
	int64		expected;
	MemoryContext old;

	if (hdr.magic != GBDT_STATE_MAGIC || hdr.k < -1 || hdr.k == 0 || hdr.k > GBDT_MAX_FEATURES ||
		hdr.n < 0 || hdr.n > GBDT_MAX_ROWS || hdr.n_skipped < 0 || hdr.options_len < 0 ||
		(hdr.n > 0 && hdr.k < 1) || !(hdr.max_bytes > 0.0))
		elog(ERROR, "invalid gbdt_train state header");
	row_bytes = sizeof(bool) + (int64) sizeof(double) * Max(hdr.k, 0);
	if (pg_mul_s64_overflow(hdr.n, row_bytes, &expected) ||
		pg_add_s64_overflow(expected, (int64) sizeof(hdr) + hdr.options_len, &expected) ||
		expected != (int64) len)
		elog(ERROR, "invalid gbdt_train state: %zu bytes", len);

	/* where the combine function can take the rows over */
	old = MemoryContextSwitchTo(TrainRowsReadContext(fcinfo));
	state = TrainRowsEmpty(CurrentMemoryContext, &gbdt_rows, hdr.k, hdr.n_skipped, hdr.max_bytes);
	if (hdr.n > 0)
		state->max_bytes = Max(state->max_bytes, (double) hdr.n * row_bytes);
	TrainRowsReadPayload(state, p, hdr.options_len, hdr.n, CheckFeatures);
	MemoryContextSwitchTo(old);
	state->adoptable = true;
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
		ModelJsonAppendFloat8(&buf, o->learning_rate);
	}
	appendStringInfo(&buf, ", \"max_leaf_nodes\": %d, \"max_depth\": %d, \"min_samples_leaf\": %d",
					 o->max_leaf_nodes, o->max_depth, o->min_samples_leaf);
	appendStringInfoString(&buf, ", \"l2_regularization\": ");
	ModelJsonAppendFloat8(&buf, o->l2_regularization);
	appendStringInfoString(&buf, ", \"min_hessian_to_split\": ");
	ModelJsonAppendFloat8(&buf, o->min_hessian_to_split);
	appendStringInfoString(&buf, ", \"min_gain_to_split\": ");
	ModelJsonAppendFloat8(&buf, o->min_gain_to_split);
	appendStringInfo(&buf, ", \"max_bins\": %d", o->max_bins);
	appendStringInfoString(&buf, ", \"subsample\": ");
	ModelJsonAppendFloat8(&buf, o->subsample);
	appendStringInfo(&buf, ", \"bootstrap\": %s", o->bootstrap ? "true" : "false");
	appendStringInfoString(&buf, ", \"feature_fraction\": ");
	if (o->feature_fraction > 0.0)
		ModelJsonAppendFloat8(&buf, o->feature_fraction);
	else
		appendStringInfoString(&buf, "\"sqrt\"");
	appendStringInfo(&buf, ", \"seed\": " UINT64_FORMAT, o->seed);
	appendStringInfo(&buf, ", \"early_stopping\": %s", o->early_stopping ? "true" : "false");
	if (o->early_stopping)
	{
		appendStringInfoString(&buf, ", \"validation_fraction\": ");
		ModelJsonAppendFloat8(&buf, o->validation_fraction);
		appendStringInfo(&buf, ", \"n_iter_no_change\": %d, \"tol\": ", o->n_iter_no_change);
		ModelJsonAppendFloat8(&buf, o->tol);
	}
	appendStringInfoString(&buf, ", \"class_weight\": {\"0\": ");
	ModelJsonAppendFloat8(&buf, e->weight_neg);
	appendStringInfoString(&buf, ", \"1\": ");
	ModelJsonAppendFloat8(&buf, e->weight_pos);
	appendStringInfoString(&buf, "}}, \"metrics\": {");
	appendStringInfo(&buf, "\"n_rows\": " INT64_FORMAT ", \"n_skipped\": " INT64_FORMAT
					 ", \"n_train\": " INT64_FORMAT ", \"n_validation\": " INT64_FORMAT
					 ", \"n_positive\": " INT64_FORMAT ", \"rounds\": %d, \"stopped_early\": %s",
					 n_rows, n_skipped, (int64) e->n_train, (int64) e->n_validation,
					 (int64) e->n_positive, e->n_rounds, e->stopped_early ? "true" : "false");
	if (e->train_loss)
		ModelJsonAppendFloat8Array(&buf, "train_loss", e->train_loss, e->n_rounds + 1);
	if (e->validation_loss)
		ModelJsonAppendFloat8Array(&buf, "validation_loss", e->validation_loss, e->n_rounds + 1);
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

/* Returns the trained model, or NULL when no row was usable. */
PG_FUNCTION_INFO_V1(gbdt_train_final);
Datum
gbdt_train_final(PG_FUNCTION_ARGS)
{
	TrainRows  *state = PG_ARGISNULL(0) ? NULL : (TrainRows *) PG_GETARG_POINTER(0);
	GbdtOptions opts;
	GbdtRows	rows;
	GbdtEnsemble *e;
	int64		n_rows;
	double	   *x;

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();
	TrainRowsContiguous(state);
	GbdtParseOptions(state->options, &opts);
	if (opts.n_names >= 0 && opts.n_names != state->k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature_names has %d names but the rows have %d features",
						opts.n_names, state->k)));

	/* the trainer consumes its copy of the features */
	n_rows = state->n;
	x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * state->k * state->n);
	memcpy(x, state->rows, sizeof(double) * state->k * state->n);
	rows.n = state->n;
	rows.k = state->k;
	rows.x = x;
	rows.y = state->labels;
	e = GbdtTrain(&rows, &opts);
	PG_RETURN_POINTER(GbdtModelBuild(e, opts.n_names >= 0 ? opts.names : NULL,
									 TrainingMeta(&opts, e, n_rows, state->n_skipped)));
}
