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
#include "logreg_model.h"
#include "model_io.h"

LogregModel *
LogregModelAlloc(int k, char **names)
{
	Size		names_len = 0;
	Size		size;
	LogregModel *model;

	if (names != NULL)
		for (int j = 0; j < k; j++)
			names_len += strlen(names[j]) + 1;

	size = offsetof(LogregModel, values) + sizeof(double) * (3 * k + 1) + names_len;
	model = palloc0(size);
	SET_VARSIZE(model, size);
	model->version = LOGREG_MODEL_VERSION;
	model->k = k;
	model->names_len = (int32) names_len;
	model->intercept = 0.0;
	model->log_likelihood = NAN;
	model->null_log_likelihood = NAN;
	for (int j = 0; j < 3 * k + 1; j++)
		model->values[j] = NAN;
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

/*
 * A model read from a varlena must be internally consistent before we index
 * into it: a corrupted or hand-crafted binary value must not read past its end.
 */
static LogregModel *
CheckedModel(Datum d)
{
	LogregModel *model = DatumGetLogregModelP(d);
	Size		expected;

	if (model->version != LOGREG_MODEL_VERSION || model->k <= 0 || model->names_len < 0)
		elog(ERROR, "corrupt retention.logreg_model value");
	expected = offsetof(LogregModel, values) + sizeof(double) * (3 * (Size) model->k + 1) +
		model->names_len;
	if (VARSIZE_ANY(model) != expected)
		elog(ERROR, "corrupt retention.logreg_model value");
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

	if (model->flags & LOGREG_HAS_STATS)
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
		appendStringInfo(&buf, ", \"iterations\": %d, \"converged\": %s",
						 model->iterations,
						 (model->flags & LOGREG_CONVERGED) ? "true" : "false");
		appendStringInfo(&buf, ", \"n_rows\": " INT64_FORMAT ", \"n_skipped\": " INT64_FORMAT,
						 model->n_rows, model->n_skipped);
		appendStringInfoString(&buf, ", \"lambda\": ");
		AppendDouble(&buf, model->lambda);
	}
	if (model->flags & LOGREG_HAS_MEANS)
		AppendDoubleArray(&buf, "feature_means", LogregMean(model), k);
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

/* every key the text form may hold; any other is rejected by name */
static const char *const logreg_model_keys[] = {
	"intercept", "coef", "feature_names", "fit_intercept", "feature_means", "std_err",
	"log_likelihood", "null_log_likelihood", "aic", "iterations", "converged",
	"n_rows", "n_skipped", "lambda",
	/* derived on output from the fields above, ignored on input */
	"z", "p_value", "odds_ratio", NULL
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

	model = LogregModelAlloc(k, names);
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

	/* the statistics of a fitted model: all or nothing */
	if (GetKey(jb, "std_err", &v))
	{
		NumberArray(&v, "std_err", k + (intercept ? 1 : 0),
					LogregStdErr(model) + (intercept ? 0 : 1));
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

/* Returns the churn probability 1 / (1 + exp(-(intercept + coef . x))). */
PG_FUNCTION_INFO_V1(churn_prob);
Datum
churn_prob(PG_FUNCTION_ARGS)
{
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	const double *x = ScoringFeatures(model, PG_GETARG_ARRAYTYPE_P(1));

	PG_RETURN_FLOAT8(LogisticSigmoid(LogregLinearPredictor(model, x)));
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

/*
 * Returns one row per feature: position, name, value, coefficient, training
 * mean and the contribution coef * (value - mean) to the logit.
 */
PG_FUNCTION_INFO_V1(churn_explain);
Datum
churn_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LogregModel *model = CheckedModel(PG_GETARG_DATUM(0));
	const double *x = ScoringFeatures(model, PG_GETARG_ARRAYTYPE_P(1));
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
	return (Datum) 0;
}
