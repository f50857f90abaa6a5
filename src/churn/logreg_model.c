/*-------------------------------------------------------------------------
 *
 * logreg_model.c
 *	  Text (JSON) input and output of retention.logreg_model, its casts to
 *	  and from jsonb, and what scoring needs: churn_prob, churn_logit,
 *	  churn_explain and churn_base_logit.
 *
 * The text form is JSON so that a model can be written by hand, imported
 * from another tool, kept in the jsonb registry and survive dumps.  Input
 * needs only "intercept" and "coef"; the derived statistics written on
 * output (z, p_value, odds_ratio, aic) are recomputed, never read.  Doubles
 * are written in their shortest exact form, so text -> model round-trips
 * bit for bit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "float_array.h"
#include "calibration.h"
#include "encoder.h"
#include "logreg_model.h"
#include "model_io.h"

LogregModel *
LogregModelAlloc(int k, char **names)
{
	return LogregModelAllocExtra(k, names, NULL);
}

/*
 * A model as LogregModelAlloc makes it, with a copy of extra (a jsonb object,
 * or NULL) in its extra area.
 */
LogregModel *
LogregModelAllocExtra(int k, char **names, Jsonb *extra)
{
	Size		names_len = 0;
	Size		extra_len = extra ? MAXALIGN(VARSIZE(extra)) : 0;
	Size		size;
	LogregModel *model;

	if (names != NULL)
		for (int j = 0; j < k; j++)
			names_len += strlen(names[j]) + 1;

	if (k <= 0 || k > LOGREG_MODEL_MAX_FEATURES || names_len > MaxAllocSize / 4 ||
		extra_len > MaxAllocSize / 4)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logistic regression model too large: %d features", k)));
	size = offsetof(LogregModel, values) + sizeof(double) * (3 * k + 1) + extra_len + names_len;
	model = palloc0(size);
	SET_VARSIZE(model, size);
	model->version = LOGREG_MODEL_VERSION;
	model->k = k;
	model->names_len = (int32) names_len;
	model->extra_len = (int32) extra_len;
	model->intercept = 0.0;
	model->log_likelihood = NAN;
	model->null_log_likelihood = NAN;
	for (int j = 0; j < 3 * k + 1; j++)
		model->values[j] = NAN;
	if (extra != NULL)
		memcpy(LogregExtra(model), extra, VARSIZE(extra));
	if (names != NULL)
	{
		char	   *p = LogregNames(model);

		for (int j = 0; j < k; j++)
		{
			Size		len = strlen(names[j]) + 1;

			memcpy(p, names[j], len);
			p += len;
		}
		model->flags |= LOGREG_HAS_NAMES;
	}
	return model;
}

/* The extra jsonb object of a model, or NULL. */
Jsonb *
LogregModelExtra(const LogregModel *model)
{
	Jsonb	   *extra;

	if (model->extra_len == 0)
		return NULL;
	extra = (Jsonb *) LogregExtra(model);
	if (VARSIZE(extra) < VARHDRSZ + sizeof(uint32) || VARSIZE(extra) > (Size) model->extra_len ||
		!JB_ROOT_IS_OBJECT(extra))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt retention.logreg_model value"),
				 errdetail("The extra area does not hold a JSON object.")));
	return extra;
}

