/*-------------------------------------------------------------------------
 *
 * survival_km.c
 *	  Kaplan-Meier survival curves: the km_fit aggregate, the survival_curve
 *	  type (JSON text form, binary form with magic and version), survival at
 *	  a time, the median, the long-format table with Greenwood standard
 *	  errors and log-transformed confidence intervals, and the log-rank test.
 *
 * With weighted events d_k and at-risk weight n_k at the distinct times t_k
 * (R's survfit with case weights):
 *	 S(t) = prod_{t_k <= t} (1 - d_k / n_k)
 *	 var(log S(t)) = sum_{t_k <= t} d_k / (n_k (n_k - d_k))		(Greenwood)
 *	 CI = S exp(-+ z sqrt(var)), the upper end capped at 1	(conf.type "log")
 * The aggregate state collapses rows sharing (time, event) into weights, so
 * it is as small as the number of distinct times, and parallel workers merge
 * by adding weights: the exact curve needs every row, but only through
 * these sums.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "btyd_model.h"
#include "customer_args.h"
#include "customer_groups.h"
#include "linalg.h"
#include "model_json.h"
#include "special_functions.h"
#include "survival.h"

SurvivalCurve *
SurvivalCurveBuild(const double *time, const double *events, const double *censored,
				   int ntimes, int sqlstate)
{
	SurvivalCurve *curve;
	Size		size;
	double	   *col_time,
			   *col_risk,
			   *col_event,
			   *col_censor,
			   *col_surv,
			   *col_var;
	double		at_risk = 0.0;
	double		surv = 1.0;
	double		var = 0.0;

	if (ntimes < 0 || ntimes > KM_MAX_TIMES)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("a survival curve can have at most %d distinct times, not %d",
						KM_MAX_TIMES, ntimes)));
	for (int k = 0; k < ntimes; k++)
	{
		if (!isfinite(time[k]) || time[k] < 0.0 || (k > 0 && !(time[k] > time[k - 1])))
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("survival curve times must be finite, non-negative and strictly increasing"),
					 errdetail("Time %d is %g.", k + 1, time[k])));
		if (!isfinite(events[k]) || events[k] < 0.0 ||
			!isfinite(censored[k]) || censored[k] < 0.0 ||
			!(events[k] + censored[k] > 0.0) || !isfinite(events[k] + censored[k]))
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("survival curve weights must be finite and non-negative, and positive in total at each time"),
					 errdetail("At time %g the events weigh %g and the censored %g.",
							   time[k], events[k], censored[k])));
	}

	size = offsetof(SurvivalCurve, data) + (Size) KM_NCOLUMNS * ntimes * sizeof(double);
	curve = palloc0(size);
	SET_VARSIZE(curve, size);
	curve->magic = SURVIVAL_CURVE_MAGIC;
	curve->version = SURVIVAL_CURVE_VERSION;
	curve->ntimes = ntimes;
	col_time = KM_COLUMN(curve, KM_TIME);
	col_risk = KM_COLUMN(curve, KM_N_RISK);
	col_event = KM_COLUMN(curve, KM_N_EVENT);
	col_censor = KM_COLUMN(curve, KM_N_CENSOR);
	col_surv = KM_COLUMN(curve, KM_SURVIVAL);
	col_var = KM_COLUMN(curve, KM_GREENWOOD);

	/* at risk from the end, as sums rather than differences */
	for (int k = ntimes - 1; k >= 0; k--)
	{
		at_risk += events[k] + censored[k];
		if (!isfinite(at_risk))
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("the total weight of a survival curve is out of range")));
		col_risk[k] = at_risk;
	}
	for (int k = 0; k < ntimes; k++)
	{
		double		n = col_risk[k];
		double		d = events[k];

		col_time[k] = time[k];
		col_event[k] = d;
		col_censor[k] = censored[k];
		if (d > 0.0)
		{
			surv *= (n - d) / n;
			/* after everyone at risk has died the variance is not defined */
			var = (n > d) ? var + d / (n * (n - d)) : INFINITY;
		}
		col_surv[k] = surv;
		col_var[k] = var;
	}
	return curve;
}

SurvivalCurve *
SurvivalCurveFromDatum(Datum datum)
{
	SurvivalCurve *curve = (SurvivalCurve *) PG_DETOAST_DATUM(datum);

	if (VARSIZE(curve) < offsetof(SurvivalCurve, data) ||
		curve->magic != SURVIVAL_CURVE_MAGIC || curve->version != SURVIVAL_CURVE_VERSION ||
		curve->ntimes < 0 || curve->ntimes > KM_MAX_TIMES ||
		VARSIZE(curve) != offsetof(SurvivalCurve, data) +
		(Size) KM_NCOLUMNS * curve->ntimes * sizeof(double))
		elog(ERROR, "corrupt survival_curve value");
	return curve;
}

