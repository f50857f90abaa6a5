/*-------------------------------------------------------------------------
 *
 * rolling.c
 *	  retention_rate_rolling: retention over rolling windows measured from
 *	  each user's exact first event, as some product-analytics tools count.
 *
 * Window k of a user is [start + k * w, start + (k + 1) * w).  A window's
 * months are calendar months in the session time zone (start + k months,
 * the day of month clamped to the month's end, as timestamptz + interval
 * does), its days 24 hours each.  N counts the
 * users whose window n has begun by the latest event of the group (start +
 * n * w <= latest ts), S those of them with an event in window n (classic)
 * or at or after start + n * w (unbounded).
 *
 * Because events arrive in any order, deciding "an event in window n" while
 * the start can still move would need every event; the caller therefore
 * passes each row's user start (min(ts) over the user, see the
 * documentation), and a user costs one 24-byte hash entry: the start and
 * two flags.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "bytea_state.h"
#include "user_activity.h"

typedef struct RollingEntry
{
	int64		user_id;
	TimestampTz start;
	char		status;
	bool		in_window;		/* an event in window n */
	bool		at_or_after;	/* an event at or after the start of window n */
} RollingEntry;

#define SH_PREFIX		rolling
#define SH_ELEMENT_TYPE RollingEntry
#include "id_table.h"

static inline int64
FloorDivMonths(int64 mon)
{
	int64		q = mon / MONTHS_PER_YEAR;

	return (mon % MONTHS_PER_YEAR != 0 && mon < 0) ? q - 1 : q;
}

typedef struct RollingState
{
	rolling_hash *users;
	int32		n;
	int64		window;			/* microseconds: days of 24 hours and time */
	int32		months;			/* calendar months, added first */
	bool		have_max;
	TimestampTz max_ts;
} RollingState;

#define ROLLING_MAGIC 0x524F4C31	/* "ROL1" */

/* The window's days and time in microseconds; *months gets its months. */
static int64
WindowUsec(Interval *w, int32 *months)
{
	int64		usec;

	/* a day is 24 hours here: days are measured, months are calendar ones */
	if (pg_mul_s64_overflow((int64) w->day, USECS_PER_DAY, &usec) ||
		pg_add_s64_overflow(usec, w->time, &usec) || w->month < 0 || usec < 0 ||
		(w->month == 0 && usec == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rolling window \"%s\" must be positive",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(w))))));
	*months = w->month;
	return usec;
}

static RollingState *
NewRollingState(MemoryContext cxt, int32 n, int64 window, int32 months, uint32 size_hint)
{
	RollingState *state = MemoryContextAllocZero(cxt, sizeof(RollingState));

	state->users = rolling_create(cxt, Max(size_hint, 64), NULL);
	state->n = n;
	state->window = window;
	state->months = months;
	return state;
}

/*
 * t plus "months" calendar months in the session time zone, as timestamptz
 * + interval computes it; false when the result leaves timestamptz.
 */
static bool
AddMonths(TimestampTz t, int64 months, TimestampTz *result)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	int64		mon;

	if (months == 0)
	{
		*result = t;
		return true;
	}
	if (timestamp2tm(t, &tz, &tm, &fsec, NULL, NULL) != 0)
		return false;
	mon = (int64) tm.tm_year * MONTHS_PER_YEAR + (tm.tm_mon - 1) + months;
	if (mon / MONTHS_PER_YEAR > 300000 || mon / MONTHS_PER_YEAR < -10000)
		return false;
	tm.tm_year = (int) FloorDivMonths(mon);
	tm.tm_mon = (int) (mon - (int64) tm.tm_year * MONTHS_PER_YEAR) + 1;
	if (tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1])
		tm.tm_mday = day_tab[isleap(tm.tm_year)][tm.tm_mon - 1];
	tz = DetermineTimeZoneOffset(&tm, session_timezone);
	return tm2timestamp(&tm, fsec, &tz, result) == 0 && IS_VALID_TIMESTAMP(*result);
}

/*
 * Window k of a user starting at "start" begins at start + k * window: k
 * times the months, then k times the days and time.  False when it lies
 * beyond any timestamp.
 */
static bool
WindowBegin(const RollingState *state, TimestampTz start, int64 k, TimestampTz *begin)
{
	int64		offset;
	TimestampTz t;

	return AddMonths(start, k * state->months, &t) &&
		!pg_mul_s64_overflow(k, state->window, &offset) &&
		!pg_add_s64_overflow(t, offset, begin);
}

