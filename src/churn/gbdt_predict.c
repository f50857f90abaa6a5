/*-------------------------------------------------------------------------
 *
 * gbdt_predict.c
 *	  The SQL functions that score and explain with a retention.gbdt_model:
 *	  churn_prob, churn_logit, churn_base_logit, churn_explain and
 *	  gbdt_importance.  The model comes validated and prepared from the
 *	  per-call-site cache (GbdtCachedModel); the scoring is gbdt_score.c's,
 *	  the explanations gbdt_shap.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "gbdt.h"
#include "gbdt_model.h"
#include "gbdt_score.h"
/* ---------- scoring ---------- */

void
GbdtReadFeatures(ArrayType *a, int n, double *out)
{
	const double *data = (const double *) ARR_DATA_PTR(a);

	if (!ARR_HASNULL(a))
	{
		memcpy(out, data, sizeof(double) * n);
		return;
	}
	{
		bits8	   *nulls = ARR_NULLBITMAP(a);
		int			p = 0;

		for (int j = 0; j < n; j++)
		{
			if (nulls[j / 8] & (1 << (j % 8)))
				out[j] = data[p++];
			else
				out[j] = NAN;
		}
	}
}

/*
 * The feature array of a scoring call, without a copy per row: an array
 * short enough for a 1-byte header (the usual case, read from a table) is
 * copied to the cache's buffer with a 4-byte one, as detoasting would
 * palloc it.
 */
static ArrayType *
ScoringArray(GbdtModelCache *c, FunctionCallInfo fcinfo, int argno)
{
	struct varlena *p = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));

	if (VARATT_IS_SHORT(p))
	{
		Size		len = VARSIZE_SHORT(p) - VARHDRSZ_SHORT;

		SET_VARSIZE(c->args, len + VARHDRSZ);
		memcpy(VARDATA(c->args), VARDATA_SHORT(p), len);
		return c->args;
	}
	if (!VARATT_IS_EXTENDED(p))
		return (ArrayType *) p;
	return PG_GETARG_ARRAYTYPE_P(argno);
}

/* the feature vector of a scoring call, NULL elements as missing */
static const double *
ScoringFeatures(GbdtModelCache *c, FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *a = ScoringArray(c, fcinfo, argno);
	int			k = c->model->k;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "features must be float8[]");
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != k)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but the model expects %d",
						ARR_NDIM(a) == 1 ? ARR_DIMS(a)[0] : 0, k),
				 errhint("Pass the features in the order and number used for training.")));
	GbdtReadFeatures(a, k, c->x);
	return c->x;
}

static inline bool
GoesLeft(const GbdtNode *nd, double v)
{
	return isnan(v) ? nd->default_left : (v <= nd->threshold);
}

static double
Probability(const GbdtModel *m, double raw)
{
	if (m->kind == GBDT_FOREST)
		return Min(1.0, Max(0.0, raw));
	if (raw >= 0.0)
		return 1.0 / (1.0 + exp(-raw));
	else
	{
		double		e = exp(raw);

		return e / (1.0 + e);
	}
}

/* Returns the churn probability of one feature vector. */
PG_FUNCTION_INFO_V1(gbdt_churn_prob);
Datum
gbdt_churn_prob(PG_FUNCTION_ARGS)
{
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);
	const double *x = ScoringFeatures(c, fcinfo, 1);

	PG_RETURN_FLOAT8(Probability(c->model, GbdtScorerRaw(c->scorer, x)));
}

/* Returns the log-odds of churn of one feature vector. */
PG_FUNCTION_INFO_V1(gbdt_churn_logit);
Datum
gbdt_churn_logit(PG_FUNCTION_ARGS)
{
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);
	const double *x = ScoringFeatures(c, fcinfo, 1);
	double		raw = GbdtScorerRaw(c->scorer, x);

	if (c->model->kind == GBDT_FOREST)
		PG_RETURN_FLOAT8(log(raw) - log1p(-raw));
	PG_RETURN_FLOAT8(raw);
}

