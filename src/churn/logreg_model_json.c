/*-------------------------------------------------------------------------
 *
 * logreg_model_json.c
 *	  The JSON form of retention.logreg_model, written and read.
 *
 * Input needs only "intercept" and "coef"; the derived statistics written
 * on output (z, p_value, odds_ratio, aic) are recomputed, never read.
 * Doubles are written in their shortest exact form, so text -> model
 * round-trips bit for bit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
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
#include "model_json.h"

/* ---------- output ---------- */

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
	ModelJsonAppendFloat8(buf, model->lambda);
	if (model->l1_ratio > 0.0)
	{
		for (int j = 0; j < model->k; j++)
			nonzero += (LogregCoef(model)[j] != 0.0);
		appendStringInfoString(buf, ", \"l1_ratio\": ");
		ModelJsonAppendFloat8(buf, model->l1_ratio);
		appendStringInfo(buf, ", \"n_nonzero\": %d", nonzero);
	}
}

char *
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
	ModelJsonAppendFloat8(&buf, model->intercept);
	ModelJsonAppendFloat8Array(&buf, "coef", LogregCoef(model), k);
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
		ModelJsonAppendFloat8(&buf, model->log_likelihood);
		appendStringInfoString(&buf, ", \"null_log_likelihood\": ");
		ModelJsonAppendFloat8(&buf, model->null_log_likelihood);
		AppendFitCounts(&buf, model);
	}
	else if (model->flags & LOGREG_HAS_STATS)
	{
		ModelJsonAppendFloat8Array(&buf, "std_err", se, nterms);
		for (int j = 0; j < nterms; j++)
			tmp[j] = est[j] / se[j];
		ModelJsonAppendFloat8Array(&buf, "z", tmp, nterms);
		/* two-sided normal p-value, 2 * Phi(-|z|) = erfc(|z| / sqrt 2) */
		for (int j = 0; j < nterms; j++)
			tmp[j] = erfc(fabs(est[j] / se[j]) / M_SQRT2);
		ModelJsonAppendFloat8Array(&buf, "p_value", tmp, nterms);
		for (int j = 0; j < nterms; j++)
			tmp[j] = exp(est[j]);
		ModelJsonAppendFloat8Array(&buf, "odds_ratio", tmp, nterms);

		appendStringInfoString(&buf, ", \"log_likelihood\": ");
		ModelJsonAppendFloat8(&buf, model->log_likelihood);
		appendStringInfoString(&buf, ", \"null_log_likelihood\": ");
		ModelJsonAppendFloat8(&buf, model->null_log_likelihood);
		appendStringInfoString(&buf, ", \"aic\": ");
		ModelJsonAppendFloat8(&buf, -2.0 * model->log_likelihood + 2.0 * nterms);
		AppendFitCounts(&buf, model);
	}
	if (model->flags & LOGREG_HAS_MEANS)
		ModelJsonAppendFloat8Array(&buf, "feature_means", LogregMean(model), k);
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

static const ModelJsonReader logreg_reader = {
	"invalid input syntax for type retention.logreg_model",
	"A model is a JSON object with at least \"intercept\" (a number) and \"coef\" (an array of numbers)."
};

static double
NumberValue(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		ModelJsonInvalid(&logreg_reader, psprintf("\"%s\" must be a number.", key));
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
		ModelJsonInvalid(&logreg_reader, psprintf("\"%s\" must be an array.", key));
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
		ModelJsonInvalid(&logreg_reader, psprintf("\"%s\" has %d elements but %d were expected.", key, n, expected));
	for (int j = 0; j < n; j++)
		out[j] = (elems[j].type == jbvNull) ? NAN : NumberValue(&elems[j], key);
}

/* every key the text form may hold; any other is rejected by name */
static const char *const logreg_model_keys[] = {
	"intercept", "coef", "feature_names", "fit_intercept", "feature_means", "std_err",
	"log_likelihood", "null_log_likelihood", "aic", "iterations", "converged",
	"n_rows", "n_skipped", "lambda", "l1_ratio", "encoder", "calibration",
	/* derived on output from the fields above, ignored on input */
	"z", "p_value", "odds_ratio", "n_nonzero", "std_err_note", NULL
};