static void
Observe(RollingState *state, RollingEntry *u, TimestampTz ts)
{
	TimestampTz begin;
	TimestampTz end;

	if (!WindowBegin(state, u->start, state->n, &begin))
		return;					/* window n lies beyond any timestamp */
	if (ts >= begin)
	{
		u->at_or_after = true;
		if (state->months == 0)
		{
			if (ts - begin < state->window)
				u->in_window = true;
		}
		else if (!WindowBegin(state, u->start, (int64) state->n + 1, &end) || ts < end)
			u->in_window = true;
	}
}

/*
 * Transition of retention_rate_rolling(user_id, start, ts, n, window): rows
 * with a NULL user, start, timestamp, n or window are skipped.
 */
PG_FUNCTION_INFO_V1(rolling_trans);
Datum
rolling_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RollingState *state = STATE_ARG(RollingState, 0);
	int64		user_id;
	TimestampTz start;
	TimestampTz ts;
	int32		n;
	RollingEntry *u;
	bool		found;

	aggcxt = AggregateContext(fcinfo, "rolling_trans");
	for (int i = 1; i <= 5; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_POINTER(state);

	user_id = PG_GETARG_INT64(1);
	start = PG_GETARG_TIMESTAMPTZ(2);
	ts = PG_GETARG_TIMESTAMPTZ(3);
	n = PG_GETARG_INT32(4);

	if (state == NULL)
	{
		int32		months;
		int64		usec;

		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("period number n must not be negative, got %d", n)));
		usec = WindowUsec(PG_GETARG_INTERVAL_P(5), &months);
		state = NewRollingState(aggcxt, n, usec, months, 1024);
	}
	else
	{
		int32		months;

		if (n != state->n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("period number n changed from %d to %d within a group", state->n, n),
					 errhint("Pass the same n for every row of a group.")));
		if (WindowUsec(PG_GETARG_INTERVAL_P(5), &months) != state->window || months != state->months)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rolling window changed within a group"),
					 errhint("Pass the same window for every row of a group.")));
	}

	if (TIMESTAMP_NOT_FINITE(ts) || TIMESTAMP_NOT_FINITE(start))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot measure rolling windows from an infinite timestamp")));
	if (ts < start)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event of user " INT64_FORMAT " at %s precedes the user's start %s",
						user_id, pstrdup(timestamptz_to_str(ts)), pstrdup(timestamptz_to_str(start))),
				 errhint("Pass the user's first event time as start, e.g. min(ts) OVER (PARTITION BY user_id).")));

	if (!state->have_max || ts > state->max_ts)
	{
		state->max_ts = ts;
		state->have_max = true;
	}

	u = rolling_insert(state->users, user_id, &found);
	if (!found)
	{
		if (state->users->members > MAX_USERS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than " UINT64_FORMAT " distinct users in one group", MAX_USERS)));
		u->start = start;
		u->in_window = false;
		u->at_or_after = false;
	}
	else if (u->start != start)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user " INT64_FORMAT " has two different starts, %s and %s",
						user_id, pstrdup(timestamptz_to_str(u->start)), pstrdup(timestamptz_to_str(start))),
				 errhint("Pass the same start on every row of a user.")));
	Observe(state, u, ts);
	PG_RETURN_POINTER(state);
}

/* Combines two partial rolling states. */
PG_FUNCTION_INFO_V1(rolling_combine);
Datum
rolling_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RollingState *a = STATE_ARG(RollingState, 0);
	RollingState *b = STATE_ARG(RollingState, 1);
	rolling_iterator it;
	RollingEntry *e;

	aggcxt = AggregateContext(fcinfo, "rolling_combine");
	/* nothing to add: the first state as it is, SQL NULL if that is NULL */
	if (b == NULL)
		return KeepState(fcinfo);
	if (a == NULL)
		a = NewRollingState(aggcxt, b->n, b->window, b->months, b->users->members);
	else if (a->n != b->n || a->window != b->window || a->months != b->months)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine rolling retention states of different n or window")));
	if (b->have_max && (!a->have_max || b->max_ts > a->max_ts))
	{
		a->max_ts = b->max_ts;
		a->have_max = true;
	}
	rolling_start_iterate(b->users, &it);
	while ((e = rolling_iterate(b->users, &it)) != NULL)
	{
		bool		found;
		RollingEntry *u = rolling_insert(a->users, e->user_id, &found);

		CHECK_FOR_INTERRUPTS();
		if (!found)
		{
			u->start = e->start;
			u->in_window = e->in_window;
			u->at_or_after = e->at_or_after;
		}
		else
		{
			if (u->start != e->start)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("user " INT64_FORMAT " has two different starts, %s and %s",
								e->user_id, pstrdup(timestamptz_to_str(u->start)), pstrdup(timestamptz_to_str(e->start)))));
			u->in_window |= e->in_window;
			u->at_or_after |= e->at_or_after;
		}
	}
	PG_RETURN_POINTER(a);
}

