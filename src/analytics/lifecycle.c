/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  Growth accounting: new, returning, resurrecting and dormant users per
 *	  period, from the same per-user bitmaps as retention_rate (one stage),
 *	  and from retention.activity values (stage two, for Citus).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "activity.h"
#include "period_states.h"
#include "retention_state.h"

static const RetentionArgs lifecycle_args = {1, 2, -1, 3, -1, -1, -1};

/* Transition of lifecycle_matrix(user_id, ts, period). */
PG_FUNCTION_INFO_V1(lifecycle_trans);
Datum
lifecycle_trans(PG_FUNCTION_ARGS)
{
	RetentionState *state = RetentionTransition(fcinfo, &lifecycle_args);

	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

/*
 * Returns one row per period from the earliest first period to the latest
 * event's: {period start as days since 2000-01-01, new, returning,
 * resurrecting, -dormant}.
 */
PG_FUNCTION_INFO_V1(lifecycle_final);
Datum
lifecycle_final(PG_FUNCTION_ARGS)
{
	RetentionState *state = STATE_ARG(RetentionState, 0);
	UserTableIter *iter;
	UserEntry  *u;
	int64		lo;
	int64		nperiods;
	int64	   *cells;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	lo = RetentionEarliest(state, true);
	if (lo == PG_INT64_MAX)
		PG_RETURN_NULL();
	nperiods = state->max_period - lo + 1;
	if (nperiods > LC_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("lifecycle over %lld periods is too long", (long long) nperiods),
				 errhint("Use a longer period or a shorter time range.")));
	cells = palloc0(nperiods * 5 * sizeof(int64));
	for (int64 i = 0; i < nperiods; i++)
		cells[i * 5] = PeriodStartKey(state->kind, (int32) (lo + i));

	iter = UserTableIterBegin(state->users);
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		FOREACH_ACTIVE(u, p, {
			int64 *row = cells + (p - lo) * 5;

			if (p == u->base)
				row[1]++;		/* new: first seen now */
			else if (UserActiveIn(u, p - 1))
				row[2]++;		/* returning: active now and before */
			else
				row[3]++;		/* resurrecting: back after a gap */
			/* dormant next period: active now, not then */
			if (p < state->max_period && !UserActiveIn(u, p + 1))
				cells[(p + 1 - lo) * 5 + 4]--;
		});
	}
	PG_RETURN_ARRAYTYPE_P(CellsToMatrix(cells, nperiods, 5));
}

/* Transition of lifecycle_matrix(activity). */
PG_FUNCTION_INFO_V1(activity_lifecycle_trans);
Datum
activity_lifecycle_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	int64	   *v;
	Activity	a;
	int64		last;

	if (!ActivityTransArgs(fcinfo, "retention.lifecycle_matrix(activity)", 1, &a))
		return KeepState(fcinfo);
	arr = PG_ARGISNULL(0) ? MakeCountsState(&lifecycle_layout, a.kind, PG_INT64_MIN, 0, 0)
		: PG_GETARG_ARRAYTYPE_P(0);
	v = CountsStateRead(arr, &lifecycle_layout, false);
	ActivityCheckKind(v[LC_KIND], a.kind);
	if (a.nbits > 0 && a.first_start != a.base)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lifecycle takes activities without start or return event filters")));
	v[LC_MAX] = Max(v[LC_MAX], a.last_event);
	if (a.nbits == 0)
		PG_RETURN_ARRAYTYPE_P(arr);
	last = ActivityLast(&a, a.base);
	/* up to the period after the last activity, where the user turns dormant */
	if (v[LC_N] == 0 || a.base < v[LC_LO] || last + 1 >= v[LC_LO] + v[LC_N])
	{
		arr = CountsWiden(&lifecycle_layout, v, a.base, last + 1);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	for (int64 p = a.base; p <= last; p++)
	{
		int64	   *row = v + LC_HDR + (p - v[LC_LO]) * 4;

		if (!ActivityBit(&a, p))
			continue;
		if (p == a.base)
			row[0]++;
		else if (ActivityBit(&a, p - 1))
			row[1]++;
		else
			row[2]++;
		if (!ActivityBit(&a, p + 1))
			row[4 + 3]++;		/* dormant in the next period */
	}
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Combines two lifecycle_matrix(activity) states. */
PG_FUNCTION_INFO_V1(activity_lifecycle_combine);
Datum
activity_lifecycle_combine(PG_FUNCTION_ARGS)
{
	return CountsCombine(fcinfo, &lifecycle_layout);
}

/* Returns the lifecycle matrix in the layout of lifecycle_matrix(user_id, ts, period). */
PG_FUNCTION_INFO_V1(activity_lifecycle_final);
Datum
activity_lifecycle_final(PG_FUNCTION_ARGS)
{
	int64	   *v;
	int64		first = 0;
	int64		nrows;
	Datum	   *values;

	v = CountsFinalState(fcinfo, &lifecycle_layout);
	if (v == NULL)
		PG_RETURN_NULL();
	/* the first period with a new user, to the latest event's period */
	while (first < v[LC_N] && v[LC_HDR + first * 4] == 0)
		first++;
	nrows = v[LC_MAX] - (v[LC_LO] + first) + 1;
	if (first == v[LC_N] || nrows <= 0)
		PG_RETURN_NULL();		/* no new user in any period */
	values = MatrixValues(nrows, 5, NULL);
	for (int64 r = 0; r < nrows; r++)
	{
		int64		i = first + r;
		const int64 *row = v + LC_HDR + i * 4;

		values[r * 5] = Int64GetDatum(PeriodStartKey(v[LC_KIND], (int32) (v[LC_LO] + i)));
		for (int k = 0; k < 3; k++)
			values[r * 5 + 1 + k] = Int64GetDatum(i < v[LC_N] ? row[k] : 0);
		values[r * 5 + 4] = Int64GetDatum(i < v[LC_N] ? -row[3] : 0);
	}
	PG_RETURN_ARRAYTYPE_P(ValuesToMatrix(values, NULL, nrows, 5));
}
