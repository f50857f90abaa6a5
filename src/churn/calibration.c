/*-------------------------------------------------------------------------
 *
 * calibration.c
 *	  Probability calibration of churn models, fitted on a holdout and
 *	  stored with the model, and the measures of calibration: the Brier
 *	  score, the expected calibration error and the reliability curve.
 *
 * A calibration is a JSON object, kept in the model's extra area and applied
 * by churn_prob and churn_prob_row (churn_logit stays the model's own
 * linear predictor):
 *
 *   {"method": "platt", "a": 1.02, "b": -0.03}
 *       p = 1 / (1 + exp(-(a z + b))), z the model's log-odds: a logistic
 *       regression of the labels on z (maximum likelihood, as R's
 *       glm(y ~ z, binomial)).
 *   {"method": "isotonic", "x": [...], "y": [...]}
 *       the isotonic (non-decreasing) least-squares fit of the labels on
 *       the model's probability, by pool-adjacent-violators; between its
 *       points p is interpolated linearly and outside them clipped, as
 *       scikit-learn's IsotonicRegression(out_of_bounds="clip").
 *   {"method": "shift", "shift": -1.01}
 *       p = 1 / (1 + exp(-(z + shift))): the prior correction of a model
 *       trained with class weights w1 (churners) and w0, shift = log(w0/w1)
 *       (King and Zeng 2001, "Logistic regression in rare events data",
 *       Political Analysis 9(2), eq. 7): weighting multiplies the odds the
 *       model learns by w1/w0.
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
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "calibration.h"
#include "encoder.h"
#include "float_array.h"
#include "linalg.h"
#include "logreg_model.h"

#define MAX_CALIBRATION_POINTS	10000000

static void
BadCalibration(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid churn calibration"),
			 errdetail("%s", detail),
			 errhint("Use the object that retention.calibration_fit returned, unchanged.")));
}

static double
CalNumber(JsonbContainer *c, const char *key)
{
	JsonbValue	v;
	double		x;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL || v.type != jbvNumeric)
		BadCalibration(psprintf("\"%s\" must be a number.", key));
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
	if (!isfinite(x))
		BadCalibration(psprintf("\"%s\" must be finite.", key));
	return x;
}

static double *
CalArray(JsonbContainer *c, const char *key, int *n)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			cap = 16;
	double	   *out;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		BadCalibration(psprintf("\"%s\" must be an array of numbers.", key));
	out = palloc(sizeof(double) * cap);
	*n = 0;
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvNumeric)
			BadCalibration(psprintf("\"%s\" must be an array of numbers.", key));
		if (*n == cap)
		{
			if (cap >= MAX_CALIBRATION_POINTS)
				BadCalibration("The isotonic fit has too many points.");
			cap *= 2;
			out = repalloc_huge(out, sizeof(double) * cap);
		}
		out[(*n)++] = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														 NumericGetDatum(e.val.numeric)));
	}
	return out;
}

Calibration *
CalibrationParse(Jsonb *jb)
{
	Calibration *cal = palloc0(sizeof(Calibration));
	JsonbValue	v;
	char	   *method;

	if (!JB_ROOT_IS_OBJECT(jb))
		BadCalibration("The calibration is not a JSON object.");
	if (getKeyJsonValueFromContainer(&jb->root, "method", 6, &v) == NULL || v.type != jbvString)
		BadCalibration("\"method\" must be \"platt\", \"isotonic\" or \"shift\".");
	method = pnstrdup(v.val.string.val, v.val.string.len);
	if (strcmp(method, "platt") == 0)
	{
		cal->method = CALIBRATION_PLATT;
		cal->a = CalNumber(&jb->root, "a");
		cal->b = CalNumber(&jb->root, "b");
	}
	else if (strcmp(method, "shift") == 0)
	{
		cal->method = CALIBRATION_SHIFT;
		cal->b = CalNumber(&jb->root, "shift");
	}
	else if (strcmp(method, "isotonic") == 0)
	{
		int			ny;

		cal->method = CALIBRATION_ISOTONIC;
		cal->x = CalArray(&jb->root, "x", &cal->n);
		cal->y = CalArray(&jb->root, "y", &ny);
		if (ny != cal->n || cal->n == 0)
			BadCalibration("\"x\" and \"y\" must have the same, non-zero, number of elements.");
		for (int i = 0; i < cal->n; i++)
		{
			if (!(cal->x[i] >= 0.0 && cal->x[i] <= 1.0) || !(cal->y[i] >= 0.0 && cal->y[i] <= 1.0))
				BadCalibration("The points of an isotonic fit lie in [0, 1].");
			if (i > 0 && (!(cal->x[i] > cal->x[i - 1]) || cal->y[i] < cal->y[i - 1]))
				BadCalibration("\"x\" must increase and \"y\" must not decrease.");
		}
	}
	else
		BadCalibration("\"method\" must be \"platt\", \"isotonic\" or \"shift\".");
	return cal;
}

Calibration *
CalibrationCached(FunctionCallInfo fcinfo, Jsonb *jb)
{
	return ChurnCached(fcinfo, CHURN_CACHE_CALIBRATION, jb);
}

double
CalibrationApply(const Calibration *cal, double z)
{
	double		p;
	int			lo,
				hi;

	switch (cal->method)
	{
		case CALIBRATION_PLATT:
			return LogisticSigmoid(cal->a * z + cal->b);
		case CALIBRATION_SHIFT:
			return LogisticSigmoid(z + cal->b);
		case CALIBRATION_ISOTONIC:
			p = LogisticSigmoid(z);
			if (p <= cal->x[0])
				return cal->y[0];
			if (p >= cal->x[cal->n - 1])
				return cal->y[cal->n - 1];
			/* the last x_lo <= p, by bisection */
			lo = 0;
			hi = cal->n - 1;
			while (hi - lo > 1)
			{
				int			mid = (lo + hi) / 2;

				if (cal->x[mid] <= p)
					lo = mid;
				else
					hi = mid;
			}
			return cal->y[lo] + (cal->y[hi] - cal->y[lo]) * (p - cal->x[lo]) /
				(cal->x[hi] - cal->x[lo]);
	}
	return NAN;					/* keep the compiler quiet */
}

