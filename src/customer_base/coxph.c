/*-------------------------------------------------------------------------
 *
 * coxph.c
 *	  Cox proportional hazards: the coxph_train aggregate (Newton-Raphson on
 *	  the partial likelihood with Efron's or Breslow's handling of tied
 *	  event times), the coxph_model type, and scoring (relative hazard and
 *	  survival at t through the Breslow-type baseline hazard).
 *
 * The partial likelihood couples every subject with everyone still at risk,
 * so the exact fit needs every row: the aggregate state keeps (time, event,
 * features) per row, compactly (doubles, no per-row overhead), and the
 * combine function concatenates states, so parallel workers collect rows
 * and the leader fits.  The rows are sorted by time and then by their whole
 * content before any sum, which makes the result independent of the order
 * they arrived in and of the number of workers.
 *
 * With centred features z_i = x_i - mean, r_i = exp(z_i b), and at an event
 * time with risk set R and d deaths D:
 *	 Breslow:  l += sum_D z_i b - d log S0(R)
 *	 Efron:	   l += sum_D z_i b - sum_{k<d} log(S0(R) - k/d S0(D))
 * with S0(A) = sum_A r_i, and the score and information from the first and
 * second moments the same way (as R's coxph; Therneau & Grambsch 2000,
 * sec. 3.3).  The baseline cumulative hazard at the mean has increments
 * d/S0(R) (Breslow) or sum_{k<d} 1/(S0(R) - k/d S0(D)) (Efron), as R's
 * survfit.coxph; survival at t of features x is exp(-H(t) exp((x-mean) b)).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/int.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "btyd_model.h"
#include "customer_groups.h"
#include "float_array.h"
#include "linalg.h"
#include "survival.h"

#define COXPH_MAGIC 0x52435850	/* "RCXP" */
#define COXPH_VERSION 1
#define COXPH_MAX_FEATURES 1000
#define COXPH_DEFAULT_MAX_ITERATIONS 50

typedef enum CoxTies
{
	COX_TIES_EFRON = 0,
	COX_TIES_BRESLOW = 1
} CoxTies;

#define COXPH_FITTED	0x01
#define COXPH_CONVERGED 0x02

/* the coxph_model value */
typedef struct CoxModel
{
	int32		vl_len_;
	uint32		magic;
	int32		version;
	int32		nfeatures;
	int32		ntimes;			/* baseline hazard steps */
	int32		ties;			/* CoxTies */
	int32		flags;
	int32		iterations;
	double		n;
	double		events;
	double		log_likelihood;
	double		log_likelihood_null;
	double		concordance;
	double		data[FLEXIBLE_ARRAY_MEMBER];	/* coef, std_err, means (nfeatures
												 * each), time, cumhaz (ntimes each) */
} CoxModel;

/* send and recv walk n .. data[] as one run of doubles */
StaticAssertDecl(offsetof(CoxModel, data) == offsetof(CoxModel, n) + 5 * sizeof(double),
				 "the statistics of a CoxModel must precede its arrays without padding");

#define COX_COEF(m) ((m)->data)
#define COX_SE(m) ((m)->data + (m)->nfeatures)
#define COX_MEANS(m) ((m)->data + 2 * (Size) (m)->nfeatures)
#define COX_TIME(m) ((m)->data + 3 * (Size) (m)->nfeatures)
#define COX_CUMHAZ(m) (COX_TIME(m) + (m)->ntimes)

/* the aggregate state: rows of (time, event, features) */
typedef struct CoxState
{
	int32		nfeatures;		/* -1 until the first row */
	int32		ties;
	int32		max_iterations;
	int64		nrows;
	int64		capacity;		/* rows */
	double	   *rows;			/* nrows x (2 + nfeatures) */
} CoxState;

#define COX_ROW_WIDTH(s) (2 + (s)->nfeatures)

static Size
CoxModelSize(int nfeatures, int ntimes)
{
	return add_size(offsetof(CoxModel, data),
					mul_size(sizeof(double), add_size(mul_size(3, nfeatures), mul_size(2, ntimes))));
}

static CoxModel *
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
static void
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

/* options ------------------------------------------------------------------ */