static double
BaseValue(const GbdtModel *m)
{
	GbdtModelView v = GbdtView(m);
	double		s = m->base_score;

	for (int t = 0; t < m->n_trees; t++)
		s += GbdtTreeExpectation(v.nodes + v.tree_start[t]);
	return s;
}

/* Returns the base value of churn_explain: the expected raw score. */
PG_FUNCTION_INFO_V1(gbdt_churn_base_logit);
Datum
gbdt_churn_base_logit(PG_FUNCTION_ARGS)
{
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);

	PG_RETURN_FLOAT8(BaseValue(c->model));
}

/* the first two columns of a row per feature: its position and name */
static void
FeatureColumns(const GbdtModelCache *c, int j, Datum *values, bool *nulls)
{
	const char *name = c->names ? c->names[j] : NULL;

	values[0] = Int32GetDatum(j + 1);
	if (name)
		values[1] = CStringGetTextDatum(name);
	else
		nulls[1] = true;
}

/* the TreeSHAP values of a row, in c->phi (gbdt_model.h) */
const double *
GbdtShapValues(GbdtModelCache *c, FunctionCallInfo fcinfo, int argno)
{
	const double *x = ScoringFeatures(c, fcinfo, argno);
	const GbdtModel *m = c->model;
	GbdtModelView v = GbdtView(m);

	memset(c->phi, 0, sizeof(double) * m->k);
	for (int t = 0; t < m->n_trees; t++)
	{
		const GbdtNode *tree = v.nodes + v.tree_start[t];
		int			n = v.tree_start[t + 1] - v.tree_start[t];

		for (int i = 0; i < n; i++)
			if (tree[i].feature >= 0)
				c->goes_left[i] = GoesLeft(&tree[i], x[tree[i].feature]);
		GbdtTreeShap(tree, c->goes_left, c->phi, c->shap);
	}
	return x;
}

/*
 * Returns one row per feature: position, name, value and its exact TreeSHAP
 * contribution to the raw score (log-odds; a forest's probability).
 */
PG_FUNCTION_INFO_V1(gbdt_churn_explain);
Datum
gbdt_churn_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);
	const double *x = GbdtShapValues(c, fcinfo, 1);
	const GbdtModel *m = c->model;

	InitMaterializedSRF(fcinfo, 0);
	for (int j = 0; j < m->k; j++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		FeatureColumns(c, j, values, nulls);
		if (isnan(x[j]))
			nulls[2] = true;
		else
			values[2] = Float8GetDatum(x[j]);
		values[3] = Float8GetDatum(c->phi[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Returns one row per feature: the number of splits on it, their total gain
 * and its share, and the mean |SHAP| over the training sample.
 */
PG_FUNCTION_INFO_V1(gbdt_importance);
Datum
gbdt_importance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);
	const GbdtModel *m = c->model;
	GbdtModelView v = GbdtView(m);
	double	   *gain = palloc0(sizeof(double) * m->k);
	int64	   *splits = palloc0(sizeof(int64) * m->k);
	double		total = 0.0;

	for (int i = 0; i < m->n_nodes; i++)
		if (v.nodes[i].feature >= 0)
		{
			gain[v.nodes[i].feature] += v.nodes[i].gain;
			splits[v.nodes[i].feature]++;
			total += v.nodes[i].gain;
		}
	InitMaterializedSRF(fcinfo, 0);
	for (int j = 0; j < m->k; j++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		FeatureColumns(c, j, values, nulls);
		values[2] = Int64GetDatum(splits[j]);
		values[3] = Float8GetDatum(gain[j]);
		if (total > 0.0)
			values[4] = Float8GetDatum(gain[j] / total);
		else
			nulls[4] = true;
		if (isnan(v.mean_abs_shap[j]))
			nulls[5] = true;
		else
			values[5] = Float8GetDatum(v.mean_abs_shap[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