typedef struct RollingHeader
{
	uint32		magic;
	int32		n;
	int64		window;
	int32		have_max;
	int32		months;
	int64		max_ts;
	uint64		count;
} RollingHeader;

typedef struct RollingRecord
{
	int64		user_id;
	int64		start;
	int32		flags;
	int32		pad;
} RollingRecord;

/* Serialises a rolling state: a header, then one record per user. */
PG_FUNCTION_INFO_V1(rolling_serialize);
Datum
rolling_serialize(PG_FUNCTION_ARGS)
{
	RollingState *state = (RollingState *) PG_GETARG_POINTER(0);
	RollingHeader h = {0};
	StringInfoData buf;
	rolling_iterator it;
	RollingEntry *e;

	ByteaStateBegin(&buf);
	h.magic = ROLLING_MAGIC;
	h.n = state->n;
	h.window = state->window;
	h.months = state->months;
	h.have_max = state->have_max;
	h.max_ts = state->max_ts;
	h.count = state->users->members;
	appendBinaryStringInfo(&buf, (char *) &h, sizeof(h));
	rolling_start_iterate(state->users, &it);
	while ((e = rolling_iterate(state->users, &it)) != NULL)
	{
		RollingRecord r = {e->user_id, e->start, (e->in_window ? 1 : 0) | (e->at_or_after ? 2 : 0), 0};

		appendBinaryStringInfo(&buf, (char *) &r, sizeof(r));
	}
	PG_RETURN_BYTEA_P(ByteaStateEnd(&buf));
}

/* Rebuilds a rolling state, checking that the length matches the count. */
PG_FUNCTION_INFO_V1(rolling_deserialize);
Datum
rolling_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ByteaReader rd;
	RollingHeader h;
	RollingState *state;

	aggcxt = AggregateContext(fcinfo, "rolling_deserialize");
	ByteaReaderInit(&rd, PG_GETARG_BYTEA_PP(0), "rolling retention state is truncated");
	ByteaRead(&rd, &h, sizeof(h));
	if (h.magic != ROLLING_MAGIC || h.n < 0 || h.window < 0 || h.months < 0 ||
		(h.window == 0 && h.months == 0) || h.count > MAX_USERS ||
		ByteaLeft(&rd) != h.count * sizeof(RollingRecord))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid rolling retention state")));
	state = NewRollingState(aggcxt, h.n, h.window, h.months, (uint32) h.count);
	state->have_max = h.have_max != 0;
	state->max_ts = h.max_ts;
	for (uint64 i = 0; i < h.count; i++)
	{
		RollingRecord r;
		bool		found;
		RollingEntry *u;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		ByteaRead(&rd, &r, sizeof(r));
		u = rolling_insert(state->users, r.user_id, &found);
		u->start = r.start;
		u->in_window = (r.flags & 1) != 0;
		u->at_or_after = (r.flags & 2) != 0;
	}
	PG_RETURN_POINTER(state);
}

static Datum
RollingFinal(FunctionCallInfo fcinfo, bool unbounded)
{
	RollingState *state = STATE_ARG(RollingState, 0);
	rolling_iterator it;
	RollingEntry *e;
	int64		observable = 0;
	int64		retained = 0;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	rolling_start_iterate(state->users, &it);
	while ((e = rolling_iterate(state->users, &it)) != NULL)
	{
		TimestampTz begin;

		if (((observable + retained) & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!WindowBegin(state, e->start, state->n, &begin) || begin > state->max_ts)
			continue;			/* window n has not begun by the latest event */
		observable++;
		if (unbounded ? e->at_or_after : e->in_window)
			retained++;
	}
	if (observable == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) retained / (double) observable);
}

/* Returns the share of users with an event in their rolling window n. */
PG_FUNCTION_INFO_V1(rolling_final);
Datum
rolling_final(PG_FUNCTION_ARGS)
{
	return RollingFinal(fcinfo, false);
}

/* Returns the share of users with an event at or after the start of window n. */
PG_FUNCTION_INFO_V1(rolling_unbounded_final);
Datum
rolling_unbounded_final(PG_FUNCTION_ARGS)
{
	return RollingFinal(fcinfo, true);
}
