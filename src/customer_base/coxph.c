/*-------------------------------------------------------------------------
 *
 * coxph.c
 *	  Cox proportional hazards: the coxph_model value (created, checked and
 *	  read in one place), scoring (relative hazard and survival at t through
 *	  the Breslow-type baseline hazard) and its text (JSON) and binary forms.
 *	  The coxph_train aggregate and the fit are in coxph_train.c, the partial
 *	  likelihood in coxph_likelihood.c.
 *
 * Survival at t of features x is exp(-H(t) exp((x - mean) b)), with H the
 * baseline cumulative hazard at the mean features (as R's survfit.coxph).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "btyd_model.h"
#include "float_array.h"
#include "coxph.h"
#include "model_json.h"

static Size
CoxModelSize(int nfeatures, int ntimes)
{
	return add_size(offsetof(CoxModel, data),
					mul_size(sizeof(double), add_size(mul_size(3, nfeatures), mul_size(2, ntimes))));
}

CoxModel *
CoxModelCreate(int nfeatures, int ntimes)
{
	Size		size = CoxModelSize(nfeatures, ntimes);
	CoxModel   *m;

	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a Cox model with %d features and %d baseline times is too large",
						nfeatures, ntimes)));
	m = palloc0(size);
	SET_VARSIZE(m, size);
	m->magic = COXPH_MAGIC;
	m->version = COXPH_VERSION;
	m->nfeatures = nfeatures;
	m->ntimes = ntimes;
	m->iterations = -1;
	m->n = m->events = m->log_likelihood = m->log_likelihood_null = m->concordance = NAN;
	for (int j = 0; j < nfeatures; j++)
		COX_SE(m)[j] = NAN;
	return m;
}

static CoxModel *
CoxModelFromDatum(Datum datum)
{
	CoxModel   *m = (CoxModel *) PG_DETOAST_DATUM(datum);

	if (VARSIZE(m) < offsetof(CoxModel, data) || m->magic != COXPH_MAGIC ||
		m->version != COXPH_VERSION || m->nfeatures < 1 || m->nfeatures > COXPH_MAX_FEATURES ||
		m->ntimes < 0 || m->ntimes > (int32) (MaxAllocSize / (2 * sizeof(double))) ||
		VARSIZE(m) != CoxModelSize(m->nfeatures, m->ntimes))
		elog(ERROR, "corrupt coxph_model value");
	return m;
}

/*
 * Check a model's values, whatever path they came by (fit, JSON, binary):
 * finite coefficients and means, standard errors finite or unknown, baseline
 * times strictly increasing and its cumulative hazard finite, non-negative
 * and non-decreasing.
 */
void
CoxModelCheck(const CoxModel *m, int sqlstate)
{
	const char *problem = NULL;

	if (m->ties != COX_TIES_EFRON && m->ties != COX_TIES_BRESLOW)
		problem = "The tie method is unknown.";
	else if ((m->flags & ~(COXPH_FITTED | COXPH_CONVERGED)) != 0 ||
			 ((m->flags & COXPH_CONVERGED) && !(m->flags & COXPH_FITTED)))
		problem = "The flags are not valid.";
	else if ((m->flags & COXPH_FITTED) ? m->iterations < 0 : m->iterations != -1)
		problem = "The iteration count is not valid.";
	for (int j = 0; problem == NULL && j < m->nfeatures; j++)
	{
		if (!isfinite(COX_COEF(m)[j]) || !isfinite(COX_MEANS(m)[j]))
			problem = "Coefficients and means must be finite numbers.";
		else if (isinf(COX_SE(m)[j]) || COX_SE(m)[j] < 0.0)
			problem = "Standard errors must be non-negative finite numbers or unknown.";
	}
	for (int k = 0; problem == NULL && k < m->ntimes; k++)
	{
		double		t = COX_TIME(m)[k];
		double		h = COX_CUMHAZ(m)[k];

		if (!isfinite(t) || t < 0.0 || (k > 0 && !(t > COX_TIME(m)[k - 1])))
			problem = "Baseline times must be finite, non-negative and strictly increasing.";
		else if (!isfinite(h) || h < 0.0 || (k > 0 && h < COX_CUMHAZ(m)[k - 1]))
			problem = "The baseline cumulative hazard must be finite, non-negative and non-decreasing.";
	}
	if (problem == NULL &&
		(isinf(m->n) || isinf(m->events) || isinf(m->log_likelihood) ||
		 isinf(m->log_likelihood_null) || isinf(m->concordance)))
		problem = "Fit statistics must be finite numbers or unknown.";
	if (problem != NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid coxph_model value"),
				 errdetail("%s", problem)));
}