/* The value of key in a model's extra object (an object), or NULL. */
static Jsonb *
ExtraObject(const LogregModel *model, const char *key)
{
	Jsonb	   *extra = LogregModelExtra(model);
	JsonbValue	v;

	if (extra == NULL ||
		getKeyJsonValueFromContainer(&extra->root, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary)
		return NULL;
	return JsonbValueToJsonb(&v);
}

/* The encoder stored in a model, or NULL. */
Jsonb *
LogregModelEncoder(const LogregModel *model)
{
	return ExtraObject(model, "encoder");
}

/* The calibration stored in a model, or NULL. */
Jsonb *
LogregModelCalibration(const LogregModel *model)
{
	return ExtraObject(model, "calibration");
}

char	  **
LogregModelNames(const LogregModel *model)
{
	char	  **names;
	char	   *p;

	if (!(model->flags & LOGREG_HAS_NAMES))
		return NULL;
	names = palloc(sizeof(char *) * model->k);
	p = LogregNames(model);
	for (int j = 0; j < model->k; j++)
	{
		names[j] = p;
		p += strlen(p) + 1;
	}
	return names;
}

double
LogregLinearPredictor(const LogregModel *model, const double *x)
{
	const double *coef = LogregCoef(model);
	double		z = model->intercept;

	for (int j = 0; j < model->k; j++)
		z += coef[j] * x[j];
	return z;
}

/* the header of version 1 (0.1.0): version 2 without l1_ratio .. reserved */
typedef struct LogregModelV1
{
	int32		vl_len_;
	int16		version;
	int16		flags;
	int32		k;
	int32		iterations;
	int32		names_len;
	int64		n_rows;
	int64		n_skipped;
	double		intercept;
	double		lambda;
	double		log_likelihood;
	double		null_log_likelihood;
	double		values[FLEXIBLE_ARRAY_MEMBER];
} LogregModelV1;

static void
CorruptModel(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt retention.logreg_model value"),
			 errdetail("%s", detail)));
}

/*
 * The size a model of k features with extra_len and names_len bytes must
 * have, or -1 when the fields are out of range (so that the sum cannot
 * overflow: k is at most LOGREG_MAX_FEATURES and the lengths below 1 GB).
 */
static int64
ModelSize(Size header, int32 k, int32 extra_len, int32 names_len)
{
	if (k <= 0 || k > LOGREG_MODEL_MAX_FEATURES || extra_len < 0 || names_len < 0 ||
		extra_len > (int32) MaxAllocSize || names_len > (int32) MaxAllocSize)
		return -1;
	return (int64) header + (int64) sizeof(double) * (3 * (int64) k + 1) + extra_len + names_len;
}

/* the names area holds exactly k NUL-terminated strings */
static void
CheckNamesArea(const char *p, int32 len, int32 k)
{
	int32		found = 0;

	if (len > 0 && p[len - 1] != '\0')
		CorruptModel("The feature names are not terminated.");
	for (int32 i = 0; i < len; i++)
		found += (p[i] == '\0');
	if (found != k)
		CorruptModel("The names area does not hold one name per feature.");
}

/*
 * A model read from a varlena must be internally consistent before we index
 * into it: a corrupted or hand-crafted binary value must not read past its
 * end.  A version 1 value (stored by 0.1.0) is converted to version 2.
 */
static LogregModel *
CheckedModel(Datum d)
{
	LogregModel *model = DatumGetLogregModelP(d);
	Size		size = VARSIZE_ANY(model);

	if (size < offsetof(LogregModelV1, values))
		CorruptModel("The value is shorter than its header.");
	if (model->version == 1)
	{
		LogregModelV1 *old = (LogregModelV1 *) model;
		Size		body;

		if (ModelSize(offsetof(LogregModelV1, values), old->k, 0, old->names_len) != (int64) size)
			CorruptModel("The length does not match the header (version 1).");
		if (old->flags & ~LOGREG_FLAGS_KNOWN)
			CorruptModel("Unknown flags are set.");
		body = size - offsetof(LogregModelV1, values);
		model = palloc0(offsetof(LogregModel, values) + body);
		memcpy(model, old, offsetof(LogregModelV1, values));
		memcpy(model->values, old->values, body);
		SET_VARSIZE(model, offsetof(LogregModel, values) + body);
		model->version = LOGREG_MODEL_VERSION;
		model->l1_ratio = 0.0;
		model->extra_len = 0;
		model->reserved = 0;
	}
	else if (model->version == LOGREG_MODEL_VERSION)
	{
		if (size < offsetof(LogregModel, values) ||
			ModelSize(offsetof(LogregModel, values), model->k, model->extra_len,
					  model->names_len) != (int64) size)
			CorruptModel("The length does not match the header.");
		if (model->flags & ~LOGREG_FLAGS_KNOWN)
			CorruptModel("Unknown flags are set.");
		if (model->extra_len % sizeof(double) != 0 || model->reserved != 0 ||
			!(model->l1_ratio >= 0.0 && model->l1_ratio <= 1.0))
			CorruptModel("A header field is out of range.");
	}
	else
		CorruptModel(psprintf("Version %d is not supported.", model->version));
	if ((model->flags & LOGREG_HAS_NAMES) != 0)
		CheckNamesArea(LogregNames(model), model->names_len, model->k);
	else if (model->names_len != 0)
		CorruptModel("The model has a names area but no names flag.");
	return model;
}