/* ---------- fitting ---------- */

/* a double in its shortest exact decimal form (JSON has no NaN: callers keep them finite) */
static void
AppendShortest(StringInfo buf, const char *sep, double x)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(x, digits);
	appendStringInfoString(buf, sep);
	appendStringInfoString(buf, digits);
}

typedef struct ScoredLabel
{
	double		p;
	bool		y;
} ScoredLabel;

static int
CompareScored(const void *a, const void *b)
{
	double		x = ((const ScoredLabel *) a)->p;
	double		y = ((const ScoredLabel *) b)->p;

	return (x > y) - (x < y);
}

/* the (probability, label) pairs of two arrays, checked; NULL pairs are skipped */
static ScoredLabel *
ReadPairs(ArrayType *probs, ArrayType *labels, int *n)
{
	int			np = CheckFloatArray(probs, FLOAT8OID, "probs");
	Datum	   *lv;
	bool	   *lnull;
	int			nl;
	bool	   *pnull = NULL;
	Datum	   *pv;
	ScoredLabel *out;

	if (ARR_NDIM(labels) > 1 || ARR_ELEMTYPE(labels) != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("labels must be a one-dimensional boolean array")));
	deconstruct_array(labels, BOOLOID, 1, true, TYPALIGN_CHAR, &lv, &lnull, &nl);
	deconstruct_array(probs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &pv, &pnull, &np);
	if (np != nl)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("probs has %d elements but labels has %d", np, nl)));
	out = palloc(sizeof(ScoredLabel) * Max(np, 1));
	*n = 0;
	for (int i = 0; i < np; i++)
	{
		double		p;

		if (pnull[i] || lnull[i])
			continue;
		p = DatumGetFloat8(pv[i]);
		if (!(p >= 0.0 && p <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("probability %g is not in [0, 1]", p)));
		out[*n].p = p;
		out[*n].y = DatumGetBool(lv[i]);
		(*n)++;
	}
	return out;
}

/* log-odds of a probability, clipped as log_loss clips it */
static double
ClippedLogit(double p)
{
	p = Min(Max(p, 1e-15), 1.0 - 1e-15);
	return log(p / (1.0 - p));
}

