/*-------------------------------------------------------------------------
 *
 * coxph_train.c
 *	  Cox proportional hazards: the coxph_train aggregate (its options, the
 *	  rows it keeps, combine and serialisation) and the Newton-Raphson fit
 *	  of the partial likelihood that its final function runs.
 *
 * The partial likelihood couples every subject with everyone still at risk,
 * so the exact fit needs every row: the aggregate state keeps (time, event,
 * features) per row, compactly (doubles, no per-row overhead), and the
 * combine function concatenates states, so parallel workers collect rows
 * and the leader fits.  The rows are sorted by time and then by their whole
 * content before any sum, which makes the result independent of the order
 * they arrived in and of the number of workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/int.h"
#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "btyd_model.h"
#include "customer_args.h"
#include "customer_groups.h"
#include "float_array.h"
#include "linalg.h"
#include "coxph.h"

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
				if (JsonValueIsString(&v, "efron"))
					*ties = COX_TIES_EFRON;
				else if (JsonValueIsString(&v, "breslow"))
					*ties = COX_TIES_BRESLOW;
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"ties\" must be \"efron\" or \"breslow\"")));
			}
			else if (strcmp(key, "max_iterations") == 0)
			{
				double		d = (v.type == jbvNumeric) ? JsonNumberValue(&v) : NAN;

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

	t = CheckNonNegativeFinite(PG_GETARG_FLOAT8(1), "survival time");
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

/*
 * Whether the Newton step from beta, solving info * step = u, is larger
 * than 1e-9 and than sqrt(1e-9) times some coefficient (R's toler.inf), or
 * cannot be taken: the likelihood still rises towards an infinite one.
 */
static bool
InfiniteCoefficient(SpdFactor *factor, const double *info, const double *u,
					const double *beta, int p)
{
	double	   *step = palloc(sizeof(double) * p);
	bool		infinite = false;

	if (SpdFactorize(factor, info, p) >= 0)
		infinite = true;
	else
	{
		SpdSolve(factor, u, step);
		for (int j = 0; j < p && !infinite; j++)
			infinite = !isfinite(step[j]) ||
				(fabs(step[j]) > 1e-9 && fabs(step[j]) > sqrt(1e-9) * fabs(beta[j]));
	}
	pfree(step);
	return infinite;
}

CoxModel *
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

	/*
	 * The loop also stops where the likelihood flattens out towards a
	 * supremum at infinity (a feature separating the subjects with events
	 * from the others): there the log-likelihood reaches 0 in floating
	 * point, or the next Newton step is still large against the
	 * coefficients (R's coxph test for an infinite coefficient).
	 */
	if (converged && (ll == 0.0 || InfiniteCoefficient(&factor, info, u, beta, p)))
		converged = false;

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
				(errmsg("coxph_train did not converge after %d iterations", m->iterations),
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
