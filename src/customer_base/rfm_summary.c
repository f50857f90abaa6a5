/*-------------------------------------------------------------------------
 *
 * rfm_summary.c
 *	  The rfm_summary aggregate: one customer's transactions reduced to the
 *	  frequency, recency, age and mean repeat spend that the customer-base
 *	  models (BG/NBD, Pareto/NBD, Gamma-Gamma) take as input.
 *
 * Definitions follow Fader, Hardie & Lee (2005) and the lifetimes library:
 * transactions are collapsed to one per calendar day (amounts summed), the
 * first day is the trial purchase, frequency counts the other days, recency
 * and t run from the first day to the last purchase day and to the end of
 * the observation period, and monetary is the mean daily sum of the repeat
 * days.  Calendar days are those of the session's TimeZone, which is why the
 * transition function is STABLE.
 *
 * The state keeps one (day, amount) pair per purchase.  The final function
 * sorts them by day and amount before adding up each day, so that the sums,
 * and hence monetary, do not depend on the order in which rows (or parallel
 * workers' states) arrive: floating-point addition is not associative.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "agg_context.h"

typedef struct RfmDay
{
	int32		day;			/* Julian day number in the session TimeZone */
	double		amount;			/* of one purchase; summed per day at the end */
} RfmDay;

typedef struct RfmState
{
	TimestampTz observation_end;	/* as given, to check it never changes */
	int32		end_day;		/* its calendar day */
	int32		unit_days;		/* 1 for 'day', 7 for 'week' */
	bool		sorted;			/* days[] is in strictly increasing order */
	int32		ndays;
	int32		capacity;
	RfmDay	   *days;
} RfmState;

/* header of the serialised state: observation_end, end_day, unit_days, ndays */
#define RFM_SERIAL_HEADER (sizeof(int64) + 3 * sizeof(int32))
#define RFM_SERIAL_DAY (sizeof(int32) + sizeof(float8))

/* 1 for 'day', 7 for 'week'; compared in place, as this runs for every row */
static int32
UnitDays(text *unit)
{
	const char *name = VARDATA_ANY(unit);
	int			len = VARSIZE_ANY_EXHDR(unit);

	if (len == 3 && memcmp(name, "day", 3) == 0)
		return 1;
	if (len == 4 && memcmp(name, "week", 4) == 0)
		return 7;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unit \"%s\" is not recognized", text_to_cstring(unit)),
			 errhint("Valid units are \"day\" and \"week\".")));
	return 0;					/* keep the compiler quiet */
}

/* The calendar day of a timestamp in the session TimeZone, as a Julian day. */
static int32
LocalDay(TimestampTz ts, const char *argname)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, &tz, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite timestamp", argname)));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
}

static RfmState *
NewState(MemoryContext context, TimestampTz observation_end, int32 unit_days)
{
	RfmState   *state = MemoryContextAllocZero(context, sizeof(RfmState));

	state->observation_end = observation_end;
	state->end_day = LocalDay(observation_end, "observation_end");
	state->unit_days = unit_days;
	state->sorted = true;
	state->capacity = 4;		/* most customers buy on few days */
	state->days = MemoryContextAlloc(context, sizeof(RfmDay) * state->capacity);
	return state;
}

static void
CheckSameSettings(const RfmState *state, TimestampTz observation_end, int32 unit_days)
{
	if (state->observation_end != observation_end)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observation_end must be the same for every row of a customer"),
				 errdetail("Found %s and %s.",
						   timestamptz_to_str(state->observation_end),
						   timestamptz_to_str(observation_end))));
	if (state->unit_days != unit_days)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unit must be the same for every row of a customer")));
}

static void
AppendDays(RfmState *state, const RfmDay *days, int32 n)
{
	if (state->ndays + n > state->capacity)
	{
		int64		capacity = Max((int64) state->capacity * 2, (int64) state->ndays + n);

		if (capacity > MaxAllocSize / sizeof(RfmDay))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many purchases for one customer")));
		state->days = repalloc(state->days, sizeof(RfmDay) * capacity);
		state->capacity = (int32) capacity;
	}
	for (int32 i = 0; i < n; i++)
	{
		/* "sorted" means strictly increasing days: nothing to collapse */
		if (state->ndays > 0 && state->days[state->ndays - 1].day >= days[i].day)
			state->sorted = false;
		state->days[state->ndays++] = days[i];
	}
}

/* Transition: adds one transaction (rows with a NULL argument are ignored). */
PG_FUNCTION_INFO_V1(rfm_summary_transfn);
Datum
rfm_summary_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext context = AggregateContext(fcinfo, "rfm_summary_transfn");
	RfmState   *state = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	TimestampTz ts;
	TimestampTz observation_end;
	int32		unit_days;
	RfmDay		purchase;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}

	ts = PG_GETARG_TIMESTAMPTZ(1);
	purchase.amount = PG_GETARG_FLOAT8(2);
	observation_end = PG_GETARG_TIMESTAMPTZ(3);
	unit_days = UnitDays(PG_GETARG_TEXT_PP(4));

	if (state == NULL)
		state = NewState(context, observation_end, unit_days);
	else
		CheckSameSettings(state, observation_end, unit_days);

	if (!isfinite(purchase.amount))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount must be a finite number"),
				 errdetail("The amount of the purchase at %s is %s.",
						   timestamptz_to_str(ts),
						   isnan(purchase.amount) ? "NaN" : "infinite")));

	purchase.day = LocalDay(ts, "ts");
	if (purchase.day <= state->end_day)
		AppendDays(state, &purchase, 1);
	PG_RETURN_POINTER(state);
}