static void
CoxParseOptions(Jsonb *options, int32 *ties, int32 *max_iterations)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	*ties = COX_TIES_EFRON;
	*max_iterations = COXPH_DEFAULT_MAX_ITERATIONS;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coxph_train options must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (strcmp(key, "ties") == 0)
			{
				if (v.type == jbvString && v.val.string.len == 5 &&
					memcmp(v.val.string.val, "efron", 5) == 0)
					*ties = COX_TIES_EFRON;
				else if (v.type == jbvString && v.val.string.len == 7 &&
						 memcmp(v.val.string.val, "breslow", 7) == 0)
					*ties = COX_TIES_BRESLOW;
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"ties\" must be \"efron\" or \"breslow\"")));
			}
			else if (strcmp(key, "max_iterations") == 0)
			{
				double		d = (v.type == jbvNumeric)
					? DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)))
					: NAN;

				if (!(d >= 1.0 && d <= 1000.0) || d != floor(d))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"max_iterations\" must be an integer between 1 and 1000")));
				*max_iterations = (int32) d;
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown coxph_train option \"%s\"", key),
						 errhint("The options are \"ties\" and \"max_iterations\".")));
		}
	}
}

/* the aggregate ------------------------------------------------------------ */

static CoxState *
CoxStateCreate(MemoryContext context)
{
	CoxState   *s = MemoryContextAllocZero(context, sizeof(CoxState));

	s->nfeatures = -1;
	return s;
}

/* room for "more" rows, in the state's context, sizes overflow-checked */
static void
CoxStateReserve(CoxState *s, int64 more, MemoryContext context)
{
	int64		need;
	int64		bytes;

	if (pg_add_s64_overflow(s->nrows, more, &need))
		need = PG_INT64_MAX;
	if (need <= s->capacity)
		return;
	need = Max(need, Max(s->capacity * 2, 1024));
	if (pg_mul_s64_overflow(need, (int64) COX_ROW_WIDTH(s) * (int64) sizeof(double), &bytes) ||
		bytes > (int64) MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("coxph_train holds too many rows"),
				 errdetail("The exact Cox fit keeps every row; %lld rows of %d features do not fit in memory.",
						   (long long) need, s->nfeatures)));
	if (s->rows == NULL)
		s->rows = MemoryContextAllocHuge(context, bytes);
	else
		s->rows = repalloc_huge(s->rows, bytes);
	s->capacity = need;
}

/* Transition of coxph_train: keeps one row. */
PG_FUNCTION_INFO_V1(coxph_train_transfn);
Datum
coxph_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext context = AggregateContext(fcinfo, "coxph_train_transfn");
	CoxState   *s = PG_ARGISNULL(0) ? NULL : (CoxState *) PG_GETARG_POINTER(0);
	double		t;
	ArrayType  *features;
	int			p;
	double	   *row;
	const double *x;

	if (s == NULL)
	{
		Jsonb	   *options = (PG_NARGS() > 4 && !PG_ARGISNULL(4)) ? PG_GETARG_JSONB_P(4) : NULL;

		s = CoxStateCreate(context);
		CoxParseOptions(options, &s->ties, &s->max_iterations);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(s);

	t = PG_GETARG_FLOAT8(1);
	if (!isfinite(t) || t < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("survival time must be a non-negative finite number, not %g", t)));
	features = PG_GETARG_ARRAYTYPE_P(3);
	p = CheckFloatArray(features, FLOAT8OID, "features");
	x = (const double *) ARR_DATA_PTR(features);
	CheckFloat8ArrayFinite(x, p, "features");
	if (s->nfeatures < 0)
	{
		if (p > COXPH_MAX_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("coxph_train supports at most %d features, not %d", COXPH_MAX_FEATURES, p)));
		s->nfeatures = p;
	}
	else if (p != s->nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d", p, s->nfeatures)));

	CoxStateReserve(s, 1, context);
	row = s->rows + s->nrows * COX_ROW_WIDTH(s);
	row[0] = t;
	row[1] = PG_GETARG_BOOL(2) ? 1.0 : 0.0;
	memcpy(row + 2, x, sizeof(double) * p);
	s->nrows++;
	PG_RETURN_POINTER(s);
}