/* Platt: Newton's method for the two-parameter logistic regression y ~ z */
static void
FitPlatt(const ScoredLabel *d, int n, double *a, double *b)
{
	double		beta[2] = {1.0, 0.0};
	int			n_pos = 0;

	for (int i = 0; i < n; i++)
		n_pos += d[i].y;
	if (n_pos == 0 || n_pos == n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("calibration needs labels of both classes"),
				 errdetail("All %d labels are %s.", n, n_pos ? "true" : "false")));
	for (int iter = 0; iter < 200; iter++)
	{
		double		g[2] = {0, 0};
		double		h[4] = {0, 0, 0, 0};
		double		d0,
					d1,
					det,
					f0 = 0,
					f1,
					t = 1.0;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
		{
			double		z = ClippedLogit(d[i].p);
			double		eta = beta[0] * z + beta[1];
			double		q = LogisticSigmoid(eta);
			double		r = q - (d[i].y ? 1.0 : 0.0);
			double		w = q * (1.0 - q);

			f0 += Max(eta, 0.0) + log1p(exp(-fabs(eta))) - (d[i].y ? eta : 0.0);
			g[0] += r * z;
			g[1] += r;
			h[0] += w * z * z;
			h[1] += w * z;
			h[3] += w;
		}
		det = h[0] * h[3] - h[1] * h[1];
		if (!(det > 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("Platt scaling has no optimum: the probabilities separate the labels or are all equal")));
		d0 = (h[3] * g[0] - h[1] * g[1]) / det;
		d1 = (h[0] * g[1] - h[1] * g[0]) / det;
		/* halve until the likelihood does not get worse */
		for (int k = 0; k < 60; k++, t *= 0.5)
		{
			f1 = 0;
			for (int i = 0; i < n; i++)
			{
				double		eta = (beta[0] - t * d0) * ClippedLogit(d[i].p) + (beta[1] - t * d1);

				f1 += Max(eta, 0.0) + log1p(exp(-fabs(eta))) - (d[i].y ? eta : 0.0);
			}
			if (f1 <= f0 + 1e-13 * (fabs(f0) + 1))
				break;
		}
		beta[0] -= t * d0;
		beta[1] -= t * d1;
		if (fabs(d0) * sqrt(h[0]) + fabs(d1) * sqrt(h[3]) < 1e-10)
			break;
	}
	*a = beta[0];
	*b = beta[1];
}

/*
 * Isotonic regression by pool-adjacent-violators over the pairs sorted by p,
 * equal p first pooled (their mean label); keeps, as scikit-learn does, the
 * first and last p of each block, so that predictions interpolate linearly
 * inside blocks of equal value only where the fit changes.
 */
static void
FitIsotonic(ScoredLabel *d, int n, StringInfo buf)
{
	double	   *bx_lo = palloc(sizeof(double) * n);
	double	   *bx_hi = palloc(sizeof(double) * n);
	double	   *bsum = palloc(sizeof(double) * n);
	double	   *bw = palloc(sizeof(double) * n);
	int			nb = 0;
	bool		first = true;

	qsort(d, n, sizeof(ScoredLabel), CompareScored);
	for (int i = 0; i < n;)
	{
		int			j = i;
		double		s = 0;

		CHECK_FOR_INTERRUPTS();
		while (j < n && d[j].p == d[i].p)
			s += d[j++].y ? 1.0 : 0.0;
		bx_lo[nb] = bx_hi[nb] = d[i].p;
		bsum[nb] = s;
		bw[nb] = j - i;
		nb++;
		/* pool while the last block's mean falls below the one before */
		while (nb > 1 && bsum[nb - 1] * bw[nb - 2] < bsum[nb - 2] * bw[nb - 1])
		{
			bsum[nb - 2] += bsum[nb - 1];
			bw[nb - 2] += bw[nb - 1];
			bx_hi[nb - 2] = bx_hi[nb - 1];
			nb--;
		}
		i = j;
	}

	appendStringInfoString(buf, "{\"method\": \"isotonic\", \"x\": [");
	for (int b = 0; b < nb; b++)
	{
		AppendShortest(buf, first ? "" : ", ", bx_lo[b]);
		first = false;
		if (bx_hi[b] > bx_lo[b])
			AppendShortest(buf, ", ", bx_hi[b]);
	}
	appendStringInfoString(buf, "], \"y\": [");
	first = true;
	for (int b = 0; b < nb; b++)
	{
		double		m = bsum[b] / bw[b];

		AppendShortest(buf, first ? "" : ", ", m);
		first = false;
		if (bx_hi[b] > bx_lo[b])
			AppendShortest(buf, ", ", m);
	}
	appendStringInfo(buf, "], \"n_rows\": %d}", n);
}

/*
 * Returns a calibration (jsonb) fitted to probabilities and labels: method
 * 'platt' or 'isotonic'.
 */
PG_FUNCTION_INFO_V1(calibration_fit);
Datum
calibration_fit(PG_FUNCTION_ARGS)
{
	int			n;
	ScoredLabel *d = ReadPairs(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), &n);
	char	   *method = text_to_cstring(PG_GETARG_TEXT_PP(2));
	StringInfoData buf;

	if (n == 0)
		PG_RETURN_NULL();
	initStringInfo(&buf);
	if (strcmp(method, "platt") == 0)
	{
		double		a,
					b;

		FitPlatt(d, n, &a, &b);
		appendStringInfoString(&buf, "{\"method\": \"platt\"");
		AppendShortest(&buf, ", \"a\": ", a);
		AppendShortest(&buf, ", \"b\": ", b);
		appendStringInfo(&buf, ", \"n_rows\": %d}", n);
	}
	else if (strcmp(method, "isotonic") == 0)
		FitIsotonic(d, n, &buf);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown calibration method \"%s\"", method),
				 errhint("Use \"platt\" or \"isotonic\".")));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ---------- measures ---------- */

