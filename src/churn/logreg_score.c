/*-------------------------------------------------------------------------
 *
 * logreg_score.c
 *	  Scoring with a retention.logreg_model: churn_prob, churn_logit,
 *	  churn_explain and churn_base_logit, on feature vectors or on raw rows
 *	  through the model's encoder, and the model with an encoder or a
 *	  calibration attached.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "float_array.h"
#include "calibration.h"
#include "encoder.h"
#include "logreg_model.h"

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
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));
	const double *x = ScoringFeatures(model, PG_GETARG_ARRAYTYPE_P(1));

	PG_RETURN_FLOAT8(ModelProbability(fcinfo, model, LogregLinearPredictor(model, x)));
}

/* Returns the logit (linear predictor) intercept + coef . x. */
PG_FUNCTION_INFO_V1(churn_logit);
Datum
churn_logit(PG_FUNCTION_ARGS)
{
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));
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
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));
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
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));

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
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));
	double	   *x = RowFeatures(fcinfo, model, PG_GETARG_JSONB_P(1), NULL);

	PG_RETURN_FLOAT8(ModelProbability(fcinfo, model, LogregLinearPredictor(model, x)));
}

/* Returns the log-odds of a raw row (jsonb), encoded by the model. */
PG_FUNCTION_INFO_V1(churn_logit_row);
Datum
churn_logit_row(PG_FUNCTION_ARGS)
{
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));
	double	   *x = RowFeatures(fcinfo, model, PG_GETARG_JSONB_P(1), NULL);

	PG_RETURN_FLOAT8(LogregLinearPredictor(model, x));
}

/* Returns churn_explain's rows for a raw row (jsonb), encoded by the model. */
PG_FUNCTION_INFO_V1(churn_explain_row);
Datum
churn_explain_row(PG_FUNCTION_ARGS)
{
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));

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
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));
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
	LogregModel *model = LogregModelFromDatum(PG_GETARG_DATUM(0));
	Jsonb	   *enc_jb = PG_GETARG_JSONB_P(1);
	ChurnEncoder *enc = EncoderParse(enc_jb);
	LogregModel *result;

	if (enc->n_features != model->k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the encoder makes %d features but the model has %d",
						enc->n_features, model->k)));
	result = LogregModelAllocExtra(model->k, enc->names,
								   LogregExtraWith(LogregModelExtra(model), "encoder", enc_jb));
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
	model = LogregModelFromDatum(PG_GETARG_DATUM(0));
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
		extra = LogregExtraWith(extra, "calibration", cal_jb);
	}
	if (extra != NULL && JB_ROOT_COUNT(extra) == 0)
		extra = NULL;
	result = LogregModelAllocExtra(model->k, LogregModelNames(model), extra);
	CopyModelFields(result, model);
	PG_RETURN_POINTER(result);
}