/* ---------- output ---------- */

static void
AppendDouble(StringInfo buf, double x)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	/* JSON has no NaN or infinity: an absent or unbounded statistic is null */
	if (!isfinite(x))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(x, digits);
	appendStringInfoString(buf, digits);
}

static void
AppendDoubleArray(StringInfo buf, const char *key, const double *x, int n)
{
	appendStringInfo(buf, ", \"%s\": [", key);
	for (int j = 0; j < n; j++)
	{
		if (j > 0)
			appendStringInfoString(buf, ", ");
		AppendDouble(buf, x[j]);
	}
	appendStringInfoChar(buf, ']');
}

/* iterations, convergence, counts and the penalty of a fitted model */
static void
AppendFitCounts(StringInfo buf, const LogregModel *model)
{
	int			nonzero = 0;

	appendStringInfo(buf, ", \"iterations\": %d, \"converged\": %s",
					 model->iterations,
					 (model->flags & LOGREG_CONVERGED) ? "true" : "false");
	appendStringInfo(buf, ", \"n_rows\": " INT64_FORMAT ", \"n_skipped\": " INT64_FORMAT,
					 model->n_rows, model->n_skipped);
	appendStringInfoString(buf, ", \"lambda\": ");
	AppendDouble(buf, model->lambda);
	if (model->l1_ratio > 0.0)
	{
		for (int j = 0; j < model->k; j++)
			nonzero += (LogregCoef(model)[j] != 0.0);
		appendStringInfoString(buf, ", \"l1_ratio\": ");
		AppendDouble(buf, model->l1_ratio);
		appendStringInfo(buf, ", \"n_nonzero\": %d", nonzero);
	}
}

static char *
LogregModelToJson(const LogregModel *model)
{
	StringInfoData buf;
	int			k = model->k;
	bool		intercept = (model->flags & LOGREG_FIT_INTERCEPT) != 0;
	int			nterms = k + (intercept ? 1 : 0);
	double	   *est = palloc(sizeof(double) * (k + 1));
	const double *se = LogregStdErr(model) + (intercept ? 0 : 1);
	double	   *tmp = palloc(sizeof(double) * (k + 1));
	char	  **names = LogregModelNames(model);

	/* estimates of the terms, intercept first when there is one */
	if (intercept)
		est[0] = model->intercept;
	memcpy(est + (intercept ? 1 : 0), LogregCoef(model), sizeof(double) * k);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"intercept\": ");
	AppendDouble(&buf, model->intercept);
	AppendDoubleArray(&buf, "coef", LogregCoef(model), k);
	if (names != NULL)
	{
		appendStringInfoString(&buf, ", \"feature_names\": [");
		for (int j = 0; j < k; j++)
		{
			if (j > 0)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, names[j]);
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfo(&buf, ", \"fit_intercept\": %s", intercept ? "true" : "false");

	if ((model->flags & LOGREG_HAS_STATS) && model->l1_ratio > 0.0)
	{
		appendStringInfo(&buf, ", \"std_err\": null, \"std_err_note\": \"%s\"",
						 LOGREG_NO_STD_ERR_NOTE);
		appendStringInfoString(&buf, ", \"log_likelihood\": ");
		AppendDouble(&buf, model->log_likelihood);
		appendStringInfoString(&buf, ", \"null_log_likelihood\": ");
		AppendDouble(&buf, model->null_log_likelihood);
		AppendFitCounts(&buf, model);
	}
	else if (model->flags & LOGREG_HAS_STATS)
	{
		AppendDoubleArray(&buf, "std_err", se, nterms);
		for (int j = 0; j < nterms; j++)
			tmp[j] = est[j] / se[j];
		AppendDoubleArray(&buf, "z", tmp, nterms);
		/* two-sided normal p-value, 2 * Phi(-|z|) = erfc(|z| / sqrt 2) */
		for (int j = 0; j < nterms; j++)
			tmp[j] = erfc(fabs(est[j] / se[j]) / M_SQRT2);
		AppendDoubleArray(&buf, "p_value", tmp, nterms);
		for (int j = 0; j < nterms; j++)
			tmp[j] = exp(est[j]);
		AppendDoubleArray(&buf, "odds_ratio", tmp, nterms);

		appendStringInfoString(&buf, ", \"log_likelihood\": ");
		AppendDouble(&buf, model->log_likelihood);
		appendStringInfoString(&buf, ", \"null_log_likelihood\": ");
		AppendDouble(&buf, model->null_log_likelihood);
		appendStringInfoString(&buf, ", \"aic\": ");
		AppendDouble(&buf, -2.0 * model->log_likelihood + 2.0 * nterms);
		AppendFitCounts(&buf, model);
	}
	if (model->flags & LOGREG_HAS_MEANS)
		AppendDoubleArray(&buf, "feature_means", LogregMean(model), k);
	if (LogregModelExtra(model) != NULL)
	{
		/* the extra object's keys (encoder, calibration) as top-level keys */
		Jsonb	   *extra = LogregModelExtra(model);
		JsonbIterator *it = JsonbIteratorInit(&extra->root);
		JsonbValue	key;
		JsonbValue	val;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			appendStringInfoString(&buf, ", ");
			escape_json(&buf, pnstrdup(key.val.string.val, key.val.string.len));
			appendStringInfoString(&buf, ": ");
			tok = JsonbIteratorNext(&it, &val, true);
			if (val.type == jbvBinary)
				(void) JsonbToCString(&buf, val.val.binary.data, val.val.binary.len);
			else
				(void) JsonbToCString(&buf, &JsonbValueToJsonb(&val)->root, 0);
		}
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* ---------- input ---------- */

static void
BadModelInput(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type retention.logreg_model"),
			 errdetail("%s", detail),
			 errhint("A model is a JSON object with at least \"intercept\" (a number) and \"coef\" (an array of numbers).")));
}