/*
 * The bin of p among n equal-width bins, as scikit-learn's calibration_curve
 * (strategy "uniform"): interior edges i/n as numpy's linspace computes them,
 * a p on an edge in the lower bin.
 */
static int
UniformBin(double p, int bins)
{
	double		step = 1.0 / bins;
	int			b = 0;

	/* searchsorted(edges[1:-1], p, side="left"): edges strictly below p */
	for (int i = 1; i < bins; i++)
		if (i * step < p)
			b = i;
	return b;
}

static int
BinsArg(FunctionCallInfo fcinfo, int arg)
{
	int			bins = PG_GETARG_INT32(arg);

	if (bins < 1 || bins > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be between 1 and 1000, not %d", bins)));
	return bins;
}

/* per bin: the sum of probabilities, of labels, and the count */
typedef struct BinSums
{
	double	   *sp;
	double	   *sy;
	int64	   *cnt;
} BinSums;

static BinSums
SumBins(const ScoredLabel *d, int n, int bins)
{
	BinSums		s;

	s.sp = palloc0(sizeof(double) * bins);
	s.sy = palloc0(sizeof(double) * bins);
	s.cnt = palloc0(sizeof(int64) * bins);
	for (int i = 0; i < n; i++)
	{
		int			b = UniformBin(d[i].p, bins);

		s.sp[b] += d[i].p;
		s.sy[b] += d[i].y ? 1.0 : 0.0;
		s.cnt[b]++;
	}
	return s;
}

/*
 * Returns the reliability curve: per non-empty bin its bounds, rows, mean
 * probability and fraction of positive labels.
 */
PG_FUNCTION_INFO_V1(calibration_curve);
Datum
calibration_curve(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n;
	ScoredLabel *d = ReadPairs(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), &n);
	int			bins = BinsArg(fcinfo, 2);
	BinSums		sums = SumBins(d, n, bins);
	double	   *sp = sums.sp;
	double	   *sy = sums.sy;
	int64	   *cnt = sums.cnt;

	InitMaterializedSRF(fcinfo, 0);
	for (int b = 0; b < bins; b++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		if (cnt[b] == 0)
			continue;
		values[0] = Int32GetDatum(b + 1);
		values[1] = Float8GetDatum((double) b / bins);
		values[2] = Float8GetDatum((double) (b + 1) / bins);
		values[3] = Int64GetDatum(cnt[b]);
		values[4] = Float8GetDatum(sp[b] / cnt[b]);
		values[5] = Float8GetDatum(sy[b] / cnt[b]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Returns {n_rows, base_rate, mean_prob, brier, ece, mce}: the Brier score
 * mean((p - y)^2), the expected calibration error sum_b (n_b / n) |mean p_b -
 * fraction positive_b| over the bins of calibration_curve, and the largest
 * such gap (maximum calibration error).
 */
PG_FUNCTION_INFO_V1(calibration_metrics);
Datum
calibration_metrics(PG_FUNCTION_ARGS)
{
	int			n;
	ScoredLabel *d = ReadPairs(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), &n);
	int			bins = BinsArg(fcinfo, 2);
	BinSums		sums;
	double		brier = 0,
				mp = 0,
				pos = 0,
				ece = 0,
				mce = 0;
	StringInfoData buf;

	if (n == 0)
		PG_RETURN_NULL();
	for (int i = 0; i < n; i++)
	{
		double		y = d[i].y ? 1.0 : 0.0;

		brier += (d[i].p - y) * (d[i].p - y);
		mp += d[i].p;
		pos += y;
	}
	sums = SumBins(d, n, bins);
	for (int b = 0; b < bins; b++)
	{
		double		gap;

		if (sums.cnt[b] == 0)
			continue;
		gap = fabs(sums.sp[b] - sums.sy[b]) / sums.cnt[b];
		ece += gap * sums.cnt[b] / n;
		mce = Max(mce, gap);
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"n_rows\": %d", n);
	AppendShortest(&buf, ", \"base_rate\": ", pos / n);
	AppendShortest(&buf, ", \"mean_prob\": ", mp / n);
	AppendShortest(&buf, ", \"brier\": ", brier / n);
	AppendShortest(&buf, ", \"ece\": ", ece);
	AppendShortest(&buf, ", \"mce\": ", mce);
	appendStringInfo(&buf, ", \"bins\": %d}", bins);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