/* Combine of coxph_train: appends the other state's rows. */
PG_FUNCTION_INFO_V1(coxph_train_combine);
Datum
coxph_train_combine(PG_FUNCTION_ARGS)
{
	MemoryContext context = AggregateContext(fcinfo, "coxph_train_combine");
	CoxState   *a = PG_ARGISNULL(0) ? NULL : (CoxState *) PG_GETARG_POINTER(0);
	CoxState   *b = PG_ARGISNULL(1) ? NULL : (CoxState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* copy, never alias: b belongs to another state */
		a = CoxStateCreate(context);
		a->ties = b->ties;
		a->max_iterations = b->max_iterations;
	}
	if (b->nfeatures < 0 || b->nrows == 0)
		PG_RETURN_POINTER(a);
	if (a->nfeatures < 0)
		a->nfeatures = b->nfeatures;
	else if (a->nfeatures != b->nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d",
						b->nfeatures, a->nfeatures)));
	CoxStateReserve(a, b->nrows, context);
	memcpy(a->rows + a->nrows * COX_ROW_WIDTH(a), b->rows,
		   sizeof(double) * b->nrows * COX_ROW_WIDTH(b));
	a->nrows += b->nrows;
	PG_RETURN_POINTER(a);
}

/* header of the serialised state: nfeatures, ties, max_iterations (int32), nrows (int64) */
#define COX_STATE_HEADER (3 * sizeof(int32) + sizeof(int64))

/* Serialise of coxph_train: the rows as bytea. */
PG_FUNCTION_INFO_V1(coxph_train_serialize);
Datum
coxph_train_serialize(PG_FUNCTION_ARGS)
{
	CoxState   *s = (CoxState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int64		nvalues = s->nfeatures < 0 ? 0 : s->nrows * COX_ROW_WIDTH(s);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, s->nfeatures);
	pq_sendint32(&buf, s->ties);
	pq_sendint32(&buf, s->max_iterations);
	pq_sendint64(&buf, s->nfeatures < 0 ? 0 : s->nrows);
	/* the doubles as they are in memory: the workers share the leader's machine */
	if (nvalues > 0)
	{
		if ((Size) nvalues * sizeof(double) > MaxAllocSize - VARHDRSZ - COX_STATE_HEADER - 1)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("coxph_train state of %lld rows is too large to pass between processes",
							(long long) s->nrows),
					 errhint("Disable parallel aggregation for this query (SET max_parallel_workers_per_gather = 0).")));
		appendBinaryStringInfo(&buf, (const char *) s->rows, nvalues * sizeof(double));
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Deserialise of coxph_train: lengths and every value checked. */
PG_FUNCTION_INFO_V1(coxph_train_deserialize);
Datum
coxph_train_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext context = AggregateContext(fcinfo, "coxph_train_deserialize");
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(bytes);
	const char *data = VARDATA_ANY(bytes);
	CoxState   *s = CoxStateCreate(context);
	StringInfoData buf;
	int32		nfeatures;
	int64		nrows;
	int64		nvalues;

	if (len < COX_STATE_HEADER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid coxph_train state")));
	buf.data = (char *) data;
	buf.len = len;
	buf.maxlen = len;
	buf.cursor = 0;
	nfeatures = pq_getmsgint(&buf, 4);
	s->ties = pq_getmsgint(&buf, 4);
	s->max_iterations = pq_getmsgint(&buf, 4);
	nrows = pq_getmsgint64(&buf);
	if ((nfeatures != -1 && (nfeatures < 1 || nfeatures > COXPH_MAX_FEATURES)) ||
		(s->ties != COX_TIES_EFRON && s->ties != COX_TIES_BRESLOW) ||
		s->max_iterations < 1 || s->max_iterations > 1000 || nrows < 0 ||
		(nfeatures == -1 && nrows != 0) ||
		pg_mul_s64_overflow(nrows, 2 + Max(nfeatures, 0), &nvalues) ||
		(Size) nvalues > (len - COX_STATE_HEADER) / sizeof(double) ||
		len - COX_STATE_HEADER != (Size) nvalues * sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid coxph_train state")));
	s->nfeatures = nfeatures;
	if (nrows > 0)
	{
		CoxStateReserve(s, nrows, context);
		memcpy(s->rows, data + COX_STATE_HEADER, nvalues * sizeof(double));
		for (int64 i = 0; i < nrows; i++)
		{
			const double *row = s->rows + i * COX_ROW_WIDTH(s);

			if (!(isfinite(row[0]) && row[0] >= 0.0) || !(row[1] == 0.0 || row[1] == 1.0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("invalid coxph_train state")));
			for (int j = 0; j < nfeatures; j++)
				if (!isfinite(row[2 + j]))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
							 errmsg("invalid coxph_train state")));
		}
		s->nrows = nrows;
	}
	PG_RETURN_POINTER(s);
}