static bool
GetKey(Jsonb *jb, const char *key, JsonbValue *v)
{
	if (getKeyJsonValueFromContainer(&jb->root, key, strlen(key), v) == NULL)
		return false;
	return v->type != jbvNull;
}

static double
NumberValue(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		BadModelInput(psprintf("\"%s\" must be a number.", key));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
}

/*
 * The elements of a JSON array as a list of JsonbValue (scalars only);
 * returns the element count.
 */
static int
ArrayElements(JsonbValue *v, const char *key, JsonbValue **elems)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = 0;
	int			cap = 16;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		BadModelInput(psprintf("\"%s\" must be an array.", key));
	*elems = palloc(sizeof(JsonbValue) * cap);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (n == cap)
		{
			cap *= 2;
			*elems = repalloc(*elems, sizeof(JsonbValue) * cap);
		}
		(*elems)[n++] = e;
	}
	return n;
}

static void
NumberArray(JsonbValue *v, const char *key, int expected, double *out)
{
	JsonbValue *elems;
	int			n = ArrayElements(v, key, &elems);

	if (n != expected)
		BadModelInput(psprintf("\"%s\" has %d elements but %d were expected.", key, n, expected));
	for (int j = 0; j < n; j++)
		out[j] = (elems[j].type == jbvNull) ? NAN : NumberValue(&elems[j], key);
}

/* the extra object of a model with key set to value (extra NULL: none yet) */
static Jsonb *
ExtraWith(Jsonb *extra, const char *key, Jsonb *value)
{
	StringInfoData buf;
	Jsonb	   *one;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	escape_json(&buf, key);
	appendStringInfoString(&buf, ": ");
	(void) JsonbToCString(&buf, &value->root, VARSIZE(value));
	appendStringInfoChar(&buf, '}');
	one = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	if (extra == NULL)
		return one;
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(extra),
											  JsonbPGetDatum(one)));
}

/* every key the text form may hold; any other is rejected by name */
static const char *const logreg_model_keys[] = {
	"intercept", "coef", "feature_names", "fit_intercept", "feature_means", "std_err",
	"log_likelihood", "null_log_likelihood", "aic", "iterations", "converged",
	"n_rows", "n_skipped", "lambda", "l1_ratio", "encoder", "calibration",
	/* derived on output from the fields above, ignored on input */
	"z", "p_value", "odds_ratio", "n_nonzero", "std_err_note", NULL
};

