/*-------------------------------------------------------------------------
 *
 * periods.c
 *	  Calendar periods of timestamps in the session time zone.
 *
 * date_trunc() calls pg_localtime() for every value, which is most of the
 * cost of an aggregate over ten million events.  We ask the time zone
 * library instead for the stretch of UTC time over which the zone keeps its
 * current offset (pg_next_dst_boundary(), the same call DetermineTimeZoneOffset
 * uses) and remember a few such stretches; inside one, the local date is a
 * division.  The answers are those of date_trunc() in the session time zone,
 * DST transitions, historical offsets and pre-1970 dates included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "name_table.h"
#include "periods.h"

/* 2000-01-03, the first Monday on or after the PostgreSQL epoch */
#define FIRST_MONDAY 2

static inline int64
FloorDiv(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static const NamedValue period_names[] = {
	{"day", PERIOD_DAY}, {"week", PERIOD_WEEK}, {"month", PERIOD_MONTH},
	{"quarter", PERIOD_QUARTER}, {"hour", PERIOD_HOUR}
};

PeriodKind
ParsePeriodKind(const char *name)
{
	return (PeriodKind) ParseName(name, period_names, lengthof(period_names), true, "period",
								  "Use \"hour\", \"day\", \"week\", \"month\" or \"quarter\".");
}

const char *
PeriodKindName(PeriodKind kind)
{
	switch (kind)
	{
		case PERIOD_DAY:
			return "day";
		case PERIOD_WEEK:
			return "week";
		case PERIOD_MONTH:
			return "month";
		case PERIOD_QUARTER:
			return "quarter";
		case PERIOD_HOUR:
			return "hour";
	}
	elog(ERROR, "unrecognized period kind %d", (int) kind);
	return NULL;
}

void
PeriodCalcInit(PeriodCalc *calc, PeriodKind kind)
{
	memset(calc, 0, sizeof(*calc));
	calc->kind = kind;
	calc->tz = session_timezone;
	calc->last_date = PG_INT32_MIN;
}

/* seconds between the Unix and the PostgreSQL epochs */
#define EPOCH_DIFF_SECS ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* The instant (as a TimestampTz) of Unix second t, saturating. */
static TimestampTz
SecondsToTimestamp(pg_time_t t)
{
	int64		secs = (int64) t - EPOCH_DIFF_SECS;

	if (secs >= PG_INT64_MAX / USECS_PER_SEC)
		return PG_INT64_MAX;
	if (secs <= PG_INT64_MIN / USECS_PER_SEC)
		return PG_INT64_MIN;
	return secs * USECS_PER_SEC;
}

/*
 * The offset of the session zone at ts, remembering the stretch of time up
 * to the zone's next transition.  A hit costs two comparisons per window.
 */
static int64
OffsetAt(PeriodCalc *calc, TimestampTz ts)
{
	long int	before_gmtoff;
	long int	after_gmtoff;
	int			before_isdst;
	int			after_isdst;
	pg_time_t	t;
	pg_time_t	boundary;
	TimestampTz lo;
	TimestampTz hi;
	int			r;
	OffsetWindow *w;

	/* SET TimeZone inside a query would invalidate what we remember */
	if (calc->tz != session_timezone)
	{
		calc->tz = session_timezone;
		calc->nwindows = 0;
	}

	for (int i = 0; i < calc->nwindows; i++)
	{
		w = &calc->windows[i];
		if (ts >= w->lo && ts < w->hi)
			return w->offset_usec;
	}

	/* the whole second, rounded down (also before 1970) */
	t = (pg_time_t) FloorDiv(ts, USECS_PER_SEC) + EPOCH_DIFF_SECS;
	r = pg_next_dst_boundary(&t, &before_gmtoff, &before_isdst, &boundary,
							 &after_gmtoff, &after_isdst, session_timezone);
	if (r < 0)
	{
		/* not expected from the time zone library; ask pg_localtime() */
		struct pg_tm *tm = pg_localtime(&t, session_timezone);

		if (tm == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		return (int64) tm->tm_gmtoff * USECS_PER_SEC;
	}
	/* every instant from the start of second t to the transition */
	lo = SecondsToTimestamp(t);
	hi = r == 0 ? PG_INT64_MAX : SecondsToTimestamp(boundary);

	/* the same stretch seen from an earlier instant: widen it */
	for (int i = 0; i < calc->nwindows; i++)
	{
		w = &calc->windows[i];
		if (w->hi == hi && w->offset_usec == (int64) before_gmtoff * USECS_PER_SEC)
		{
			w->lo = Min(w->lo, lo);
			return w->offset_usec;
		}
	}

	if (calc->nwindows < PERIOD_CACHE_SLOTS)
		w = &calc->windows[calc->nwindows++];
	else
	{
		w = &calc->windows[calc->next_victim];
		calc->next_victim = (calc->next_victim + 1) % PERIOD_CACHE_SLOTS;
	}
	w->lo = lo;
	w->hi = hi;
	w->offset_usec = (int64) before_gmtoff * USECS_PER_SEC;
	return w->offset_usec;
}

int32
PeriodIndex(PeriodCalc *calc, TimestampTz ts)
{
	int64		local;
	int32		date;
	int			year,
				month,
				day;

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot place an infinite timestamp in a period")));

	local = ts + OffsetAt(calc, ts);
	date = (int32) FloorDiv(local, USECS_PER_DAY);

	switch (calc->kind)
	{
		case PERIOD_HOUR:
			if (!PeriodInSpan(PERIOD_HOUR, FloorDiv(local, USECS_PER_HOUR)))
				ereport(ERROR,
						(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						 errmsg("timestamp %s is out of range for hour periods",
								timestamptz_to_str(ts)),
						 errdetail("Hour periods run from the year 1720 to the year 14177.")));
			return (int32) FloorDiv(local, USECS_PER_HOUR);
		case PERIOD_DAY:
			return date;
		case PERIOD_WEEK:
			return (int32) FloorDiv((int64) date - FIRST_MONDAY, 7);
		case PERIOD_MONTH:
			if (date != calc->last_date)
			{
				j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
				calc->last_date = date;
				calc->last_month = (year - 2000) * MONTHS_PER_YEAR + (month - 1);
			}
			return calc->last_month;
		case PERIOD_QUARTER:
			if (date != calc->last_date)
			{
				j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
				calc->last_date = date;
				calc->last_month = (year - 2000) * MONTHS_PER_YEAR + (month - 1);
			}
			return (int32) FloorDiv(calc->last_month, 3);
	}
	elog(ERROR, "unrecognized period kind %d", (int) calc->kind);
	return 0;
}

int32
PeriodOfDay(PeriodKind kind, int32 day)
{
	int			year,
				month,
				mday;

	switch (kind)
	{
		case PERIOD_DAY:
			return day;
		case PERIOD_WEEK:
			return (int32) FloorDiv((int64) day - FIRST_MONDAY, 7);
		case PERIOD_MONTH:
			j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
			return (year - 2000) * MONTHS_PER_YEAR + (month - 1);
		case PERIOD_QUARTER:
			j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
			return (int32) FloorDiv((int64) (year - 2000) * MONTHS_PER_YEAR + (month - 1), 3);
		case PERIOD_HOUR:
			/* callers pass validated days; the first hour may leave int32 */
			return (int32) Max(Min((int64) day * 24, PG_INT32_MAX), PG_INT32_MIN);
	}
	elog(ERROR, "unrecognized period kind %d", (int) kind);
	return 0;
}

int32
StickinessGroupOf(PeriodKind group, int32 unit)
{
	if (group == PERIOD_DAY)
		return (int32) FloorDiv(unit, 24);
	return PeriodOfDay(group, unit);
}

bool
PeriodInSpan(PeriodKind kind, int64 period)
{
	if (kind < PERIOD_DAY || kind > PERIOD_KIND_MAX ||
		period < PERIOD_NUMBER_MIN || period > PERIOD_NUMBER_MAX)
		return false;
	if (kind == PERIOD_HOUR)
		return true;
	return period >= PeriodOfDay(kind, PERIOD_NUMBER_MIN) &&
		period <= PeriodOfDay(kind, PERIOD_NUMBER_MAX);
}

void
PeriodCheckDated(PeriodKind kind, const char *what)
{
	if (kind == PERIOD_HOUR)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s takes periods of a day or longer, not \"hour\"", what),
				 errdetail("Its periods are reported by their first date."),
				 errhint("period_start_time gives the start of an hour.")));
}