/* Combine: merges the purchase days of two partial states. */
PG_FUNCTION_INFO_V1(rfm_summary_combinefn);
Datum
rfm_summary_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext context = AggregateContext(fcinfo, "rfm_summary_combinefn");
	RfmState   *a = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	RfmState   *b = PG_ARGISNULL(1) ? NULL : (RfmState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* copy, never alias: b belongs to another state */
		a = NewState(context, b->observation_end, b->unit_days);
		a->end_day = b->end_day;
	}
	else
		CheckSameSettings(a, b->observation_end, b->unit_days);
	AppendDays(a, b->days, b->ndays);
	if (!b->sorted)
		a->sorted = false;
	PG_RETURN_POINTER(a);
}

/* Serialise: the state as bytea, for parallel workers. */
PG_FUNCTION_INFO_V1(rfm_summary_serialize);
Datum
rfm_summary_serialize(PG_FUNCTION_ARGS)
{
	RfmState   *state = (RfmState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->observation_end);
	pq_sendint32(&buf, state->end_day);
	pq_sendint32(&buf, state->unit_days);
	pq_sendint32(&buf, state->ndays);
	for (int32 i = 0; i < state->ndays; i++)
	{
		pq_sendint32(&buf, state->days[i].day);
		pq_sendfloat8(&buf, state->days[i].amount);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Deserialise: checks the length before trusting the contents. */
PG_FUNCTION_INFO_V1(rfm_summary_deserialize);
Datum
rfm_summary_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext context = AggregateContext(fcinfo, "rfm_summary_deserialize");
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(bytes);
	StringInfoData buf;
	TimestampTz observation_end;
	RfmState   *state;
	int32		unit_days;
	int32		ndays;

	if (len < RFM_SERIAL_HEADER)
		elog(ERROR, "rfm_summary state has %zu bytes, expected at least %zu",
			 len, (Size) RFM_SERIAL_HEADER);
	/* read in place: the bytes outlive this function */
	buf.data = VARDATA_ANY(bytes);
	buf.len = len;
	buf.maxlen = len;
	buf.cursor = 0;
	observation_end = pq_getmsgint64(&buf);
	state = MemoryContextAllocZero(context, sizeof(RfmState));
	state->observation_end = observation_end;
	state->end_day = pq_getmsgint(&buf, 4);
	unit_days = pq_getmsgint(&buf, 4);
	ndays = pq_getmsgint(&buf, 4);
	if ((unit_days != 1 && unit_days != 7) || ndays < 0 ||
		len != RFM_SERIAL_HEADER + (Size) ndays * RFM_SERIAL_DAY)
		elog(ERROR, "corrupt rfm_summary state");
	state->unit_days = unit_days;
	state->sorted = true;
	state->capacity = Max(ndays, 4);
	state->days = MemoryContextAlloc(context, sizeof(RfmDay) * state->capacity);
	for (int32 i = 0; i < ndays; i++)
	{
		RfmDay		day;

		day.day = pq_getmsgint(&buf, 4);
		day.amount = pq_getmsgfloat8(&buf);
		AppendDays(state, &day, 1);
	}
	PG_RETURN_POINTER(state);
}

static int
CompareDays(const void *a, const void *b)
{
	const RfmDay *x = (const RfmDay *) a;
	const RfmDay *y = (const RfmDay *) b;

	if (x->day != y->day)
		return (x->day > y->day) - (x->day < y->day);
	return (x->amount > y->amount) - (x->amount < y->amount);
}

/* Final: the (frequency, recency, t, monetary) composite, NULL without purchases. */
PG_FUNCTION_INFO_V1(rfm_summary_finalfn);
Datum
rfm_summary_finalfn(PG_FUNCTION_ARGS)
{
	RfmState   *state = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	const RfmDay *days;
	int32		ndays;
	double		repeat_spend = 0.0;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (state == NULL || state->ndays == 0)
		PG_RETURN_NULL();

	/* collapse into a sorted copy: the final function must not change the state */
	days = state->days;
	ndays = state->ndays;
	if (!state->sorted)
	{
		RfmDay	   *sorted = palloc(sizeof(RfmDay) * state->ndays);
		int32		n = 0;

		memcpy(sorted, state->days, sizeof(RfmDay) * state->ndays);
		qsort(sorted, state->ndays, sizeof(RfmDay), CompareDays);
		for (int32 i = 0; i < state->ndays; i++)
		{
			if (n > 0 && sorted[n - 1].day == sorted[i].day)
				sorted[n - 1].amount += sorted[i].amount;
			else
				sorted[n++] = sorted[i];
		}
		days = sorted;
		ndays = n;
	}

	for (int32 i = 1; i < ndays; i++)
		repeat_spend += days[i].amount;

	/* look the result type up once per query, not once per customer */
	tupdesc = (TupleDesc) fcinfo->flinfo->fn_extra;
	if (tupdesc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "rfm_summary must return a composite type");
		tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		fcinfo->flinfo->fn_extra = tupdesc;
		MemoryContextSwitchTo(old);
	}

	values[0] = Int32GetDatum(ndays - 1);
	values[1] = Float8GetDatum((double) (days[ndays - 1].day - days[0].day) /
							   state->unit_days);
	values[2] = Float8GetDatum((double) (state->end_day - days[0].day) /
							   state->unit_days);
	values[3] = Float8GetDatum(ndays > 1 ? repeat_spend / (ndays - 1) : 0.0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