static LogregModel *
LogregModelFromJsonb(Jsonb *jb)
{
	JsonbValue	v;
	JsonbValue *elems;
	int			k;
	double	   *coef;
	char	  **names = NULL;
	bool		intercept = true;
	LogregModel *model;
	Jsonb	   *extra = NULL;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		BadModelInput("The value is not a JSON object.");
	CheckModelKeys(&jb->root, logreg_model_keys, "retention.logreg_model");
	if (!GetKey(jb, "coef", &v))
		BadModelInput("The key \"coef\" is missing.");
	k = ArrayElements(&v, "coef", &elems);
	if (k == 0)
		BadModelInput("\"coef\" must not be empty.");
	coef = palloc(sizeof(double) * k);
	for (int j = 0; j < k; j++)
		coef[j] = NumberValue(&elems[j], "coef");

	if (GetKey(jb, "feature_names", &v))
	{
		int			n = ArrayElements(&v, "feature_names", &elems);

		if (n != k)
			BadModelInput(psprintf("\"feature_names\" has %d elements but \"coef\" has %d.", n, k));
		names = palloc(sizeof(char *) * k);
		for (int j = 0; j < k; j++)
		{
			if (elems[j].type != jbvString)
				BadModelInput("\"feature_names\" must be an array of strings.");
			names[j] = pnstrdup(elems[j].val.string.val, elems[j].val.string.len);
		}
	}
	if (GetKey(jb, "fit_intercept", &v))
	{
		if (v.type != jbvBool)
			BadModelInput("\"fit_intercept\" must be true or false.");
		intercept = v.val.boolean;
	}

	if (GetKey(jb, "encoder", &v))
	{
		Jsonb	   *enc_jb;
		ChurnEncoder *enc;

		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			BadModelInput("\"encoder\" must be an object.");
		enc_jb = JsonbValueToJsonb(&v);
		enc = EncoderParse(enc_jb);
		if (enc->n_features != k)
			BadModelInput(psprintf("\"encoder\" makes %d features but \"coef\" has %d.", enc->n_features, k));
		extra = ExtraWith(extra, "encoder", enc_jb);
		if (names == NULL)
			names = enc->names;
	}

	if (GetKey(jb, "calibration", &v))
	{
		Jsonb	   *cal_jb;

		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			BadModelInput("\"calibration\" must be an object.");
		cal_jb = JsonbValueToJsonb(&v);
		(void) CalibrationParse(cal_jb);
		extra = ExtraWith(extra, "calibration", cal_jb);
	}

	model = LogregModelAllocExtra(k, names, extra);
	memcpy(LogregCoef(model), coef, sizeof(double) * k);
	if (intercept)
		model->flags |= LOGREG_FIT_INTERCEPT;
	if (!GetKey(jb, "intercept", &v))
		BadModelInput("The key \"intercept\" is missing.");
	model->intercept = NumberValue(&v, "intercept");
	if (!intercept && model->intercept != 0.0)
		BadModelInput("A model without an intercept must have \"intercept\" 0.");

	if (GetKey(jb, "feature_means", &v))
	{
		NumberArray(&v, "feature_means", k, LogregMean(model));
		model->flags |= LOGREG_HAS_MEANS;
	}

	if (GetKey(jb, "l1_ratio", &v))
	{
		model->l1_ratio = NumberValue(&v, "l1_ratio");
		if (!(model->l1_ratio >= 0.0 && model->l1_ratio <= 1.0))
			BadModelInput("\"l1_ratio\" must be between 0 and 1.");
	}

	/*
	 * The statistics of a fitted model: all or nothing.  A model with an L1
	 * part has them without standard errors ("std_err": null).
	 */
	if (GetKey(jb, "std_err", &v) ||
		(model->l1_ratio > 0.0 && GetKey(jb, "log_likelihood", &v)))
	{
		if (GetKey(jb, "std_err", &v))
		{
			if (model->l1_ratio > 0.0)
				BadModelInput("A model with \"l1_ratio\" above 0 has no standard errors: \"std_err\" must be null.");
			NumberArray(&v, "std_err", k + (intercept ? 1 : 0),
						LogregStdErr(model) + (intercept ? 0 : 1));
		}
		model->flags |= LOGREG_HAS_STATS;
		if (GetKey(jb, "log_likelihood", &v))
			model->log_likelihood = NumberValue(&v, "log_likelihood");
		if (GetKey(jb, "null_log_likelihood", &v))
			model->null_log_likelihood = NumberValue(&v, "null_log_likelihood");
		if (GetKey(jb, "lambda", &v))
			model->lambda = NumberValue(&v, "lambda");
		if (GetKey(jb, "iterations", &v))
			model->iterations = (int32) NumberValue(&v, "iterations");
		if (GetKey(jb, "n_rows", &v))
			model->n_rows = (int64) NumberValue(&v, "n_rows");
		if (GetKey(jb, "n_skipped", &v))
			model->n_skipped = (int64) NumberValue(&v, "n_skipped");
		if (GetKey(jb, "converged", &v))
		{
			if (v.type != jbvBool)
				BadModelInput("\"converged\" must be true or false.");
			if (v.val.boolean)
				model->flags |= LOGREG_CONVERGED;
		}
	}

	for (int j = 0; j < k; j++)
		if (!isfinite(coef[j]))
			BadModelInput("\"coef\" must hold finite numbers.");
	if (!isfinite(model->intercept))
		BadModelInput("\"intercept\" must be a finite number.");
	return model;
}