DateADT
PeriodStartDate(PeriodKind kind, int32 index)
{
	int64		months;

	switch (kind)
	{
		case PERIOD_DAY:
			return index;
		case PERIOD_WEEK:
			return (DateADT) ((int64) index * 7 + FIRST_MONDAY);
		case PERIOD_MONTH:
			months = (int64) index + 2000 * MONTHS_PER_YEAR;
			return date2j((int) FloorDiv(months, MONTHS_PER_YEAR),
						  (int) (months - FloorDiv(months, MONTHS_PER_YEAR) * MONTHS_PER_YEAR) + 1,
						  1) - POSTGRES_EPOCH_JDATE;
		case PERIOD_QUARTER:
			return PeriodStartDate(PERIOD_MONTH, (int32) ((int64) index * 3));
		case PERIOD_HOUR:
			PeriodCheckDated(kind, "this function");
	}
	elog(ERROR, "unrecognized period kind %d", (int) kind);
	return 0;
}

/*
 * Returns the first local date of the day, ISO week, month or quarter
 * containing ts in the session time zone, as the retention aggregates place
 * it.
 */
PG_FUNCTION_INFO_V1(period_start);
Datum
period_start(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PeriodCalc	calc;

	PeriodCalcInit(&calc, ParsePeriodKind(name));
	PeriodCheckDated(calc.kind, "period_start");
	PG_RETURN_DATEADT(PeriodStartDate(calc.kind, PeriodIndex(&calc, ts)));
}

/*
 * Returns the local start of the hour, day, ISO week, month or quarter
 * containing ts in the session time zone, as a timestamp without time zone:
 * the period starts that cohort_table and lifecycle report.  An hour that
 * the clocks repeat is one period, as date_trunc('hour', ts) counts it on
 * the local time.
 */
PG_FUNCTION_INFO_V1(period_start_time);
Datum
period_start_time(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PeriodCalc	calc;
	Timestamp	start;

	PeriodCalcInit(&calc, ParsePeriodKind(name));
	/* validated period numbers: a key times a day stays inside int64 */
	start = PeriodStartKey(calc.kind, PeriodIndex(&calc, ts)) *
		(calc.kind == PERIOD_HOUR ? USECS_PER_HOUR : USECS_PER_DAY);
	/* the local time of the latest timestamptz can lie past the range */
	if (!IS_VALID_TIMESTAMP(start))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	PG_RETURN_TIMESTAMP(start);
}