/* the fit ------------------------------------------------------------------- */

static int	sort_width;

/* descending time; then the rest of the row, so the order is unique */
static int
CompareRowsDesc(const void *a, const void *b)
{
	const double *x = a;
	const double *y = b;

	if (x[0] != y[0])
		return x[0] > y[0] ? -1 : 1;
	for (int i = 1; i < sort_width; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

typedef struct CoxData
{
	int64		n;
	int			p;
	const double *time;			/* descending */
	const double *event;
	const double *z;			/* centred features, n x p */
	CoxTies		ties;
} CoxData;

/*
 * Log partial likelihood at beta, with its score u[p] and information
 * info[p x p] when asked (NULL skips them).  With hazard != NULL, also the
 * baseline cumulative hazard increments at the event times (ascending order
 * is restored by the caller).
 */
static double
CoxLogLik(const CoxData *d, const double *beta, double *u, double *info,
		  double *event_time, double *hazard, int *nhazard)
{
	int			p = d->p;
	double		ll = 0.0;
	double		s0 = 0.0;
	double	   *s1 = palloc0(sizeof(double) * p);
	double	   *s2 = palloc0(sizeof(double) * p * p);
	double	   *d1 = palloc(sizeof(double) * p);
	double	   *d2 = palloc(sizeof(double) * p * p);
	double	   *m1 = palloc(sizeof(double) * p);
	bool		want_deriv = (u != NULL);
	int64		i = 0;

	if (want_deriv)
	{
		memset(u, 0, sizeof(double) * p);
		memset(info, 0, sizeof(double) * p * p);
	}
	if (nhazard)
		*nhazard = 0;

	while (i < d->n)
	{
		double		t = d->time[i];
		double		deaths = 0.0;
		double		d0 = 0.0;

		if (want_deriv)
		{
			memset(d1, 0, sizeof(double) * p);
			memset(d2, 0, sizeof(double) * p * p);
		}
		/* everyone at this time joins the risk set; the deaths also form D */
		for (; i < d->n && d->time[i] == t; i++)
		{
			const double *z = d->z + i * p;
			double		eta = 0.0;
			double		r;

			for (int j = 0; j < p; j++)
				eta += z[j] * beta[j];
			r = exp(eta);
			s0 += r;
			if (want_deriv)
				for (int a = 0; a < p; a++)
				{
					s1[a] += r * z[a];
					for (int b = a; b < p; b++)
						s2[a * p + b] += r * z[a] * z[b];
				}
			if (d->event[i] != 0.0)
			{
				deaths += 1.0;
				d0 += r;
				ll += eta;
				if (want_deriv)
					for (int a = 0; a < p; a++)
					{
						u[a] += z[a];
						d1[a] += r * z[a];
						for (int b = a; b < p; b++)
							d2[a * p + b] += r * z[a] * z[b];
					}
			}
		}
		CHECK_FOR_INTERRUPTS();
		if (deaths == 0.0)
			continue;

		{
			int			nd = (d->ties == COX_TIES_EFRON) ? (int) deaths : 1;
			double		weight = (d->ties == COX_TIES_EFRON) ? 1.0 : deaths;
			double		dh = 0.0;

			for (int k = 0; k < nd; k++)
			{
				double		f = (d->ties == COX_TIES_EFRON) ? k / deaths : 0.0;
				double		sk = s0 - f * d0;

				ll -= weight * log(sk);
				dh += weight / sk;
				if (!want_deriv)
					continue;
				for (int a = 0; a < p; a++)
				{
					m1[a] = (s1[a] - f * d1[a]) / sk;
					u[a] -= weight * m1[a];
				}
				for (int a = 0; a < p; a++)
					for (int b = a; b < p; b++)
						info[a * p + b] += weight * ((s2[a * p + b] - f * d2[a * p + b]) / sk - m1[a] * m1[b]);
			}
			if (hazard)
			{
				event_time[*nhazard] = t;
				hazard[(*nhazard)++] = dh;
			}
		}
	}
	if (want_deriv)
		for (int a = 0; a < p; a++)
			for (int b = 0; b < a; b++)
				info[a * p + b] = info[b * p + a];
	pfree(s1);
	pfree(s2);
	pfree(d1);
	pfree(d2);
	pfree(m1);
	return ll;
}

/* Fenwick tree of weights over ranks 1..n, for the concordance */
static void
BitAdd(double *tree, int64 n, int64 k, double w)
{
	for (; k <= n; k += k & (-k))
		tree[k] += w;
}

static double
BitSum(const double *tree, int64 k)
{
	double		s = 0.0;

	for (; k > 0; k -= k & (-k))
		s += tree[k];
	return s;
}

static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* 1-based index of v among the n distinct sorted values */
static int64
RankOf(const double *distinct, int64 n, double v)
{
	int64		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (distinct[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

/*
 * Harrell's concordance as R's coxph reports it: over pairs where the
 * shorter time is an event (an event and a censoring at one time count, the
 * censored subject as the longer; two events at one time do not), the share
 * where the shorter time has the higher risk, ties in risk counting one half.
 * Walking the times downwards with a Fenwick tree of the risks seen makes it
 * O(n log n).
 */
static double
CoxConcordance(const CoxData *d, const double *lp)
{
	int64		n = d->n;
	double	   *sorted = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	double	   *tree = palloc_extended(sizeof(double) * (n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int64		i = 0;
	double		concordant = 0.0,
				discordant = 0.0,
				tied = 0.0;
	double		seen = 0.0;

	int64		ndistinct = 0;

	/* ranks over the distinct risks, so tied risks share one slot */
	memcpy(sorted, lp, sizeof(double) * n);
	qsort(sorted, n, sizeof(double), CompareDoubles);
	for (int64 k = 0; k < n; k++)
		if (ndistinct == 0 || sorted[k] != sorted[ndistinct - 1])
			sorted[ndistinct++] = sorted[k];
	while (i < n)
	{
		double		t = d->time[i];
		int64		end = i;

		while (end < n && d->time[end] == t)
			end++;
		/* the censored at t are later than the events at t */
		for (int64 k = i; k < end; k++)
			if (d->event[k] == 0.0)
			{
				BitAdd(tree, ndistinct, RankOf(sorted, ndistinct, lp[k]), 1.0);
				seen += 1.0;
			}
		for (int64 k = i; k < end; k++)
			if (d->event[k] != 0.0)
			{
				int64		r = RankOf(sorted, ndistinct, lp[k]);
				double		below = BitSum(tree, r - 1);
				double		at_or_below = BitSum(tree, r);

				concordant += below;
				tied += at_or_below - below;
				discordant += seen - at_or_below;
			}
		for (int64 k = i; k < end; k++)
			if (d->event[k] != 0.0)
			{
				BitAdd(tree, ndistinct, RankOf(sorted, ndistinct, lp[k]), 1.0);
				seen += 1.0;
			}
		i = end;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(sorted);
	pfree(tree);
	if (concordant + discordant + tied == 0.0)
		return NAN;
	return (concordant + 0.5 * tied) / (concordant + discordant + tied);
}

static CoxModel *
CoxFit(CoxState *s)
{
	int			p = s->nfeatures;
	int64		n = s->nrows;
	int			width = COX_ROW_WIDTH(s);
	double	   *time;
	double	   *event;
	double	   *z;
	double	   *means;
	double	   *beta;
	double	   *u;
	double	   *info;
	double	   *step;
	double	   *lp;
	double	   *event_time;
	double	   *hazard;
	int			nhazard;
	double		events = 0.0;
	double		ll,
				ll0;
	int			iter;
	bool		converged = false;
	SpdFactor	factor;
	CoxData		d;
	CoxModel   *m;
	double		cum;

	/* a unique order, whatever order the rows and workers came in */
	sort_width = width;
	qsort(s->rows, n, sizeof(double) * width, CompareRowsDesc);

	time = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	event = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	z = palloc_extended(sizeof(double) * n * p, MCXT_ALLOC_HUGE);
	lp = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	means = palloc0(sizeof(double) * p);
	for (int64 i = 0; i < n; i++)
	{
		const double *row = s->rows + i * width;

		time[i] = row[0];
		event[i] = row[1];
		events += row[1];
		for (int j = 0; j < p; j++)
			means[j] += row[2 + j];
	}
	if (events == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coxph_train needs at least one event"),
				 errdetail("All %lld rows are censored, so the partial likelihood is constant.", (long long) n)));
	for (int j = 0; j < p; j++)
		means[j] /= n;
	for (int64 i = 0; i < n; i++)
		for (int j = 0; j < p; j++)
			z[i * p + j] = s->rows[i * width + 2 + j] - means[j];

	d.n = n;
	d.p = p;
	d.time = time;
	d.event = event;
	d.z = z;
	d.ties = (CoxTies) s->ties;

	beta = palloc0(sizeof(double) * p);
	u = palloc(sizeof(double) * p);
	info = palloc(sizeof(double) * p * p);
	step = palloc(sizeof(double) * p);

	/* Newton-Raphson from 0 with step halving, as R's coxph */
	ll0 = ll = CoxLogLik(&d, beta, u, info, NULL, NULL, NULL);
	for (iter = 1; iter <= s->max_iterations; iter++)
	{
		int			bad = SpdFactorize(&factor, info, p);
		double		ll_new;
		double		max_step = 0.0;
		double	   *trial = palloc(sizeof(double) * p);

		if (bad >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature %d is constant or a linear combination of the others among the subjects at risk", bad + 1),
					 errdetail("The information matrix of the partial likelihood is singular."),
					 errhint("Remove the feature, or features that duplicate it.")));
		SpdSolve(&factor, u, step);
		for (int halving = 0;; halving++)
		{
			for (int j = 0; j < p; j++)
				trial[j] = beta[j] + step[j];
			ll_new = CoxLogLik(&d, trial, NULL, NULL, NULL, NULL, NULL);
			if ((isfinite(ll_new) && ll_new >= ll - 1e-12 * fabs(ll)) || halving == 30)
				break;
			for (int j = 0; j < p; j++)
				step[j] *= 0.5;
		}
		for (int j = 0; j < p; j++)
		{
			max_step = Max(max_step, fabs(step[j]) / Max(1.0, fabs(trial[j])));
			beta[j] = trial[j];
		}
		pfree(trial);
		ll_new = CoxLogLik(&d, beta, u, info, NULL, NULL, NULL);
		if (!isfinite(ll_new))
			break;
		if (max_step < 1e-10 || fabs(ll_new - ll) <= 1e-14 * fabs(ll_new))
		{
			ll = ll_new;
			converged = true;
			break;
		}
		ll = ll_new;
	}

	/* baseline cumulative hazard at the means, in ascending time */
	event_time = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	hazard = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	ll = CoxLogLik(&d, beta, u, info, event_time, hazard, &nhazard);

	m = CoxModelCreate(p, nhazard);
	m->ties = s->ties;
	m->flags = COXPH_FITTED | (converged ? COXPH_CONVERGED : 0);
	m->iterations = Min(iter, s->max_iterations);
	m->n = n;
	m->events = events;
	m->log_likelihood = ll;
	m->log_likelihood_null = ll0;
	memcpy(COX_COEF(m), beta, sizeof(double) * p);
	memcpy(COX_MEANS(m), means, sizeof(double) * p);
	if (SpdFactorize(&factor, info, p) < 0)
	{
		SpdInverseDiagonal(&factor, COX_SE(m));
		for (int j = 0; j < p; j++)
			COX_SE(m)[j] = sqrt(COX_SE(m)[j]);
	}
	cum = 0.0;
	for (int k = 0; k < nhazard; k++)
	{
		int			src = nhazard - 1 - k;

		cum += hazard[src];
		COX_TIME(m)[k] = event_time[src];
		COX_CUMHAZ(m)[k] = cum;
	}

	for (int64 i = 0; i < n; i++)
	{
		double		eta = 0.0;

		for (int j = 0; j < p; j++)
			eta += z[i * p + j] * beta[j];
		lp[i] = eta;
	}
	m->concordance = CoxConcordance(&d, lp);

	if (!converged)
		ereport(WARNING,
				(errmsg("coxph_train did not converge after %d iterations", s->max_iterations),
				 errdetail("A coefficient may be infinite: a feature can separate the subjects who had events from those who did not.")));
	CoxModelCheck(m, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE);
	return m;
}

/* Final of coxph_train: the fitted model, NULL without rows. */
PG_FUNCTION_INFO_V1(coxph_train_finalfn);
Datum
coxph_train_finalfn(PG_FUNCTION_ARGS)
{
	CoxState   *s = PG_ARGISNULL(0) ? NULL : (CoxState *) PG_GETARG_POINTER(0);

	if (s == NULL || s->nrows == 0)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(CoxFit(s));
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
		AppendJsonNumber(buf, v);
	}
	appendStringInfoChar(buf, ']');
}

static void
AppendArray(StringInfo buf, const char *key, const double *v, int n)
{
	appendStringInfo(buf, "\"%s\": [", key);
	for (int k = 0; k < n; k++)
	{
		appendStringInfoString(buf, k > 0 ? ", " : "");
		AppendJsonNumber(buf, v[k]);
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
	appendStringInfoString(&buf, ", ");
	AppendArray(&buf, "std_err", COX_SE(m), m->nfeatures);
	AppendColumn(&buf, "hazard_ratio", m, COL_EXP);
	AppendColumn(&buf, "z", m, COL_Z);
	AppendColumn(&buf, "p_value", m, COL_P);
	appendStringInfoString(&buf, ", \"log_likelihood\": ");
	AppendJsonNumber(&buf, m->log_likelihood);
	appendStringInfoString(&buf, ", \"log_likelihood_null\": ");
	AppendJsonNumber(&buf, m->log_likelihood_null);
	appendStringInfoString(&buf, ", \"concordance\": ");
	AppendJsonNumber(&buf, m->concordance);
	appendStringInfoString(&buf, ", \"n\": ");
	AppendJsonNumber(&buf, m->n);
	appendStringInfoString(&buf, ", \"events\": ");
	AppendJsonNumber(&buf, m->events);
	appendStringInfo(&buf, ", \"converged\": %s, \"iterations\": ",
					 fitted ? ((m->flags & COXPH_CONVERGED) ? "true" : "false") : "null");
	if (fitted)
		appendStringInfo(&buf, "%d", m->iterations);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", ");
	AppendArray(&buf, "means", COX_MEANS(m), m->nfeatures);
	appendStringInfoString(&buf, ", \"baseline\": {");
	AppendArray(&buf, "time", COX_TIME(m), m->ntimes);
	appendStringInfoString(&buf, ", ");
	AppendArray(&buf, "cumulative_hazard", COX_CUMHAZ(m), m->ntimes);
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

static bool
GetValue(JsonbContainer *c, const char *key, JsonbValue *v)
{
	JsonbValue *found = getKeyJsonValueFromContainer(c, key, strlen(key), v);

	return found != NULL && found->type != jbvNull;
}

static double
NumberOf(const JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		BadCoxText(psprintf("Key \"%s\" must hold numbers.", key));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static double
GetOptionalNumber(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	return GetValue(c, key, &v) ? NumberOf(&v, key) : NAN;
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
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, PG_GETARG_DATUM(0)));
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
	if (GetValue(root, "kind", &v) &&
		(v.type != jbvString || v.val.string.len != 5 || memcmp(v.val.string.val, "coxph", 5) != 0))
		BadCoxText("Key \"kind\" must be \"coxph\".");
	if (GetValue(root, "ties", &v))
	{
		if (v.type == jbvString && v.val.string.len == 7 && memcmp(v.val.string.val, "breslow", 7) == 0)
			ties = COX_TIES_BRESLOW;
		else if (!(v.type == jbvString && v.val.string.len == 5 && memcmp(v.val.string.val, "efron", 5) == 0))
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
	if (GetValue(root, "baseline", &v))
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
	if (GetValue(root, "converged", &v))
	{
		if (v.type != jbvBool)
			BadCoxText("Key \"converged\" must be true or false.");
		m->flags = COXPH_FITTED | (v.val.boolean ? COXPH_CONVERGED : 0);
		m->iterations = 0;
		if (GetValue(root, "iterations", &v))
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