/* Returns a model from its JSON text form. */
PG_FUNCTION_INFO_V1(logreg_model_in);
Datum
logreg_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)));

	PG_RETURN_POINTER(LogregModelFromJsonb(jb));
}

/* Returns the JSON text form of a model. */
PG_FUNCTION_INFO_V1(logreg_model_out);
Datum
logreg_model_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(LogregModelToJson(CheckedModel(PG_GETARG_DATUM(0))));
}

/*
 * The binary wire format is a version byte and the JSON text, as jsonb's:
 * portable across architectures, unlike the in-memory doubles.
 */
#define LOGREG_WIRE_VERSION 1

/* Returns the binary wire form of a model (COPY BINARY, binary protocol). */
PG_FUNCTION_INFO_V1(logreg_model_send);
Datum
logreg_model_send(PG_FUNCTION_ARGS)
{
	char	   *json = LogregModelToJson(CheckedModel(PG_GETARG_DATUM(0)));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint8(&buf, LOGREG_WIRE_VERSION);
	pq_sendtext(&buf, json, strlen(json));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Returns a model read from its binary wire form. */
PG_FUNCTION_INFO_V1(logreg_model_recv);
Datum
logreg_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgint(buf, 1);
	char	   *json;
	int			nbytes;

	if (version != LOGREG_WIRE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported retention.logreg_model wire version %d", version)));
	json = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_POINTER(LogregModelFromJsonb(
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)))));
}

/* Returns a model as jsonb, with its derived statistics. */
PG_FUNCTION_INFO_V1(logreg_model_to_jsonb);
Datum
logreg_model_to_jsonb(PG_FUNCTION_ARGS)
{
	char	   *json = LogregModelToJson(CheckedModel(PG_GETARG_DATUM(0)));

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* Returns a model from jsonb (as written by the cast to jsonb, or by hand). */
PG_FUNCTION_INFO_V1(logreg_model_from_jsonb);
Datum
logreg_model_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(LogregModelFromJsonb(PG_GETARG_JSONB_P(0)));
}

/* ---------- scoring ---------- */

/*
 * The feature vector of a scoring call: validated once, read in place.
 * Scoring a user with a NaN is a bug in the feature query, so it is an error,
 * not a silently skipped row as in training.
 */
static const double *
ScoringFeatures(const LogregModel *model, ArrayType *features)
{
	int			n = CheckFloatArray(features, FLOAT8OID, "features");
	const double *x = (const double *) ARR_DATA_PTR(features);

	if (n != model->k)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but the model expects %d",
						n, model->k),
				 errhint("Pass the features in the order and number used for training.")));
	CheckFloat8ArrayFinite(x, n, "features");
	return x;
}