/* scoring ------------------------------------------------------------------- */

static const double *
CoxFeatures(const CoxModel *m, ArrayType *features)
{
	int			p = Float8ArrayLength(features);

	if (p != m->nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but the model expects %d",
						p < 0 ? 0 : p, m->nfeatures),
				 p < 0 ? errdetail("Features must be a one-dimensional float8[] without NULLs.") : 0));
	CheckFloat8ArrayFinite((const double *) ARR_DATA_PTR(features), p, "features");
	return (const double *) ARR_DATA_PTR(features);
}

/* Returns exp(x b): the hazard relative to a subject with all features 0. */
PG_FUNCTION_INFO_V1(coxph_relative_hazard);
Datum
coxph_relative_hazard(PG_FUNCTION_ARGS)
{
	CoxModel   *m = CoxModelFromDatum(PG_GETARG_DATUM(0));
	const double *x = CoxFeatures(m, PG_GETARG_ARRAYTYPE_P(1));
	double		eta = 0.0;
	double		result;

	for (int j = 0; j < m->nfeatures; j++)
		eta += x[j] * COX_COEF(m)[j];
	result = exp(eta);
	if (!isfinite(result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("relative hazard is out of range")));
	PG_RETURN_FLOAT8(result);
}

/* Returns S(t | x) = exp(-H(t) exp((x - mean) b)). */
PG_FUNCTION_INFO_V1(coxph_survival);
Datum
coxph_survival(PG_FUNCTION_ARGS)
{
	CoxModel   *m = CoxModelFromDatum(PG_GETARG_DATUM(0));
	const double *x = CoxFeatures(m, PG_GETARG_ARRAYTYPE_P(1));
	double		t = PG_GETARG_FLOAT8(2);
	double		eta = 0.0;
	double		h = 0.0;
	int			lo = 0,
				hi = m->ntimes;

	if (isnan(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time must not be NaN")));
	if (m->ntimes == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model has no baseline hazard"),
				 errdetail("Survival needs the baseline of a fitted model; this one was typed in without one.")));
	for (int j = 0; j < m->nfeatures; j++)
		eta += (x[j] - COX_MEANS(m)[j]) * COX_COEF(m)[j];
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (COX_TIME(m)[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0)
		h = COX_CUMHAZ(m)[lo - 1];
	PG_RETURN_FLOAT8(exp(-h * exp(eta)));
}

/* text and binary forms ------------------------------------------------------ */

typedef enum
{
	COL_PLAIN,
	COL_EXP,
	COL_Z,
	COL_P
} ColumnKind;

static void
AppendColumn(StringInfo buf, const char *key, const CoxModel *m, ColumnKind kind)
{
	appendStringInfo(buf, ", \"%s\": [", key);
	for (int j = 0; j < m->nfeatures; j++)
	{
		double		b = COX_COEF(m)[j];
		double		se = COX_SE(m)[j];
		double		v;

		switch (kind)
		{
			case COL_EXP:
				v = exp(b);
				break;
			case COL_Z:
				v = b / se;
				break;
			case COL_P:
				/* two-sided normal p-value, 2 Phi(-|z|) = erfc(|z| / sqrt 2) */
				v = erfc(fabs(b / se) / M_SQRT2);
				break;
			default:
				v = b;
				break;
		}
		appendStringInfoString(buf, j > 0 ? ", " : "");
		ModelJsonAppendFloat8(buf, v);
	}
	appendStringInfoChar(buf, ']');
}

/* Output of coxph_model: JSON. */
PG_FUNCTION_INFO_V1(coxph_model_out);
Datum
coxph_model_out(PG_FUNCTION_ARGS)
{
	CoxModel   *m = CoxModelFromDatum(PG_GETARG_DATUM(0));
	bool		fitted = (m->flags & COXPH_FITTED) != 0;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"coxph\", \"ties\": \"%s\"",
					 m->ties == COX_TIES_BRESLOW ? "breslow" : "efron");
	AppendColumn(&buf, "coefficients", m, COL_PLAIN);
	ModelJsonAppendFloat8Array(&buf, "std_err", COX_SE(m), m->nfeatures);
	AppendColumn(&buf, "hazard_ratio", m, COL_EXP);
	AppendColumn(&buf, "z", m, COL_Z);
	AppendColumn(&buf, "p_value", m, COL_P);
	AppendJsonNumberField(&buf, "log_likelihood", m->log_likelihood);
	AppendJsonNumberField(&buf, "log_likelihood_null", m->log_likelihood_null);
	AppendJsonNumberField(&buf, "concordance", m->concordance);
	AppendJsonNumberField(&buf, "n", m->n);
	AppendJsonNumberField(&buf, "events", m->events);
	AppendJsonFitStatus(&buf, fitted, (m->flags & COXPH_CONVERGED) != 0, m->iterations);
	ModelJsonAppendFloat8Array(&buf, "means", COX_MEANS(m), m->nfeatures);
	/* the baseline is an object of two arrays: its first key has no comma */
	appendStringInfoString(&buf, ", \"baseline\": {\"time\": [");
	for (int k = 0; k < m->ntimes; k++)
	{
		appendStringInfoString(&buf, k > 0 ? ", " : "");
		ModelJsonAppendFloat8(&buf, COX_TIME(m)[k]);
	}
	appendStringInfoChar(&buf, ']');
	ModelJsonAppendFloat8Array(&buf, "cumulative_hazard", COX_CUMHAZ(m), m->ntimes);
	appendStringInfoString(&buf, "}}");
	PG_RETURN_CSTRING(buf.data);
}

static void
BadCoxText(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type coxph_model"),
			 errdetail("%s", detail)));
}