/* index of the last time <= t, -1 when t precedes every time */
static int
LastTimeAtOrBefore(const SurvivalCurve *curve, double t)
{
	const double *time = KM_COLUMN(curve, KM_TIME);
	int			lo = 0,
				hi = curve->ntimes;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (time[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

double
SurvivalCurveAt(const SurvivalCurve *curve, double t)
{
	int			k = LastTimeAtOrBefore(curve, t);

	return k < 0 ? 1.0 : KM_COLUMN(curve, KM_SURVIVAL)[k];
}

/*
 * The median as R's survfit defines it: the first time the curve falls
 * below 0.5; where it sits at 0.5 (within sqrt(DBL_EPSILON)) over an
 * interval, the middle of that interval.  NaN when it never reaches 0.5.
 */
static double
SurvivalCurveMedian(const SurvivalCurve *curve)
{
	const double *time = KM_COLUMN(curve, KM_TIME);
	const double *surv = KM_COLUMN(curve, KM_SURVIVAL);
	double		tol = sqrt(DBL_EPSILON);

	for (int k = 0; k < curve->ntimes; k++)
	{
		if (fabs(surv[k] - 0.5) < tol)
		{
			for (int j = k + 1; j < curve->ntimes; j++)
			{
				if (surv[j] < surv[k] - tol)
					return 0.5 * (time[k] + time[j]);
			}
			return time[k];
		}
		if (surv[k] < 0.5)
			return time[k];
	}
	return NAN;
}

/*
 * The curve of (time, event) groups sorted by key: events and censorings at
 * one time become one entry.
 */
static SurvivalCurve *
CurveFromGroups(CustomerGroups *groups)
{
	double	   *rows;
	int			nrows = CustomerGroupsToRows(groups, &rows);
	double	   *time = palloc(sizeof(double) * Max(nrows, 1));
	double	   *events = palloc0(sizeof(double) * Max(nrows, 1));
	double	   *censored = palloc0(sizeof(double) * Max(nrows, 1));
	int			ntimes = 0;

	for (int i = 0; i < nrows; i++)
	{
		const double *row = rows + 3 * i;

		if (ntimes == 0 || time[ntimes - 1] != row[0])
			time[ntimes++] = row[0];
		if (row[1] != 0.0)
			events[ntimes - 1] += row[2];
		else
			censored[ntimes - 1] += row[2];
	}
	return SurvivalCurveBuild(time, events, censored, ntimes, ERRCODE_INVALID_PARAMETER_VALUE);
}

/* Transition of km_fit: adds one subject's (time, event) with its weight. */
PG_FUNCTION_INFO_V1(km_fit_transfn);
Datum
km_fit_transfn(PG_FUNCTION_ARGS)
{
	CustomerGroups *groups = CustomerGroupsTransitionState(fcinfo, "km_fit_transfn", 2);
	double		key[2];
	double		weight = 1.0;

	if (CustomerRowHasNull(fcinfo, 2))
		PG_RETURN_POINTER(groups);

	key[0] = PG_GETARG_FLOAT8(1);
	key[1] = PG_GETARG_BOOL(2) ? 1.0 : 0.0;
	CheckNonNegativeFinite(key[0], "survival time");
	if (PG_NARGS() > 3)
		weight = CheckNonNegativeFinite(PG_GETARG_FLOAT8(3), "weight");
	if (weight > 0.0)
		CustomerGroupsAdd(groups, key, weight);
	PG_RETURN_POINTER(groups);
}

/* a group (time, event, weight) of a deserialised state, or an error */
static void
CheckStateRow(const double *row)
{
	if (!(isfinite(row[0]) && row[0] >= 0.0) || !(row[1] == 0.0 || row[1] == 1.0) ||
		!(isfinite(row[2]) && row[2] > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid km_fit state")));
}

/* Deserialise of km_fit: (time, event) groups, each checked. */
PG_FUNCTION_INFO_V1(km_fit_deserialize);
Datum
km_fit_deserialize(PG_FUNCTION_ARGS)
{
	return CustomerGroupsDeserializeChecked(fcinfo, "km_fit_deserialize", 2, CheckStateRow);
}

/* Final of km_fit: the Kaplan-Meier curve, NULL without rows. */
PG_FUNCTION_INFO_V1(km_fit_finalfn);
Datum
km_fit_finalfn(PG_FUNCTION_ARGS)
{
	CustomerGroups *groups = CustomerGroupsStateArg(fcinfo);

	if (groups == NULL || CustomerGroupsTotal(groups) == 0.0)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(CurveFromGroups(groups));
}

/* Returns S(t), the Kaplan-Meier estimate at t. */
PG_FUNCTION_INFO_V1(survival_at);
Datum
survival_at(PG_FUNCTION_ARGS)
{
	SurvivalCurve *curve = PG_GETARG_SURVIVAL_CURVE(0);
	double		t = PG_GETARG_FLOAT8(1);

	if (isnan(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time must not be NaN")));
	PG_RETURN_FLOAT8(SurvivalCurveAt(curve, t));
}

/* Returns the median survival time, NULL when the curve never reaches 0.5. */
PG_FUNCTION_INFO_V1(survival_median);
Datum
survival_median(PG_FUNCTION_ARGS)
{
	double		median = SurvivalCurveMedian(PG_GETARG_SURVIVAL_CURVE(0));

	if (isnan(median))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(median);
}

/* z of a two-sided interval of level conf, or an error */
static double
NormalQuantileOfLevel(double conf)
{
	double		p;
	double		lo = 0.0,
				hi = 40.0;

	if (!(conf > 0.0 && conf < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confidence level must be between 0 and 1, not %g", conf)));
	/* erfc(z/sqrt 2) = 1 - conf, by bisection to the last bit */
	p = 1.0 - conf;
	for (int i = 0; i < 200; i++)
	{
		double		mid = 0.5 * (lo + hi);

		if (erfc(mid / M_SQRT2) > p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

/*
 * Returns the curve in long format, one row per distinct time: at risk,
 * events, censored, survival, its Greenwood standard error and the
 * log-transformed confidence interval of level conf.
 */
PG_FUNCTION_INFO_V1(survival_table);
Datum
survival_table(PG_FUNCTION_ARGS)
{
	SurvivalCurve *curve = PG_GETARG_SURVIVAL_CURVE(0);
	double		z = NormalQuantileOfLevel(PG_GETARG_FLOAT8(1));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < curve->ntimes; k++)
	{
		Datum		values[8];
		bool		nulls[8] = {false};
		double		s = KM_COLUMN(curve, KM_SURVIVAL)[k];
		double		v = KM_COLUMN(curve, KM_GREENWOOD)[k];
		double		se_log = sqrt(v);

		values[0] = Float8GetDatum(KM_COLUMN(curve, KM_TIME)[k]);
		values[1] = Float8GetDatum(KM_COLUMN(curve, KM_N_RISK)[k]);
		values[2] = Float8GetDatum(KM_COLUMN(curve, KM_N_EVENT)[k]);
		values[3] = Float8GetDatum(KM_COLUMN(curve, KM_N_CENSOR)[k]);
		values[4] = Float8GetDatum(s);
		if (isfinite(se_log) && s > 0.0)
		{
			values[5] = Float8GetDatum(s * se_log);
			values[6] = Float8GetDatum(s * exp(-z * se_log));
			values[7] = Float8GetDatum(Min(1.0, s * exp(z * se_log)));
		}
		else
			nulls[5] = nulls[6] = nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Returns the log-rank test of equal survival between the groups whose
 * curves are given (R's survdiff with rho = 0): chi-square, degrees of
 * freedom, p-value.
 */
PG_FUNCTION_INFO_V1(logrank_test);
Datum
logrank_test(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int			ngroups;
	Datum	   *elems;
	bool	   *elem_nulls;
	SurvivalCurve **curves;
	int		   *pos;
	double	   *removed;		/* weight of each group no longer at risk */
	double	   *total;
	double	   *o_minus_e;
	double	   *v;
	int			p;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	double		chisq;
	SpdFactor	factor;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("curves must be a one-dimensional array")));
	deconstruct_array(array, ARR_ELEMTYPE(array), -1, false, TYPALIGN_DOUBLE,
					  &elems, &elem_nulls, &ngroups);
	if (ngroups < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the log-rank test needs at least two curves, got %d", ngroups)));
	curves = palloc(sizeof(SurvivalCurve *) * ngroups);
	pos = palloc0(sizeof(int) * ngroups);
	removed = palloc0(sizeof(double) * ngroups);
	total = palloc0(sizeof(double) * ngroups);
	o_minus_e = palloc0(sizeof(double) * ngroups);
	p = ngroups - 1;
	v = palloc0(sizeof(double) * p * p);
	for (int j = 0; j < ngroups; j++)
	{
		if (elem_nulls[j])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("curve %d of the log-rank test is NULL", j + 1)));
		curves[j] = SurvivalCurveFromDatum(elems[j]);
		if (curves[j]->ntimes > 0)
			total[j] = KM_COLUMN(curves[j], KM_N_RISK)[0];
	}

	/* walk the union of the times in order */
	for (;;)
	{
		double		t = INFINITY;
		double		n = 0.0,
					d = 0.0;
		double	   *nj = palloc(sizeof(double) * ngroups);
		double	   *dj = palloc(sizeof(double) * ngroups);

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < ngroups; j++)
			if (pos[j] < curves[j]->ntimes)
				t = Min(t, KM_COLUMN(curves[j], KM_TIME)[pos[j]]);
		if (isinf(t))
			break;
		for (int j = 0; j < ngroups; j++)
		{
			nj[j] = total[j] - removed[j];
			dj[j] = 0.0;
			if (pos[j] < curves[j]->ntimes && KM_COLUMN(curves[j], KM_TIME)[pos[j]] == t)
			{
				dj[j] = KM_COLUMN(curves[j], KM_N_EVENT)[pos[j]];
				removed[j] += dj[j] + KM_COLUMN(curves[j], KM_N_CENSOR)[pos[j]];
				pos[j]++;
			}
			n += nj[j];
			d += dj[j];
		}
		if (d > 0.0)
		{
			/* hypergeometric variance, with R's correction for ties */
			double		f = (n > 1.0) ? d * (n - d) / (n - 1.0) / (n * n) : 0.0;

			for (int j = 0; j < ngroups; j++)
				o_minus_e[j] += dj[j] - d * nj[j] / n;
			for (int a = 0; a < p; a++)
				for (int b = 0; b < p; b++)
					v[a * p + b] += f * nj[a] * ((a == b ? n : 0.0) - nj[b]);
		}
		pfree(nj);
		pfree(dj);
	}

	if (SpdFactorize(&factor, v, p) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the log-rank test is not defined for these curves"),
				 errdetail("A group has no subject at risk at any event time, or no curve has an event.")));
	{
		double	   *x = palloc(sizeof(double) * p);

		SpdSolve(&factor, o_minus_e, x);
		chisq = 0.0;
		for (int a = 0; a < p; a++)
			chisq += o_minus_e[a] * x[a];
	}

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "logrank_test must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Float8GetDatum(chisq);
	values[1] = Int32GetDatum(p);
	values[2] = Float8GetDatum(ChiSquareUpperTail(chisq, p));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* text and binary forms */

/* Output of survival_curve: JSON. */
PG_FUNCTION_INFO_V1(survival_curve_out);
Datum
survival_curve_out(PG_FUNCTION_ARGS)
{
	SurvivalCurve *curve = PG_GETARG_SURVIVAL_CURVE(0);
	int			n = curve->ntimes;
	double		events = 0.0;
	double	   *std_err = palloc(sizeof(double) * Max(n, 1));
	StringInfoData buf;

	for (int k = 0; k < n; k++)
	{
		events += KM_COLUMN(curve, KM_N_EVENT)[k];
		/* std_err of S: S sqrt(Greenwood sum) */
		std_err[k] = KM_COLUMN(curve, KM_SURVIVAL)[k] * sqrt(KM_COLUMN(curve, KM_GREENWOOD)[k]);
	}
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"kind\": \"kaplan_meier\", \"n\": ");
	ModelJsonAppendFloat8(&buf, n > 0 ? KM_COLUMN(curve, KM_N_RISK)[0] : 0.0);
	AppendJsonNumberField(&buf, "events", events);
	AppendJsonNumberField(&buf, "median", SurvivalCurveMedian(curve));
	ModelJsonAppendFloat8Array(&buf, "time", KM_COLUMN(curve, KM_TIME), n);
	ModelJsonAppendFloat8Array(&buf, "n_risk", KM_COLUMN(curve, KM_N_RISK), n);
	ModelJsonAppendFloat8Array(&buf, "n_event", KM_COLUMN(curve, KM_N_EVENT), n);
	ModelJsonAppendFloat8Array(&buf, "n_censor", KM_COLUMN(curve, KM_N_CENSOR), n);
	ModelJsonAppendFloat8Array(&buf, "survival", KM_COLUMN(curve, KM_SURVIVAL), n);
	ModelJsonAppendFloat8Array(&buf, "std_err", std_err, n);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

static void
BadCurveText(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type survival_curve"),
			 errdetail("%s", detail)));
}

/* the numbers of the JSON array under key, palloc'd; *n gets their count */
static double *
GetNumberArray(JsonbContainer *root, const char *key, int *n)
{
	double	   *out = NULL;

	*n = JsonNumberArray(root, key, &out, false, KM_MAX_TIMES, "survival_curve");
	if (*n < 0)
		BadCurveText(psprintf("Key \"%s\" must be an array of numbers.", key));
	return out;
}

/*
 * Input of survival_curve: JSON with arrays time, n_event and n_censor; the
 * other keys of the output (at risk, survival, errors) are derived, so they
 * are ignored rather than trusted.
 */
PG_FUNCTION_INFO_V1(survival_curve_in);
Datum
survival_curve_in(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = ModelJsonParse(PG_GETARG_CSTRING(0));
	JsonbValue	value;
	int			n1,
				n2,
				n3;
	double	   *time,
			   *events,
			   *censored;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		BadCurveText("A survival curve must be a JSON object.");
	/* a null kind is no kaplan_meier either */
	if (getKeyJsonValueFromContainer(&jb->root, "kind", 4, &value) != NULL &&
		!JsonValueIsString(&value, "kaplan_meier"))
		BadCurveText("Key \"kind\" must be \"kaplan_meier\".");
	time = GetNumberArray(&jb->root, "time", &n1);
	events = GetNumberArray(&jb->root, "n_event", &n2);
	censored = GetNumberArray(&jb->root, "n_censor", &n3);
	if (n1 != n2 || n1 != n3)
		BadCurveText("Arrays time, n_event and n_censor must have the same length.");
	PG_RETURN_POINTER(SurvivalCurveBuild(time, events, censored, n1,
										 ERRCODE_INVALID_PARAMETER_VALUE));
}

/* Binary output of survival_curve: magic, version, ntimes, then (time, events, censored) triples. */
PG_FUNCTION_INFO_V1(survival_curve_send);
Datum
survival_curve_send(PG_FUNCTION_ARGS)
{
	SurvivalCurve *curve = PG_GETARG_SURVIVAL_CURVE(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, SURVIVAL_CURVE_MAGIC);
	pq_sendint32(&buf, SURVIVAL_CURVE_VERSION);
	pq_sendint32(&buf, curve->ntimes);
	for (int k = 0; k < curve->ntimes; k++)
	{
		pq_sendfloat8(&buf, KM_COLUMN(curve, KM_TIME)[k]);
		pq_sendfloat8(&buf, KM_COLUMN(curve, KM_N_EVENT)[k]);
		pq_sendfloat8(&buf, KM_COLUMN(curve, KM_N_CENSOR)[k]);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Binary input of survival_curve: checked like the text input. */
PG_FUNCTION_INFO_V1(survival_curve_recv);
Datum
survival_curve_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		ntimes;
	double	   *time,
			   *events,
			   *censored;

	if (buf->len - buf->cursor < 12 ||
		(uint32) pq_getmsgint(buf, 4) != SURVIVAL_CURVE_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value for type survival_curve"),
				 errdetail("The value does not start with the survival curve magic number.")));
	if (pq_getmsgint(buf, 4) != SURVIVAL_CURVE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value for type survival_curve"),
				 errdetail("The binary format version is not supported by this version of the extension.")));
	ntimes = pq_getmsgint(buf, 4);
	/* the length must match before anything is allocated for it */
	if (ntimes < 0 || ntimes > KM_MAX_TIMES ||
		(Size) (buf->len - buf->cursor) != (Size) ntimes * 3 * sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value for type survival_curve"),
				 errdetail("The value has the wrong length for %d times.", ntimes)));
	time = palloc(sizeof(double) * Max(ntimes, 1));
	events = palloc(sizeof(double) * Max(ntimes, 1));
	censored = palloc(sizeof(double) * Max(ntimes, 1));
	for (int k = 0; k < ntimes; k++)
	{
		time[k] = pq_getmsgfloat8(buf);
		events[k] = pq_getmsgfloat8(buf);
		censored[k] = pq_getmsgfloat8(buf);
	}
	pq_getmsgend(buf);
	PG_RETURN_POINTER(SurvivalCurveBuild(time, events, censored, ntimes,
										 ERRCODE_INVALID_BINARY_REPRESENTATION));
}