/*
 * The probability of log-odds z under a model: the logistic function, or the
 * model's calibration of it.
 */
static double
ModelProbability(FunctionCallInfo fcinfo, const LogregModel *model, double z)
{
	Jsonb	   *cal_jb;

	if (model->extra_len == 0 || (cal_jb = LogregModelCalibration(model)) == NULL)
		return LogisticSigmoid(z);
	return CalibrationApply(CalibrationCached(fcinfo, cal_jb), z);
}

/*
 * Returns the churn probability 1 / (1 + exp(-(intercept + coef . x))),
 * calibrated when the model has a calibration.
 */
PG_FUNCTION_INFO_V1(churn_prob);
Datum
churn_prob(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	const double *x = ScoringFeatures(model, PG_GETARG_ARRAYTYPE_P(1));

	PG_RETURN_FLOAT8(ModelProbability(fcinfo, model, LogregLinearPredictor(model, x)));
}

/* Returns the logit (linear predictor) intercept + coef . x. */
PG_FUNCTION_INFO_V1(churn_logit);
Datum
churn_logit(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	const double *x = ScoringFeatures(model, PG_GETARG_ARRAYTYPE_P(1));

	PG_RETURN_FLOAT8(LogregLinearPredictor(model, x));
}

/*
 * The training mean of feature j, or 0 for a model that does not know its
 * means (written by hand): contributions are then coef * value.
 */
static double
FeatureMean(const LogregModel *model, int j)
{
	return (model->flags & LOGREG_HAS_MEANS) ? LogregMean(model)[j] : 0.0;
}

/* Returns the logit of the average training user: intercept + coef . mean. */
PG_FUNCTION_INFO_V1(churn_base_logit);
Datum
churn_base_logit(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	double		base = model->intercept;

	for (int j = 0; j < model->k; j++)
		base += LogregCoef(model)[j] * FeatureMean(model, j);
	PG_RETURN_FLOAT8(base);
}

/* one row per feature of x: see churn_explain */
static void
ExplainRows(FunctionCallInfo fcinfo, const LogregModel *model, const double *x)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	  **names = LogregModelNames(model);

	InitMaterializedSRF(fcinfo, 0);
	for (int j = 0; j < model->k; j++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		double		coef = LogregCoef(model)[j];
		double		mean = FeatureMean(model, j);

		values[0] = Int32GetDatum(j + 1);
		if (names != NULL)
			values[1] = CStringGetTextDatum(names[j]);
		else
			nulls[1] = true;
		values[2] = Float8GetDatum(x[j]);
		values[3] = Float8GetDatum(coef);
		values[4] = Float8GetDatum(mean);
		values[5] = Float8GetDatum(coef * (x[j] - mean));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * Returns one row per feature: position, name, value, coefficient, training
 * mean and the contribution coef * (value - mean) to the logit.
 */
PG_FUNCTION_INFO_V1(churn_explain);
Datum
churn_explain(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));

	ExplainRows(fcinfo, model, ScoringFeatures(model, PG_GETARG_ARRAYTYPE_P(1)));
	return (Datum) 0;
}

/* ---------- raw rows, through the model's encoder ---------- */

/*
 * The feature vector of a raw row (jsonb) under the model's encoder; unseen,
 * if not NULL, gets the unseen levels.
 */
static double *
RowFeatures(FunctionCallInfo fcinfo, const LogregModel *model, Jsonb *row, List **unseen)
{
	Jsonb	   *enc_jb = LogregModelEncoder(model);
	ChurnEncoder *enc;
	double	   *x;

	if (enc_jb == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model has no encoder, so it cannot score a raw row"),
				 errhint("Score with the feature array, or train with retention.train_churn_model, which learns an encoder for text columns, or attach one with retention.churn_model_with_encoder.")));
	enc = EncoderCached(fcinfo, enc_jb);
	if (enc->n_features != model->k)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the model's encoder makes %d features but the model has %d",
						enc->n_features, model->k)));
	x = palloc(sizeof(double) * model->k);
	EncoderEncode(enc, row, x, unseen);
	return x;
}