static double
NumberOf(const JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		BadCoxText(psprintf("Key \"%s\" must hold numbers.", key));
	return JsonNumberValue(v);
}

static double
GetOptionalNumber(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	return ModelJsonOptionalKey(c, key, &v) ? NumberOf(&v, key) : NAN;
}

/*
 * Input of coxph_model: JSON with at least "coefficients"; std_err, means
 * (default 0), baseline and the fit statistics are optional.  The derived
 * keys (hazard_ratio, z, p_value) are ignored.
 */
PG_FUNCTION_INFO_V1(coxph_model_in);
Datum
coxph_model_in(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = ModelJsonParse(PG_GETARG_CSTRING(0));
	JsonbContainer *root = &jb->root;
	JsonbValue	v;
	double	   *coef = NULL,
			   *se = NULL,
			   *means = NULL,
			   *btime = NULL,
			   *bhaz = NULL;
	int			p,
				nse,
				nmeans,
				nt = 0;
	int			ties = COX_TIES_EFRON;
	CoxModel   *m;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		BadCoxText("A model must be a JSON object.");
	if (ModelJsonOptionalKey(root, "kind", &v) && !JsonValueIsString(&v, "coxph"))
		BadCoxText("Key \"kind\" must be \"coxph\".");
	if (ModelJsonOptionalKey(root, "ties", &v))
	{
		if (JsonValueIsString(&v, "breslow"))
			ties = COX_TIES_BRESLOW;
		else if (!JsonValueIsString(&v, "efron"))
			BadCoxText("Key \"ties\" must be \"efron\" or \"breslow\".");
	}
	p = JsonNumberArray(root, "coefficients", &coef, false, COXPH_MAX_FEATURES, "coxph_model");
	if (p < 1)
		BadCoxText("Key \"coefficients\" must be a non-empty array of numbers.");
	nse = JsonNumberArray(root, "std_err", &se, true, COXPH_MAX_FEATURES, "coxph_model");
	if (nse >= 0 && nse != p)
		BadCoxText("Key \"std_err\" must have one value per coefficient.");
	nmeans = JsonNumberArray(root, "means", &means, false, COXPH_MAX_FEATURES, "coxph_model");
	if (nmeans >= 0 && nmeans != p)
		BadCoxText("Key \"means\" must have one value per coefficient.");
	if (ModelJsonOptionalKey(root, "baseline", &v))
	{
		int			max = (int) Min((Size) PG_INT32_MAX, MaxAllocSize / (2 * sizeof(double)) - 3 * COXPH_MAX_FEATURES);
		int			n1,
					n2;

		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			BadCoxText("Key \"baseline\" must be an object with arrays time and cumulative_hazard.");
		n1 = JsonNumberArray(v.val.binary.data, "time", &btime, false, max, "coxph_model");
		n2 = JsonNumberArray(v.val.binary.data, "cumulative_hazard", &bhaz, false, max, "coxph_model");
		if (n1 < 0 || n1 != n2)
			BadCoxText("Key \"baseline\" must hold arrays time and cumulative_hazard of one length.");
		nt = n1;
	}

	m = CoxModelCreate(p, nt);
	m->ties = ties;
	memcpy(COX_COEF(m), coef, sizeof(double) * p);
	if (se)
		memcpy(COX_SE(m), se, sizeof(double) * p);
	if (means)
		memcpy(COX_MEANS(m), means, sizeof(double) * p);
	if (nt > 0)
	{
		memcpy(COX_TIME(m), btime, sizeof(double) * nt);
		memcpy(COX_CUMHAZ(m), bhaz, sizeof(double) * nt);
	}
	m->log_likelihood = GetOptionalNumber(root, "log_likelihood");
	m->log_likelihood_null = GetOptionalNumber(root, "log_likelihood_null");
	m->concordance = GetOptionalNumber(root, "concordance");
	m->n = GetOptionalNumber(root, "n");
	m->events = GetOptionalNumber(root, "events");
	if (ModelJsonOptionalKey(root, "converged", &v))
	{
		if (v.type != jbvBool)
			BadCoxText("Key \"converged\" must be true or false.");
		m->flags = COXPH_FITTED | (v.val.boolean ? COXPH_CONVERGED : 0);
		m->iterations = 0;
		if (ModelJsonOptionalKey(root, "iterations", &v))
		{
			double		it = NumberOf(&v, "iterations");

			if (!(it >= 0 && it <= PG_INT32_MAX) || it != floor(it))
				BadCoxText("Key \"iterations\" must be a non-negative integer.");
			m->iterations = (int32) it;
		}
	}
	CoxModelCheck(m, ERRCODE_INVALID_PARAMETER_VALUE);
	PG_RETURN_POINTER(m);
}