LogregModel *
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
		ModelJsonInvalid(&logreg_reader, "The value is not a JSON object.");
	CheckModelKeys(&jb->root, logreg_model_keys, "retention.logreg_model");
	if (!ModelJsonOptionalKey(&jb->root, "coef", &v))
		ModelJsonInvalid(&logreg_reader, "The key \"coef\" is missing.");
	k = ArrayElements(&v, "coef", &elems);
	if (k == 0)
		ModelJsonInvalid(&logreg_reader, "\"coef\" must not be empty.");
	coef = palloc(sizeof(double) * k);
	for (int j = 0; j < k; j++)
		coef[j] = NumberValue(&elems[j], "coef");

	if (ModelJsonOptionalKey(&jb->root, "feature_names", &v))
	{
		int			n = ArrayElements(&v, "feature_names", &elems);

		if (n != k)
			ModelJsonInvalid(&logreg_reader, psprintf("\"feature_names\" has %d elements but \"coef\" has %d.", n, k));
		names = palloc(sizeof(char *) * k);
		for (int j = 0; j < k; j++)
		{
			if (elems[j].type != jbvString)
				ModelJsonInvalid(&logreg_reader, "\"feature_names\" must be an array of strings.");
			names[j] = pnstrdup(elems[j].val.string.val, elems[j].val.string.len);
		}
	}
	if (ModelJsonOptionalKey(&jb->root, "fit_intercept", &v))
	{
		if (v.type != jbvBool)
			ModelJsonInvalid(&logreg_reader, "\"fit_intercept\" must be true or false.");
		intercept = v.val.boolean;
	}

	if (ModelJsonOptionalKey(&jb->root, "encoder", &v))
	{
		Jsonb	   *enc_jb;
		ChurnEncoder *enc;

		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ModelJsonInvalid(&logreg_reader, "\"encoder\" must be an object.");
		enc_jb = JsonbValueToJsonb(&v);
		enc = EncoderParse(enc_jb);
		if (enc->n_features != k)
			ModelJsonInvalid(&logreg_reader, psprintf("\"encoder\" makes %d features but \"coef\" has %d.", enc->n_features, k));
		extra = LogregExtraWith(extra, "encoder", enc_jb);
		if (names == NULL)
			names = enc->names;
	}

	if (ModelJsonOptionalKey(&jb->root, "calibration", &v))
	{
		Jsonb	   *cal_jb;

		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ModelJsonInvalid(&logreg_reader, "\"calibration\" must be an object.");
		cal_jb = JsonbValueToJsonb(&v);
		(void) CalibrationParse(cal_jb);
		extra = LogregExtraWith(extra, "calibration", cal_jb);
	}

	model = LogregModelAllocExtra(k, names, extra);
	memcpy(LogregCoef(model), coef, sizeof(double) * k);
	if (intercept)
		model->flags |= LOGREG_FIT_INTERCEPT;
	if (!ModelJsonOptionalKey(&jb->root, "intercept", &v))
		ModelJsonInvalid(&logreg_reader, "The key \"intercept\" is missing.");
	model->intercept = NumberValue(&v, "intercept");
	if (!intercept && model->intercept != 0.0)
		ModelJsonInvalid(&logreg_reader, "A model without an intercept must have \"intercept\" 0.");

	if (ModelJsonOptionalKey(&jb->root, "feature_means", &v))
	{
		NumberArray(&v, "feature_means", k, LogregMean(model));
		model->flags |= LOGREG_HAS_MEANS;
	}

	if (ModelJsonOptionalKey(&jb->root, "l1_ratio", &v))
	{
		model->l1_ratio = NumberValue(&v, "l1_ratio");
		if (!(model->l1_ratio >= 0.0 && model->l1_ratio <= 1.0))
			ModelJsonInvalid(&logreg_reader, "\"l1_ratio\" must be between 0 and 1.");
	}

	/*
	 * The statistics of a fitted model: all or nothing.  A model with an L1
	 * part has them without standard errors ("std_err": null).
	 */
	if (ModelJsonOptionalKey(&jb->root, "std_err", &v) ||
		(model->l1_ratio > 0.0 && ModelJsonOptionalKey(&jb->root, "log_likelihood", &v)))
	{
		if (ModelJsonOptionalKey(&jb->root, "std_err", &v))
		{
			if (model->l1_ratio > 0.0)
				ModelJsonInvalid(&logreg_reader, "A model with \"l1_ratio\" above 0 has no standard errors: \"std_err\" must be null.");
			NumberArray(&v, "std_err", k + (intercept ? 1 : 0),
						LogregStdErr(model) + (intercept ? 0 : 1));
		}
		model->flags |= LOGREG_HAS_STATS;
		if (ModelJsonOptionalKey(&jb->root, "log_likelihood", &v))
			model->log_likelihood = NumberValue(&v, "log_likelihood");
		if (ModelJsonOptionalKey(&jb->root, "null_log_likelihood", &v))
			model->null_log_likelihood = NumberValue(&v, "null_log_likelihood");
		if (ModelJsonOptionalKey(&jb->root, "lambda", &v))
			model->lambda = NumberValue(&v, "lambda");
		if (ModelJsonOptionalKey(&jb->root, "iterations", &v))
			model->iterations = (int32) NumberValue(&v, "iterations");
		if (ModelJsonOptionalKey(&jb->root, "n_rows", &v))
			model->n_rows = (int64) NumberValue(&v, "n_rows");
		if (ModelJsonOptionalKey(&jb->root, "n_skipped", &v))
			model->n_skipped = (int64) NumberValue(&v, "n_skipped");
		if (ModelJsonOptionalKey(&jb->root, "converged", &v))
		{
			if (v.type != jbvBool)
				ModelJsonInvalid(&logreg_reader, "\"converged\" must be true or false.");
			if (v.val.boolean)
				model->flags |= LOGREG_CONVERGED;
		}
	}

	for (int j = 0; j < k; j++)
		if (!isfinite(coef[j]))
			ModelJsonInvalid(&logreg_reader, "\"coef\" must hold finite numbers.");
	if (!isfinite(model->intercept))
		ModelJsonInvalid(&logreg_reader, "\"intercept\" must be a finite number.");
	return model;
}