/* Returns the churn probability of a raw row (jsonb), encoded by the model. */
PG_FUNCTION_INFO_V1(churn_prob_row);
Datum
churn_prob_row(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	double	   *x = RowFeatures(fcinfo, model, PG_GETARG_JSONB_P(1), NULL);

	PG_RETURN_FLOAT8(ModelProbability(fcinfo, model, LogregLinearPredictor(model, x)));
}

/* Returns the log-odds of a raw row (jsonb), encoded by the model. */
PG_FUNCTION_INFO_V1(churn_logit_row);
Datum
churn_logit_row(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	double	   *x = RowFeatures(fcinfo, model, PG_GETARG_JSONB_P(1), NULL);

	PG_RETURN_FLOAT8(LogregLinearPredictor(model, x));
}

/* Returns churn_explain's rows for a raw row (jsonb), encoded by the model. */
PG_FUNCTION_INFO_V1(churn_explain_row);
Datum
churn_explain_row(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));

	ExplainRows(fcinfo, model, RowFeatures(fcinfo, model, PG_GETARG_JSONB_P(1), NULL));
	return (Datum) 0;
}

/*
 * Returns the values of a raw row that the model's encoder has not seen
 * ("column=value"; scored as the reference level), empty when none.
 */
PG_FUNCTION_INFO_V1(churn_unseen);
Datum
churn_unseen(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	List	   *unseen = NIL;
	Datum	   *d;
	int			n = 0;
	ListCell   *lc;

	(void) RowFeatures(fcinfo, model, PG_GETARG_JSONB_P(1), &unseen);
	d = palloc(sizeof(Datum) * Max(list_length(unseen), 1));
	foreach(lc, unseen)
		d[n++] = CStringGetTextDatum((char *) lfirst(lc));
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* copy the header fields and the values of a model of the same k */
static void
CopyModelFields(LogregModel *dst, const LogregModel *src)
{
	dst->flags = (src->flags & ~LOGREG_HAS_NAMES) | (dst->flags & LOGREG_HAS_NAMES);
	dst->iterations = src->iterations;
	dst->n_rows = src->n_rows;
	dst->n_skipped = src->n_skipped;
	dst->intercept = src->intercept;
	dst->lambda = src->lambda;
	dst->log_likelihood = src->log_likelihood;
	dst->null_log_likelihood = src->null_log_likelihood;
	dst->l1_ratio = src->l1_ratio;
	memcpy(dst->values, src->values, sizeof(double) * (3 * (Size) src->k + 1));
}

/*
 * Returns the model with an encoder stored in it (replacing any), its
 * feature names taken from the encoder.
 */
PG_FUNCTION_INFO_V1(churn_model_with_encoder);
Datum
churn_model_with_encoder(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	Jsonb	   *enc_jb = PG_GETARG_JSONB_P(1);
	ChurnEncoder *enc = EncoderParse(enc_jb);
	LogregModel *result;

	if (enc->n_features != model->k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the encoder makes %d features but the model has %d",
						enc->n_features, model->k)));
	result = LogregModelAllocExtra(model->k, enc->names,
								   ExtraWith(LogregModelExtra(model), "encoder", enc_jb));
	CopyModelFields(result, model);
	PG_RETURN_POINTER(result);
}

/* Returns the model with a calibration stored in it (replacing any); NULL removes it. */
PG_FUNCTION_INFO_V1(churn_model_with_calibration);
Datum
churn_model_with_calibration(PG_FUNCTION_ARGS)
{
	LogregModel *model;
	Jsonb	   *extra;
	LogregModel *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	model = CheckedModel(PG_GETARG_DATUM(0));
	extra = LogregModelExtra(model);
	if (PG_ARGISNULL(1))
	{
		if (extra != NULL)
			extra = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(extra),
													   CStringGetTextDatum("calibration")));
	}
	else
	{
		Jsonb	   *cal_jb = PG_GETARG_JSONB_P(1);

		(void) CalibrationParse(cal_jb);
		extra = ExtraWith(extra, "calibration", cal_jb);
	}
	if (extra != NULL && JB_ROOT_COUNT(extra) == 0)
		extra = NULL;
	result = LogregModelAllocExtra(model->k, LogregModelNames(model), extra);
	CopyModelFields(result, model);
	PG_RETURN_POINTER(result);
}