/* Binary output of coxph_model: the value's own layout, in network byte order. */
PG_FUNCTION_INFO_V1(coxph_model_send);
Datum
coxph_model_send(PG_FUNCTION_ARGS)
{
	CoxModel   *m = CoxModelFromDatum(PG_GETARG_DATUM(0));
	Size		ndoubles = 5 + 3 * (Size) m->nfeatures + 2 * (Size) m->ntimes;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, COXPH_MAGIC);
	pq_sendint32(&buf, COXPH_VERSION);
	pq_sendint32(&buf, m->nfeatures);
	pq_sendint32(&buf, m->ntimes);
	pq_sendint32(&buf, m->ties);
	pq_sendint32(&buf, m->flags);
	pq_sendint32(&buf, m->iterations);
	for (Size k = 0; k < ndoubles; k++)
		pq_sendfloat8(&buf, (&m->n)[k]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Binary input of coxph_model: checked like the text input. */
PG_FUNCTION_INFO_V1(coxph_model_recv);
Datum
coxph_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		p,
				nt;
	Size		ndoubles;
	CoxModel   *m;

#define BAD_COX_BINARY(detail) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION), \
			 errmsg("invalid binary value for type coxph_model"), \
			 errdetail(detail)))

	if (buf->len - buf->cursor < 7 * 4)
		BAD_COX_BINARY("The value is too short.");
	if ((uint32) pq_getmsgint(buf, 4) != COXPH_MAGIC)
		BAD_COX_BINARY("The value does not start with the model magic number.");
	if (pq_getmsgint(buf, 4) != COXPH_VERSION)
		BAD_COX_BINARY("The binary format version is not supported by this version of the extension.");
	p = pq_getmsgint(buf, 4);
	nt = pq_getmsgint(buf, 4);
	if (p < 1 || p > COXPH_MAX_FEATURES ||
		nt < 0 || (Size) nt > (MaxAllocSize / sizeof(double) - 3 * COXPH_MAX_FEATURES - 5) / 2)
		BAD_COX_BINARY("The number of features or baseline times is out of range.");
	ndoubles = 5 + 3 * (Size) p + 2 * (Size) nt;
	if ((Size) (buf->len - buf->cursor) != 3 * 4 + ndoubles * sizeof(double))
		BAD_COX_BINARY("The value has the wrong length.");
	m = CoxModelCreate(p, nt);
	m->ties = pq_getmsgint(buf, 4);
	m->flags = pq_getmsgint(buf, 4);
	m->iterations = pq_getmsgint(buf, 4);
	for (Size k = 0; k < ndoubles; k++)
		(&m->n)[k] = pq_getmsgfloat8(buf);
	pq_getmsgend(buf);
	if (!(m->flags & COXPH_FITTED))
		m->iterations = -1;
	CoxModelCheck(m, ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_POINTER(m);
}
